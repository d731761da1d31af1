"""Signed checkpoints over the heads of every hash chain.

A chain on its own shows that no row was changed in place, but whoever can write the
database can also recompute a chain's tail, or cut it. A checkpoint records the head
(sequence number and hash) of every chain that moved since the previous checkpoint,
chains itself to that previous checkpoint, and is signed with an Ed25519 key kept outside
the database. Verification with the public key then catches rewritten and truncated tails
up to the newest checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from andon.core.json import JsonObject, canonical_json

RUN = "run"
ADMIN = "admin"


@dataclass(frozen=True, slots=True, order=True)
class Head:
    tenant_id: str
    chain: str
    """``run`` (a run's journal) or ``admin`` (a tenant's administrative acts)."""
    chain_id: str
    seq: int
    hash: str

    def as_json(self) -> JsonObject:
        return {
            "tenant_id": self.tenant_id,
            "chain": self.chain,
            "chain_id": self.chain_id,
            "seq": self.seq,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class Checkpoint:
    checkpoint_id: int
    at: float
    previous: str
    """The hash of the previous checkpoint (or the genesis hash)."""
    heads_digest: str
    heads: int
    key_id: str

    def body(self) -> JsonObject:
        return {
            "checkpoint_id": self.checkpoint_id,
            "at": self.at,
            "previous": self.previous,
            "heads_digest": self.heads_digest,
            "heads": self.heads,
            "key_id": self.key_id,
        }

    @property
    def hash(self) -> str:
        return _sha256(canonical_json(self.body()))


def heads_digest(heads: Iterable[Head]) -> str:
    return _sha256(canonical_json([h.as_json() for h in sorted(heads)]))


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes_raw()
    return _sha256_bytes(raw)[:16]


def sign(private_key: Ed25519PrivateKey, checkpoint: Checkpoint) -> str:
    signed = private_key.sign(checkpoint.hash.encode("ascii"))
    return base64.b64encode(signed).decode("ascii")


def signature_valid(public_key: Ed25519PublicKey, checkpoint: Checkpoint, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature), checkpoint.hash.encode("ascii"))
    except (InvalidSignature, ValueError):
        return False
    return True


def _sha256(text: str) -> str:
    return _sha256_bytes(text.encode("utf-8"))


def _sha256_bytes(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
