"""Dashboards: cycle times, approval latency, bottleneck steps, trends and incidents of a
period, narrowed to a plant and a template."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from andon.analytics import Analytics
from andon.web import dashboard
from andon.web.render import UiRoute, html
from andon.web.session import Andon, Session

router = APIRouter(prefix="/ui", route_class=UiRoute)


@router.get("/dashboards")
def dashboards_page(
    request: Request,
    andon: Andon,
    who: Session,
    period: str = dashboard.DEFAULT_PERIOD,
    plant: str = "",
    template: str = "",
) -> Response:
    analytics = Analytics(andon.service.store)
    plants, templates = analytics.scope(who.actor)
    chosen = dashboard.filters(period, plant, template, plants, templates)
    now = andon.service.clock.now().timestamp()
    context = {
        "title": "Dashboards",
        "filters": chosen,
        "periods": dashboard.PERIODS,
        "plants": plants,
        "templates": templates,
        **dashboard.build(analytics, who.actor, chosen, now),
    }
    return html(request, "dashboards.html", context)
