"""Dry run before promotion (ADR 0033): replay recent inbox events against a candidate
version and the version in force, in memory, and report where their runs part.

Reads only. For each inbox event of a trigger type of either version, both versions start
a simulated run the way ``send_event`` would start a real one (the plant's overlay, the
event data as input) and fold it with ``core.sandbox``; the steps are answered from the
real run the event started (found by its derived id). Nothing is written: no run, journal
row, outbox item, task or admin entry.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from andon.core import codec, rollout, sandbox
from andon.core.dry_run import DryRunReport, EventReplay, Inbound, compare
from andon.core.events import Event
from andon.core.json import JsonValue
from andon.core.sandbox import Halt, Recorded, Simulation, Stop
from andon.core.template import Template
from andon.errors import AndonError, InputError, NotFoundError
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.runtime import lifecycle
from andon.runtime.dead_letters import replay_run_id
from andon.runtime.facts import StartRequest, first_fact, overlay_of, triggered_run_id
from andon.runtime.operations import operation
from andon.runtime.service import Andon
from andon.store.base import JournalRow, OverlayRow
from andon.store.dead_letters import InboxEvent
from andon.store.transaction import SqlReader

DEFAULT_LAST = 200
MAX_EVENTS = 5000


@dataclass(frozen=True, slots=True)
class Side:
    """The version a plant's events run on in one half of the comparison, and the overlay
    its starts take; ``template`` None when there is none (``why``)."""

    template: Template | None
    overlay: OverlayRow | None = None
    why: str = ""


@dataclass(frozen=True, slots=True)
class Read:
    """Everything the replay needs, read in one go."""

    types: tuple[str, ...]
    """The trigger event types of both versions."""
    events: list[InboxEvent]
    truncated: bool
    sides: dict[str, tuple[Side, Side]]
    """Per plant: (in force, candidate)."""
    runs: dict[tuple[str, str], str]
    """Per event (source, id): the real run it started, where there is one."""
    answers: dict[str, list[JournalRow]]


class DryRuns:
    def __init__(self, service: Andon) -> None:
        self.service = service

    @operation(Permission.TEMPLATE_PROMOTE)
    def run(
        self,
        actor: Actor,
        template_id: str,
        version: int,
        *,
        plant: str | None = None,
        last: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> DryRunReport:
        """Replay the newest ``last`` inbox events (default 200; within ``[since, until)``
        when given, then at most 5000) of the triggers of ``template_id@version`` and of the
        version in force, at ``plant`` or every plant, and report how their runs differ."""
        authz.require(actor, Permission.TEMPLATE_PROMOTE, plant or "")
        windowed = since is not None or until is not None
        limit = _limit(last, windowed)
        window = (_stamp(since), _stamp(until))
        if window[0] is not None and window[1] is not None and window[1] <= window[0]:
            raise InputError("the window's end (until) must be after its start (since)")
        if not 1 <= version < 2**31:
            raise NotFoundError(f"no published template '{template_id}@{version}'")
        read = self._read(actor.tenant_id, template_id, version, plant, limit, window)
        replays = [self._replay(actor.tenant_id, template_id, e, read) for e in read.events]
        taken = tuple(r for r in replays if _taken(r))
        return DryRunReport(
            template_id, version, plant, window[0], window[1], limit, read.types,
            self.service.clock.now().timestamp(), len(read.events), read.truncated, taken,
        )  # fmt: skip

    def _read(
        self,
        tenant: str,
        template_id: str,
        version: int,
        plant: str | None,
        limit: int,
        window: tuple[float | None, float | None],
    ) -> Read:
        with self.service.store.reader() as unscoped:
            reader = unscoped.scoped(tenant)
            row = reader.template(template_id, version)
            if row is None:
                raise NotFoundError(f"no published template '{template_id}@{version}'")
            candidate = self.service.templates.compile(tenant, row)
            in_force = self._in_force(reader, template_id)
            types = tuple(sorted({t.event for v in (candidate, *in_force) for t in v.triggers}))
            events = reader.recorded.inbox_events(
                types, limit + 1, since=window[0], until=window[1], plant=plant
            )
            truncated = len(events) > limit
            events = events[len(events) - limit :] if truncated else events
            sides = {
                p: (self._baseline(reader, template_id, p),
                    Side(candidate, lifecycle.overlay_for(reader, template_id, p, None)))
                for p in sorted({e.plant for e in events})
            }  # fmt: skip
            runs = _recorded_runs(reader, template_id, events, sides)
            answers = reader.recorded.answers(list(runs.values()))
        return Read(types, events, truncated, sides, runs, answers)

    def _in_force(self, reader: SqlReader, template_id: str) -> list[Template]:
        """Every version a plant's runs start at the live stage (of an unmanaged template:
        the latest)."""
        live = reader.live_records().get(template_id, [])
        versions = sorted(rollout.versions_in_force(live)) if live else [None]
        rows = [reader.template(template_id, v) for v in versions]
        return [self.service.templates.compile(reader.tenant, r) for r in rows if r is not None]

    def _baseline(self, reader: SqlReader, template_id: str, plant: str) -> Side:
        """What a trigger starts at ``plant`` today: the version in force at the live
        stage with its overlay (``lifecycle.chosen``, as ``send_event`` does)."""
        try:
            version, revision = lifecycle.chosen(reader, template_id, plant, None, None)
            overlay = lifecycle.overlay_for(reader, template_id, plant, revision)
        except NotFoundError as exc:
            return Side(None, why=str(exc))
        row = reader.template(template_id, version)
        if row is None:
            return Side(None, why=f"no published template '{template_id}'")
        return Side(self.service.templates.compile(reader.tenant, row), overlay)

    def _replay(self, tenant: str, template_id: str, event: InboxEvent, read: Read) -> EventReplay:
        run_id = read.runs.get((event.source, event.event_id))
        facts = [_fact(row) for row in read.answers.get(run_id or "", [])]
        sim_id = run_id or triggered_run_id(tenant, event.source, event.event_id, template_id)
        data: JsonValue = json.loads(event.data)
        baseline, candidate = (
            self._simulate(tenant, side, event, data, sim_id, facts)
            for side in read.sides[event.plant]
        )
        inbound = Inbound(event.source, event.event_id, event.event_type, event.key,
                          event.plant, event.received_at)  # fmt: skip
        return EventReplay(inbound, run_id, baseline, candidate, compare(baseline, candidate))

    def _simulate(
        self,
        tenant: str,
        side: Side,
        event: InboxEvent,
        data: JsonValue,
        run_id: str,
        facts: Sequence[tuple[Event, datetime]],
    ) -> Simulation:
        template = side.template
        if template is None:
            return sandbox.not_started("", side.why)
        try:
            if not isinstance(data, dict) or not template.starts_on(event.event_type, data):
                return sandbox.not_started(template.ref, f"no trigger of {template.ref} takes it")
            request = StartRequest(template.id, data, event.plant, template.version, run_id)
            started = first_fact(
                self.service.templates, tenant, template, overlay_of(side.overlay), request,
                f"event:{event.source}",
            )  # fmt: skip
        except AndonError as exc:  # the input or the overlay does not fit this version
            return Simulation(template.ref, stop=Stop(Halt.REFUSED, detail=str(exc)))
        at = datetime.fromtimestamp(event.received_at, UTC)
        return sandbox.simulate(template, run_id, started, Recorded(facts), at)


def _limit(last: int | None, windowed: bool) -> int:
    if last is None:
        return MAX_EVENTS if windowed else DEFAULT_LAST
    if not 1 <= last <= MAX_EVENTS:
        raise InputError(f"last must be between 1 and {MAX_EVENTS} events, not {last}")
    return last


def _stamp(at: datetime | None) -> float | None:
    if at is not None and at.tzinfo is None:
        raise InputError(f"give the time {at.isoformat()} with its UTC offset")
    return at.timestamp() if at is not None else None


def _recorded_runs(
    reader: SqlReader,
    template_id: str,
    events: list[InboxEvent],
    sides: dict[str, tuple[Side, Side]],
) -> dict[tuple[str, str], str]:
    """Per event (source, id), the real run it started, if any."""
    ids = {(e.source, e.event_id): _run_ids(reader.tenant, template_id, e, sides) for e in events}
    every = [run_id for candidates in ids.values() for run_id in candidates]
    found = reader.recorded.existing_runs(every)
    runs = {}
    for key, candidates in ids.items():
        run_id = next((i for i in candidates if i in found), None)
        if run_id is not None:
            runs[key] = run_id
    return runs


def _run_ids(
    tenant: str, template_id: str, event: InboxEvent, sides: dict[str, tuple[Side, Side]]
) -> list[str]:
    """The ids a real run of this event can have, most likely first: started by a trigger,
    or by replaying the inbox into the version in force or the candidate."""
    ids = [triggered_run_id(tenant, event.source, event.event_id, template_id)]
    for side in sides[event.plant]:
        if side.template is not None:
            version = side.template.version
            ids.append(replay_run_id(tenant, event.source, event.event_id, template_id, version))
    return ids


def _fact(row: JournalRow) -> tuple[Event, datetime]:
    event = codec.event_from_dict({**row.body, "type": row.type})
    return event, datetime.fromtimestamp(row.at, UTC)


def _taken(replay: EventReplay) -> bool:
    return any(s.stop.halt is not Halt.NOT_STARTED for s in (replay.baseline, replay.candidate))
