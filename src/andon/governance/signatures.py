"""Electronic signatures in the 21 CFR Part 11 sense (11.50, 11.70, 11.200).

A signature is part of the decision fact it signs. Its manifest shows the printed name,
the user id, the time (UTC), the meaning and the reason; its digest is the SHA-256 of the
canonical *signed record*, which includes the run, task, step, outcome and the hash of
the journal row it follows. The journal row that carries it is hash-chained in turn, so
a signature cannot be excised, and copied to another record its digest no longer
matches what that record says (``check``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from andon.core.json import JsonObject, JsonValue, canonical_json


@dataclass(frozen=True, slots=True)
class SignedRecord:
    run_id: str
    task_id: str
    step: str
    outcome: str
    meaning: str
    reason: str
    signer: str
    name: str
    signed_at: str
    """ISO 8601, UTC."""
    method: str
    """How the signer re-authenticated, e.g. ``password`` or ``password+totp``."""
    follows: str
    """The hash of the journal row before the decision: binds the signature to its place."""

    def as_json(self) -> JsonObject:
        return {
            "run_id": self.run_id,
            "task_id": self.task_id,
            "step": self.step,
            "outcome": self.outcome,
            "meaning": self.meaning,
            "reason": self.reason,
            "signer": self.signer,
            "name": self.name,
            "signed_at": self.signed_at,
            "method": self.method,
            "follows": self.follows,
        }


def digest(record: SignedRecord) -> str:
    return hashlib.sha256(canonical_json(record.as_json()).encode("utf-8")).hexdigest()


def manifest(record: SignedRecord) -> JsonObject:
    """What the decision fact carries: the signed record and its digest."""
    return {**record.as_json(), "digest": digest(record)}


def check(
    found: JsonValue,
    *,
    run_id: str,
    task_id: str,
    step: str,
    outcome: str,
    signer: str,
    follows: str,
) -> str | None:
    """Why a signature manifest found on a journal row does not belong there, or None."""
    if not isinstance(found, dict):
        return "signature manifest is not an object"
    try:
        record = SignedRecord(**{k: str(found[k]) for k in SignedRecord.__slots__})
    except KeyError as missing:
        return f"signature manifest lacks {missing.args[0]!r}"
    if found.get("digest") != digest(record):
        return "signature digest does not match the signed record"
    expected = {
        "run_id": run_id,
        "task_id": task_id,
        "step": step,
        "outcome": outcome,
        "signer": signer,
        "follows": follows,
    }
    for field, value in expected.items():
        if getattr(record, field) != value:
            return f"signature was made for {field} {getattr(record, field)!r}, not {value!r}"
    return None
