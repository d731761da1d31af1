"""The dashboard charts: escaped labels, axes that cover the data, bars in proportion."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from andon.web.charts import Bar, Series, bars, columns, duration, lines, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def widths(svg: str) -> list[float]:
    root = ET.fromstring(svg)
    return [float(r.attrib["width"]) for r in root.iter(f"{SVG}rect")]


def test_ticks_cover_the_largest_value_in_round_steps() -> None:
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(0.3) == [0, 0.1, 0.2, 0.3]
    assert nice_ticks(4000) == [0, 1000, 2000, 3000, 4000]
    assert nice_ticks(0) == [0.0, 1.0]
    day = 86_400
    assert nice_ticks(6.2 * day, durations=True) == [0, 2 * day, 4 * day, 6 * day, 8 * day]
    assert nice_ticks(50 * 60, durations=True) == [0, 900, 1800, 2700, 3600]
    for top in (1, 3, 9.5, 11, 99, 101, 86_400 * 3):
        ticks = nice_ticks(top)
        assert ticks[-1] >= top and ticks[0] == 0 and len(ticks) <= 6


def test_durations_read_as_people_say_them() -> None:
    assert [duration(v) for v in (None, 42, 720, 7200, 3 * 86_400)] == [
        "–", "42 s", "12 min", "2.0 h", "3.0 d",
    ]  # fmt: skip


def test_labels_cannot_inject_markup() -> None:
    evil = '<script>alert(1)</script>" onload="x'
    for svg in (
        columns("c", evil, evil, [Bar(evil, 1, evil)], unit=""),
        bars("b", evil, evil, [Bar(evil, 1, evil, 2)], unit="s"),
        lines("l", evil, evil, [evil, evil], [Series(evil, [1, 2])]),
    ):
        assert "<script" not in svg and 'onload="' not in svg
        ET.fromstring(svg)  # still well-formed XML


def test_bars_are_in_proportion_and_the_chart_is_deterministic() -> None:
    rows = [Bar("QE · DE-STR", 3600, "1 h"), Bar("QA · US-GRR", 1800, "30 min", 5400)]
    svg = bars("latency", "Latency", "desc", rows, unit="s")
    first, second = widths(svg)
    assert abs(first / second - 2) < 0.01
    assert svg == bars("latency", "Latency", "desc", rows, unit="s")
    assert re.search(r'aria-labelledby="latency-title latency-desc"', svg)


def test_a_line_chart_has_a_point_per_bucket_and_a_legend_per_series() -> None:
    labels = ["01 Nov", "02 Nov", "03 Nov"]
    svg = lines(
        "t", "Trend", "d", labels, [Series("Started", [1, 5, 2]), Series("Done", [0, 1, 4])]
    )
    root = ET.fromstring(svg)
    polylines = list(root.iter(f"{SVG}polyline"))
    assert [len(p.attrib["points"].split()) for p in polylines] == [3, 3]
    assert "stroke-dasharray" in polylines[1].attrib  # told apart by more than colour
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Started" in texts and "Done" in texts and "01 Nov" in texts


def test_duration_axes_read_in_round_units() -> None:
    day = 86_400
    svg = bars("b", "t", "d", [Bar("x", 3.3 * day, "3.3 d")], unit="s")
    ticks = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")][:4]
    assert ticks == ["0", "1 d", "2 d", "3 d"]
