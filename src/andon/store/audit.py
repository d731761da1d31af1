"""Rows behind the audit: signed checkpoints of every chain (installation-wide: one
checkpoint signs the heads of all tenants) and each tenant's chains as a verifier reads them
(runtime/audit.py signs and verifies; runtime/evidence.py exports one run)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, func, insert, select

from andon.governance import audit, checkpoints, retention
from andon.governance.checkpoints import Checkpoint, Head
from andon.governance.verification import (
    AdminEntry,
    ChainLookup,
    JournalEntry,
    StoredCheckpoint,
    TombstoneLookup,
)
from andon.store import schema as s

_heads, _checkpoints, _keys = s.checkpoint_heads, s.checkpoints, s.signing_keys


@dataclass(frozen=True, slots=True)
class RunJournal:
    """A run's journal with the head its snapshot records ((0, genesis) for orphaned rows)."""

    run_id: str
    head: tuple[int, str]
    entries: list[JournalEntry]


@dataclass(frozen=True, slots=True)
class RunCheckpoint:
    """The newest checkpoint that covers a run, and the run's row it covers."""

    seq: int
    hash: str
    stored: StoredCheckpoint


class InstallationCheckpoints:
    """The signed checkpoints and their signing keys; not tenant-owned, and the heads to
    sign next are read across every tenant."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def register_key(self, key_id: str, public_pem: str, at: float) -> None:
        """Keep the public half of a signing key, once."""
        known = self.conn.execute(select(_keys.c.key_id).where(_keys.c.key_id == key_id))
        if known.first() is None:
            self.conn.execute(
                insert(_keys).values(key_id=key_id, public_key=public_pem, created_at=at)
            )

    def moved_heads(self) -> list[Head]:
        """The head of every chain that moved since the last checkpoint covered it."""
        return [*self._moved_runs(), *self._moved_admin_chains()]

    def _moved_runs(self) -> list[Head]:
        covered = (
            select(_heads.c.tenant_id, _heads.c.chain_id, func.max(_heads.c.seq).label("seq"))
            .where(_heads.c.chain == checkpoints.RUN)
            .group_by(_heads.c.tenant_id, _heads.c.chain_id)
            .subquery()
        )
        runs = self.conn.execute(
            select(s.runs.c.tenant_id, s.runs.c.run_id, s.runs.c.last_seq, s.runs.c.last_hash)
            .outerjoin(
                covered,
                and_(
                    covered.c.tenant_id == s.runs.c.tenant_id,
                    covered.c.chain_id == s.runs.c.run_id,
                ),
            )
            .where(s.runs.c.last_seq > func.coalesce(covered.c.seq, 0))
        )
        return [
            Head(tenant_id, checkpoints.RUN, run_id, int(seq), digest)
            for tenant_id, run_id, seq, digest in runs
        ]

    def _moved_admin_chains(self) -> list[Head]:
        admin_covered = {
            str(r[0]): int(r[1])
            for r in self.conn.execute(
                select(_heads.c.tenant_id, func.max(_heads.c.seq))
                .where(_heads.c.chain == checkpoints.ADMIN)
                .group_by(_heads.c.tenant_id)
            )
        }
        log = s.admin_log
        last_admin = (
            select(log.c.tenant_id, func.max(log.c.seq).label("seq"))
            .group_by(log.c.tenant_id)
            .subquery()
        )
        last = self.conn.execute(
            select(log.c.tenant_id, log.c.seq, log.c.hash).join(
                last_admin,
                and_(last_admin.c.tenant_id == log.c.tenant_id, last_admin.c.seq == log.c.seq),
            )
        )
        return [
            Head(tenant_id, checkpoints.ADMIN, tenant_id, int(seq), digest)
            for tenant_id, seq, digest in last
            if int(seq) > admin_covered.get(tenant_id, 0)
        ]

    def last(self) -> tuple[int, str] | None:
        """(number, hash) of the newest checkpoint."""
        found = self.conn.execute(
            select(_checkpoints.c.checkpoint_id, _checkpoints.c.hash)
            .order_by(_checkpoints.c.checkpoint_id.desc())
            .limit(1)
        ).first()
        return (int(found[0]), str(found[1])) if found else None

    def add(self, cp: Checkpoint, signature: str, heads: list[Head]) -> None:
        self.conn.execute(
            insert(_checkpoints).values(
                checkpoint_id=cp.checkpoint_id, at=cp.at, previous=cp.previous,
                heads_digest=cp.heads_digest, heads=len(heads), key_id=cp.key_id,
                signature=signature, hash=cp.hash,
            )
        )  # fmt: skip
        self.conn.execute(
            insert(_heads), [{"checkpoint_id": cp.checkpoint_id, **h.as_json()} for h in heads]
        )

    def since(self, first: int = 0) -> list[StoredCheckpoint]:
        """The stored checkpoints from number ``first`` on, with their heads."""
        return _stored(self.conn, lambda number: number >= first)

    def chain_lookup(self) -> ChainLookup:
        """The stored hash at every position a checkpoint recorded."""
        runs, admin = s.run_events, s.admin_log
        return ChainLookup(
            self._hashes_at(checkpoints.RUN, runs, runs.c.run_id == _heads.c.chain_id)
            + self._hashes_at(checkpoints.ADMIN, admin)
        )

    def _hashes_at(
        self, chain: str, table: Table, *same_chain: ColumnElement[bool]
    ) -> list[tuple[str, str, str, int, str]]:
        """(tenant, chain, chain id, seq, hash) of the rows of ``table`` that checkpoints
        recorded as heads of a ``chain``."""
        found = self.conn.execute(
            select(
                _heads.c.tenant_id, _heads.c.chain, _heads.c.chain_id, _heads.c.seq, table.c.hash
            ).join(
                table,
                and_(
                    _heads.c.chain == chain,
                    table.c.tenant_id == _heads.c.tenant_id,
                    *same_chain,
                    table.c.seq == _heads.c.seq,
                ),
            )
        )
        return [(*r,) for r in found]

    def tombstones(self) -> TombstoneLookup:
        """The final head of every run purged under retention, from its tombstone."""
        log = s.admin_log
        found = []
        for tenant_id, run_id, body in self.conn.execute(
            select(log.c.tenant_id, log.c.subject, log.c.body).where(
                log.c.action == retention.PURGED
            )
        ):
            data = json.loads(body)
            found.append((tenant_id, run_id, int(data["last_seq"]), str(data["last_hash"])))
        return TombstoneLookup(found)


class AuditChains:
    """A tenant's hash chains as a verifier reads them: every run's journal, the
    administrative chain, and what the checkpoints signed of them."""

    def __init__(self, conn: Connection, tenant: str) -> None:
        self.conn = conn
        self.tenant = tenant

    def journals(self) -> list[RunJournal]:
        """Every run of the tenant (and orphaned journal rows), by run id."""
        heads = {
            str(r[0]): (int(r[1]), str(r[2]))
            for r in self.conn.execute(
                select(s.runs.c.run_id, s.runs.c.last_seq, s.runs.c.last_hash).where(
                    s.runs.c.tenant_id == self.tenant
                )
            )
        }
        rows: dict[str, list[JournalEntry]] = {run_id: [] for run_id in heads}
        query = (
            select(s.run_events)
            .where(s.run_events.c.tenant_id == self.tenant)
            .order_by(s.run_events.c.run_id, s.run_events.c.seq)
        )
        for r in self.conn.execute(query):
            m: Any = r._mapping
            rows.setdefault(m["run_id"], []).append(
                JournalEntry(
                    m["seq"], m["type"], json.loads(m["body"]), json.loads(m["trace"]),
                    m["actor"], m["at"], m["hash"],
                )
            )  # fmt: skip
        return [
            RunJournal(run_id, heads.get(run_id, (0, audit.GENESIS)), rows[run_id])
            for run_id in sorted(rows)
        ]

    def admin_entries(self) -> list[AdminEntry]:
        log = s.admin_log
        query = select(log).where(log.c.tenant_id == self.tenant).order_by(log.c.seq)
        return [
            AdminEntry(r.seq, r.action, r.subject, json.loads(r.body), r.actor, r.at, r.hash)
            for r in self.conn.execute(query)
        ]

    def checkpoint_of(self, run_id: str) -> RunCheckpoint | None:
        """The newest checkpoint that covers the run, whole (with every tenant's heads, so
        that its signature can be checked offline)."""
        found = self.conn.execute(
            select(_heads.c.seq, _heads.c.hash, _heads.c.checkpoint_id)
            .join(_checkpoints, _checkpoints.c.checkpoint_id == _heads.c.checkpoint_id)
            .where(_heads.c.tenant_id == self.tenant, _heads.c.chain == checkpoints.RUN,
                   _heads.c.chain_id == run_id)
            .order_by(_heads.c.seq.desc())
            .limit(1)
        ).first()  # fmt: skip
        if found is None:
            return None
        number = found.checkpoint_id
        (whole,) = _stored(self.conn, lambda column: column == number)
        return RunCheckpoint(found.seq, found.hash, whole)


def _stored(
    conn: Connection, numbered: Callable[[Any], ColumnElement[bool]]
) -> list[StoredCheckpoint]:
    """The checkpoints whose number ``numbered`` selects, oldest first, with their heads."""
    heads: dict[int, list[Head]] = {}
    for h in conn.execute(select(_heads).where(numbered(_heads.c.checkpoint_id))):
        heads.setdefault(int(h.checkpoint_id), []).append(
            Head(h.tenant_id, h.chain, h.chain_id, int(h.seq), h.hash)
        )
    found = []
    query = select(_checkpoints).where(numbered(_checkpoints.c.checkpoint_id))
    for c in conn.execute(query.order_by(_checkpoints.c.checkpoint_id)):
        cp = Checkpoint(
            int(c.checkpoint_id), c.at, c.previous, c.heads_digest, int(c.heads), c.key_id
        )
        found.append(StoredCheckpoint(cp, c.signature, c.hash, heads.get(cp.checkpoint_id, [])))
    return found
