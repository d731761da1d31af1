"""The dashboards' figures as JSON, for tools other than the web UI (a BI tool, a
spreadsheet, a plant screen): the same ``andon.analytics`` queries, authorized the same way
(``run.read``, limited to the caller's sites)."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from andon.analytics import Analytics, IncidentRow, LatencyRow, StepRow, TrendRow, Window
from andon.api.problems import responses
from andon.api.security import Andon, Caller

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])
EPOCH_MAX = 1e11
"""Times are epoch seconds; anything past year 5000 is a mistake, not a window."""
Since = Annotated[float | None, Query(ge=0, le=EPOCH_MAX, description="Epoch s, inclusive")]
Until = Annotated[float | None, Query(ge=0, le=EPOCH_MAX, description="Epoch s, exclusive")]
Plant = Annotated[str | None, Query(max_length=200, description="One plant (site id)")]
TemplateId = Annotated[str | None, Query(max_length=200, alias="template")]
Limit = Annotated[int, Query(ge=1, le=500)]
ANSWERS = responses(401, 403, 422)


class HistogramOut(BaseModel):
    upper_bounds_h: list[float | None]
    """Upper bound of each bucket in hours, inclusive; null for the last, open one."""
    counts: list[int]
    total: int
    p50_h: float | None
    p90_h: float | None


def _window(
    since: float | None, until: float | None, plant: str | None, template: str | None
) -> Window:
    return Window(since, until, template or None, plant or None)


@router.get("/cycle-times", response_model=HistogramOut, responses=ANSWERS)
def cycle_times(
    andon: Andon, who: Caller, since: Since = None, until: Until = None, plant: Plant = None,
    template: TemplateId = None,
) -> HistogramOut:  # fmt: skip
    """Start-to-completion time of the runs completed in the window, in hour buckets."""
    found = Analytics(andon.service.store).cycle_times(who, _window(since, until, plant, template))
    bounds = [None if math.isinf(b) else b for b in found.bounds]
    return HistogramOut(upper_bounds_h=bounds, counts=list(found.counts), total=found.total,
                        p50_h=found.p50, p90_h=found.p90)  # fmt: skip


@router.get("/approval-latency", response_model=list[LatencyRow], responses=ANSWERS)
def approval_latency(
    andon: Andon, who: Caller, since: Since = None, until: Until = None, plant: Plant = None,
    template: TemplateId = None,
) -> list[LatencyRow]:  # fmt: skip
    """Task opened to decision, per candidate role and plant, over the decisions taken in
    the window (median and 90th percentile, exact)."""
    return Analytics(andon.service.store).approval_latency(
        who, _window(since, until, plant, template)
    )


@router.get("/bottlenecks", response_model=list[StepRow], responses=ANSWERS)
def bottlenecks(
    andon: Andon, who: Caller, since: Since = None, until: Until = None, plant: Plant = None,
    template: TemplateId = None, limit: Limit = 10,
) -> list[StepRow]:  # fmt: skip
    """The approval and wait steps runs spent most time in (visits x mean), largest first."""
    return Analytics(andon.service.store).bottleneck_steps(
        who, _window(since, until, plant, template), limit
    )


@router.get("/trends", response_model=list[TrendRow], responses=ANSWERS)
def trends(
    andon: Andon, who: Caller, since: Since = None, until: Until = None, plant: Plant = None,
    template: TemplateId = None,
    bucket_s: Annotated[int, Query(ge=60, le=31_622_400, description="Bucket length, s")] = 86_400,
) -> list[TrendRow]:  # fmt: skip
    """Per bucket (from Monday 1970-01-05 UTC): runs started and completed, SLA breaches,
    escalations, incidents and failed action attempts."""
    return Analytics(andon.service.store).trends(
        who, _window(since, until, plant, template), bucket_s
    )


@router.get("/incidents", response_model=list[IncidentRow], responses=ANSWERS)
def incidents(
    andon: Andon, who: Caller, since: Since = None, until: Until = None, plant: Plant = None,
    template: TemplateId = None, limit: Limit = 50,
) -> list[IncidentRow]:  # fmt: skip
    """Runs parked in an incident now, longest parked first, with the failed step and error."""
    return Analytics(andon.service.store).open_incidents(
        who, _window(since, until, plant, template), limit
    )
