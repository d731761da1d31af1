"""Offline verification of an evidence bundle (runtime/evidence.py): no database, only the
bundle and the public key the auditor trusts.

Recomputes the run's journal chain from the rows in the bundle (sequence, hashes, every
signature manifest), then checks the signed checkpoint that covers the run: its heads
digest, its hash, its Ed25519 signature, and that the head it records for this run is the
bundle's row at that sequence. A bundle edited anywhere after export fails one of these.
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from andon.core.json import JsonValue
from andon.governance import anchor, checkpoints, verification
from andon.governance.checkpoints import Checkpoint
from andon.governance.verification import JournalEntry, StoredCheckpoint

FORMAT = "andon.evidence/1"


def verify(bundle: JsonValue, public_key: Ed25519PublicKey) -> list[str]:
    """Every problem found (empty: the bundle is genuine and covered by a checkpoint)."""
    try:
        return _verify(bundle, public_key)
    except (ValueError, KeyError, TypeError) as exc:
        return [f"the bundle is malformed: {exc}"]


def _verify(bundle: JsonValue, public_key: Ed25519PublicKey) -> list[str]:
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        return [f"not an evidence bundle (format {FORMAT} expected)"]
    tenant, run = str(bundle["tenant"]), _mapping(bundle["run"])
    run_id = str(run["run_id"])
    rows = [_entry(_mapping(r)) for r in _list(bundle["journal"])]
    chain = _mapping(bundle["chain"])
    head = _mapping(chain["head"])
    problem, _ = verification.verify_run(
        tenant, run_id, rows, (int(str(head["seq"])), str(head["hash"]))
    )
    if problem:
        return [problem]
    covering = chain.get("checkpoint")
    if covering is None:
        return [f"run {run_id}: no signed checkpoint covers it yet"]
    return _checkpoint_problems(tenant, run_id, rows, _mapping(covering), public_key)


def _checkpoint_problems(
    tenant: str,
    run_id: str,
    rows: list[JournalEntry],
    found: Mapping[str, JsonValue],
    public_key: Ed25519PublicKey,
) -> list[str]:
    heads = [anchor.parse_head(_mapping(h)) for h in _list(found["heads"])]
    cp = Checkpoint(
        int(str(found["checkpoint_id"])), float(str(found["at"])), str(found["previous"]),
        str(found["heads_digest"]), len(heads), str(found["key_id"]),
    )  # fmt: skip
    stored = StoredCheckpoint(cp, str(found["signature"]), str(found["checkpoint_hash"]), heads)
    where = f"checkpoint {cp.checkpoint_id}"
    keys = {checkpoints.key_id(public_key): public_key}
    problem = verification.checkpoint_problem(stored, cp.checkpoint_id, cp.previous, keys)
    if problem:
        return [f"{where}: {problem}"]
    mine = [h for h in heads if h.tenant_id == tenant and h.chain == checkpoints.RUN]
    mine = [h for h in mine if h.chain_id == run_id]
    if not mine:
        return [f"{where} does not cover run {run_id}"]
    at = {row.seq: row.hash for row in rows}
    if at.get(mine[0].seq) != mine[0].hash:
        return [f"{where}: run {run_id} seq {mine[0].seq} is not the row it signed"]
    return []


def _entry(r: Mapping[str, JsonValue]) -> JournalEntry:
    return JournalEntry(
        int(str(r["seq"])), str(r["type"]), dict(_mapping(r["body"])), r["trace"],
        str(r["actor"]), float(str(r["at"])), str(r["hash"]),
    )  # fmt: skip


def _mapping(value: JsonValue) -> Mapping[str, JsonValue]:
    if not isinstance(value, dict):
        raise ValueError("an object was expected")
    return value


def _list(value: JsonValue) -> list[JsonValue]:
    if not isinstance(value, list):
        raise ValueError("a list was expected")
    return value
