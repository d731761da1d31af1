"""Hash chains: each row's hash covers the previous hash and the canonical row.

Two kinds of chain: one per run (the journal of facts) and one per tenant (the
administrative acts: publishing, grants, operator interventions, purges). The records
hashed here are exactly the stored columns, so verification can recompute them from the
database alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from andon.core.json import JsonValue, canonical_json

GENESIS = "0" * 64


canonical = canonical_json


def chain_hash(previous: str, record: JsonValue) -> str:
    """sha256 over the previous hash and the canonical JSON of ``record``."""
    return hashlib.sha256((previous + canonical(record)).encode("utf-8")).hexdigest()


def journal_record(
    tenant_id: str,
    run_id: str,
    seq: int,
    kind: str,
    body: JsonValue,
    trace: JsonValue,
    actor: str,
    at: float,
) -> JsonValue:
    return {
        "tenant_id": tenant_id,
        "run_id": run_id,
        "seq": seq,
        "type": kind,
        "body": body,
        "trace": trace,
        "actor": actor,
        "at": at,
    }


def admin_record(
    tenant_id: str,
    seq: int,
    action: str,
    subject: str,
    body: JsonValue,
    actor: str,
    at: float,
) -> JsonValue:
    return {
        "tenant_id": tenant_id,
        "seq": seq,
        "action": action,
        "subject": subject,
        "body": body,
        "actor": actor,
        "at": at,
    }


@dataclass(frozen=True, slots=True)
class Broken:
    seq: int
    reason: str


def verify(rows: Iterable[tuple[int, JsonValue, str]]) -> Broken | None:
    """Check (seq, record, stored hash) rows in order; name the first broken link."""
    previous = GENESIS
    expected_seq = 1
    for seq, record, stored in rows:
        if seq != expected_seq:
            return Broken(seq, f"expected seq {expected_seq}, found {seq}")
        if chain_hash(previous, record) != stored:
            return Broken(seq, "hash does not match the row and its predecessor")
        previous = stored
        expected_seq += 1
    return None
