"""Tombstones of purged runs, judged against the administrative chain before them.

A purge deletes a run's rows and leaves a ``retention.purged`` act in the tenant's chain.
The hash chain alone does not stop whoever can write the database from deleting a run and
appending a correctly hashed tombstone for it. So:
- the purge seals its tombstone with the checkpoint-signing key (an Ed25519 signature
  over the tenant, run, time and body); a tombstone without a valid seal is accepted only
  when a signed checkpoint covers it (tombstones written before seals existed);
- the legal holds and retention periods in force at the purge are replayed from the same
  chain (``legal_hold.placed`` / ``released``, ``retention.period_set``): a purge of a
  held run, or before its period ended, is reported;
- a tombstone no checkpoint covers yet is noted, not failed: the next checkpoint signs it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from andon.core.json import JsonObject, canonical_json
from andon.governance import checkpoints, retention
from andon.governance.verification import AdminEntry

SEAL = "seal"
PLACED = "legal_hold.placed"
RELEASED = "legal_hold.released"
PERIOD_SET = "retention.period_set"


@dataclass(slots=True)
class Findings:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def seal(
    private_key: Ed25519PrivateKey, tenant_id: str, run_id: str, at: float, body: JsonObject
) -> JsonObject:
    """``body`` with its seal: the key's id and its signature over the tombstone."""
    signed = private_key.sign(_payload(tenant_id, run_id, at, body))
    kid = checkpoints.key_id(private_key.public_key())
    return {**body, SEAL: {"key_id": kid, "signature": base64.b64encode(signed).decode()}}


def verify(
    tenant_id: str,
    rows: Sequence[AdminEntry],
    public_keys: Mapping[str, Ed25519PublicKey],
    covered_seq: int,
) -> Findings:
    """Every tombstone of the tenant's chain; ``covered_seq``: the chain's highest row that
    a signed checkpoint covers."""
    found = Findings()
    periods: dict[str, int] = {}
    holds: dict[str, retention.Hold] = {}
    for row in rows:
        body = row.body
        days = body.get("days")
        if row.action == PERIOD_SET and isinstance(days, int):
            periods[row.subject] = days
        elif row.action == PLACED:
            run, template = str(body.get("run_id") or ""), str(body.get("template_id") or "")
            reason = str(body.get("reason", ""))
            holds[row.subject] = retention.Hold(row.subject, run, template, reason)
        elif row.action == RELEASED:
            holds.pop(row.subject, None)
        elif row.action == retention.PURGED:
            where = f"admin chain of tenant {tenant_id} seq {row.seq}: tombstone of run"
            where = f"{where} {row.subject}"
            problem = _judge(row, periods, list(holds.values()))
            problem = problem or _seal_problem(tenant_id, row, public_keys, covered_seq)
            if problem:
                found.problems.append(f"{where} {problem}")
            elif row.seq > covered_seq:
                found.notes.append(f"{where} awaits a checkpoint (`andon audit checkpoint`)")
    return found


def _judge(row: AdminEntry, periods: Mapping[str, int], holds: list[retention.Hold]) -> str | None:
    body = row.body
    ended_at, retention_class = body.get("ended_at"), body.get("class")
    if not isinstance(ended_at, int | float) or not isinstance(retention_class, str):
        return "is malformed (no 'ended_at' or 'class')"
    template_id = str(body.get("template_id") or str(body.get("template", "")).split("@")[0])
    verdict = retention.purge_verdict(
        row.subject, template_id, retention_class, float(ended_at), row.at, periods, holds
    )
    return f"purged a run that had to be kept: {verdict}" if verdict else None


def _seal_problem(
    tenant_id: str,
    row: AdminEntry,
    public_keys: Mapping[str, Ed25519PublicKey],
    covered_seq: int,
) -> str | None:
    found = row.body.get(SEAL)
    if isinstance(found, dict):
        key = public_keys.get(str(found.get("key_id")))
        body = {k: v for k, v in row.body.items() if k != SEAL}
        try:
            if key is None:
                raise InvalidSignature
            key.verify(
                base64.b64decode(str(found.get("signature"))),
                _payload(tenant_id, row.subject, row.at, body),
            )
        except (InvalidSignature, ValueError):
            return "has a seal that does not verify with a trusted key: forged"
        return None
    if row.seq <= covered_seq:
        return None  # written before seals existed, and signed by a checkpoint since
    return "has no seal and no checkpoint covers it: appended behind Andon's back"


def _payload(tenant_id: str, run_id: str, at: float, body: JsonObject) -> bytes:
    record: JsonObject = {"tenant_id": tenant_id, "run_id": run_id, "at": at, "body": body}
    return hashlib.sha256(canonical_json(record).encode("utf-8")).hexdigest().encode("ascii")
