"""A run's measures: touch, queue and wait time and more, derived from its journal."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from andon.api.problems import responses
from andon.api.security import Andon, Caller
from andon.telemetry.measures import StepMeasures
from andon.telemetry.runs import measure_run

router = APIRouter()


class RunMeasuresOut(BaseModel):
    run_id: str
    template_id: str
    template_version: int
    plant: str
    status: str
    outcome: str | None
    started_at: float
    ended_at: float | None
    cycle_s: float
    attempts: int
    failures: int
    retries: int
    incidents: int
    escalations: int
    sla_breaches: int
    policy_violations: int
    touch_s: float
    queue_s: float
    wait_s: float
    steps: list[StepMeasures]


@router.get("/v1/runs/{run_id}/measures", response_model=RunMeasuresOut, tags=["runs"],
            responses=responses(401, 403, 404))  # fmt: skip
def run_measures(run_id: str, andon: Andon, who: Caller) -> RunMeasuresOut:
    """Touch, queue and wait time, retries, escalations, SLA breaches and more, per run and
    per step, derived from the run's journal."""
    return RunMeasuresOut.model_validate(measure_run(andon.service, who, run_id).to_json())
