"""What a semantic diff reports (``template_diff`` computes it): changes and keyed entries,
as JSON for machines and as text for reviewers, both in a stable order."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from andon.core.json import JsonObject, JsonValue, canonical_json


class Status(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


SIGN = {Status.ADDED: "+", Status.REMOVED: "-", Status.CHANGED: "~"}
_TOPICS = {
    "sla": ("due_in", "timeout", "lookback", "duration"),
    "roles": ("roles", "roles_from", "quorum", "quorum_from"),
    "signature": ("signature",),
    "retry": ("retry",),
    "routing": ("next", "on_error", "on_timeout", "outcomes", "branches", "join", "when", "hit"),
    "mapping": ("input", "action", "event", "key", "then", "default"),
}


def topic_of(field: str) -> str:
    """What a step change is about, so SLA and role changes can be picked out."""
    if field.startswith("escalate["):
        return "sla" if field.endswith(".after") else "roles"
    if field == "rules.order":
        return "routing"
    head = field.split(".", 1)[0]
    return next((t for t, heads in _TOPICS.items() if head in heads), "step")


@dataclass(frozen=True, slots=True)
class Change:
    """One field that differs; ``None`` stands for "absent" on its side."""

    field: str
    old: JsonValue
    new: JsonValue
    topic: str = ""
    """For a step's fields and rows: what the change is about (``topic_of``)."""

    @property
    def status(self) -> Status:
        if self.old is None:
            return Status.ADDED
        return Status.REMOVED if self.new is None else Status.CHANGED

    def to_json(self) -> JsonObject:
        out: JsonObject = {
            "field": self.field, "status": self.status.value, "old": self.old, "new": self.new,
        }  # fmt: skip
        if self.topic:
            out["topic"] = self.topic
        return out


@dataclass(frozen=True, slots=True)
class Entry:
    """One keyed item (step, decision row, parameter, trigger, role, plant)."""

    key: str
    status: Status
    changes: tuple[Change, ...] = ()
    """For an added item its fields, for a removed one what it had."""
    rows: tuple[Entry, ...] = ()
    """A decide step's rows that differ."""
    kind: str = ""
    note: str = ""

    def to_json(self) -> JsonObject:
        out: JsonObject = {"key": self.key, "status": self.status.value}
        if self.kind:
            out["kind"] = self.kind
        out["changes"] = [c.to_json() for c in self.changes]
        if self.rows:
            out["rows"] = [r.to_json() for r in self.rows]
        if self.note:
            out["note"] = self.note
        return out


SECTIONS = ("template", "roles", "parameters", "input", "triggers", "duties", "steps", "plants")


@dataclass(frozen=True, slots=True)
class TemplateDiff:
    template_id: str
    old_version: int
    new_version: int
    old_digest: str
    new_digest: str
    template: tuple[Change, ...]
    """Title, start step, regulated, retention class."""
    roles: tuple[Entry, ...]
    parameters: tuple[Entry, ...]
    input: tuple[Change, ...]
    """The input schema, by path (``properties.total.required``)."""
    triggers: tuple[Entry, ...]
    duties: tuple[Entry, ...]
    steps: tuple[Entry, ...]
    plants: tuple[Entry, ...]
    """Per plant, its overlay resolved under each version: the values its runs will see."""

    @property
    def empty(self) -> bool:
        return not any(getattr(self, name) for name in SECTIONS)

    def summary(self) -> str:
        counts = []
        for name in SECTIONS:
            items = getattr(self, name)
            if items:
                by = [sum(1 for i in items if i.status is s) for s in Status]
                counts.append(f"{name} " + " ".join(
                    f"{SIGN[s]}{n}" for s, n in zip(Status, by, strict=True) if n
                ))  # fmt: skip
        rows = [r for s in self.steps for r in s.rows]
        if rows:
            counts.append(f"decision rows {len(rows)}")
        return "; ".join(counts) or "no semantic changes"

    def to_json(self) -> JsonObject:
        out: JsonObject = {
            "template_id": self.template_id,
            "from": {"version": self.old_version, "digest": self.old_digest},
            "to": {"version": self.new_version, "digest": self.new_digest},
            "empty": self.empty,
            "summary": self.summary(),
        }
        for name in SECTIONS:
            out[name] = [item.to_json() for item in getattr(self, name)]
        return out

    def render_text(self) -> str:
        lines = [f"{self.template_id} {self.old_version} → {self.new_version}: {self.summary()}"]
        for name in SECTIONS:
            items = getattr(self, name)
            if not items:
                continue
            lines.append(name if name != "plants" else "plants (resolved parameters)")
            for item in items:
                if isinstance(item, Change):
                    lines.append(_change_line(item, 2, sign=True))
                else:
                    lines.extend(_entry_lines(item, 2))
        return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class OverlayDiff:
    template_id: str
    plant: str
    old_digest: str | None
    """None when the newer overlay is the plant's first."""
    new_digest: str
    parameters: tuple[Change, ...]
    """Values the overlay sets, by parameter name."""
    effective: tuple[Change, ...]
    """Values runs see (defaults under the overlays) under ``template_ref``."""
    template_ref: str | None

    @property
    def empty(self) -> bool:
        return not self.parameters and not self.effective

    def to_json(self) -> JsonObject:
        return {
            "template_id": self.template_id,
            "plant": self.plant,
            "from": self.old_digest,
            "to": self.new_digest,
            "empty": self.empty,
            "parameters": [c.to_json() for c in self.parameters],
            "effective": [c.to_json() for c in self.effective],
            "template": self.template_ref,
        }

    def render_text(self) -> str:
        old = self.old_digest[:12] if self.old_digest else "(none)"
        head = f"{self.template_id} {self.plant} overlay {old} → {self.new_digest[:12]}"
        if self.empty:
            return f"{head}: no semantic changes\n"
        lines = [f"{head}: {len(self.parameters)} parameter(s) set differently"]
        if self.parameters:
            lines.append("overlay parameters")
            lines.extend(_change_line(c, 2, sign=True) for c in self.parameters)
        if self.effective:
            lines.append(f"effective values under {self.template_ref}")
            lines.extend(_change_line(c, 2, sign=True) for c in self.effective)
        return "\n".join(lines) + "\n"


# ---- text --------------------------------------------------------------------------------


def show(value: JsonValue) -> str:
    """A value as a reviewer reads it: strings bare, the rest as JSON."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return canonical_json(value).replace(",", ", ").replace(":", ": ")


def _change_line(change: Change, indent: int, *, sign: bool = False) -> str:
    pad = " " * indent + (f"{SIGN[change.status]} " if sign else "")
    if change.status is Status.ADDED:
        return f"{pad}{change.field}: {show(change.new)}"
    if change.status is Status.REMOVED:
        return f"{pad}{change.field}: {show(change.old)}" + ("" if sign else " → (none)")
    return f"{pad}{change.field}: {show(change.old)} → {show(change.new)}"


def _entry_lines(entry: Entry, indent: int) -> list[str]:
    pad = " " * indent
    kind = f" ({entry.kind})" if entry.kind else ""
    note = f"  [{entry.note}]" if entry.note else ""
    lines = [f"{pad}{SIGN[entry.status]} {entry.key}{kind}{note}"]
    if entry.status is Status.REMOVED:
        return lines  # what it had is in the JSON; the old version's page shows it whole
    lines.extend(_change_line(c, indent + 4) for c in entry.changes)
    if entry.rows:
        lines.append(f"{pad}    rows")
        for row in entry.rows:
            lines.extend(_entry_lines(row, indent + 6))
    return lines
