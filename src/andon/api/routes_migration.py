"""Moving waiting runs of a template to another version (ADR 0032): one result per run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from andon.api.models import Strict
from andon.api.problems import responses
from andon.api.security import Andon, Writer
from andon.runtime.run_migration import Plan, RunMigrations

router = APIRouter(tags=["runs"])
TemplateId = Annotated[str, Path(min_length=1, max_length=64)]
StepId = Annotated[str, Field(min_length=1, max_length=64)]


class MigrationIn(Strict):
    from_version: int = Field(alias="from", ge=1, le=1_000_000)
    to_version: int = Field(alias="to", ge=1, le=1_000_000)
    map: dict[StepId, StepId] = Field(
        default_factory=dict, max_length=200, description="old step id to new step id"
    )
    plant: str | None = Field(default=None, min_length=1, max_length=64)
    runs: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=10_000, description="none: every unended run"
    )
    dry_run: bool = False


class MigrationResultOut(BaseModel):
    run_id: str
    outcome: str
    """migrated, would-migrate (dry run) or refused"""
    reason: str
    moved: dict[str, str]


@router.post("/v1/templates/{template_id}/migrations", response_model=list[MigrationResultOut],
             responses=responses(401, 403, 404, 422, 429))  # fmt: skip
def migrate(
    template_id: TemplateId, body: MigrationIn, andon: Andon, who: Writer
) -> list[MigrationResultOut]:
    """Move the unended runs of one version to another, each in its own transaction; a
    run that cannot move is refused with the reason, the others move."""
    plan = Plan(
        template_id, body.from_version, body.to_version, body.map, body.plant,
        tuple(body.runs), body.dry_run,
    )  # fmt: skip
    results = RunMigrations(andon.service).migrate(who, plan)
    return [
        MigrationResultOut(run_id=r.run_id, outcome=r.outcome.value, reason=r.reason, moved=r.moved)
        for r in results
    ]
