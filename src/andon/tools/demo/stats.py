"""Figures of one demo, read back from the database: only the runs this demo started.

Everything is aggregated into counters and sorted lists, so nothing depends on run ids
(which are random) or on the order rows come back in.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from andon.runtime.service import Andon
from andon.store import schema as s

CHUNK = 400


@dataclass
class Stats:
    started: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(template, plant) -> runs started."""
    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(template, outcome or status, plant) -> runs."""
    cycle: dict[str, list[float]] = field(default_factory=dict)
    cycle_by_outcome: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    latency: dict[str, list[float]] = field(default_factory=dict)
    rejects: Counter[str] = field(default_factory=Counter)
    escalations: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    overdue: Counter[tuple[str, str]] = field(default_factory=Counter)
    retries: Counter[tuple[str, str]] = field(default_factory=Counter)
    incidents: Counter[tuple[str, str]] = field(default_factory=Counter)
    incidents_retried: int = 0
    scar: Counter[str] = field(default_factory=Counter)
    """SCAR runs by what happened to them; ``rejected_8d`` counts rejected reports."""
    scar_flags: dict[str, set[str]] = field(default_factory=dict)
    journal_rows: int = 0
    decisions: int = 0
    first_start: float | None = None
    last_end: float | None = None

    @property
    def runs(self) -> int:
        return sum(self.started.values())

    @property
    def open_runs(self) -> int:
        return sum(n for (_, outcome, _), n in self.outcomes.items() if outcome.startswith("("))


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of ``values`` (which need not be sorted)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def collect(service: Andon, run_ids: Sequence[str]) -> Stats:
    stats = Stats()
    templates: dict[str, str] = {}
    with service.store.reader() as reader:
        for chunk in _chunks(run_ids):
            for row in reader.conn.execute(select(s.runs).where(s.runs.c.run_id.in_(chunk))):
                templates[row.run_id] = row.template_id
                _add_run(stats, row)
        opened: dict[str, float] = {}
        completed: list[tuple[str, str, str, float]] = []
        for chunk in _chunks(run_ids):
            query = select(s.run_events).where(s.run_events.c.run_id.in_(chunk))
            for row in reader.conn.execute(query):
                stats.journal_rows += 1
                template = templates.get(row.run_id, "?")
                for entry in json.loads(row.trace):
                    _add_trace(stats, template, entry, row.at, opened)
                    if template == "supplier-ncr":
                        _add_scar(stats, row.run_id, entry)
                if row.type == "TaskCompleted":
                    body = json.loads(row.body)
                    completed.append((body["task_id"], body["role"], body["outcome"], row.at))
    _count_scars(stats)
    for task_id, role, outcome, at in completed:
        stats.decisions += 1
        stats.latency.setdefault(role, []).append(at - opened.get(task_id, at))
        if outcome != "approve":
            stats.rejects[role] += 1
    return stats


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def _add_run(stats: Stats, row: Any) -> None:
    template, plant = str(row.template_id), str(row.plant)
    stats.started[(template, plant)] += 1
    ended = row.ended_at
    label = str(row.outcome) if ended is not None and row.outcome else f"({row.status})"
    stats.outcomes[(template, label, plant)] += 1
    start = float(row.created_at)
    stats.first_start = start if stats.first_start is None else min(stats.first_start, start)
    if ended is None:
        return
    stats.last_end = ended if stats.last_end is None else max(stats.last_end, ended)
    stats.cycle.setdefault(template, []).append(ended - start)
    stats.cycle_by_outcome.setdefault((template, label), []).append(ended - start)


def _add_trace(
    stats: Stats, template: str, entry: dict[str, Any], at: float, opened: dict[str, float]
) -> None:
    change, step = entry.get("change"), str(entry.get("step", ""))
    if change == "task_opened":
        opened[str(entry["task_id"])] = at
    elif change == "escalated":
        stats.escalations[(template, step, str(entry.get("role", "")))] += 1
    elif change == "overdue":
        stats.overdue[(template, step)] += 1
    elif change == "retrying":
        stats.retries[(template, step)] += 1
    elif change == "incident":
        stats.incidents[(template, step)] += 1
    elif change == "incident_retried":
        stats.incidents_retried += 1


SCAR_FLAGS = {
    ("issue_scar", "succeeded"): "issued",
    ("await_scar", "received"): "answered",
    ("await_scar", "timed_out"): "timed_out",
    ("await_scar_final", "received"): "answered_late",
    ("await_scar_final", "timed_out"): "overdue",
}


def _add_scar(stats: Stats, run_id: str, entry: dict[str, Any]) -> None:
    step, change = entry.get("step"), entry.get("change")
    flag = SCAR_FLAGS.get((str(step), str(change)))
    if flag is not None:
        stats.scar_flags.setdefault(run_id, set()).add(flag)
    elif step == "review_scar" and change == "decided" and entry.get("outcome") == "reject":
        stats.scar["rejected_8d"] += 1


def _count_scars(stats: Stats) -> None:
    for flags in stats.scar_flags.values():
        for flag in flags:
            stats.scar[flag] += 1
        if "answered" in flags and "timed_out" not in flags:
            stats.scar["on_time"] += 1
