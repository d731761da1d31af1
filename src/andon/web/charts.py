"""Dashboard charts as inline SVG: columns, horizontal bars with a tick for a second value,
and lines over time. Pure and deterministic (same data, same bytes) and built from escaped
parts only, like the flow diagram; no chart library, no JavaScript.

Every chart has a ``<title>`` and a ``<desc>`` that says in words what it shows, and the
page puts the same figures in a table beside it: a chart is for looking, the table for
screen readers and for copying numbers. Series are told apart by dash pattern and marker
shape as well as colour, and every colour has at least 3:1 contrast on white.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 760
LEFT = 56
"""Room for the value axis labels."""
TOP = 16
BOTTOM = 44
"""Room for the category or time labels."""
INK = "#1a1a1a"
GRID = "#d6d6d6"
BAR = "#0b57d0"
MARK = "#8a0f18"
SERIES_STYLES: tuple[tuple[str, str, str], ...] = (
    ("#0b57d0", "", "circle"),
    ("#a3121c", "6 4", "square"),
    ("#5c3300", "2 3", "diamond"),
    ("#2f6b3a", "10 3 2 3", "triangle"),
)
"""(colour, dash pattern, marker) per series, in order."""


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    text: str
    """The value as the reader should see it ("3.2 h", "17")."""
    mark: float | None = None
    """A second value drawn as a tick across the bar (a p90 beside a median)."""


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float]


def duration(seconds: float | None) -> str:
    """A duration the way people on a shop floor say it: 45 s, 12 min, 3.4 h, 2.1 d."""
    if seconds is None or math.isnan(seconds):
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


DURATION_STEPS = tuple(
    minutes * 60.0
    for minutes in (1, 2, 5, 10, 15, 30, 60, 120, 240, 360, 720, 1440, 2880, 7200, 10080, 20160)
)
"""Steps of a duration axis: minutes, hours, days and weeks people count in."""


def nice_ticks(maximum: float, count: int = 4, *, durations: bool = False) -> list[float]:
    """Axis ticks from 0 past ``maximum`` in steps of 1, 2 or 5 times a power of ten, or
    (``durations``, in seconds) in whole minutes, hours, days or weeks."""
    if maximum <= 0 or not math.isfinite(maximum):
        return [0.0, 1.0]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if durations and raw >= 60:
        step = next((d for d in DURATION_STEPS if d >= raw), step)
    top = math.ceil(maximum / step - 1e-9) * step
    return [round(i * step, 9) for i in range(round(top / step) + 1)]


def columns(key: str, title: str, desc: str, bars: Sequence[Bar], *, unit: str) -> str:
    """Vertical bars, one per category, with the value written above each."""
    height = 240
    plot_h = height - TOP - BOTTOM
    ticks = nice_ticks(max((b.value for b in bars), default=0))
    scale = plot_h / ticks[-1]
    slot = (WIDTH - LEFT - 8) / max(len(bars), 1)
    parts = [_open(key, title, desc, height), *_value_axis(ticks, scale, height, unit)]
    for i, bar in enumerate(bars):
        x = LEFT + i * slot + slot * 0.15
        h = bar.value * scale
        y = height - BOTTOM - h
        parts.append(
            f'<g class="bar"><title>{escape(bar.label)}: {escape(bar.text)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{BAR}"/>'
            f'<text x="{x + slot * 0.35:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
            f'font-size="11" fill="{INK}">{escape(bar.text)}</text>'
            f'<text x="{x + slot * 0.35:.1f}" y="{height - BOTTOM + 16}" text-anchor="middle" '
            f'font-size="11" fill="{INK}">{escape(bar.label)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bars(key: str, title: str, desc: str, rows: Sequence[Bar], *, unit: str) -> str:
    """Horizontal bars, one per row, labelled on the left; a row's ``mark`` is a dark tick."""
    label_w = 270
    row_h = 26
    height = TOP + row_h * max(len(rows), 1) + BOTTOM
    top = max((max(r.value, r.mark or 0.0) for r in rows), default=0.0)
    ticks = nice_ticks(top, durations=unit == "s")
    span = WIDTH - label_w - 210  # room for the value text after the longest bar
    scale = span / ticks[-1]
    parts = [_open(key, title, desc, height)]
    base_y = height - BOTTOM
    for tick in ticks:
        x = label_w + tick * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{base_y}" stroke="{GRID}"/>'
            f'<text x="{x:.1f}" y="{base_y + 16}" text-anchor="middle" font-size="11" '
            f'fill="{INK}">{escape(_tick_text(tick, unit))}</text>'
        )
    for i, row in enumerate(rows):
        y = TOP + i * row_h
        w = row.value * scale
        mark = ""
        if row.mark is not None:
            mx = label_w + row.mark * scale
            mark = (
                f'<line x1="{mx:.1f}" y1="{y + 2}" x2="{mx:.1f}" y2="{y + row_h - 4}" '
                f'stroke="{MARK}" stroke-width="3"/>'
            )
        parts.append(
            f'<g class="bar"><title>{escape(row.label)}: {escape(row.text)}</title>'
            f'<text x="{label_w - 6}" y="{y + row_h / 2 + 4:.1f}" text-anchor="end" '
            f'font-size="12" fill="{INK}">{escape(_clip(row.label, 40))}</text>'
            f'<rect x="{label_w}" y="{y + 5}" width="{w:.1f}" height="{row_h - 10}" '
            f'fill="{BAR}"/>{mark}'
            f'<text x="{label_w + max(w, row.mark * scale if row.mark else 0) + 6:.1f}" '
            f'y="{y + row_h / 2 + 4:.1f}" font-size="11" fill="{INK}">'
            f"{escape(row.text)}</text></g>"
        )
    parts.append(
        f'<line x1="{label_w}" y1="{TOP}" x2="{label_w}" y2="{base_y}" stroke="{INK}"/></svg>'
    )
    return "".join(parts)


def lines(key: str, title: str, desc: str, labels: Sequence[str], series: Sequence[Series]) -> str:
    """One line per series over the same time buckets, with markers and a legend; at most
    about twelve bucket labels are written, evenly spaced."""
    height = 260
    legend_h = 22
    plot_bottom = height - BOTTOM - legend_h
    peak = max((v for s in series for v in s.values), default=0.0)
    ticks = nice_ticks(peak)
    scale = (plot_bottom - TOP) / ticks[-1]
    n = len(labels)
    step_x = (WIDTH - LEFT - 32) / max(n - 1, 1)  # room for the last label, centred
    parts = [_open(key, title, desc, height)]
    parts.extend(_value_axis(ticks, scale, plot_bottom, ""))
    every = max(1, math.ceil(n / 12))
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + i * step_x
            parts.append(
                f'<text x="{x:.1f}" y="{plot_bottom + 16}" text-anchor="middle" font-size="11" '
                f'fill="{INK}">{escape(label)}</text>'
            )
    for index, line in enumerate(series):
        colour, dash, marker = SERIES_STYLES[index % len(SERIES_STYLES)]
        points = [(LEFT + i * step_x, plot_bottom - v * scale) for i, v in enumerate(line.values)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<g class="series"><title>{escape(line.name)}</title>'
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dashed}/>'
        )
        if n <= 60:
            parts.extend(_marker(marker, x, y, colour) for x, y in points)
        parts.append("</g>")
        lx = LEFT + index * 150
        ly = height - 14
        parts.append(
            f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 28}" y2="{ly - 4}" stroke="{colour}" '
            f'stroke-width="2"{dashed}/>{_marker(marker, lx + 14, ly - 4, colour)}'
            f'<text x="{lx + 34}" y="{ly}" font-size="12" fill="{INK}">{escape(line.name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _open(key: str, title: str, desc: str, height: int) -> str:
    ident = escape(key)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'aria-labelledby="{ident}-title {ident}-desc">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(desc)}</desc>'
    )


def _value_axis(ticks: Sequence[float], scale: float, base_y: float, unit: str) -> list[str]:
    out = []
    for tick in ticks:
        y = base_y - tick * scale
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - 8}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{INK}">{escape(_tick_text(tick, unit))}</text>'
        )
    out.append(
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base_y:.1f}" stroke="{INK}"/>'
        f'<line x1="{LEFT}" y1="{base_y:.1f}" x2="{WIDTH - 8}" y2="{base_y:.1f}" '
        f'stroke="{INK}"/>'
    )
    return out


def _tick_text(value: float, unit: str) -> str:
    if unit != "s" or not value:
        return f"{value:g}"
    for size, name in ((86_400, "d"), (3600, "h"), (60, "min")):  # round steps read round
        if value >= size and value % size == 0:
            return f"{value / size:g} {name}"
    return duration(value)


def _marker(shape: str, x: float, y: float, colour: str) -> str:
    if shape == "square":
        return f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" fill="{colour}"/>'
    if shape == "diamond":
        return (
            f'<polygon points="{x:.1f},{y - 4:.1f} {x + 4:.1f},{y:.1f} {x:.1f},{y + 4:.1f} '
            f'{x - 4:.1f},{y:.1f}" fill="{colour}"/>'
        )
    if shape == "triangle":
        return (
            f'<polygon points="{x:.1f},{y - 4:.1f} {x + 4:.1f},{y + 3:.1f} '
            f'{x - 4:.1f},{y + 3:.1f}" fill="{colour}"/>'
        )
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>'


def _clip(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"
