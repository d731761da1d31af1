"""The demo's summary on stdout: simulated figures only, so the same seed prints the same."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich import box
from rich.console import Console
from rich.table import Table

from andon.tools.demo.data import PLANTS, START
from andon.tools.demo.stats import Stats, percentile

TITLES = {"supplier-ncr": "Supplier NCR", "purchase-requisition": "Purchase requisition"}


def duration(seconds: float) -> str:
    """``3d 4h``, ``5h 20m``, ``12m``, ``40s``."""
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%a %Y-%m-%d %H:%M UTC")


def _table(title: str, *columns: str) -> Table:
    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, min_width=60
    )
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    return table


def _name(template: str) -> str:
    return TITLES.get(template, template)


def render(out: Console, seed: int, stats: Stats) -> None:
    plants = ", ".join(p.code for p in PLANTS)
    out.print(f"Andon demo (seed {seed}): {stats.runs} runs at {plants}", markup=False)
    ended = f"; the last run ended {_stamp(stats.last_end)}" if stats.last_end else ""
    out.print(f"Plant clock: started {_stamp(START.timestamp())}{ended}.", markup=False)
    out.print()
    _outcomes(out, stats)
    _cycles(out, stats)
    _latency(out, stats)
    _escalations(out, stats)
    _scar(out, stats)
    _reliability(out, stats)
    out.print(
        f"{stats.journal_rows} journal entries, {stats.decisions} approval decisions. "
        "Inspect them with 'andon runs' and 'andon show RUN_ID'.",
        markup=False,
    )


def _outcomes(out: Console, stats: Stats) -> None:
    codes = [p.code for p in PLANTS]
    table = _table("Runs by template and outcome", "Template / outcome", *codes, "Total")
    for template in sorted({t for t, _ in stats.started}):
        started = [stats.started[(template, c)] for c in codes]
        table.add_row(_name(template), *map(str, started), str(sum(started)), style="bold")
        for outcome in sorted({o for t, o, _ in stats.outcomes if t == template}):
            counts = [stats.outcomes[(template, outcome, c)] for c in codes]
            table.add_row(f"  {outcome}", *map(str, counts), str(sum(counts)))
    out.print(table)


def _cycles(out: Console, stats: Stats) -> None:
    table = _table(
        "Cycle time, start to end (plant time)", "Template / outcome", "Runs", "Median", "p90"
    )
    for template in sorted(stats.cycle):
        table.add_row(_name(template), *_spread(stats.cycle[template]), style="bold")
        for (owner, outcome), values in sorted(stats.cycle_by_outcome.items()):
            if owner == template:
                table.add_row(f"  {outcome}", *_spread(values))
    out.print(table)


def _spread(values: Sequence[float]) -> tuple[str, str, str]:
    return str(len(values)), duration(percentile(values, 0.5)), duration(percentile(values, 0.9))


def _latency(out: Console, stats: Stats) -> None:
    table = _table(
        "Approval latency by role, task opened to decision",
        "Role",
        "Decisions",
        "Rejected",
        "Median",
        "p90",
    )
    for role in sorted(stats.latency, key=lambda r: (-len(stats.latency[r]), r)):
        count, median, p90 = _spread(stats.latency[role])
        table.add_row(role, count, str(stats.rejects[role]), median, p90)
    out.print(table)


def _escalations(out: Console, stats: Stats) -> None:
    total = sum(stats.escalations.values())
    table = _table(
        f"Escalations: {total} approval tasks escalated", "Template / step", "Escalated to", "Tasks"
    )
    for (template, step, role), count in sorted(stats.escalations.items()):
        table.add_row(f"{_name(template)} / {step}", role, str(count))
    out.print(table)
    overdue = sum(stats.overdue.values())
    out.print(f"{overdue} approval tasks went past their due time before a decision.", markup=False)
    out.print()


def _scar(out: Console, stats: Stats) -> None:
    scar = stats.scar
    table = _table("Supplier SCARs and 8D responses", "NCR runs with a SCAR", "Count")
    rows = (
        ("SCARs issued to suppliers", "issued"),
        ("8D received before the due date", "on_time"),
        ("no 8D by the due date: escalated to the SQE manager", "timed_out"),
        ("8D received after the escalation", "answered_late"),
        ("no 8D by the final date: closed_scar_overdue", "overdue"),
        ("8D reports rejected by the SQE and resubmitted", "rejected_8d"),
    )
    for label, key in rows:
        table.add_row(label, str(scar[key]))
    out.print(table)


def _reliability(out: Console, stats: Stats) -> None:
    table = _table(
        "Retries and incidents (simulated ERP/QMS faults)",
        "Template / step",
        "Retries",
        "Incidents",
    )
    for template, step in sorted(set(stats.retries) | set(stats.incidents)):
        table.add_row(
            f"{_name(template)} / {step}",
            str(stats.retries[(template, step)]),
            str(stats.incidents[(template, step)]),
        )
    out.print(table)
    incidents = sum(stats.incidents.values())
    out.print(
        f"{sum(stats.retries.values())} retries with backoff; {incidents} incidents, "
        f"{stats.incidents_retried} retried by the ops desk; {stats.open_runs} runs still open.",
        markup=False,
    )
    out.print()
