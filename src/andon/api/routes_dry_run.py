"""Dry run before promotion (ADR 0033): replay recent inbox events against a candidate
version in a sandbox and report where its runs would go differently. Writes nothing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import AwareDatetime, BaseModel, Field

from andon.api.models import Strict
from andon.api.problems import responses
from andon.api.security import Andon, Writer
from andon.runtime.dry_run import MAX_EVENTS

router = APIRouter(tags=["templates"])
TemplateId = Annotated[str, Path(min_length=1, max_length=64)]


class DryRunIn(Strict):
    version: int = Field(ge=1, le=1_000_000, description="The candidate version")
    last: int | None = Field(
        default=None, ge=1, le=MAX_EVENTS,
        description="The newest N events (default 200; within a window, default 5000)",
    )  # fmt: skip
    since: AwareDatetime | None = Field(default=None, description="Window start, inclusive")
    until: AwareDatetime | None = Field(default=None, description="Window end, exclusive")
    plant: str | None = Field(default=None, min_length=1, max_length=64)
    every_event: bool = Field(
        default=False, description="Also list every event taken (`events`), not only differing"
    )


class StopOut(BaseModel):
    halt: str
    """completed, waiting, incident, limit, refused or not-started"""
    steps: list[str]
    detail: str
    text: str


class DecidedOut(BaseModel):
    step: str
    matched: list[str]
    output: Any


class SimulationOut(BaseModel):
    ref: str
    path: list[str]
    decisions: list[DecidedOut]
    stop: StopOut
    skipped_actions: list[str]


class EventReplayOut(BaseModel):
    event_id: str
    source: str
    type: str
    key: str
    plant: str
    received_at: float
    recorded_run: str | None
    baseline: SimulationOut
    candidate: SimulationOut
    differs: bool
    differences: list[str]


class DryRunOut(BaseModel):
    template_id: str
    version: int
    plant: str | None
    since: float | None
    until: float | None
    last: int
    event_types: list[str]
    made_at: float
    considered: int
    truncated: bool
    taken: int
    differing: int
    skipped_actions: int
    differing_events: list[EventReplayOut] = Field(description="The first 20")
    events: list[EventReplayOut] | None = Field(default=None, description="With every_event")
    text: str


@router.post("/v1/templates/{template_id}/dry-runs", response_model=DryRunOut,
             responses=responses(401, 403, 404, 422, 429))  # fmt: skip
def dry_run(template_id: TemplateId, body: DryRunIn, andon: Andon, who: Writer) -> DryRunOut:
    """Run the newest inbox events (or a window's) through a candidate version and the
    version in force, in memory, each step answered from the real run the event started;
    report per event the paths, decisions and ends that differ."""
    report = andon.dry_runs.run(
        who, template_id, body.version, plant=body.plant, last=body.last,
        since=body.since, until=body.until,
    )  # fmt: skip
    found = report.to_json(every_event=body.every_event)
    return DryRunOut.model_validate({**found, "text": report.render_text()})
