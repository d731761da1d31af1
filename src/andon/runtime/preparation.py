"""Decisions computed ahead of the write transaction, from a read (ADR 0028).

The engine is pure: given the template, the run's state, the fact and ``now`` it decides
the same. Its conditions, mappings and decision tables may cost up to the CEL budget, so
they are evaluated here, while other writers can write; the transaction reuses a decision
while the run (for a start: the template version and overlay) is what it was read as, and
folds the fact again under its lock otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from andon.core import codec, engine
from andon.core.events import Event, EventReceived, RunStarted
from andon.core.json import JsonValue
from andon.core.overlay import Overlay
from andon.core.run import Run
from andon.core.template import Template
from andon.errors import AndonError, NotFoundError
from andon.runtime import lifecycle
from andon.runtime.facts import Delivery, StartRequest, first_fact, overlay_of, triggered_run_id
from andon.runtime.templates import TemplateCache
from andon.store.base import OverlayRow, RunRow, TaskRow


@dataclass(frozen=True, slots=True)
class Prepared:
    """A fact folded into its run as read before the write transaction."""

    run_id: str
    revision: int
    event: Event
    now: datetime
    decision: engine.Decision

    def fits(self, row: RunRow, delivery: Delivery, now: datetime) -> bool:
        """Whether the transaction, holding ``row``, would decide the same."""
        held = (self.run_id, self.revision, self.now, self.event)
        return held == (row.run_id, row.revision, now, delivery.event)


@dataclass(frozen=True, slots=True)
class PreparedStart:
    """A run's start decided before the write transaction."""

    request: StartRequest
    run_id: str
    started: RunStarted
    now: datetime
    decision: engine.Decision

    def fits(
        self,
        request: StartRequest,
        run_id: str,
        actor: str,
        now: datetime,
        template: Template,
        overlay: Overlay | None,
    ) -> bool:
        """Whether the transaction, finding ``template`` and ``overlay`` in force, would
        decide the same."""
        held = self.started
        ours = (self.request, self.run_id, self.now, held.started_by)
        pinned = (held.template_id, held.template_version, held.overlay_digest)
        in_force = (template.id, template.version, overlay.digest if overlay else "")
        return ours == (request, run_id, now, actor) and pinned == in_force


@dataclass(frozen=True, slots=True)
class Inbound:
    """An external event's deliveries and starts, decided ahead."""

    takes: dict[tuple[str, int], bool]
    """Whether the version in force (at the event's plant) of each template starts on it."""
    folds: dict[tuple[str, str], Prepared | None] = field(default_factory=dict)
    """By waiting (run, step)."""
    starts: dict[str, PreparedStart | None] = field(default_factory=dict)


def starts(
    templates: TemplateCache,
    tenant: str,
    requests: Sequence[tuple[StartRequest, str, str]],
    now: datetime,
) -> list[PreparedStart | None]:
    """Decide each start ``(request, run_id, actor)``; None where it cannot be (the
    transaction then raises why)."""
    if not requests:
        return []
    chosen: list[tuple[int | None, OverlayRow | None] | None] = []
    with templates.store.reader() as unscoped:
        reader = unscoped.scoped(tenant)
        pinned = all(r.version is not None for r, _, _ in requests)
        latest = {} if pinned else dict(reader.latest_templates())
        for r, _, _ in requests:
            try:
                version, revision = lifecycle.chosen(
                    reader, r.template_id, r.plant, r.version, r.stage
                )
                version = version if version is not None else latest.get(r.template_id)
                overlay_row = lifecycle.overlay_for(reader, r.template_id, r.plant, revision)
            except AndonError:  # the transaction raises it again, on what it reads
                chosen.append(None)
                continue
            chosen.append((version, overlay_row))
    prepared: list[PreparedStart | None] = []
    for (request, run_id, actor), choice in zip(requests, chosen, strict=True):
        if choice is None:
            prepared.append(None)
            continue
        version, overlay_row = choice
        try:
            if version is None or not 1 <= version < 2**31:
                raise NotFoundError(f"no published template '{request.template_id}'")
            template = templates.get(tenant, request.template_id, version)
            overlay = overlay_of(overlay_row)
            fact = first_fact(templates, tenant, template, overlay, request, actor)
            decision = engine.advance(template, Run(run_id), fact, now)
        except AndonError:  # the transaction raises it again, on what it reads
            prepared.append(None)
            continue
        prepared.append(PreparedStart(request, run_id, fact, now, decision))
    return prepared


def deliveries(
    templates: TemplateCache, items: Sequence[tuple[str, Delivery]], now: datetime
) -> list[Prepared | None]:
    """Fold each ``(tenant, delivery)`` into its run as read now."""
    if not items:
        return []
    found: dict[tuple[str, str], RunRow] = {}
    with templates.store.reader() as unscoped:
        for tenant in sorted({tenant for tenant, _ in items}):
            ids = sorted({d.run_id for t, d in items if t == tenant})
            found.update(((tenant, r.run_id), r) for r in unscoped.scoped(tenant).runs_by_id(ids))
    return [fold(templates, tenant, found.get((tenant, d.run_id)), d, now) for tenant, d in items]


def fold(
    templates: TemplateCache, tenant: str, row: RunRow | None, delivery: Delivery, now: datetime
) -> Prepared | None:
    """Fold ``delivery`` into the run as ``row``, read outside the transaction, holds it;
    None where there is no run or the fold raises."""
    if row is None:
        return None
    try:
        template = templates.get(tenant, row.template_id, row.template_version)
        decision = engine.advance(template, codec.run_from_dict(row.state), delivery.event, now)
    except AndonError:  # the transaction raises it again, on what it reads
        return None
    return Prepared(row.run_id, row.revision, delivery.event, now, decision)


def task_acts(
    templates: TemplateCache,
    acts: Sequence[tuple[str, str, str]],
    now: datetime,
    event_of: Callable[[int, TaskRow, RunRow], Event | None],
) -> list[Prepared | None]:
    """Fold each act ``(tenant, task, actor)`` on an open task into its run, both as read
    now (a few reads per tenant); ``event_of`` gives the act's fact, or None if refused."""
    found: dict[tuple[str, str], tuple[TaskRow, RunRow]] = {}
    with templates.store.reader() as unscoped:
        for tenant in sorted({tenant for tenant, _, _ in acts}):
            reader = unscoped.scoped(tenant)
            tasks = reader.tasks_by_id([task_id for t, task_id, _ in acts if t == tenant])
            ids = sorted({task.run_id for task in tasks.values()})
            runs = {run.run_id: run for run in reader.runs_by_id(ids)}
            found.update(
                ((tenant, task.task_id), (task, runs[task.run_id]))
                for task in tasks.values()
                if task.run_id in runs
            )
    prepared: list[Prepared | None] = []
    for i, (tenant, task_id, actor) in enumerate(acts):
        task, run = found.get((tenant, task_id), (None, None))
        event = None
        if task is not None and run is not None and task.status == "open":
            event = event_of(i, task, run)
        if event is None or task is None:
            prepared.append(None)
            continue
        prepared.append(fold(templates, tenant, run, Delivery(task.run_id, event, actor), now))
    return prepared


def inbound(
    templates: TemplateCache,
    tenant: str,
    event_type: str,
    key: str,
    data: JsonValue,
    event_id: str,
    source: str,
    plant: str,
    now: datetime,
) -> Inbound:
    """Judge the trigger conditions of an external event, fold it into the runs waiting
    for it and decide the runs it starts. A trigger condition too costly to evaluate
    raises here, so the event is refused before anything is written."""
    with templates.store.reader() as unscoped:
        reader = unscoped.scoped(tenant)
        latest = lifecycle.live_templates(reader, plant)
        waiting = reader.subscribers(event_type, key)
        found = reader.runs_by_id(sorted({run_id for run_id, _ in waiting})) if waiting else []
    takes = {
        (template_id, version): templates.get(tenant, template_id, version).starts_on(
            event_type, data
        )
        for template_id, version in latest
    }
    rows = {row.run_id: row for row in found}
    by = f"event:{source}"
    folds = {
        (run_id, step): fold(
            templates,
            tenant,
            rows.get(run_id),
            Delivery(run_id, EventReceived(step, event_type, key, data, event_id), by),
            now,
        )
        for run_id, step in waiting
    }
    if not isinstance(data, dict):
        return Inbound(takes, folds)
    requests = [
        (StartRequest(template_id, data, plant, None, run_id), run_id, by)
        for (template_id, version), taken in takes.items()
        if taken
        for run_id in [triggered_run_id(tenant, source, event_id, template_id)]
    ]
    prepared = starts(templates, tenant, requests, now)
    return Inbound(
        takes, folds, {run_id: p for (_, run_id, _), p in zip(requests, prepared, strict=True)}
    )
