"""Operational dashboards computed by queries over the store: cycle times, approval latency
by role and plant, bottleneck steps, trends of SLA breaches, escalations, incidents and
failures, and the runs parked in an incident now.

The functions take a tenant-scoped reader (``store.reader()`` then ``.scoped(tenant)``);
``Analytics`` does the same for an ``Actor``, authorized and limited to its sites.
"""

from __future__ import annotations

from andon.analytics.model import Histogram, IncidentRow, LatencyRow, StepRow, TrendRow, Window
from andon.analytics.queries import (
    approval_latency,
    bottleneck_steps,
    cycle_times,
    open_incidents,
    trends,
)
from andon.analytics.service import Analytics

__all__ = [
    "Analytics",
    "Histogram",
    "IncidentRow",
    "LatencyRow",
    "StepRow",
    "TrendRow",
    "Window",
    "approval_latency",
    "bottleneck_steps",
    "cycle_times",
    "open_incidents",
    "trends",
]
