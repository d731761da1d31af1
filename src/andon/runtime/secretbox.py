"""Secrets at rest: AES-256-GCM under a keyring that rotates.

Each sealed value binds its purpose (e.g. ``webhook-source:default/portal``) as associated
data, so a ciphertext copied to another row does not open there, and names the key that
sealed it (``v2:<key id>:<nonce+ciphertext>``), so that keys rotate: a new key seals from
then on, and the older ones open what they sealed until ``andon secrets rotate`` has sealed
everything again and ``andon secrets retire`` drops them. The database alone never reveals a
secret.

Keys come from a file beside the database (0600; one ``<id> <base64 key>`` per line, newest
first), or from ``ANDON_SECRETS_KEY`` itself when it holds base64 keys rather than the path
of that file (comma-separated, newest first; rotated by changing the variable). The first
format, a file of 32 raw bytes and ``v1:`` tokens naming no key, still opens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from andon.errors import ConflictError, InputError, NotFoundError, StoreError
from andon.runtime import admin_chain
from andon.runtime.clock import Clock
from andon.runtime.directory import DEFAULT_TENANT
from andon.runtime.keyfiles import create_private
from andon.store.sql import SqlStore

_V1 = "v1"
_V2 = "v2"
KEY_BYTES = 32
_HEADER = "# Andon secrets keys, newest first: <key id> <base64 key>. Keep this file private.\n"


@dataclass(frozen=True, slots=True)
class _Key:
    key_id: str
    material: bytes = field(repr=False)


def key_id(material: bytes) -> str:
    """A key's id: derived from the key, so the same key has the same id everywhere."""
    return "k" + hashlib.sha256(b"andon-secrets-key\0" + material).hexdigest()[:10]


def purpose(kind: str, tenant_id: str, row_id: str) -> str:
    """What a sealed value is for (its associated data): ``<kind>:<tenant>/<row id>``."""
    return f"{kind}:{tenant_id}/{row_id}"


class SecretBox:
    """Seals and opens secrets; ``path`` is the key file, ``keys`` keys given directly."""

    def __init__(self, path: Path | None = None, *, keys: Sequence[bytes] = ()) -> None:
        if path is None and not keys:
            raise InputError("a secret box needs a key file or keys")
        for material in keys:
            if len(material) != KEY_BYTES:
                raise InputError("a secrets key must be 32 bytes (256 bits)")
        self.path = path
        self._fixed = tuple(_Key(key_id(k), k) for k in keys)
        self._keys: tuple[_Key, ...] = self._fixed
        self._stamp: tuple[int, int, int] | None = None
        self._lock = threading.Lock()

    @classmethod
    def configured(cls, setting: Path) -> SecretBox:
        """From the ``ANDON_SECRETS_KEY`` setting: base64 keys (44 characters ending in
        ``=``, comma-separated, newest first), else the path of the key file."""
        text = str(setting)
        if setting.exists() or not text.endswith("="):
            return cls(setting)
        return cls(keys=[_decode_key(part.strip()) for part in text.split(",")])

    @property
    def from_environment(self) -> bool:
        """Whether the keys were given directly (they cannot be added or removed here)."""
        return bool(self._fixed)

    def __repr__(self) -> str:
        where = "ANDON_SECRETS_KEY" if self._fixed else str(self.path)
        return f"SecretBox({where})"

    # ---- sealing -----------------------------------------------------------------------

    def seal(self, plaintext: str, purpose: str) -> str:
        key = self._ring()[0]
        nonce = os.urandom(12)
        sealed = AESGCM(key.material).encrypt(nonce, plaintext.encode(), purpose.encode())
        return f"{_V2}:{key.key_id}:" + base64.b64encode(nonce + sealed).decode()

    def open(self, token: str, purpose: str) -> str:
        return self._open(token, purpose)[1]

    def key_of(self, token: str, purpose: str) -> str:
        """The id of the key that opens ``token`` (so: that sealed it)."""
        return self._open(token, purpose)[0]

    def _open(self, token: str, purpose: str) -> tuple[str, str]:
        version, _, rest = token.partition(":")
        if version == _V2:
            wanted, _, payload = rest.partition(":")
            candidates = [k for k in self._ring() if k.key_id == wanted]
            if not candidates:  # sealed by another process after a rotation: read again
                candidates = [k for k in self._ring(force=True) if k.key_id == wanted]
            if not candidates:
                raise StoreError(
                    f"a sealed secret names key {wanted}, which is not in the keyring "
                    "(was it retired, or is this the wrong key file?)"
                )
        elif version == _V1:
            payload, candidates = rest, list(self._ring())
        else:
            raise StoreError("a sealed secret has an unknown format")
        try:
            raw = base64.b64decode(payload, validate=True)
        except binascii.Error as exc:
            raise StoreError("a sealed secret is not valid base64") from exc
        for key in candidates:
            try:
                opened = AESGCM(key.material).decrypt(raw[:12], raw[12:], purpose.encode())
            except (InvalidTag, ValueError):
                continue
            return key.key_id, opened.decode()
        raise StoreError("a sealed secret does not open with this key and purpose")

    # ---- the keyring ---------------------------------------------------------------------

    def current_key(self) -> str:
        """The id of the key that seals now (the newest)."""
        return self._ring()[0].key_id

    def key_ids(self) -> list[str]:
        """Every key's id, newest first."""
        return [k.key_id for k in self._ring()]

    def add_key(self) -> str:
        """Generate a key that seals from now on (older keys still open); its id."""
        path = self._file("add keys")
        with self._lock:
            keys = self._read(path)
            new = AESGCM.generate_key(bit_length=256)
            _replace(path, [_Key(key_id(new), new), *keys])
        self._ring(force=True)
        return key_id(new)

    def remove_key(self, key_id: str) -> None:
        """Drop an old key from the file (``SecretKeys.retire`` checks nothing uses it)."""
        path = self._file("remove keys")
        with self._lock:
            keys = self._read(path)
            if key_id not in [k.key_id for k in keys]:
                raise NotFoundError(f"no secrets key '{key_id}'")
            if keys[0].key_id == key_id:
                raise ConflictError(f"key {key_id} seals now; rotate to a new key first")
            _replace(path, [k for k in keys if k.key_id != key_id])
        self._ring(force=True)

    def _file(self, what: str) -> Path:
        if self._fixed or self.path is None:
            raise InputError(
                f"the secrets keys come from ANDON_SECRETS_KEY: {what} by changing that "
                "variable (newest first, comma-separated)"
            )
        return self.path

    def _ring(self, *, force: bool = False) -> tuple[_Key, ...]:
        """The keys, newest first; the file is read again when it changed (another
        process rotated), so every process seals with the newest key."""
        if self._fixed:
            return self._fixed
        assert self.path is not None
        with self._lock:
            stamp = _stamp(self.path)
            if stamp is None:
                self._create(self.path)
                stamp = _stamp(self.path)
            if force or stamp != self._stamp or not self._keys:
                self._keys = self._read(self.path)
                self._stamp = stamp
            return self._keys

    @staticmethod
    def _create(path: Path) -> None:
        material = AESGCM.generate_key(bit_length=256)
        try:
            create_private(path, _HEADER.encode() + _line(_Key(key_id(material), material)), "key")
        except StoreError:
            if not path.exists():  # else another process created it first: use theirs
                raise

    @staticmethod
    def _read(path: Path) -> tuple[_Key, ...]:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read the secrets key file {path}: {exc.strerror}") from exc
        if len(data) == KEY_BYTES:  # the first format: one raw key (text lines are longer)
            return (_Key(key_id(data), data),)
        try:
            lines = data.decode("ascii").splitlines()
        except UnicodeDecodeError as exc:
            raise StoreError(f"{path} is neither a 256-bit key nor a key list") from exc
        keys = []
        for number, line in enumerate(lines, 1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            try:
                material = _decode_key(parts[-1])
            except InputError as exc:
                raise StoreError(f"{path}:{number}: {exc}") from exc
            if len(parts) > 2 or (len(parts) == 2 and parts[0] != key_id(material)):
                raise StoreError(f"{path}:{number}: the key id does not match the key")
            keys.append(_Key(key_id(material), material))
        if not keys:
            raise StoreError(f"{path} holds no key")
        return tuple(keys)


@dataclass(frozen=True, slots=True)
class Rotation:
    key_id: str
    """The key that seals now."""
    added: bool
    """Whether this rotation made that key (keys given in the environment are not made)."""
    resealed: dict[str, int]
    """Values sealed again, by table."""
    older: tuple[str, ...]
    """The other keys, which seal nothing any more: retire them."""


class SecretKeys:
    """Rotating and retiring the keys: acts of the installation's operator (who holds the
    key file), not of a tenant; each is chained in the tenants' administrative logs."""

    def __init__(self, store: SqlStore, clock: Clock, box: SecretBox) -> None:
        self.store = store
        self.clock = clock
        self.box = box

    def usage(self) -> dict[str, int]:
        """How many sealed values each key seals (every key of the ring is listed)."""
        used = dict.fromkeys(self.box.key_ids(), 0)
        with self.store.reader() as reader:
            for sealed, tenant, row_id, token in reader.installation_secrets.sealed():
                key = self.box.key_of(token, purpose(sealed.kind, tenant, row_id))
                used[key] = used.get(key, 0) + 1
        return used

    def rotate(self) -> Rotation:
        """Add a new key (unless the keys come from the environment) and seal every sealed
        value again with it, in one transaction."""
        added = not self.box.from_environment
        current = self.box.add_key() if added else self.box.current_key()
        now = self.clock.now().timestamp()
        tables: Counter[str] = Counter()
        tenants: Counter[str] = Counter()
        with self.store.transaction() as tx:
            for sealed, tenant, row_id, token in tx.installation_secrets.sealed(lock=True):
                aim = purpose(sealed.kind, tenant, row_id)
                try:
                    plaintext = self.box.open(token, aim)
                except StoreError as exc:
                    raise StoreError(f"{sealed.table.name} row {aim}: {exc}") from exc
                tx.installation_secrets.reseal(
                    sealed, tenant, row_id, self.box.seal(plaintext, aim)
                )
                tables[sealed.table.name] += 1
                tenants[tenant] += 1
            for tenant, count in sorted(tenants.items()):
                admin_chain.record(
                    tx.scoped(tenant), "secrets.resealed", current,
                    {"key": current, "values": count}, "installation", now,
                )  # fmt: skip
            if added:
                admin_chain.record(
                    tx.scoped(DEFAULT_TENANT), "secrets_key.added", current,
                    {"key": current}, "installation", now,
                )  # fmt: skip
        older = tuple(k for k in self.box.key_ids() if k != current)
        return Rotation(current, added, dict(tables), older)

    def retire(self, key_id: str) -> bool:
        """Drop an old key; refused while any value is sealed with it. False when the keys
        come from the environment (nothing uses it: remove it from ANDON_SECRETS_KEY)."""
        if key_id not in self.box.key_ids():
            raise NotFoundError(f"no secrets key '{key_id}'")
        if key_id == self.box.current_key():
            raise ConflictError(f"key {key_id} seals now; rotate to a new key first")
        used = self.usage().get(key_id, 0)
        if used:
            raise ConflictError(
                f"key {key_id} still seals {used} value(s); run 'andon secrets rotate' first"
            )
        if self.box.from_environment:
            return False
        self.box.remove_key(key_id)
        with self.store.transaction() as tx:
            admin_chain.record(
                tx.scoped(DEFAULT_TENANT), "secrets_key.retired", key_id, {"key": key_id},
                "installation", self.clock.now().timestamp(),
            )  # fmt: skip
        return True


def _decode_key(text: str) -> bytes:
    """A 256-bit key from standard or URL-safe base64."""
    try:
        material = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except binascii.Error:
        material = b""
    if len(material) != KEY_BYTES:
        raise InputError(
            "a secrets key must be 32 bytes in base64 (44 characters ending in '='; "
            "prefer URL-safe base64: a '//' does not survive being read as a path)"
        )
    return material


def _line(key: _Key) -> bytes:
    return f"{key.key_id} {base64.urlsafe_b64encode(key.material).decode()}\n".encode()


def _replace(path: Path, keys: Sequence[_Key]) -> None:
    """Write the key list to a new private file and move it over the old one at once."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
    temporary.unlink(missing_ok=True)
    create_private(temporary, _HEADER.encode() + b"".join(_line(k) for k in keys), "key file")
    try:
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StoreError(f"cannot replace the secrets key file {path}: {exc.strerror}") from exc


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size
