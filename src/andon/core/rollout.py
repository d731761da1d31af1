"""Which template version (and overlay revision) is in force at each stage and plant,
folded from the append-only history of rollout records (ADR 0031). Pure.

Per (template, stage, plant) the records form a stack: a publication or promotion puts a
version on it, a rollback takes the top one off. The plant ``EVERY_PLANT`` ("") stands for
every plant without a stack of its own; a plant whose stack is empty follows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from andon.errors import ConflictError, InputError

DEFAULT_STAGES = ("dev", "test", "production")
EVERY_PLANT = ""
STAGE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
MAX_STAGES = 10


class Act(StrEnum):
    PUBLISHED = "published"
    """Publishing put the version in force at the first stage."""
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"


@dataclass(frozen=True, slots=True)
class Record:
    """One change of what is in force for one template at one stage and plant."""

    seq: int
    template_id: str
    stage: str
    plant: str
    version: int | None
    """The version in force after this record; None for a rollback after which the plant
    follows the record for every plant again."""
    overlay_revision: int | None
    """The plant's overlay revision pinned with the version; None: its latest applies."""
    act: Act
    at: float
    by: str
    reason: str = ""
    via_run: str | None = None
    """The run (a governed promotion) that made the change, if one did."""


def check_stages(names: Sequence[str]) -> tuple[str, ...]:
    """A tenant's ordered stage list, checked: one to ten distinct lower-case names."""
    names = tuple(n.strip() for n in names)
    if not names or len(names) > MAX_STAGES:
        raise InputError(f"name 1 to {MAX_STAGES} stages, first to last (e.g. dev,test,production)")
    for name in names:
        if not STAGE_NAME.fullmatch(name):
            raise InputError(f"stage name '{name}' must be lower-case letters, digits, - or _")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"stage names repeated: {', '.join(repeated)}")
    return names


def stage_index(stages: Sequence[str], stage: str) -> int:
    if stage not in stages:
        raise InputError(f"unknown stage '{stage}' (the stages are {', '.join(stages)})")
    return stages.index(stage)


def stacks(records: Iterable[Record]) -> dict[str, list[Record]]:
    """Per plant, the records of one template at one stage still in force, oldest first."""
    found: dict[str, list[Record]] = {}
    for record in sorted(records, key=lambda r: r.seq):
        stack = found.setdefault(record.plant, [])
        if record.act is Act.ROLLED_BACK:
            if stack:
                stack.pop()
        else:
            stack.append(record)
    return found


def in_force(records: Iterable[Record], plant: str) -> Record | None:
    """The record in force for ``plant`` (its own, else the one for every plant)."""
    found = stacks(records)
    own = found.get(plant) or found.get(EVERY_PLANT)
    return own[-1] if own else None


def versions_in_force(records: Iterable[Record]) -> set[int]:
    """Every version in force for some plant (one template, one stage)."""
    return {s[-1].version for s in stacks(records).values() if s and s[-1].version is not None}


def own_plants(records: Iterable[Record]) -> list[str]:
    """Plants with a record of their own in force (not following every plant)."""
    return sorted(p for p, s in stacks(records).items() if s and p != EVERY_PLANT)


def check_order(
    template_id: str,
    version: int,
    stages: Sequence[str],
    stage: str,
    previous: Iterable[Record],
    target: Iterable[Record],
) -> None:
    """A version enters a stage after the first only while it is in force at the stage
    before it (for some plant), or to widen a rollout it already has at that stage."""
    index = stage_index(stages, stage)
    if index == 0 or version in versions_in_force(target):
        return
    if version not in versions_in_force(previous):
        before = stages[index - 1]
        raise ConflictError(
            f"{template_id}@{version} is not in force at stage '{before}' for any plant: "
            f"promote it to '{before}' before '{stage}'"
        )


def after_rollback(
    records: Iterable[Record], template_id: str, stage: str, plant: str
) -> Record | None:
    """The record in force for ``plant`` once its top record is rolled back; None when the
    plant then follows the record for every plant. Refused when nothing would be left."""
    found = stacks(records)
    own = found.get(plant, [])
    where = f"plant '{plant}'" if plant else "every plant"
    if not own:
        raise ConflictError(
            f"nothing of {template_id} was put in force at stage '{stage}' for {where}"
        )
    if len(own) > 1:
        return own[-2]
    if plant != EVERY_PLANT and found.get(EVERY_PLANT):
        return None
    raise ConflictError(
        f"{template_id} has no earlier version at stage '{stage}' for {where} to roll back to"
    )
