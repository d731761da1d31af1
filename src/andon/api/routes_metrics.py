"""Operational telemetry over HTTP: ``/metrics`` for Prometheus and a run's measures."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel

from andon.api.problems import responses
from andon.api.security import Andon, Caller, bearer
from andon.errors import AuthenticationError
from andon.governance import authz
from andon.governance.authz import Permission
from andon.observability.settings import token_digest
from andon.telemetry.measures import StepMeasures
from andon.telemetry.runs import measure_run

router = APIRouter()
EXPOSITION: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text format (OpenMetrics when the Accept header asks)",
        "content": {"text/plain": {"schema": {"type": "string"}},
                    "application/openmetrics-text": {"schema": {"type": "string"}}},
    },
    **responses(401, 403),
}  # fmt: skip


@router.get("/metrics", response_class=Response, tags=["ops"], responses=EXPOSITION)
def metrics(
    request: Request,
    andon: Andon,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Response:
    """Counters, gauges and histograms computed from the store at scrape time, the same
    from every API process. The installation's metrics token (``ANDON_METRICS_TOKEN``)
    scrapes every tenant; an API token with tenant-wide ``run.read`` scrapes its own."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError("send 'Authorization: Bearer <token>'")
    tenant: str | None = None
    expected = andon.telemetry.settings.metrics_token_sha256
    given = credentials.credentials
    if expected is None or not hmac.compare_digest(token_digest(given), expected):
        actor = andon.tokens.resolve(given)
        authz.require(actor, Permission.RUN_READ)  # tenant-wide: a site token sees no totals
        tenant = actor.tenant_id
    body, content_type = andon.telemetry.metrics.exposition(tenant, request.headers.get("accept"))
    return Response(body, media_type=content_type)


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
