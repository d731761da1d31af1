"""What the dashboards show: plain values, computed by ``andon.analytics.queries``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Window:
    """Which runs and facts a dashboard covers. Times are UTC epoch seconds; ``since`` is
    inclusive and ``until`` exclusive. ``plant`` and ``template_id`` narrow to one of each."""

    since: float | None = None
    until: float | None = None
    template_id: str | None = None
    plant: str | None = None


@dataclass(frozen=True, slots=True)
class Histogram:
    """Cycle times (start to completion) of the runs completed in the window, in hours."""

    bounds: tuple[float, ...]
    """Upper bounds of the buckets, inclusive; the last is ``inf``."""
    counts: tuple[int, ...]
    total: int
    p50: float | None
    p90: float | None


@dataclass(frozen=True, slots=True)
class LatencyRow:
    """Approval decisions taken in one role at one plant: task opened to decision."""

    role: str
    plant: str
    decided: int
    p50_s: float | None
    p90_s: float | None


@dataclass(frozen=True, slots=True)
class StepRow:
    """Time runs spent in one step of a template (waiting included), per visit."""

    template_id: str
    step: str
    count: int
    mean_s: float
    p90_s: float | None


@dataclass(frozen=True, slots=True)
class TrendRow:
    """What happened in one time bucket ``[bucket_start, bucket_start + bucket_s)``."""

    bucket_start: float
    started: int
    completed: int
    sla_breaches: int
    escalations: int
    incidents: int
    failures: int


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """A run parked in an incident: the step that failed, since when and why."""

    run_id: str
    template_id: str
    plant: str
    step: str
    since: float
    error: str
