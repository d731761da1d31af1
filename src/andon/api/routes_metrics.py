"""Prometheus metrics: ``/metrics``, computed from the store at scrape time."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from andon.api.problems import responses
from andon.api.security import Andon, bearer
from andon.errors import AuthenticationError
from andon.governance import authz
from andon.governance.authz import Permission
from andon.observability.settings import token_digest

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
