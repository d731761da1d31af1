"""Moving waiting runs to another version of their template (ADR 0032).

Each run moves in a transaction of its own, holding its lock: a ``RunMigrated`` fact
journaled (hash-chained like every fact) and folded with the new version, the runs row
switched to it in the same write. A run that cannot move is refused with the reason and
nothing is written for it; the batch goes on with the next run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from andon.core import codec, engine, migration
from andon.core.commands import CancelTimer
from andon.core.events import RunMigrated
from andon.core.run import Run
from andon.core.template import Template
from andon.errors import InputError
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.runtime import admin_chain
from andon.runtime.operations import operation
from andon.runtime.service import Andon
from andon.store.base import RunRow

MAX_RUNS = 10_000


class Outcome(StrEnum):
    MIGRATED = "migrated"
    WOULD_MIGRATE = "would-migrate"
    """A dry run found nothing against it."""
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Result:
    run_id: str
    outcome: Outcome
    reason: str = ""
    moved: dict[str, str] = field(default_factory=dict)
    """Current steps that changed id, old to new."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What to migrate: every unended run of ``template_id@from_version`` (at ``plant``,
    if named), or only ``run_ids``."""

    template_id: str
    from_version: int
    to_version: int
    mapping: Mapping[str, str] = field(default_factory=dict)
    plant: str | None = None
    run_ids: Sequence[str] = ()
    dry_run: bool = False


def step_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """``OLD_STEP=NEW_STEP`` pairs as a mapping, each old step at most once (the shells'
    ``--map`` options and form lines)."""
    found: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = (part.strip() for part in pair.partition("="))
        if not sep or not old or not new:
            raise InputError(f"'{pair}' is not OLD_STEP=NEW_STEP")
        if old in found:
            raise InputError(f"step '{old}' is mapped twice")
        found[old] = new
    return found


class RunMigrations:
    def __init__(self, service: Andon) -> None:
        self.service = service

    @operation(Permission.RUN_MIGRATE)
    def migrate(self, actor: Actor, plan: Plan) -> list[Result]:
        """Each run's result, in the order the runs were considered."""
        if plan.plant is not None or not plan.run_ids:
            authz.require(actor, Permission.RUN_MIGRATE, plan.plant or "")
        elif authz.readable_sites(actor, Permission.RUN_MIGRATE) == frozenset():
            authz.require(actor, Permission.RUN_MIGRATE)  # named runs: judged per plant
        if plan.template_id in self.service.reserved:
            raise InputError(
                f"runs of {plan.template_id} do not move to another version: each is judged "
                "under the version it started with"
            )
        templates = self.service.templates
        old = templates.get(actor.tenant_id, plan.template_id, plan.from_version)
        new = templates.get(actor.tenant_id, plan.template_id, plan.to_version)
        mapping = dict(plan.mapping)
        migration.check_mapping(old, new, mapping)
        run_ids = list(dict.fromkeys(plan.run_ids)) or self._candidates(actor, plan)
        if len(run_ids) > MAX_RUNS:
            raise InputError(
                f"{len(run_ids)} runs are more than {MAX_RUNS} in one batch: "
                "narrow it with a plant or run ids"
            )
        results = [self._one(actor, plan, old, new, mapping, run_id) for run_id in run_ids]
        migrated = [r.run_id for r in results if r.outcome is Outcome.MIGRATED]
        if migrated:  # the facts are journaled per run; the act once, in the admin chain
            with self.service.store.transaction() as unscoped:
                tx = unscoped.scoped(actor.tenant_id)
                admin_chain.record(
                    tx, "runs.migrated", f"{old.ref}->{new.ref}",
                    {"mapping": dict(mapping), "plant": plan.plant, "runs": len(migrated),
                     "refused": len(results) - len(migrated)},
                    actor.user_id, self.service.clock.now().timestamp(),
                )  # fmt: skip
        return results

    def _candidates(self, actor: Actor, plan: Plan) -> list[str]:
        with self.service.store.reader() as reader:
            return reader.scoped(actor.tenant_id).migration_candidates.unended(
                plan.template_id, plan.from_version, plan.plant
            )

    def _one(
        self,
        actor: Actor,
        plan: Plan,
        old: Template,
        new: Template,
        mapping: dict[str, str],
        run_id: str,
    ) -> Result:
        service = self.service
        if plan.dry_run:
            with service.store.reader() as reader:
                row = reader.scoped(actor.tenant_id).run(run_id)
            reason, run = self._judge(actor, old, new, mapping, run_id, row)
            if reason or run is None:
                return Result(run_id, Outcome.REFUSED, reason)
            return Result(run_id, Outcome.WOULD_MIGRATE, moved=migration.moves(run, mapping))
        now = service.clock.now()
        after = service.signals.after_commit(now.timestamp())
        with service.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            row = tx.run(run_id)  # locked until commit: no other fact interleaves
            reason, run = self._judge(actor, old, new, mapping, run_id, row)
            if reason or run is None or row is None:
                return Result(run_id, Outcome.REFUSED, reason)
            event = RunMigrated(old.version, new.version, dict(mapping), actor.user_id)
            decision = engine.advance(new, run, event, now)
            stale = tuple(CancelTimer(k) for k in migration.stale_timers(old, run, mapping))
            decision = replace(decision, commands=stale + decision.commands)
            service.facts.commit(tx, new, row, event, decision, actor.user_id, now, after)
        service.signals.committed(after)
        return Result(run_id, Outcome.MIGRATED, moved=migration.moves(run, mapping))

    @staticmethod
    def _judge(
        actor: Actor,
        old: Template,
        new: Template,
        mapping: dict[str, str],
        run_id: str,
        row: RunRow | None,
    ) -> tuple[str, Run | None]:
        if row is None or not authz.authorize(actor, Permission.RUN_READ, row.plant):
            return f"no run '{run_id}'", None
        verdict = authz.authorize(actor, Permission.RUN_MIGRATE, row.plant)
        if not verdict:
            return verdict.reason, None
        run = codec.run_from_dict(row.state)
        return migration.refusal(old, new, run, mapping) or "", run
