"""The semantic diff as the template diff page lists it: one section per part of the
template, each entry with its sign (+ added, − removed, ~ changed) and its changed fields."""

from __future__ import annotations

from dataclasses import dataclass

from andon.core.diff_model import SECTIONS, Change, Entry, Status, show
from andon.core.template_diff import TemplateDiff

HEADINGS = {
    "template": "Template",
    "roles": "Roles",
    "parameters": "Parameters",
    "input": "Input schema",
    "triggers": "Triggers",
    "duties": "Segregation of duties",
    "steps": "Steps",
    "plants": "Parameters per plant (what its runs see)",
}
WORDS = {Status.ADDED: "added", Status.REMOVED: "removed", Status.CHANGED: "changed"}


@dataclass(frozen=True, slots=True)
class Line:
    field: str
    old: str
    new: str
    status: str
    topic: str


@dataclass(frozen=True, slots=True)
class Item:
    key: str
    status: str
    kind: str
    note: str
    lines: tuple[Line, ...]
    rows: tuple[Item, ...]


def sections(diff: TemplateDiff) -> list[tuple[str, str, list[Item]]]:
    """(section name, heading, items) for every section with a change."""
    out = []
    for name in SECTIONS:
        found = getattr(diff, name)
        if found:
            items = [_item(i) if isinstance(i, Entry) else _loose(i) for i in found]
            out.append((name, HEADINGS[name], items))
    return out


def _line(change: Change) -> Line:
    old = "" if change.old is None else show(change.old)
    new = "" if change.new is None else show(change.new)
    return Line(change.field, old, new, WORDS[change.status], change.topic)


def _item(entry: Entry) -> Item:
    lines = () if entry.status is Status.REMOVED else tuple(map(_line, entry.changes))
    rows = tuple(_item(r) for r in entry.rows)
    return Item(entry.key, WORDS[entry.status], entry.kind, entry.note, lines, rows)


def _loose(change: Change) -> Item:
    """A section of plain field changes (template header, input schema): one item each."""
    line = _line(change)
    return Item(change.field, line.status, "", "", (line,), ())
