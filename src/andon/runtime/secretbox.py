"""Secrets at rest: AES-256-GCM with a key kept in a file beside the database (0600).

Each sealed value binds its purpose (e.g. ``webhook-source:default/portal``) as associated
data, so a ciphertext copied to another row does not open there. The database alone never
reveals a secret.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from andon.errors import StoreError
from andon.runtime.keyfiles import create_private

_VERSION = "v1"


class SecretBox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: bytes | None = None

    def seal(self, plaintext: str, purpose: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self._load()).encrypt(nonce, plaintext.encode(), purpose.encode())
        return f"{_VERSION}:" + base64.b64encode(nonce + sealed).decode()

    def open(self, token: str, purpose: str) -> str:
        version, _, payload = token.partition(":")
        if version != _VERSION:
            raise StoreError("a sealed secret has an unknown format")
        raw = base64.b64decode(payload)
        try:
            opened = AESGCM(self._load()).decrypt(raw[:12], raw[12:], purpose.encode())
        except InvalidTag as exc:
            raise StoreError("a sealed secret does not open with this key and purpose") from exc
        return opened.decode()

    def _load(self) -> bytes:
        if self._key is None:
            if self.path.exists():
                self._key = self.path.read_bytes()
            else:
                key = AESGCM.generate_key(bit_length=256)
                create_private(self.path, key, "secrets key")
                self._key = key
            if len(self._key) != 32:
                raise StoreError(f"{self.path} is not a 256-bit key")
        return self._key
