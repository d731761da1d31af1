"""The template page's rollout panel (ADR 0031): for every stage and plant, the version and
overlay revision in force, the latest changes that put them there, and the promote form
(a governed stage is entered through an approved promotion run, ADR 0034)."""

from __future__ import annotations

from dataclasses import dataclass

from andon.core.rollout import EVERY_PLANT, Act, Record
from andon.runtime.lifecycle import Versions

RECENT = 10
ACTS = {Act.PUBLISHED: "published", Act.PROMOTED: "promoted", Act.ROLLED_BACK: "rolled back"}


@dataclass(frozen=True, slots=True)
class Cell:
    record: Record | None
    """The record in force; None: nothing is, so this plant starts nothing from the stage."""
    own: bool
    """The plant has a record of its own here; else it follows the one for every plant."""
    overlay: str
    """Which overlay its runs get: a pinned revision, the newest one, or none."""


@dataclass(frozen=True, slots=True)
class Row:
    plant: str
    """EVERY_PLANT for the row every plant without a record of its own follows."""
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Change:
    record: Record
    act: str


@dataclass(frozen=True, slots=True)
class Promotion:
    """The promote form: as posted, or proposed (the latest version, to the next stage)."""

    version: int
    stage: str
    plants: str = ""
    """Comma-separated sites; empty: every plant."""
    reason: str = ""
    refusal: tuple[str, str] | None = None
    """(title, detail) of the refusal, when the posted promotion was refused."""


@dataclass(frozen=True, slots=True)
class Panel:
    stages: tuple[str, ...]
    governed: frozenset[str]
    rows: tuple[Row, ...]
    managed: bool
    latest: int | None
    recent: tuple[Change, ...]
    """The latest changes, newest first."""
    earlier: int
    """Changes older than ``recent`` (``andon versions --history`` lists them all)."""


def panel(view: Versions, governed: frozenset[str], recent: int = RECENT) -> Panel:
    """The stage x plant grid of ``view``; plants are those with a record or an overlay."""
    found = {(f.stage, f.plant): f.record for f in view.in_force}
    newest = {o.plant: o.revision for o in view.overlays}  # ordered by revision
    plants = sorted({p for _, p in found if p != EVERY_PLANT} | set(newest))
    rows = []
    for plant in (EVERY_PLANT, *plants):
        cells = []
        for stage in view.stages:
            own = found.get((stage, plant))
            record = own or found.get((stage, EVERY_PLANT))
            cells.append(Cell(record, own is not None, _overlay(record, plant, newest)))
        rows.append(Row(plant, tuple(cells)))
    history = sorted(view.history, key=lambda r: r.seq, reverse=True)
    changes = tuple(Change(r, ACTS[r.act]) for r in history[:recent])
    return Panel(
        view.stages, governed, tuple(rows), view.managed, view.latest, changes,
        max(0, len(history) - recent),
    )  # fmt: skip


def proposed(view: Versions) -> Promotion:
    """The latest version, to the stage after the furthest one it is in force at."""
    latest = view.latest or 1
    reached = [view.stages.index(f.stage) for f in view.in_force if f.record.version == latest]
    after = min(max(reached, default=-1) + 1, len(view.stages) - 1)
    return Promotion(latest, view.stages[after])


def _overlay(record: Record | None, plant: str, newest: dict[str, int]) -> str:
    if record is None or record.version is None or plant == EVERY_PLANT:
        return ""
    if record.overlay_revision is not None:
        return f"overlay r{record.overlay_revision} (pinned)"
    if plant in newest:
        return f"overlay r{newest[plant]} (newest)"
    return "no overlay"
