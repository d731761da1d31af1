"""The run page's content: the journal as a timeline, the decisions with the rows that
matched, the signatures as manifested (21 CFR 11.50), refusals, and the run's own chain
recomputed (the same check ``andon audit verify`` runs, limited to this journal)."""

from __future__ import annotations

from dataclasses import dataclass

from andon.core.json import JsonObject, JsonValue
from andon.governance import verification
from andon.store.base import JournalRow, RunRow


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    at: float
    type: str
    actor: str
    summary: str
    changes: tuple[str, ...]
    hash: str


@dataclass(frozen=True, slots=True)
class DecisionRow:
    seq: int
    step: str
    matched: str
    conditions: str
    output: str


@dataclass(frozen=True, slots=True)
class Chain:
    ok: bool
    rows: int
    signatures: int
    problem: str | None


def timeline(rows: list[JournalRow]) -> list[Entry]:
    return [
        Entry(r.seq, r.at, r.type, r.actor, summary(r), tuple(_change(t) for t in r.trace), r.hash)
        for r in rows
    ]


def summary(row: JournalRow) -> str:
    b = row.body
    step = str(b.get("step", ""))
    match row.type:
        case "RunStarted":
            where = f" at {b['plant']}" if b.get("plant") else ""
            return f"started {b.get('template_id')}@{b.get('template_version')}{where}"
        case "StepSucceeded":
            return f"{step} succeeded (attempt {b.get('attempt')})"
        case "StepFailed":
            return f"{step} failed (attempt {b.get('attempt')}): {b.get('error')}"
        case "TaskCompleted":
            signed = " with an e-signature" if b.get("signature") else ""
            behalf = f" for {b['on_behalf_of']}" if b.get("on_behalf_of") else ""
            comment = f": “{b['comment']}”" if b.get("comment") else ""
            return (
                f"{b.get('actor')} decided {b.get('outcome')} on {step} as {b.get('role')}"
                f"{behalf}{signed}{comment}"
            )
        case "TaskClaimed":
            return f"{b.get('actor')} claimed {step}"
        case "TaskReleased":
            return f"{b.get('actor')} released {step}"
        case "PolicyViolated":
            return f"refused: {b.get('message')} [{b.get('rule')}]"
        case "EventReceived":
            return f"{step} received {b.get('event_type')} ({b.get('key')})"
        case "TimerFired":
            return f"timer {b.get('key')} fired"
        case "RunCancelled":
            return f"cancelled by {b.get('actor')}: {b.get('reason')}"
        case "IncidentRetried":
            return f"{b.get('actor')} retried the incident {b.get('comment') or ''}".strip()
    return row.type


def decisions(rows: list[JournalRow]) -> list[DecisionRow]:
    out = []
    for row in rows:
        for t in row.trace:
            if t.get("change") == "decided" and "matched" in t:
                out.append(
                    DecisionRow(
                        row.seq,
                        str(t.get("step")),
                        ", ".join(_strs(t.get("matched"))) or "(default)",
                        "; ".join(_strs(t.get("conditions"))) or "–",
                        _text(t.get("output")),
                    )
                )
    return out


def signatures(rows: list[JournalRow]) -> list[JsonObject]:
    """Each signature manifest with the journal row that carries it."""
    out: list[JsonObject] = []
    for row in rows:
        manifest = row.body.get("signature") if row.type == "TaskCompleted" else None
        if isinstance(manifest, dict):
            out.append({"seq": row.seq, **manifest})
    return out


def violations(rows: list[JournalRow]) -> list[JournalRow]:
    return [r for r in rows if r.type == "PolicyViolated"]


def chain(tenant_id: str, run: RunRow, rows: list[JournalRow]) -> Chain:
    entries = [
        verification.JournalEntry(r.seq, r.type, r.body, list(r.trace), r.actor, r.at, r.hash)
        for r in rows
    ]
    problem, signed = verification.verify_run(
        tenant_id, run.run_id, entries, (run.last_seq, run.last_hash)
    )
    return Chain(problem is None, len(rows), signed, problem)


def _change(entry: JsonObject) -> str:
    kind = str(entry.get("change", ""))
    step = str(entry.get("step", ""))
    rest = ", ".join(
        f"{k}={_text(v)}" for k, v in entry.items() if k not in ("change", "step") and v != ""
    )
    head = f"{step}: {kind}" if step else kind
    return f"{head} ({rest})" if rest else head


def _strs(value: JsonValue) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _text(value: JsonValue) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return "–" if value is None else str(value)
