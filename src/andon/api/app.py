"""The FastAPI application: routes over the runtime of one ``bootstrap.App``."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from andon import web
from andon.api import (
    problems,
    routes_analytics,
    routes_contracts,
    routes_diff,
    routes_dry_run,
    routes_egress,
    routes_hooks,
    routes_lifecycle,
    routes_metrics,
    routes_migration,
    routes_misc,
    routes_runs,
    routes_tasks,
)
from andon.api.body_limit import BodyLimit, BodyLimits
from andon.api.security import RateLimiter
from andon.bootstrap import App


def create_api(
    app: App,
    *,
    writes_per_s: float = 50.0,
    burst: float = 200.0,
    body_limits: BodyLimits | None = None,
) -> FastAPI:
    """The HTTP API of ``app``; endpoints are sync and run in the server's thread pool."""
    api = FastAPI(
        title="Andon",
        version="1",
        summary="Governed workflow orchestration for manufacturing",
        description="Templates, runs, the approver inbox, events and the audit trail.",
        # Any route may refuse an oversized body (andon.api.body_limit).
        responses=problems.responses(413),
    )
    api.state.andon = app
    api.state.rate_limiter = RateLimiter(writes_per_s, burst)
    problems.install(api)
    # Outside routing and authentication: an oversized body is refused before it is read.
    api.add_middleware(BodyLimit, limits=body_limits or BodyLimits())
    for module in (
        routes_runs,
        routes_tasks,
        routes_misc,
        routes_hooks,
        routes_contracts,
        routes_metrics,
        routes_analytics,
        routes_egress,
        routes_diff,
        routes_lifecycle,
        routes_migration,
        routes_dry_run,
    ):
        api.include_router(module.router)
    # The web UI (docs/adr/0019): HTML pages, kept out of the API's OpenAPI document.
    api.include_router(web.router, include_in_schema=False)
    api.mount("/ui/static", StaticFiles(directory=web.STATIC_DIR), name="ui-static")

    @api.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return api
