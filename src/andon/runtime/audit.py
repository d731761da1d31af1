"""Signed checkpoints and verification of every chain, from the database, the key and the
anchor outside the database (the checkpoint log, or a trusted copy or digest)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from andon.errors import StoreError
from andon.governance import anchor, audit, checkpoints, tombstones, verification
from andon.governance.checkpoints import Checkpoint
from andon.governance.verification import Report, StoredCheckpoint
from andon.runtime.checkpoint_log import CheckpointLog
from andon.runtime.clock import Clock
from andon.runtime.keys import KeyRing, load_public_key
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
            signed = tx.installation_checkpoints
            signed.register_key(key_id, self.keys.public_pem(), now)
            heads = signed.moved_heads()
            if not heads:
                return None
            last = signed.last()
            number, previous = (last[0] + 1, last[1]) if last else (1, audit.GENESIS)
            cp = Checkpoint(
                number, now, previous, checkpoints.heads_digest(heads), len(heads), key_id
            )
            signed.add(cp, checkpoints.sign(key, cp), heads)
        return cp

    def extend_log(self) -> None:
        """Append to the external log every checkpoint it lacks (none when it has no log)."""
        if self.log is None:
            return

        def since(first: int) -> list[StoredCheckpoint]:
            with self.store.reader() as reader:
                return reader.installation_checkpoints.since(first)

        self.log.extend(since)

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
            signed_checkpoints = reader.installation_checkpoints
            stored = signed_checkpoints.since()
            keys = self._trusted_keys(public_key_pem)
            tenants = [tenant] if tenant else reader.tenant_ids()
            for tenant_id in tenants:
                chains = reader.scoped(tenant_id).audit_chains
                for journal in chains.journals():
                    report.runs += 1
                    report.journal_rows += len(journal.entries)
                    problem, signed = verification.verify_run(
                        tenant_id, journal.run_id, journal.entries, journal.head
                    )
                    report.signatures += signed
                    if problem:
                        report.problems.append(problem)
                admin = chains.admin_entries()
                report.admin_rows += len(admin)
                problem = verification.verify_admin(tenant_id, admin)
                if problem:
                    report.problems.append(problem)
                found = tombstones.verify(tenant_id, admin, keys, _covered(stored, tenant_id))
                report.problems.extend(found.problems)
                report.notes.extend(found.notes)
            report.checkpoints = len(stored)
            problem = verification.verify_checkpoints(
                stored,
                keys,
                signed_checkpoints.chain_lookup(),
                signed_checkpoints.tombstones(),
                tenant,
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

    def _trusted_keys(self, public_key_pem: str | None) -> dict[str, Ed25519PublicKey]:
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
