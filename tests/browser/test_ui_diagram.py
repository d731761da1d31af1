"""The run page's SVG flow chart: deterministic, every step drawn once, the current step
marked in text as well as colour, loops drawn back up, no edge across a box, and the
inbox helpers that format SLAs."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime

from ui_world import ROOT

from andon.core.loader import load_template
from andon.store.base import TaskRow
from andon.web import diagram, inbox

NCR_SOURCE = (ROOT / "templates" / "supplier-ncr.yaml").read_text()
NCR = load_template(NCR_SOURCE, "supplier-ncr.yaml")


def test_the_same_template_and_state_draw_the_same_bytes() -> None:
    state = {"active": ["mrb"], "steps": {"record": {"status": "done"}}}
    states = diagram.step_states(NCR, state)
    first = diagram.render(NCR, states)
    again = diagram.render(load_template(NCR_SOURCE, "again.yaml"), dict(states))
    assert first == again
    assert first.count('<g class="step ') == len(NCR.steps)
    assert '<g class="step step-current" data-step="mrb">' in first
    assert "▶ approval · current" in first and "Current: mrb." in first
    assert '<g class="step step-done" data-step="record">' in first


def test_loops_go_back_up_dashed_and_long_edges_take_a_lane() -> None:
    shape = diagram.layout(NCR)
    back = {(e.source, e.target) for e in shape.edges if e.back}
    assert back == {("review_scar", "await_scar")}
    row = {s: y for s, (_, y) in shape.positions.items()}
    assert row["record"] < row["contain"] < row["disposition"] < row["mrb"] < row["execute"]
    for edge in shape.edges:
        skips = abs(row[edge.target] - row[edge.source]) > diagram.BOX_H + diagram.GAP_Y
        assert bool(edge.lane) == (edge.back or skips)
    svg = diagram.render(NCR, diagram.step_states(NCR, None))
    assert svg.count('stroke-dasharray="5 4"') == 1


def test_no_edge_segment_crosses_a_box() -> None:
    shape = diagram.layout(NCR)
    svg = diagram.render(NCR, diagram.step_states(NCR, None))
    boxes = [(x, y, x + diagram.BOX_W, y + diagram.BOX_H) for x, y in shape.positions.values()]
    for path in re.findall(r'<path d="(M[^"]+)" fill="none"', svg):
        if " C" in path:
            continue  # curves join adjacent layers through the gap between them
        points = _polyline(path)
        for (x1, y1), (x2, y2) in itertools.pairwise(points):
            for left, top, right, bottom in boxes:
                inside_x = min(x1, x2) < right and max(x1, x2) > left
                inside_y = min(y1, y2) < bottom and max(y1, y2) > top
                assert not (inside_x and inside_y), (path, (left, top))


def test_sla_text_counts_down_and_says_overdue() -> None:
    now = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    due = now.timestamp() + 2 * 86400 + 3 * 3600 + 59
    task = TaskRow("r:mrb:1", "r", "mrb", "MRB", "DE-STR", ["QE"], "all", "open", None, 0, [],
                   now.timestamp(), due, None)  # fmt: skip
    assert inbox.sla(task, now) == inbox.Sla("due in 2 d 3 h", False, "2026-11-28T11:00:59+00:00")
    late = inbox.sla(task, datetime(2026, 11, 28, 11, 45, 59, tzinfo=UTC))
    assert late is not None and (late.text, late.overdue) == ("overdue by 45 min", True)


def _polyline(path: str) -> list[tuple[int, int]]:
    """The points of an 'M x,y V y H x ...' path."""
    tokens = re.findall(r"[MVH][^MVH]+", path)
    x, y = (int(v) for v in tokens[0][1:].split(","))
    points = [(x, y)]
    for token in tokens[1:]:
        value = int(token[1:])
        if token[0] == "V":
            y = value
        else:
            x = value
        points.append((x, y))
    return points
