"""Recomputing every chain and checkpoint; each finding names the first broken link.

Pure: the runtime reads the rows and hands them over. Checks, per chain:
- journal of a run: sequence 1..n without gaps, every hash, the run row's head, and every
  signature manifest bound to the row before it;
- administrative chain of a tenant: sequence and hashes;
- checkpoints: their own chain, the digest of their heads, the Ed25519 signature, and that
  each recorded head is still in its chain (or was purged under a tombstone that says so).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from andon.core.json import JsonObject, JsonValue
from andon.governance import audit, checkpoints, signatures
from andon.governance.checkpoints import Checkpoint, Head


@dataclass(frozen=True, slots=True)
class JournalEntry:
    seq: int
    kind: str
    body: JsonObject
    trace: JsonValue
    actor: str
    at: float
    hash: str


@dataclass(frozen=True, slots=True)
class AdminEntry:
    seq: int
    action: str
    subject: str
    body: JsonObject
    actor: str
    at: float
    hash: str


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    checkpoint: Checkpoint
    signature: str
    stored_hash: str
    heads: Sequence[Head]


@dataclass(slots=True)
class Report:
    runs: int = 0
    journal_rows: int = 0
    admin_rows: int = 0
    checkpoints: int = 0
    signatures: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Findings that are not failures (a tombstone that awaits its checkpoint)."""

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_run(
    tenant_id: str,
    run_id: str,
    rows: Sequence[JournalEntry],
    head: tuple[int, str] | None,
) -> tuple[str | None, int]:
    """The first broken link of one run's journal (or None) and the signatures checked."""
    previous = audit.GENESIS
    signed = 0
    for expected, row in enumerate(rows, start=1):
        where = f"run {run_id} seq {row.seq}"
        if row.seq != expected:
            return f"{where}: expected seq {expected} (a row is missing or was inserted)", signed
        record = audit.journal_record(
            tenant_id, run_id, row.seq, row.kind, row.body, row.trace, row.actor, row.at
        )
        if audit.chain_hash(previous, record) != row.hash:
            return f"{where}: hash does not match the row and its predecessor", signed
        manifest = row.body.get("signature") if row.kind == "TaskCompleted" else None
        if manifest is not None:
            problem = signatures.check(
                manifest,
                run_id=run_id,
                task_id=str(row.body.get("task_id")),
                step=str(row.body.get("step")),
                outcome=str(row.body.get("outcome")),
                signer=str(row.body.get("actor")),
                follows=previous,
            )
            if problem:
                return f"{where}: {problem}", signed
            signed += 1
        previous = row.hash
    last = (rows[-1].seq, rows[-1].hash) if rows else (0, audit.GENESIS)
    if head is not None and head != last:
        return (
            f"run {run_id}: the run row's head (seq {head[0]}) does not match the journal's "
            f"last row (seq {last[0]}): rows were removed or added",
            signed,
        )
    return None, signed


def verify_admin(tenant_id: str, rows: Sequence[AdminEntry]) -> str | None:
    previous = audit.GENESIS
    for expected, row in enumerate(rows, start=1):
        where = f"admin chain of tenant {tenant_id} seq {row.seq}"
        if row.seq != expected:
            return f"{where}: expected seq {expected} (a row is missing or was inserted)"
        record = audit.admin_record(
            tenant_id, row.seq, row.action, row.subject, row.body, row.actor, row.at
        )
        if audit.chain_hash(previous, record) != row.hash:
            return f"{where}: hash does not match the row and its predecessor"
        previous = row.hash
    return None


def verify_checkpoints(
    stored: Sequence[StoredCheckpoint],
    public_keys: Mapping[str, Ed25519PublicKey],
    chain_row_hash: ChainLookup,
    tombstone: TombstoneLookup,
    tenant: str | None = None,
) -> str | None:
    """The first broken checkpoint, or a recorded head no longer in its chain."""
    previous = audit.GENESIS
    for expected, item in enumerate(stored, start=1):
        cp = item.checkpoint
        where = f"checkpoint {cp.checkpoint_id}"
        problem = checkpoint_problem(item, expected, previous, public_keys)
        if problem:
            return f"{where}: {problem}"
        for head in item.heads:
            if tenant is not None and head.tenant_id != tenant:
                continue
            problem = _head_problem(head, chain_row_hash, tombstone)
            if problem:
                return f"{where}: {problem}"
        previous = cp.hash
    return None


def checkpoint_problem(
    item: StoredCheckpoint,
    expected: int,
    previous: str,
    public_keys: Mapping[str, Ed25519PublicKey],
) -> str | None:
    """What is wrong with one checkpoint on its own: its place in the chain of checkpoints,
    its recorded heads, its signature."""
    cp = item.checkpoint
    if cp.checkpoint_id != expected:
        return f"expected checkpoint {expected} (one is missing)"
    if cp.previous != previous or cp.hash != item.stored_hash:
        return f"does not chain to checkpoint {expected - 1}"
    if checkpoints.heads_digest(item.heads) != cp.heads_digest or len(item.heads) != cp.heads:
        return "its recorded heads were changed"
    key = public_keys.get(cp.key_id)
    if key is None:
        return f"signed with unknown key {cp.key_id}"
    if not checkpoints.signature_valid(key, cp, item.signature):
        return "the signature does not verify"
    return None


class ChainLookup:
    """``(tenant, chain, chain_id, seq) -> hash`` of the row stored there, if any."""

    def __init__(self, rows: Iterable[tuple[str, str, str, int, str]]) -> None:
        self._rows = {(t, c, i, s): h for t, c, i, s, h in rows}

    def __call__(self, tenant: str, chain: str, chain_id: str, seq: int) -> str | None:
        return self._rows.get((tenant, chain, chain_id, seq))


class TombstoneLookup:
    """``(tenant, run_id) -> (last_seq, last_hash)`` of a run purged under retention."""

    def __init__(self, rows: Iterable[tuple[str, str, int, str]]) -> None:
        self._rows = {(t, r): (s, h) for t, r, s, h in rows}

    def __call__(self, tenant: str, run_id: str) -> tuple[int, str] | None:
        return self._rows.get((tenant, run_id))


def _head_problem(head: Head, chain: ChainLookup, tombstone: TombstoneLookup) -> str | None:
    found = chain(head.tenant_id, head.chain, head.chain_id, head.seq)
    name = f"{head.chain} chain {head.chain_id} of tenant {head.tenant_id}"
    if found == head.hash:
        return None
    if found is not None:
        return f"{name} seq {head.seq} was rewritten after the checkpoint"
    if head.chain == checkpoints.RUN:
        purged = tombstone(head.tenant_id, head.chain_id)
        if purged is not None:
            last_seq, last_hash = purged
            if last_seq > head.seq or (last_seq == head.seq and last_hash == head.hash):
                return None
            return f"{name} was purged with a head that contradicts the checkpoint"
    return f"{name} lost seq {head.seq}: its tail was cut or removed after the checkpoint"
