"""Percentiles of the dashboards, over the durations the store reads (``store/analytics.py``
builds and runs the statements)."""

from __future__ import annotations

import math
from collections.abc import Sequence

# Every dashboard statement runs through ``Statement`` (the query-plan test records them
# there); ``Sites`` is the store's: the plants an actor may read, None for all of them.
from andon.store.analytics_sql import Sites, Statement

__all__ = ["Sites", "Statement", "percentile", "rank"]


def rank(count: int, p: float) -> float:
    """The 0-based rank of the ``p``-th percentile among ``count`` sorted values."""
    return (count - 1) * p / 100


def percentile(ordered: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile of sorted values, interpolating linearly between the two
    nearest ranks (PostgreSQL ``percentile_cont``, numpy's default); None when empty."""
    if not ordered:
        return None
    at = rank(len(ordered), p)
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)
