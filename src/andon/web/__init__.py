"""The web UI: server-rendered pages under ``/ui`` (Jinja2, with vendored htmx for deciding
tasks in place) over the same runtime calls as the HTTP API. See docs/adr/0019."""

from __future__ import annotations

from fastapi import APIRouter

from andon.web import (
    routes_auth,
    routes_dashboards,
    routes_inbox,
    routes_lifecycle,
    routes_runs,
    routes_templates,
)
from andon.web.render import STATIC_DIR

__all__ = ["STATIC_DIR", "router"]

router = APIRouter()
for _module in (
    routes_auth,
    routes_inbox,
    routes_runs,
    routes_templates,
    routes_lifecycle,
    routes_dashboards,
):
    router.include_router(_module.router)
