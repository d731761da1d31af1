"""Signed checkpoints and verification of every chain, from the database, the key and the
anchor outside the database (the checkpoint log, or a trusted copy or digest)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, and_, func, insert, select

from andon.errors import StoreError
from andon.governance import anchor, audit, checkpoints, retention, tombstones, verification
from andon.governance.checkpoints import Checkpoint, Head
from andon.governance.verification import (
    AdminEntry,
    ChainLookup,
    JournalEntry,
    Report,
    StoredCheckpoint,
    TombstoneLookup,
)
from andon.runtime.checkpoint_log import CheckpointLog
from andon.runtime.clock import Clock
from andon.runtime.keys import KeyRing, load_public_key
from andon.store import schema as s
from andon.store.sql import SqlStore


@dataclass(frozen=True, slots=True)
class Trusted:
    """What an auditor brings from outside the database: a copy of the checkpoint log
    (``entries``, named ``source``) or the digest of one checkpoint."""

    entries: Sequence[StoredCheckpoint] = ()
    source: str = ""
    digest: str = ""


class Auditor:
    def __init__(
        self, store: SqlStore, clock: Clock, keys: KeyRing, log: CheckpointLog | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.keys = keys
        self.log = log

    # ---- checkpoints -------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint | None:
        """Sign the heads of every chain that moved since the last checkpoint (None when
        nothing moved), then bring the external log up to date."""
        cp = self._sign()
        self.extend_log()
        return cp

    def _sign(self) -> Checkpoint | None:
        key = self.keys.private_key()
        key_id = self.keys.key_id
        now = self.clock.now().timestamp()
        with self.store.transaction() as tx:
            conn = tx.conn
            self._register_key(conn, key_id, now)
            heads = list(_moved_heads(conn))
            if not heads:
                return None
            last = conn.execute(
                select(s.checkpoints.c.checkpoint_id, s.checkpoints.c.hash)
                .order_by(s.checkpoints.c.checkpoint_id.desc())
                .limit(1)
            ).first()
            number, previous = (last[0] + 1, str(last[1])) if last else (1, audit.GENESIS)
            cp = Checkpoint(
                number, now, previous, checkpoints.heads_digest(heads), len(heads), key_id
            )
            conn.execute(
                insert(s.checkpoints).values(
                    checkpoint_id=number,
                    at=now,
                    previous=previous,
                    heads_digest=cp.heads_digest,
                    heads=len(heads),
                    key_id=key_id,
                    signature=checkpoints.sign(key, cp),
                    hash=cp.hash,
                )
            )
            conn.execute(
                insert(s.checkpoint_heads),
                [{"checkpoint_id": number, **h.as_json()} for h in heads],
            )
        return cp

    def extend_log(self) -> None:
        """Append to the external log every checkpoint it lacks (none when it has no log)."""
        if self.log is None:
            return

        def since(first: int) -> list[StoredCheckpoint]:
            with self.store.reader() as reader:
                return _checkpoints(reader.conn, first)

        self.log.extend(since)

    def _register_key(self, conn: Connection, key_id: str, now: float) -> None:
        known = conn.execute(
            select(s.signing_keys.c.key_id).where(s.signing_keys.c.key_id == key_id)
        ).first()
        if known is None:
            conn.execute(
                insert(s.signing_keys).values(
                    key_id=key_id, public_key=self.keys.public_pem(), created_at=now
                )
            )

    # ---- verification ------------------------------------------------------------------

    def verify(
        self,
        tenant: str | None = None,
        public_key_pem: str | None = None,
        trusted: Trusted | None = None,
    ) -> Report:
        """Recompute every chain (of one tenant, or all) and every checkpoint, and compare
        the checkpoints with the log outside the database and with ``trusted``."""
        report = Report()
        with self.store.reader() as reader:
            conn = reader.conn
            stored = _checkpoints(conn)
            keys = self._trusted_keys(conn, public_key_pem)
            tenants = [tenant] if tenant else reader.tenant_ids()
            for tenant_id in tenants:
                for run_id, head, rows in _journals(conn, tenant_id):
                    report.runs += 1
                    report.journal_rows += len(rows)
                    problem, signed = verification.verify_run(tenant_id, run_id, rows, head)
                    report.signatures += signed
                    if problem:
                        report.problems.append(problem)
                admin = _admin_rows(conn, tenant_id)
                report.admin_rows += len(admin)
                problem = verification.verify_admin(tenant_id, admin)
                if problem:
                    report.problems.append(problem)
                found = tombstones.verify(tenant_id, admin, keys, _covered(stored, tenant_id))
                report.problems.extend(found.problems)
                report.notes.extend(found.notes)
            report.checkpoints = len(stored)
            problem = verification.verify_checkpoints(
                stored, keys, _chain_lookup(conn), _tombstones(conn), tenant
            )
            if problem:
                report.problems.append(problem)
        report.problems.extend(self._anchor_problems(stored, keys, trusted))
        return report

    def _anchor_problems(
        self,
        stored: list[StoredCheckpoint],
        keys: dict[str, Ed25519PublicKey],
        trusted: Trusted | None,
    ) -> Iterator[str]:
        if self.log is not None:
            if self.log.exists():
                try:
                    logged = self.log.read()
                except StoreError as exc:  # a mangled log is a finding, not a crash
                    yield str(exc)
                else:
                    source = f"the checkpoint log {self.log.path}"
                    yield from _against(stored, logged, keys, source, complete=True)
            elif stored:
                yield (
                    f"the checkpoint log {self.log.path} is missing but the database has "
                    f"{len(stored)} checkpoint(s): it was deleted (`andon audit checkpoint` "
                    "writes it again from the database)"
                )
        if trusted is not None and trusted.digest:
            problem = anchor.find_digest(stored, trusted.digest)
            if problem:
                yield problem
        if trusted is not None and trusted.source:
            yield from _against(stored, trusted.entries, keys, trusted.source, complete=False)

    def _trusted_keys(
        self, conn: Connection, public_key_pem: str | None
    ) -> dict[str, Ed25519PublicKey]:
        if public_key_pem is not None:
            key = load_public_key(public_key_pem)
        else:
            found = self.keys.public_key()
            if found is None:
                return {}
            key = found
        return {checkpoints.key_id(key): key}


def _against(
    stored: Sequence[StoredCheckpoint],
    entries: Sequence[StoredCheckpoint],
    keys: dict[str, Ed25519PublicKey],
    source: str,
    *,
    complete: bool,
) -> Iterator[str]:
    problem = anchor.verify_log(entries, keys, source) or anchor.compare(
        stored, entries, source, complete=complete
    )
    if problem:
        yield problem


def _covered(stored: Sequence[StoredCheckpoint], tenant_id: str) -> int:
    """The highest row of the tenant's administrative chain that a checkpoint covers."""
    seqs = [
        h.seq
        for item in stored
        for h in item.heads
        if h.chain == checkpoints.ADMIN and h.tenant_id == tenant_id
    ]
    return max(seqs, default=0)


def _moved_heads(conn: Connection) -> Iterator[Head]:
    covered = (
        select(
            s.checkpoint_heads.c.tenant_id,
            s.checkpoint_heads.c.chain_id,
            func.max(s.checkpoint_heads.c.seq).label("seq"),
        )
        .where(s.checkpoint_heads.c.chain == checkpoints.RUN)
        .group_by(s.checkpoint_heads.c.tenant_id, s.checkpoint_heads.c.chain_id)
        .subquery()
    )
    runs = conn.execute(
        select(s.runs.c.tenant_id, s.runs.c.run_id, s.runs.c.last_seq, s.runs.c.last_hash)
        .outerjoin(
            covered,
            and_(covered.c.tenant_id == s.runs.c.tenant_id, covered.c.chain_id == s.runs.c.run_id),
        )
        .where(s.runs.c.last_seq > func.coalesce(covered.c.seq, 0))
    )
    for tenant_id, run_id, seq, digest in runs:
        yield Head(tenant_id, checkpoints.RUN, run_id, int(seq), digest)
    admin_covered = {
        str(r[0]): int(r[1])
        for r in conn.execute(
            select(s.checkpoint_heads.c.tenant_id, func.max(s.checkpoint_heads.c.seq))
            .where(s.checkpoint_heads.c.chain == checkpoints.ADMIN)
            .group_by(s.checkpoint_heads.c.tenant_id)
        )
    }
    last_admin = (
        select(s.admin_log.c.tenant_id, func.max(s.admin_log.c.seq).label("seq"))
        .group_by(s.admin_log.c.tenant_id)
        .subquery()
    )
    for tenant_id, seq, digest in conn.execute(
        select(s.admin_log.c.tenant_id, s.admin_log.c.seq, s.admin_log.c.hash).join(
            last_admin,
            and_(
                last_admin.c.tenant_id == s.admin_log.c.tenant_id,
                last_admin.c.seq == s.admin_log.c.seq,
            ),
        )
    ):
        if int(seq) > admin_covered.get(tenant_id, 0):
            yield Head(tenant_id, checkpoints.ADMIN, tenant_id, int(seq), digest)


def _journals(
    conn: Connection, tenant_id: str
) -> Iterator[tuple[str, tuple[int, str], list[JournalEntry]]]:
    """Every run of the tenant (and orphaned journal rows) with its head and its rows."""
    heads = {
        str(r[0]): (int(r[1]), str(r[2]))
        for r in conn.execute(
            select(s.runs.c.run_id, s.runs.c.last_seq, s.runs.c.last_hash).where(
                s.runs.c.tenant_id == tenant_id
            )
        )
    }
    rows: dict[str, list[JournalEntry]] = {run_id: [] for run_id in heads}
    query = (
        select(s.run_events)
        .where(s.run_events.c.tenant_id == tenant_id)
        .order_by(s.run_events.c.run_id, s.run_events.c.seq)
    )
    for r in conn.execute(query):
        m: Any = r._mapping
        rows.setdefault(m["run_id"], []).append(
            JournalEntry(
                m["seq"], m["type"], json.loads(m["body"]), json.loads(m["trace"]),
                m["actor"], m["at"], m["hash"],
            )
        )  # fmt: skip
    for run_id in sorted(rows):
        yield run_id, heads.get(run_id, (0, audit.GENESIS)), rows[run_id]


def _admin_rows(conn: Connection, tenant_id: str) -> list[AdminEntry]:
    query = (
        select(s.admin_log).where(s.admin_log.c.tenant_id == tenant_id).order_by(s.admin_log.c.seq)
    )
    return [
        AdminEntry(r.seq, r.action, r.subject, json.loads(r.body), r.actor, r.at, r.hash)
        for r in conn.execute(query)
    ]


def _checkpoints(conn: Connection, first: int = 0) -> list[StoredCheckpoint]:
    """The stored checkpoints from number ``first`` on, with their heads."""
    heads: dict[int, list[Head]] = {}
    h_query = select(s.checkpoint_heads).where(s.checkpoint_heads.c.checkpoint_id >= first)
    for h in conn.execute(h_query):
        heads.setdefault(int(h.checkpoint_id), []).append(
            Head(h.tenant_id, h.chain, h.chain_id, int(h.seq), h.hash)
        )
    found = []
    c_query = select(s.checkpoints).where(s.checkpoints.c.checkpoint_id >= first)
    for c in conn.execute(c_query.order_by(s.checkpoints.c.checkpoint_id)):
        cp = Checkpoint(
            int(c.checkpoint_id), c.at, c.previous, c.heads_digest, int(c.heads), c.key_id
        )
        found.append(StoredCheckpoint(cp, c.signature, c.hash, heads.get(cp.checkpoint_id, [])))
    return found


def _chain_lookup(conn: Connection) -> ChainLookup:
    """The stored hash at every position a checkpoint recorded."""
    h = s.checkpoint_heads
    runs = conn.execute(
        select(h.c.tenant_id, h.c.chain, h.c.chain_id, h.c.seq, s.run_events.c.hash).join(
            s.run_events,
            and_(
                h.c.chain == checkpoints.RUN,
                s.run_events.c.tenant_id == h.c.tenant_id,
                s.run_events.c.run_id == h.c.chain_id,
                s.run_events.c.seq == h.c.seq,
            ),
        )
    )
    admin = conn.execute(
        select(h.c.tenant_id, h.c.chain, h.c.chain_id, h.c.seq, s.admin_log.c.hash).join(
            s.admin_log,
            and_(
                h.c.chain == checkpoints.ADMIN,
                s.admin_log.c.tenant_id == h.c.tenant_id,
                s.admin_log.c.seq == h.c.seq,
            ),
        )
    )
    return ChainLookup([(*r,) for r in runs] + [(*r,) for r in admin])


def _tombstones(conn: Connection) -> TombstoneLookup:
    rows = conn.execute(
        select(s.admin_log.c.tenant_id, s.admin_log.c.subject, s.admin_log.c.body).where(
            s.admin_log.c.action == retention.PURGED
        )
    )
    found = []
    for tenant_id, run_id, body in rows:
        data = json.loads(body)
        found.append((tenant_id, run_id, int(data["last_seq"]), str(data["last_hash"])))
    return TombstoneLookup(found)
