"""Stages and per-plant rollout (ADR 0031): promote a version, roll a plant back, and see
what is in force where."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from andon.api.models import Strict
from andon.api.problems import responses
from andon.api.security import Andon, Caller, Writer
from andon.bootstrap import App
from andon.core.rollout import Record
from andon.governance.identity import Actor
from andon.runtime.lifecycle import Versions

router = APIRouter(tags=["templates"])
TemplateId = Annotated[str, Path(min_length=1, max_length=64)]
Site = Annotated[str, Field(min_length=1, max_length=64)]


class PromotionIn(Strict):
    version: int = Field(ge=1, le=1_000_000)
    stage: str = Field(min_length=1, max_length=32)
    plants: list[Site] = Field(
        default_factory=list, max_length=200, description="none: every plant"
    )
    overlay_revision: int | None = Field(default=None, ge=1, le=1_000_000)
    reason: str = Field(default="", max_length=500)


class PromotionRequestIn(PromotionIn):
    dry_run_events: int = Field(default=200, ge=0, le=5000, description="0: no dry run")


class PromotionRequestOut(BaseModel):
    run_id: str
    """The template-promotion run awaiting its approvals."""


class RollbackIn(Strict):
    plant: str = Field(default="", max_length=64, description="empty: every plant's record")
    stage: str | None = Field(default=None, min_length=1, max_length=32)
    reason: str = Field(default="", max_length=500)


class RecordOut(BaseModel):
    seq: int
    stage: str
    plant: str
    version: int | None
    overlay_revision: int | None
    act: str
    at: float
    by: str
    reason: str
    via_run: str | None


class InForceOut(BaseModel):
    stage: str
    plant: str
    version: int | None
    overlay_revision: int | None
    since: float
    by: str


class OverlayRevisionOut(BaseModel):
    plant: str
    revision: int
    digest: str
    published_at: float


class VersionsOut(BaseModel):
    template_id: str
    stages: list[str]
    latest: int | None
    managed: bool
    in_force: list[InForceOut]
    history: list[RecordOut]
    overlays: list[OverlayRevisionOut]


StageName = Annotated[str, Field(min_length=1, max_length=32)]


class StagesIn(Strict):
    stages: list[StageName] = Field(min_length=1, max_length=10)
    governed: list[StageName] | None = Field(
        default=None, max_length=10, description="default: the last (live) stage"
    )


class StagesOut(BaseModel):
    stages: list[str]
    governed: list[str]


@router.post("/v1/templates/{template_id}/promotions", response_model=list[RecordOut],
             status_code=201, responses=responses(401, 403, 404, 409, 422, 429))  # fmt: skip
def promote(
    template_id: TemplateId, body: PromotionIn, andon: Andon, who: Writer
) -> list[RecordOut]:
    """Put a published version in force at an ungoverned stage for some plants (none: every
    plant); returns the rollout records appended (none if it already was). A governed
    stage answers 409: request the promotion instead."""
    added = andon.lifecycle.put_in_force(
        who, template_id, body.version, body.stage, body.plants,
        overlay_revision=body.overlay_revision, reason=body.reason,
    )  # fmt: skip
    return [_record(r) for r in added]


@router.post("/v1/templates/{template_id}/promotion-requests",
             response_model=PromotionRequestOut, status_code=202,
             responses=responses(401, 403, 404, 409, 422, 429))  # fmt: skip
def request_promotion(
    template_id: TemplateId, body: PromotionRequestIn, andon: Andon, who: Writer
) -> PromotionRequestOut:
    """Start the governed promotion (a template-promotion run with the diff, the binding
    check and a dry run attached); its approved run puts the version in force (ADR 0034)."""
    run_id = andon.promotions.request(
        who, template_id, body.version, body.stage, body.plants,
        overlay_revision=body.overlay_revision, reason=body.reason,
        dry_run_events=body.dry_run_events,
    )  # fmt: skip
    return PromotionRequestOut(run_id=run_id)


@router.post("/v1/templates/{template_id}/rollback", response_model=RecordOut,
             status_code=201, responses=responses(401, 403, 404, 409, 422, 429))  # fmt: skip
def rollback(template_id: TemplateId, body: RollbackIn, andon: Andon, who: Writer) -> RecordOut:
    """Put back what was in force for a plant before its latest change (journaled)."""
    return _record(
        andon.lifecycle.rollback(who, template_id, body.plant, body.stage, reason=body.reason)
    )


@router.get("/v1/templates/{template_id}/versions", response_model=VersionsOut,
            responses=responses(401, 403, 404, 422))  # fmt: skip
def versions(template_id: TemplateId, andon: Andon, who: Caller) -> VersionsOut:
    """What is in force at each stage and plant, and the history of how it got there."""
    return _versions(andon.lifecycle.versions(who, template_id))


@router.get("/v1/stages", response_model=StagesOut, responses=responses(401, 403))
def stages(andon: Andon, who: Caller) -> StagesOut:
    return _stages(andon, who, andon.lifecycle.stages(who))


@router.put("/v1/stages", response_model=StagesOut,
            responses=responses(401, 403, 409, 422, 429))  # fmt: skip
def set_stages(body: StagesIn, andon: Andon, who: Writer) -> StagesOut:
    """Replace the tenant's stage list, first to last (live), and which are governed."""
    return _stages(andon, who, andon.lifecycle.set_stages(who, body.stages, body.governed))


def _stages(andon: App, who: Actor, names: tuple[str, ...]) -> StagesOut:
    governed = andon.lifecycle.governed(who)
    return StagesOut(stages=list(names), governed=[n for n in names if n in governed])


def _record(r: Record) -> RecordOut:
    return RecordOut(
        seq=r.seq, stage=r.stage, plant=r.plant, version=r.version,
        overlay_revision=r.overlay_revision, act=r.act.value, at=r.at, by=r.by,
        reason=r.reason, via_run=r.via_run,
    )  # fmt: skip


def _versions(view: Versions) -> VersionsOut:
    return VersionsOut(
        template_id=view.template_id, stages=list(view.stages), latest=view.latest,
        managed=view.managed,
        in_force=[
            InForceOut(stage=f.stage, plant=f.plant, version=f.record.version,
                       overlay_revision=f.record.overlay_revision, since=f.record.at,
                       by=f.record.by)
            for f in view.in_force
        ],
        history=[_record(r) for r in view.history],
        overlays=[
            OverlayRevisionOut(plant=o.plant, revision=o.revision, digest=o.digest,
                               published_at=o.published_at)
            for o in view.overlays
        ],
    )  # fmt: skip
