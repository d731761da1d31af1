"""The FastAPI application: routes over the runtime of one ``bootstrap.App``."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from andon import web
from andon.api import (
    problems,
    routes_analytics,
    routes_audit,
    routes_contracts,
    routes_dead_letters,
    routes_diff,
    routes_dry_run,
    routes_egress,
    routes_events,
    routes_health,
    routes_hooks,
    routes_lifecycle,
    routes_metrics,
    routes_migration,
    routes_overlays,
    routes_run_measures,
    routes_runs,
    routes_session,
    routes_tasks,
    routes_templates,
    routes_tokens,
    routes_users,
    routes_webhook_subscriptions,
)
from andon.api.body_limit import BodyLimit, BodyLimits
from andon.bootstrap import App
from andon.runtime.write_rate import RateLimiter


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
    # One module per resource; the order is the order of the OpenAPI document.
    for module in (
        routes_runs,
        routes_tasks,
        routes_session,
        routes_tokens,
        routes_templates,
        routes_overlays,
        routes_events,
        routes_audit,
        routes_users,
        routes_hooks,
        routes_webhook_subscriptions,
        routes_contracts,
        routes_dead_letters,
        routes_metrics,
        routes_run_measures,
        routes_analytics,
        routes_egress,
        routes_diff,
        routes_lifecycle,
        routes_migration,
        routes_dry_run,
        routes_health,
    ):
        api.include_router(module.router)
    # The web UI (docs/adr/0019): HTML pages, kept out of the API's OpenAPI document.
    api.include_router(web.router, include_in_schema=False)
    api.mount("/ui/static", StaticFiles(directory=web.STATIC_DIR), name="ui-static")

    return api
