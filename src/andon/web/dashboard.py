"""The dashboards page: the analytics of a period, plant and template turned into charts
and the tables beside them. Reads go through ``andon.analytics.Analytics``, so an actor
sees the plants it may read and nothing else."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup

from andon.analytics import Analytics, Histogram, LatencyRow, StepRow, TrendRow, Window
from andon.governance.identity import Actor
from andon.web import charts
from andon.web.charts import Bar, Series, duration

DAY = 86_400
PERIODS: dict[str, tuple[str, int | None]] = {
    "7": ("Last 7 days", 7),
    "30": ("Last 30 days", 30),
    "90": ("Last 90 days", 90),
    "365": ("Last 12 months", 365),
    "all": ("All time", None),
}
DEFAULT_PERIOD = "30"
MOST_ROWS = 12
"""Rows drawn in a bar chart; the table beside it lists them all."""


@dataclass(frozen=True, slots=True)
class Filters:
    period: str
    plant: str
    template: str

    def window(self, now: float) -> Window:
        days = PERIODS[self.period][1]
        return Window(
            since=None if days is None else now - days * DAY,
            until=None,
            template_id=self.template or None,
            plant=self.plant or None,
        )

    @property
    def bucket_s(self) -> int:
        """Days up to three months, weeks beyond."""
        days = PERIODS[self.period][1]
        return DAY if days is not None and days <= 90 else 7 * DAY


def filters(
    period: str, plant: str, template: str, plants: list[str], templates: list[str]
) -> Filters:
    """The filters asked for, each reset to its default when it is not one of the choices
    (a stale bookmark shows the default view rather than an error)."""
    return Filters(
        period if period in PERIODS else DEFAULT_PERIOD,
        plant if plant in plants else "",
        template if template in templates else "",
    )


def build(analytics: Analytics, actor: Actor, chosen: Filters, now: float) -> dict[str, Any]:
    """The page's context: headline figures, four charts with their tables, incidents."""
    window = chosen.window(now)
    histogram = analytics.cycle_times(actor, window)
    latency = analytics.approval_latency(actor, window)
    steps = analytics.bottleneck_steps(actor, window, limit=MOST_ROWS)
    trend = analytics.trends(actor, window, chosen.bucket_s)
    incidents = analytics.open_incidents(actor, window)
    scope = _scope_text(chosen)
    return {
        "headline": {
            "completed": histogram.total,
            "cycle_p50": _hours(histogram.p50),
            "cycle_p90": _hours(histogram.p90),
            "breaches": sum(row.sla_breaches for row in trend),
            "escalations": sum(row.escalations for row in trend),
            "incidents": len(incidents),
        },
        "cycle": _cycle_chart(histogram, scope),
        "cycle_rows": _cycle_rows(histogram),
        "latency": _latency_chart(latency, scope),
        "latency_rows": latency,
        "steps": _steps_chart(steps, scope),
        "step_rows": steps,
        "trend_chart": _trend_chart(trend, chosen, scope),
        "throughput_chart": _throughput_chart(trend, chosen, scope),
        "trend_rows": [(_bucket_label(row.bucket_start, chosen.bucket_s), row) for row in trend],
        "bucket": "day" if chosen.bucket_s == DAY else "week (from Monday)",
        "incidents": incidents,
        "duration": duration,
    }


def _cycle_chart(histogram: Histogram, scope: str) -> Markup | None:
    if not histogram.total:
        return None
    labels = _cycle_labels(histogram.bounds)
    chart = charts.columns(
        "cycle",
        f"Cycle time of completed runs, {scope}",
        f"{histogram.total} runs completed; median {_hours(histogram.p50)}, "
        f"90th percentile {_hours(histogram.p90)}. Runs per cycle-time bucket: "
        + "; ".join(f"{label}: {n}" for label, n in zip(labels, histogram.counts, strict=True)),
        [Bar(label, n, str(n)) for label, n in zip(labels, histogram.counts, strict=True)],
        unit="",
    )
    return Markup(chart)  # built from escaped parts only (charts.py)


def _cycle_rows(histogram: Histogram) -> list[tuple[str, int]]:
    return list(zip(_cycle_labels(histogram.bounds), histogram.counts, strict=True))


def _cycle_labels(bounds: tuple[float, ...]) -> list[str]:
    labels = []
    for i, bound in enumerate(bounds):
        if math.isinf(bound):
            labels.append(f"> {_short_hours(bounds[i - 1])}" if i else "any")
        else:
            labels.append(f"≤ {_short_hours(bound)}")
    return labels


def _latency_chart(rows: list[LatencyRow], scope: str) -> Markup | None:
    shown = sorted(rows, key=lambda r: (-(r.p50_s or 0.0), r.role, r.plant))[:MOST_ROWS]
    if not shown:
        return None
    bars = [
        Bar(
            f"{row.role} · {row.plant or 'no plant'}",
            row.p50_s or 0.0,
            f"median {duration(row.p50_s)}, p90 {duration(row.p90_s)}",
            row.p90_s,
        )
        for row in shown
    ]
    desc = "Median (bar) and 90th percentile (tick) from task opened to decision: " + "; ".join(
        f"{b.label}: {b.text}" for b in bars
    )
    return Markup(
        charts.bars("latency", f"Approval latency by role and plant, {scope}", desc, bars, unit="s")
    )


def _steps_chart(rows: list[StepRow], scope: str) -> Markup | None:
    if not rows:
        return None
    bars = [
        Bar(
            f"{row.template_id} · {row.step}",
            row.mean_s,
            f"mean {duration(row.mean_s)}, p90 {duration(row.p90_s)}, {row.count} visits",
            row.p90_s,
        )
        for row in rows
    ]
    desc = (
        "Steps where runs spent most time in total (visits times mean), largest first; "
        "bar: mean per visit, tick: 90th percentile: "
        + "; ".join(f"{b.label}: {b.text}" for b in bars)
    )
    return Markup(charts.bars("steps", f"Bottleneck steps, {scope}", desc, bars, unit="s"))


def _trend_chart(rows: list[TrendRow], chosen: Filters, scope: str) -> Markup | None:
    if not rows:
        return None
    series = [
        Series("SLA breaches", [r.sla_breaches for r in rows]),
        Series("Escalations", [r.escalations for r in rows]),
        Series("Incidents", [r.incidents for r in rows]),
        Series("Failed attempts", [r.failures for r in rows]),
    ]
    return _series_chart(
        "trend", f"SLA breaches and exceptions per {_unit(chosen)}, {scope}", rows, chosen, series
    )


def _throughput_chart(rows: list[TrendRow], chosen: Filters, scope: str) -> Markup | None:
    if not rows:
        return None
    series = [
        Series("Started", [r.started for r in rows]),
        Series("Completed", [r.completed for r in rows]),
    ]
    return _series_chart(
        "throughput",
        f"Runs started and completed per {_unit(chosen)}, {scope}",
        rows,
        chosen,
        series,
    )


def _series_chart(
    key: str, title: str, rows: list[TrendRow], chosen: Filters, series: list[Series]
) -> Markup:
    labels = [_bucket_label(r.bucket_start, chosen.bucket_s) for r in rows]
    totals = ", ".join(f"{s.name} {sum(s.values):g}" for s in series)
    peaks = ", ".join(
        f"{s.name} peaked at {max(s.values):g} ({labels[s.values.index(max(s.values))]})"
        for s in series
        if max(s.values, default=0) > 0
    )
    desc = f"From {labels[0]} to {labels[-1]}: in total {totals}." + (f" {peaks}." if peaks else "")
    return Markup(charts.lines(key, title, desc, labels, series))


def _unit(chosen: Filters) -> str:
    return "day" if chosen.bucket_s == DAY else "week"


def _bucket_label(start: float, bucket_s: int) -> str:
    return datetime.fromtimestamp(start, UTC).strftime(
        "%d %b" if bucket_s < 7 * DAY else "%d %b %y"
    )


def _scope_text(chosen: Filters) -> str:
    parts = [PERIODS[chosen.period][0].lower()]
    if chosen.plant:
        parts.append(f"plant {chosen.plant}")
    if chosen.template:
        parts.append(f"template {chosen.template}")
    return ", ".join(parts)


def _hours(hours: float | None) -> str:
    return "–" if hours is None else duration(hours * 3600)


def _short_hours(hours: float) -> str:
    if hours < 24:
        return f"{hours:g} h"
    if hours % 168 == 0:
        weeks = hours / 168
        return f"{weeks:g} wk"
    return f"{hours / 24:g} d"
