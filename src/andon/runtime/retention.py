"""Retention periods, legal holds and the purge job of a tenant.

A purge deletes an expired run's journal, tasks and snapshot in one transaction and leaves
a tombstone in the tenant's administrative chain: the run's final head (sequence and
hash), its template and retention class, sealed with the checkpoint-signing key
(governance/tombstones.py). Checkpoints that covered the run then verify against the
tombstone, and the next checkpoint signs the tombstone itself. The journal refuses
deletes unless the transaction purges (``journal_purge`` in store/retention.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from andon.errors import InputError, NotFoundError
from andon.governance import authz, retention, tombstones
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.runtime import admin_chain
from andon.runtime.clock import Clock
from andon.runtime.keys import KeyRing
from andon.runtime.operations import operation
from andon.runtime.templates import TemplateCache
from andon.store.sql import SqlStore


@dataclass(frozen=True, slots=True)
class Purged:
    run_id: str
    template: str
    retention_class: str
    rows: int


class Retention:
    def __init__(
        self, store: SqlStore, clock: Clock, templates: TemplateCache, keys: KeyRing
    ) -> None:
        self.store = store
        self.clock = clock
        self.templates = templates
        self.keys = keys

    @operation(Permission.RETENTION_MANAGE)
    def set_period(self, actor: Actor, retention_class: str, days: int) -> None:
        """Set how long a class keeps records in this tenant."""
        authz.require(actor, Permission.RETENTION_MANAGE)
        if days < 1:
            raise InputError("a retention period is at least one day")
        now = self._now()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            tx.retention.set_period(retention_class, days)
            admin_chain.record(
                tx, "retention.period_set", retention_class, {"days": days}, actor.user_id, now
            )

    @operation(Permission.RETENTION_MANAGE)
    def place_hold(
        self, actor: Actor, reason: str, *, run_id: str = "", template_id: str = ""
    ) -> str:
        """Keep one run, or every run of a template, whatever its retention says."""
        authz.require(actor, Permission.RETENTION_MANAGE)
        if bool(run_id) == bool(template_id):
            raise InputError("a legal hold covers either one run or one template")
        if not reason.strip():
            raise InputError("a legal hold needs a reason")
        hold_id = uuid.uuid4().hex[:12]
        now = self._now()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            if run_id and tx.run(run_id) is None:
                raise NotFoundError(f"no run '{run_id}'")
            if template_id and tx.latest_template_version(template_id) is None:
                raise NotFoundError(f"no published template '{template_id}'")
            tx.retention.place_hold(
                hold_id, run_id, template_id, reason.strip(), actor.user_id, now
            )
            admin_chain.record(
                tx, "legal_hold.placed", hold_id,
                {"run_id": run_id, "template_id": template_id, "reason": reason.strip()},
                actor.user_id, now,
            )  # fmt: skip
        return hold_id

    @operation(Permission.RETENTION_MANAGE)
    def release_hold(self, actor: Actor, hold_id: str) -> None:
        authz.require(actor, Permission.RETENTION_MANAGE)
        now = self._now()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            if not tx.retention.release_hold(hold_id, actor.user_id, now):
                raise NotFoundError(f"no active legal hold '{hold_id}'")
            admin_chain.record(tx, "legal_hold.released", hold_id, {}, actor.user_id, now)

    @operation(Permission.RETENTION_MANAGE)
    def purge(self, actor: Actor, *, dry_run: bool = False) -> list[Purged]:
        """Purge every ended run whose retention has passed and that no hold covers."""
        authz.require(actor, Permission.RETENTION_MANAGE)
        now = self._now()
        purged: list[Purged] = []
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            periods, holds = tx.retention.periods(), tx.retention.holds()
            for run in tx.retention.ended_runs():
                template = self.templates.get(tx.tenant, run.template_id, run.template_version)
                verdict = retention.purge_verdict(
                    run.run_id, run.template_id, template.retention, run.ended_at, now,
                    periods, holds,
                )  # fmt: skip
                if verdict is not None:
                    continue
                item = Purged(run.run_id, template.ref, template.retention, int(run.last_seq))
                purged.append(item)
                if dry_run:
                    continue
                tx.retention.purge_run(run.run_id)
                body = tombstones.seal(
                    self.keys.private_key(), tx.tenant, run.run_id, now,
                    {"template": template.ref, "template_id": run.template_id,
                     "class": template.retention,
                     "days": retention.period_days(template.retention, periods),
                     "ended_at": run.ended_at, "last_seq": int(run.last_seq),
                     "last_hash": run.last_hash},
                )  # fmt: skip
                admin_chain.record(tx, retention.PURGED, run.run_id, body, actor.user_id, now)
        return purged

    def _now(self) -> float:
        return self.clock.now().timestamp()
