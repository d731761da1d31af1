"""The report of a dry run before promotion (ADR 0033): per inbox event, where the version
in force and the candidate take the run (``core.sandbox``), and what differs. Pure."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from andon.core.json import JsonObject, JsonValue
from andon.core.sandbox import Decided, Halt, Simulation

SUMMARY_EVENTS = 20
"""Differing events the summary carries; the full list is ``events_json``."""


@dataclass(frozen=True, slots=True)
class Inbound:
    """An inbox event as the dry run read it."""

    source: str
    event_id: str
    event_type: str
    key: str
    plant: str
    received_at: float


@dataclass(frozen=True, slots=True)
class EventReplay:
    """One event run by both versions."""

    event: Inbound
    recorded_run: str | None
    """The real run the event started, whose outcomes answered the steps (none found: every
    action is skipped and every approval waits)."""
    baseline: Simulation
    candidate: Simulation
    differences: tuple[str, ...]

    @property
    def differs(self) -> bool:
        return bool(self.differences)

    def to_json(self) -> JsonObject:
        e = self.event
        return {
            "event_id": e.event_id, "source": e.source, "type": e.event_type, "key": e.key,
            "plant": e.plant, "received_at": e.received_at, "recorded_run": self.recorded_run,
            "baseline": self.baseline.to_json(), "candidate": self.candidate.to_json(),
            "differs": self.differs, "differences": list(self.differences),
        }  # fmt: skip


def compare(baseline: Simulation, candidate: Simulation) -> tuple[str, ...]:
    """Short, readable differences: trigger, path (the first fork), decisions, stop."""
    old, new = baseline.label, candidate.label
    started = (
        baseline.stop.halt is not Halt.NOT_STARTED,
        candidate.stop.halt is not Halt.NOT_STARTED,
    )
    if started[0] != started[1]:
        runs, idle = (old, new) if started[0] else (new, old)
        why = (candidate if started[0] else baseline).stop.detail
        return (f"start: {runs} starts a run, {idle} does not ({why})",)
    found: list[str] = []
    fork = _fork(baseline.path, candidate.path)
    if fork is not None:
        at, ours, theirs = fork
        where = f"after {at}" if at else "at the start"
        found.append(f"path: {where}, {old} {ours}, {new} {theirs}")
    found.extend(_decision_changes(baseline.decisions, candidate.decisions))
    ends = baseline.stop.describe(), candidate.stop.describe()
    if ends[0] != ends[1] and (fork is None or _tells_more(baseline) or _tells_more(candidate)):
        found.append(f"end: {old} {baseline.stop.describe()}, {new} {candidate.stop.describe()}")
    return tuple(found)


def _tells_more(sim: Simulation) -> bool:
    """Whether the run's stop says more than its path does (waiting at its last step)."""
    return not (sim.stop.halt is Halt.WAITING and sim.stop.steps == sim.path[-1:])


def _fork(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, str, str] | None:
    """(last common step, where each goes next) at the first difference of two paths."""
    if old == new:
        return None
    same = 0
    while same < min(len(old), len(new)) and old[same] == new[same]:
        same += 1
    at = old[same - 1] if same else ""

    def goes(path: tuple[str, ...]) -> str:
        return f"goes {path[same]}" if same < len(path) else "stops there"

    return at, goes(old), goes(new)


def _decision_changes(old: tuple[Decided, ...], new: tuple[Decided, ...]) -> list[str]:
    """Decisions of the same step (its n-th visit in both) that matched other rows or gave
    another output; a decide step only one version visits shows in the path."""
    theirs = dict(_numbered(new))
    found = []
    for key, ours in _numbered(old):
        other = theirs.get(key)
        if other is None:
            continue
        if ours.matched != other.matched:
            found.append(f"decision {ours.step}: {ours.rows} -> {other.rows}")
        elif ours.output != other.output:
            found.append(
                f"decision {ours.step}: output {_short(ours.output)} -> {_short(other.output)}"
            )
    return found


def _numbered(decisions: tuple[Decided, ...]) -> list[tuple[tuple[str, int], Decided]]:
    seen: Counter[str] = Counter()
    out = []
    for d in decisions:
        seen[d.step] += 1
        out.append(((d.step, seen[d.step]), d))
    return out


def _short(value: JsonValue) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True, slots=True)
class DryRunReport:
    template_id: str
    version: int
    plant: str | None
    """Only events of this plant; None: every plant."""
    since: float | None
    until: float | None
    last: int
    """At most this many events, the newest of the selection."""
    event_types: tuple[str, ...]
    """The trigger event types of both versions: the inbox events read."""
    made_at: float
    considered: int
    """Inbox events of those types read (oldest first)."""
    truncated: bool
    """The selection held more events than ``last``: the oldest were left out."""
    events: tuple[EventReplay, ...]
    """The events a trigger of either version takes, oldest first."""

    @property
    def taken(self) -> int:
        return len(self.events)

    @property
    def differing(self) -> tuple[EventReplay, ...]:
        return tuple(e for e in self.events if e.differs)

    @property
    def skipped_actions(self) -> int:
        """Action steps answered with an empty output, in both versions' runs."""
        return sum(len(e.baseline.skipped) + len(e.candidate.skipped) for e in self.events)

    def to_json(self, *, every_event: bool = False) -> JsonObject:
        """Counts and the first differing events (small enough to attach to a task); with
        ``every_event``, also every event taken."""
        differing = self.differing
        body: JsonObject = {
            "template_id": self.template_id, "version": self.version, "plant": self.plant,
            "since": self.since, "until": self.until, "last": self.last,
            "event_types": list(self.event_types), "made_at": self.made_at,
            "considered": self.considered, "truncated": self.truncated, "taken": self.taken,
            "differing": len(differing), "skipped_actions": self.skipped_actions,
            "differing_events": [e.to_json() for e in differing[:SUMMARY_EVENTS]],
        }  # fmt: skip
        if every_event:
            body["events"] = self.events_json()
        return body

    def events_json(self) -> list[JsonValue]:
        return [e.to_json() for e in self.events]

    def render_text(self, limit: int | None = SUMMARY_EVENTS) -> str:
        """A reviewer's table: the counts, then each differing event with its differences."""
        ref = f"{self.template_id}@{self.version}"
        lines = [
            f"dry run of {ref} against the version in force: {self.considered} events "
            f"considered, {self.taken} taken by a trigger, {len(self.differing)} differ, "
            f"{self.skipped_actions} actions skipped"
        ]
        if self.truncated:
            lines.append(f"  (only the newest {self.last} events of the selection)")
        shown = self.differing if limit is None else self.differing[:limit]
        if shown:
            head = f"{'RECEIVED':<20} {'EVENT':<16} {'PLANT':<8} {'KEY':<12} {'IN FORCE':<28}"
            lines.append(head + " CANDIDATE")
        for e in shown:
            b, c = e.baseline, e.candidate
            lines.append(
                f"{_when(e.event.received_at):<20} {e.event.event_id[:16]:<16} "
                f"{e.event.plant or '-':<8} {e.event.key[:12]:<12} "
                f"{(b.label + ' ' + b.stop.describe())[:28]:<28} {c.label} {c.stop.describe()}"
            )
            lines.extend(f"    {d}" for d in e.differences)
        hidden = len(self.differing) - len(shown)
        if hidden:
            lines.append(f"... and {hidden} more differing events (--all shows every one)")
        return "\n".join(lines) + "\n"


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")
