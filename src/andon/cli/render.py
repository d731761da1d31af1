"""Rich renderings of runs, journals and tasks for the CLI."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.table import Table
from rich.text import Text

from andon.core.json import JsonValue
from andon.store.base import JournalRow, RunRow, TaskRow

STATUS_STYLE = {
    "completed": "green",
    "running": "cyan",
    "incident": "red",
    "cancelled": "yellow",
    "open": "cyan",
    "closed": "green",
}


def when(stamp: float | None) -> str:
    if stamp is None:
        return ""
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def runs_table(rows: list[RunRow]) -> Table:
    table = Table(title=f"{len(rows)} run(s)", title_justify="left")
    table.add_column("run", no_wrap=True)
    for column in ("template", "plant", "status", "outcome", "started", "ended"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.run_id,
            f"{row.template_id}@{row.template_version}",
            row.plant,
            Text(row.status, style=STATUS_STYLE.get(row.status, "")),
            row.outcome or "",
            when(row.created_at),
            when(row.ended_at),
        )
    return table


def run_header(row: RunRow) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    overlay = row.overlay_digest[:12] or "(defaults)"
    for label, value in (
        ("run", row.run_id),
        ("template", f"{row.template_id}@{row.template_version}"),
        ("overlay", overlay),
        ("plant", row.plant or "-"),
        ("status", row.status),
        ("outcome", row.outcome or "-"),
        ("started", when(row.created_at)),
        ("ended", when(row.ended_at)),
        ("journal", f"{row.last_seq} fact(s), head {row.last_hash[:12]}"),
    ):
        table.add_row(label, value)
    return table


def _describe(change: dict[str, JsonValue]) -> str:
    step = change.get("step") or "run"
    what = change.get("change")
    extra = ", ".join(f"{k}={_short(v)}" for k, v in change.items() if k not in ("step", "change"))
    return f"{step} {what}" + (f" ({extra})" if extra else "")


def _short(value: JsonValue) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def timeline(rows: list[JournalRow]) -> Table:
    table = Table(title="journal", title_justify="left")
    for column in ("seq", "at", "fact", "actor", "what changed"):
        table.add_column(column)
    for row in rows:
        fact = row.type
        detail = row.body.get("step") or row.body.get("key") or ""
        if detail:
            fact = f"{fact} {detail}"
        changes = "\n".join(_describe(c) for c in row.trace)
        table.add_row(str(row.seq), when(row.at), fact, row.actor, changes)
    return table


def tasks_table(rows: list[TaskRow]) -> Table:
    table = Table(title=f"{len(rows)} task(s)", title_justify="left")
    table.add_column("task", no_wrap=True)
    for column in ("title", "plant", "roles", "quorum", "status", "due", "escalated"):
        table.add_column(column)
    for row in rows:
        escalated = ", ".join(row.escalated_to) if row.escalated_to else ""
        table.add_row(
            row.task_id,
            row.title,
            row.plant,
            ", ".join(row.roles),
            row.quorum,
            Text(row.status, style=STATUS_STYLE.get(row.status, "")),
            when(row.due_at),
            escalated,
        )
    return table
