"""Stages and per-plant rollout (ADR 0031): which template version and overlay revision
are in force at each stage and plant, changed only through ``Lifecycle.put_in_force``
(ungoverned stages), ``apply_promotion`` (an approved promotion run, ADR 0034) and
``rollback``, each change appended to the rollout history and chained in the
tenant's admin log.

Starts and trigger starts take the version in force at the tenant's last (live) stage for
the run's plant. A template with no record at the live stage is *unmanaged*: its runs
start the latest published version, as before stages existed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from andon.core import rollout
from andon.core.overlay import Overlay
from andon.core.rollout import EVERY_PLANT, Act, Record
from andon.errors import ConflictError, InputError, NotFoundError
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.runtime import admin_chain
from andon.runtime.clock import Clock
from andon.runtime.operations import operation
from andon.store import rollouts as store
from andon.store.base import OverlayRow, RunRow
from andon.store.sql import SqlStore
from andon.store.transaction import SqlTransaction

MAX_REASON = 500


class Reads(Protocol):
    """What both the write transaction and the reader offer (``store.rollouts``)."""

    @property
    def tenant(self) -> str: ...
    def stages(self) -> tuple[str, ...]: ...
    def live_records(self) -> dict[str, list[Record]]: ...
    def stage_records(self, template_id: str, stage: str) -> list[Record]: ...
    def overlay_at(self, template_id: str, plant: str, revision: int) -> OverlayRow | None: ...
    def latest_overlay(self, template_id: str, plant: str) -> OverlayRow | None: ...
    def latest_templates(self) -> list[tuple[str, int]]: ...


def chosen(
    reads: Reads, template_id: str, plant: str, version: int | None, stage: str | None
) -> tuple[int | None, int | None]:
    """The version a start runs and the overlay revision pinned with it: the one named;
    else the one in force at ``stage`` (default: the live stage) for ``plant``; None for
    the version of an unmanaged template started without a stage (its latest)."""
    if version is not None:
        if stage is not None:
            raise InputError("name a version or a stage to start, not both")
        return version, None
    stages = reads.stages()
    if stage is None:
        records = reads.live_records().get(template_id, [])
        if not records:
            return None, None
        stage = stages[-1]
    else:
        rollout.stage_index(stages, stage)
        records = reads.stage_records(template_id, stage)
    found = rollout.in_force(records, plant)
    if found is None or found.version is None:
        where = f"plant '{plant}'" if plant else "runs without a plant"
        raise NotFoundError(
            f"no version of '{template_id}' is in force at stage '{stage}' for {where} "
            f"(see andon versions {template_id})"
        )
    return found.version, found.overlay_revision


def overlay_for(
    reads: Reads, template_id: str, plant: str, revision: int | None
) -> OverlayRow | None:
    """The plant's overlay: the pinned revision, else its newest one."""
    if not plant:
        return None
    if revision is None:
        return reads.latest_overlay(template_id, plant)
    found = reads.overlay_at(template_id, plant, revision)
    if found is None:
        raise NotFoundError(f"no overlay revision {revision} of '{template_id}' at '{plant}'")
    return found


def live_templates(reads: Reads, plant: str) -> list[tuple[str, int]]:
    """(id, version) of every template a trigger may start at ``plant``: the version in
    force at the live stage, or the latest of an unmanaged template."""
    live = reads.live_records()
    found = []
    for template_id, latest in reads.latest_templates():
        records = live.get(template_id)
        if not records:
            found.append((template_id, latest))
            continue
        record = rollout.in_force(records, plant)
        if record is not None and record.version is not None:
            found.append((template_id, record.version))
    return found


def published(tx: SqlTransaction, template_id: str, version: int, by: str, at: float) -> None:
    """Publishing puts the new version in force at the first stage, for every plant."""
    record = Record(0, template_id, tx.stages()[0], EVERY_PLANT, version, None,
                    Act.PUBLISHED, at, by)  # fmt: skip
    tx.rollouts.lock()
    tx.rollouts.append(record)
    tx.forget_rollouts()


def overlay_published(tx: SqlTransaction, overlay: Overlay, text: str, at: float) -> int | None:
    """Keep the overlay's content (once per digest) and number this publication; None
    when it repeats the plant's newest revision (publishing twice is a no-op)."""
    row = OverlayRow(overlay.digest, overlay.template_id, overlay.plant, overlay.parameters, text)
    newest = tx.latest_overlay(row.template_id, row.plant)
    if newest is not None and newest.digest == row.digest:
        return None
    if tx.overlay(row.digest) is None:
        tx.insert_overlay(row, at)
    return tx.rollouts.add_overlay_revision(row.template_id, row.plant, row.digest, at)


@dataclass(frozen=True, slots=True)
class Move:
    """Put ``version`` in force at ``stage`` for ``plants`` (empty: every plant)."""

    template_id: str
    version: int
    stage: str
    plants: tuple[str, ...]
    overlay_revision: int | None = None
    reason: str = ""


class _Checks(Reads, Protocol):
    def template(self, template_id: str, version: int | None) -> object | None: ...
    def site_exists(self, site: str) -> bool: ...


def _check(reads: _Checks, move: Move) -> None:
    stages = reads.stages()
    index = rollout.stage_index(stages, move.stage)
    if reads.template(move.template_id, move.version) is None:
        raise NotFoundError(f"no published template '{move.template_id}@{move.version}'")
    for plant in move.plants:
        if not reads.site_exists(plant):
            raise NotFoundError(f"no site '{plant}' (add it: andon sites add {plant})")
    if move.overlay_revision is not None:
        if len(move.plants) != 1:
            raise InputError("an overlay revision belongs to one plant: name exactly one plant")
        overlay_for(reads, move.template_id, move.plants[0], move.overlay_revision)
    records = reads.stage_records(move.template_id, move.stage)
    previous = reads.stage_records(move.template_id, stages[index - 1]) if index else []
    rollout.check_order(move.template_id, move.version, stages, move.stage, previous, records)


ApprovedMove = Callable[[SqlTransaction, RunRow], tuple[Move, str]]
"""Judges a locked promotion run: the move it asks for and who requested it, or raises."""


@dataclass(frozen=True, slots=True)
class InForce:
    stage: str
    plant: str
    """"" for every plant without its own record."""
    record: Record


@dataclass(frozen=True, slots=True)
class Versions:
    """A template's rollout: what is in force where, and how it got there."""

    template_id: str
    stages: tuple[str, ...]
    latest: int | None
    managed: bool
    """Something was put in force at the live stage; else runs start the latest."""
    in_force: list[InForce]
    history: list[Record]
    overlays: list[store.OverlayRevision]


class Lifecycle:
    def __init__(self, store_: SqlStore, clock: Clock) -> None:
        self.store = store_
        self.clock = clock

    @operation(Permission.TEMPLATE_READ)
    def stages(self, actor: Actor) -> tuple[str, ...]:
        authz.require(actor, Permission.TEMPLATE_READ)
        with self.store.reader() as reader:
            return reader.scoped(actor.tenant_id).stages()

    @operation(Permission.TEMPLATE_READ)
    def governed(self, actor: Actor) -> frozenset[str]:
        """The stages a version enters only through an approved promotion run (ADR 0034)."""
        authz.require(actor, Permission.TEMPLATE_READ)
        with self.store.reader() as reader:
            return reader.scoped(actor.tenant_id).governed_stages()

    @operation(Permission.STAGES_MANAGE)
    def set_stages(
        self, actor: Actor, names: list[str], governed: list[str] | None = None
    ) -> tuple[str, ...]:
        """Replace the tenant's stage list and which of them are governed (by default those
        governed now that stay, and the live stage if the live one was). A stage something
        was promoted to stays, and the live (last) stage stays while a template is managed
        there. The first stage cannot be governed: publishing puts versions there."""
        authz.require(actor, Permission.STAGES_MANAGE)
        names_ = rollout.check_stages(names)
        wanted = None if governed is None else {g.strip() for g in governed}
        for name in wanted or ():
            rollout.stage_index(names_, name)
        if wanted is not None and names_[0] in wanted:
            raise InputError(
                f"the first stage '{names_[0]}' cannot be governed: publishing puts every new "
                "version in force there"
            )
        now = self.clock.now().timestamp()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            tx.rollouts.lock()
            old = tx.stages()
            if wanted is None:
                now_governed = tx.governed_stages()
                wanted = {n for n in names_[1:] if n in now_governed}
                if old[-1] in now_governed and len(names_) > 1:
                    wanted.add(names_[-1])
            governed_ = tuple(n for n in names_ if n in wanted)
            records = tx.rollouts.records()
            promoted = {r.stage for r in records if r.act is not Act.PUBLISHED and r.stage in old}
            dropped = sorted(promoted - set(names_))
            if dropped:
                raise ConflictError(
                    f"stages {', '.join(dropped)} hold promoted versions and cannot be removed"
                )
            if names_[-1] != old[-1] and old[-1] in promoted:
                raise ConflictError(
                    f"'{old[-1]}' stays the last (live) stage: runs start what is in force there"
                )
            tx.rollouts.set_stages(names_, governed_, actor.user_id, now)
            tx.forget_rollouts()
            admin_chain.record(
                tx, "stages.set", tx.tenant,
                {"stages": list(names_), "governed": list(governed_)}, actor.user_id, now,
            )  # fmt: skip
        return names_

    @operation(Permission.TEMPLATE_PROMOTE)
    def put_in_force(
        self,
        actor: Actor,
        template_id: str,
        version: int,
        stage: str,
        plants: list[str] | None = None,
        *,
        overlay_revision: int | None = None,
        reason: str = "",
    ) -> list[Record]:
        """Put ``version`` in force at ``stage`` for ``plants`` (none: every plant, those
        with records of their own included); returns the records appended (none when it
        already was). Refused for a governed stage: there only the approved promotion run
        puts a version in force (``Promotions``, ADR 0034)."""
        plants = sorted(set(plants or []))
        for plant in plants or [EVERY_PLANT]:
            authz.require(actor, Permission.TEMPLATE_PROMOTE, plant)
        move = Move(template_id, version, stage, tuple(plants), overlay_revision, reason)
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            tx.rollouts.lock()
            if stage in tx.governed_stages():
                raise ConflictError(
                    f"stage '{stage}' is governed: request the promotion (andon promote "
                    f"{template_id} {version} --to {stage}); its approved run puts it in force"
                )
            return self._put(tx, move, actor.user_id, None)

    def check_move(self, tenant_id: str, move: Move) -> None:
        """Raise what putting ``move`` in force would be refused for (a promotion request
        checks before it asks anyone to approve), without writing."""
        with self.store.reader() as unscoped:
            _check(unscoped.scoped(tenant_id), move)

    def apply_promotion(self, tenant_id: str, run_id: str, approved: ApprovedMove) -> list[Record]:
        """Put in force what the promotion run ``run_id`` asks for, in one transaction
        holding the run and the rollout history locked: ``approved`` judges the run as it
        is then and returns the move and who requested it. Once per run: a retried call
        returns the records made the first time."""
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(tenant_id)
            tx.rollouts.lock()
            run = tx.run(run_id)
            if run is None:
                raise NotFoundError(f"no run '{run_id}'")
            done = tx.records_via_run(run_id)
            if done:
                return done
            move, by = approved(tx, run)
            return self._put(tx, move, by, run_id)

    def install_shipped(self, tenant_id: str, template_id: str, version: int, by: str) -> None:
        """Put a template Andon ships in force at every stage for every plant, once: from
        then on a tenant's own version of it enters a governed stage like any other."""
        now = self.clock.now().timestamp()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(tenant_id)
            tx.rollouts.lock()
            stages = tx.stages()
            if tx.stage_records(template_id, stages[-1]):
                return
            for stage in stages[1:]:
                record = Record(0, template_id, stage, EVERY_PLANT, version, None,
                                Act.PROMOTED, now, by, "shipped with Andon")  # fmt: skip
                tx.rollouts.append(record)
            tx.forget_rollouts()
            admin_chain.record(
                tx, "template.promoted", f"{template_id}@{version}",
                {"stages": list(stages[1:]), "plants": [EVERY_PLANT],
                 "reason": "shipped with Andon"}, by, now,
            )  # fmt: skip

    def _put(self, tx: SqlTransaction, move: Move, by: str, via_run: str | None) -> list[Record]:
        now = self.clock.now().timestamp()
        reason = checked_reason(move.reason)
        _check(tx, move)
        records = tx.stage_records(move.template_id, move.stage)
        targets = list(move.plants) or [EVERY_PLANT, *rollout.own_plants(records)]
        added, stacks = [], rollout.stacks(records)
        for plant in targets:
            top = stacks[plant][-1] if stacks.get(plant) else None
            if top and (top.version, top.overlay_revision) == (move.version, move.overlay_revision):
                continue  # already in force there: nothing to record
            record = Record(0, move.template_id, move.stage, plant, move.version,
                            move.overlay_revision, Act.PROMOTED, now, by,
                            reason, via_run)  # fmt: skip
            added.append(tx.rollouts.append(record))
        if added:
            tx.forget_rollouts()
            admin_chain.record(
                tx, "template.promoted", f"{move.template_id}@{move.version}",
                {"stage": move.stage, "plants": [r.plant for r in added],
                 "overlay_revision": move.overlay_revision, "reason": reason,
                 "via_run": via_run, "records": [r.seq for r in added]},
                by, now,
            )  # fmt: skip
        return added

    @operation(Permission.TEMPLATE_PROMOTE)
    def rollback(
        self,
        actor: Actor,
        template_id: str,
        plant: str = EVERY_PLANT,
        stage: str | None = None,
        *,
        reason: str = "",
    ) -> Record:
        """Put back what was in force at ``stage`` (default: the live one) for ``plant``
        before its latest change; a plant left without a record of its own follows the
        one for every plant again. Journaled like a promotion."""
        authz.require(actor, Permission.TEMPLATE_PROMOTE, plant)
        reason = checked_reason(reason)
        now = self.clock.now().timestamp()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            tx.rollouts.lock()
            stages = tx.stages()
            stage = stage or stages[-1]
            rollout.stage_index(stages, stage)
            if tx.template(template_id, None) is None:
                raise NotFoundError(f"no published template '{template_id}'")
            records = tx.stage_records(template_id, stage)
            back = rollout.after_rollback(records, template_id, stage, plant)
            record = Record(
                0, template_id, stage, plant,
                back.version if back else None, back.overlay_revision if back else None,
                Act.ROLLED_BACK, now, actor.user_id, reason,
            )  # fmt: skip
            record = tx.rollouts.append(record)
            tx.forget_rollouts()
            admin_chain.record(
                tx, "template.rolled_back", template_id,
                {"stage": stage, "plant": plant, "version": record.version,
                 "overlay_revision": record.overlay_revision, "reason": reason,
                 "record": record.seq},
                actor.user_id, now,
            )  # fmt: skip
        return record

    @operation(Permission.TEMPLATE_READ)
    def versions(self, actor: Actor, template_id: str) -> Versions:
        authz.require(actor, Permission.TEMPLATE_READ)
        with self.store.reader() as unscoped:
            reader = unscoped.scoped(actor.tenant_id)
            stages = reader.stages()
            latest = reader.template(template_id, None)
            history = reader.rollouts.records(template_id=template_id)
            overlays = reader.rollouts.overlay_revisions(template_id)
        if latest is None:
            raise NotFoundError(f"no published template '{template_id}'")
        in_force: list[InForce] = []
        for stage in stages:
            found = rollout.stacks(r for r in history if r.stage == stage)
            in_force.extend(InForce(stage, p, s[-1]) for p, s in sorted(found.items()) if s)
        managed = any(r.stage == stages[-1] for r in history)
        return Versions(template_id, stages, latest.version, managed, in_force, history, overlays)


def checked_reason(reason: str) -> str:
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise InputError(f"the reason is longer than {MAX_REASON} characters")
    return reason
