"""A template drawn as an SVG flow chart: boxes in layers top to bottom, arrows between
them, the run's current steps highlighted. Pure and deterministic (same template and
states, same bytes), so it can be tested and cached; no layout library, no JavaScript.

Layers are the longest path from the start over forward edges. An edge to the next layer
is a short curve; a longer forward edge runs down a lane on the left and an edge that goes
back up (a loop such as "reject -> wait for the supplier again") runs dashed up a lane on
the right, so no edge crosses a box.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from andon.core.template import ApprovalSpec, DecideSpec, Template

BOX_W = 176
BOX_H = 46
GAP_X = 28
GAP_Y = 40
PAD = 24
LANE = 16

# Box styles by step state: (fill, stroke, stroke width). Text is always #111 (contrast
# above 12:1 on every fill); the state is also written in the box, never colour alone.
STYLE: Mapping[str, tuple[str, str, float]] = {
    "current": ("#fff1c2", "#8a4b00", 3.5),
    "done": ("#e3f1e6", "#2f6b3a", 1.5),
    "failed": ("#fde2e1", "#a3121c", 2.5),
    "skipped": ("#f1f1f1", "#6b6b6b", 1.0),
    "pending": ("#ffffff", "#5c5c5c", 1.0),
}


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    label: str
    back: bool
    lane: int = 0
    """0 for an edge between adjacent layers; else its lane (left for forward edges that
    skip layers, right for back edges), counted from the boxes outwards."""


@dataclass(frozen=True, slots=True)
class Layout:
    positions: Mapping[str, tuple[int, int]]
    """Step id -> (x, y) of the box's top-left corner."""
    edges: tuple[Edge, ...]
    width: int
    height: int


def step_states(template: Template, state: Mapping[str, object] | None) -> dict[str, str]:
    """Each step's display state from a run snapshot (``runs.state``); all pending if None."""
    out = dict.fromkeys(template.steps, "pending")
    if not state:
        return out
    steps = state.get("steps")
    for step_id, entry in (steps if isinstance(steps, dict) else {}).items():
        status = entry.get("status") if isinstance(entry, dict) else None
        if step_id in out and status in ("done", "failed", "skipped"):
            out[step_id] = str(status)
    active = state.get("active")
    for step_id in active if isinstance(active, list) else []:
        if step_id in out:
            out[step_id] = "current"
    return out


def layout(template: Template) -> Layout:
    order = list(template.steps)
    edges = _edges(template)
    back = _back_edges(template.start, order, edges)
    edges = [Edge(e.source, e.target, e.label, (e.source, e.target) in back) for e in edges]
    layer = dict.fromkeys(order, 0)
    forward = [e for e in edges if not e.back]
    # Longest path over a DAG: relax edges in a topological order (Kahn, ties by position).
    indegree = dict.fromkeys(order, 0)
    for e in forward:
        indegree[e.target] += 1
    ready = [s for s in order if indegree[s] == 0]
    while ready:
        node = ready.pop(0)
        for e in forward:
            if e.source == node:
                layer[e.target] = max(layer[e.target], layer[node] + 1)
                indegree[e.target] -= 1
                if indegree[e.target] == 0:
                    ready.append(e.target)
                    ready.sort(key=order.index)
    left_lanes = right_lanes = 0
    laned = []
    for e in edges:
        if e.back:
            right_lanes += 1
            laned.append(Edge(e.source, e.target, e.label, True, right_lanes))
        elif layer[e.target] - layer[e.source] > 1:
            left_lanes += 1
            laned.append(Edge(e.source, e.target, e.label, False, left_lanes))
        else:
            laned.append(e)
    rows: dict[int, list[str]] = {}
    for step_id in order:
        rows.setdefault(layer[step_id], []).append(step_id)
    widest = max(len(r) for r in rows.values())
    inner = widest * BOX_W + (widest - 1) * GAP_X
    margin = PAD + LANE * left_lanes
    positions = {}
    for depth, members in rows.items():
        span = len(members) * BOX_W + (len(members) - 1) * GAP_X
        left = margin + (inner - span) // 2
        for i, step_id in enumerate(members):
            positions[step_id] = (left + i * (BOX_W + GAP_X), PAD + depth * (BOX_H + GAP_Y))
    width = margin + inner + LANE * right_lanes + PAD + (48 if right_lanes else 0)  # labels
    height = PAD * 2 + len(rows) * BOX_H + (len(rows) - 1) * GAP_Y
    return Layout(positions, tuple(laned), width, height)


def render(template: Template, states: Mapping[str, str], title: str = "") -> str:
    """The SVG markup (an inline ``<svg>`` element with a title and a text description)."""
    shape = layout(template)
    current = [s for s, v in states.items() if v == "current"]
    label = title or f"Flow of {template.ref}"
    desc = "Steps: " + ", ".join(f"{s} ({states.get(s, 'pending')})" for s in template.steps)
    desc += ". Current: " + (", ".join(current) if current else "none") + "."
    left = min(x for x, _ in shape.positions.values())
    right = max(x for x, _ in shape.positions.values()) + BOX_W
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow" role="img" '
        f'viewBox="0 0 {shape.width} {shape.height}" width="{shape.width}" '
        f'height="{shape.height}" aria-labelledby="flow-title flow-desc">',
        f'<title id="flow-title">{escape(label)}</title>',
        f'<desc id="flow-desc">{escape(desc)}</desc>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#333"/></marker></defs>',
    ]
    for edge in shape.edges:
        sx, sy = shape.positions[edge.source]
        tx, ty = shape.positions[edge.target]
        # Long edges leave and enter through the gaps between layers (never across a box),
        # each at its own height so that parallel edges stay apart.
        out_y = sy + BOX_H + 6 + (edge.lane * 5) % (GAP_Y - 12)
        in_y = ty - 6 - (edge.lane * 5) % (GAP_Y - 12)
        style = ""
        if edge.back:
            x = right + LANE * edge.lane
            sx1, tx1 = sx + BOX_W * 2 // 3, tx + BOX_W * 2 // 3
            path = f"M{sx1},{sy + BOX_H} V{out_y} H{x} V{in_y} H{tx1} V{ty}"
            mx, my = x + 3, (out_y + in_y) // 2
            style = 'stroke-dasharray="5 4"'
        elif edge.lane:
            x = left - LANE * edge.lane
            sx1, tx1 = sx + BOX_W // 3, tx + BOX_W // 3
            path = f"M{sx1},{sy + BOX_H} V{out_y} H{x} V{in_y} H{tx1} V{ty}"
            mx, my = sx1 + 4, out_y + 10
        else:
            x1, y1 = sx + BOX_W // 2, sy + BOX_H
            x2, y2 = tx + BOX_W // 2, ty
            mid = (y1 + y2) // 2
            path = f"M{x1},{y1} C{x1},{mid} {x2},{mid} {x2},{y2}"
            mx, my = (x1 + x2) // 2 + 4, mid + 4
        parts.append(
            f'<path d="{path}" fill="none" stroke="#333" stroke-width="1.4" {style} '
            f'marker-end="url(#arrow)"/>'
        )
        if edge.label:
            parts.append(
                f'<text x="{mx}" y="{my}" class="edge-label" font-size="11" '
                f'fill="#222">{escape(edge.label)}</text>'
            )
    for step_id, (x, y) in shape.positions.items():
        step = template.step(step_id)
        state = states.get(step_id, "pending")
        fill, stroke, weight = STYLE.get(state, STYLE["pending"])
        caption = step.kind if state == "pending" else f"{step.kind} · {state}"
        if state == "current":
            caption = f"▶ {step.kind} · current"
        parts.append(
            f'<g class="step step-{state}" data-step="{escape(step_id)}">'
            f"<title>{escape(step_id)}: {escape(step.kind)}, {state}</title>"
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="7" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{weight}"/>'
            f'<text x="{x + 10}" y="{y + 19}" font-size="13" font-weight="600" '
            f'fill="#111">{escape(_clip(step_id, 22))}</text>'
            f'<text x="{x + 10}" y="{y + 36}" font-size="11" fill="#222">'
            f"{escape(caption)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _edges(template: Template) -> list[Edge]:
    out: list[Edge] = []
    for step in template.steps.values():
        labels: dict[str, str] = {}
        spec = step.spec
        if isinstance(spec, ApprovalSpec):
            for outcome, target in spec.outcomes.items():
                if target:
                    labels.setdefault(target, outcome)
        if isinstance(spec, DecideSpec):
            for rule in spec.rules:
                if rule.next:
                    labels.setdefault(rule.next, rule.id)
        if step.on_timeout:
            labels.setdefault(step.on_timeout, "timeout")
        if step.on_error:
            labels.setdefault(step.on_error, "error")
        for target in step.successors():
            if target in template.steps:
                out.append(Edge(step.id, target, labels.get(target, ""), False))
    return out


def _back_edges(start: str, order: list[str], edges: list[Edge]) -> set[tuple[str, str]]:
    """Edges into a step that is still on the depth-first path: they close a loop."""
    successors: dict[str, list[str]] = {s: [] for s in order}
    for e in edges:
        successors[e.source].append(e.target)
    back: set[tuple[str, str]] = set()
    seen: set[str] = set()
    for root in [start, *order]:
        if root in seen:
            continue
        seen.add(root)
        path = {root}
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack.pop()
            if i < len(successors[node]):
                stack.append((node, i + 1))
                nxt = successors[node][i]
                if nxt in path:
                    back.add((node, nxt))
                elif nxt not in seen:
                    seen.add(nxt)
                    path.add(nxt)
                    stack.append((nxt, 0))
            else:
                path.discard(node)
    return back


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"
