"""The installation's checkpoint-signing key: an Ed25519 key in a file (mode 0600) outside
the database and, unless explicitly allowed, outside the database's folder: whoever can
replace the database file should not also find the key that re-signs it. Whoever verifies
trusts this file's public key (or one handed to them with ``andon audit public-key``), not
the copy stored in the database."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from andon.errors import StoreError
from andon.governance import checkpoints
from andon.runtime.keyfiles import create_private


class KeyRing:
    def __init__(
        self,
        path: Path,
        *,
        database_dir: Path | None = None,
        allow_beside_db: bool = False,
        legacy: Path | None = None,
    ) -> None:
        """``database_dir``: the SQLite database's folder, where the key is refused unless
        ``allow_beside_db``; ``legacy``: where older releases put the key (named in the
        error when it is still there and ``path`` is not)."""
        self.path = path
        self.database_dir = database_dir
        self.allow_beside_db = allow_beside_db
        self.legacy = legacy
        self._private: Ed25519PrivateKey | None = None

    def private_key(self) -> Ed25519PrivateKey:
        """The signing key, created on first use."""
        if self._private is None:
            self._check_place()
            self._private = self._load() if self.path.exists() else self._create()
        return self._private

    def public_key(self) -> Ed25519PublicKey | None:
        """The public half, or None when there is no key file yet."""
        if self._private is None:
            self._check_place()
            if not self.path.exists():
                return None
        return self.private_key().public_key()

    def _check_place(self) -> None:
        if (
            self.database_dir is not None
            and not self.allow_beside_db
            and self.path.resolve().parent == self.database_dir.resolve()
        ):
            raise StoreError(
                f"the signing key {self.path} is in the folder of the database "
                f"{self.database_dir}: whoever can replace the database could re-sign it. "
                "Keep the key elsewhere (ANDON_SIGNING_KEY) or allow this explicitly with "
                "ANDON_ALLOW_KEY_BESIDE_DB=1"
            )
        if self.legacy is not None and self.legacy.exists() and not self.path.exists():
            raise StoreError(
                f"a signing key from an older release is beside the database at {self.legacy}; "
                f"move it to {self.path} (or point ANDON_SIGNING_KEY at it and set "
                "ANDON_ALLOW_KEY_BESIDE_DB=1)"
            )

    @property
    def key_id(self) -> str:
        return checkpoints.key_id(self.private_key().public_key())

    def public_pem(self) -> str:
        public = self.private_key().public_key()
        return public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def _load(self) -> Ed25519PrivateKey:
        try:
            key = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read the signing key {self.path}: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise StoreError(f"{self.path} is not an Ed25519 private key")
        return key

    def _create(self) -> Ed25519PrivateKey:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            create_private(self.path, pem, "signing key")
        except StoreError:
            if self.path.exists():  # another process created it first
                return self._load()
            raise
        return key


def load_public_key(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key
