"""Retention classes and legal holds: what may be purged, decided without I/O.

A template names the retention class of its runs' records; a tenant may set the period
of a class. A run may be purged once it ended longer ago than its class keeps records,
unless a legal hold covers it (the run itself, or every run of its template).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DAY_S = 86_400.0
PURGED = "retention.purged"
"""The administrative act that is a purged run's tombstone."""
# Defaults in days; regulated batch records are kept longest (EU GMP Annex 11 / 21 CFR
# 211.180 ask for at least a year past expiry; ten years is common practice).
DEFAULT_CLASSES: Mapping[str, int] = {
    "batch-release": 3653,
    "quality": 2557,
    "standard": 1826,
    "purchasing": 1826,
    "maintenance": 1096,
}


@dataclass(frozen=True, slots=True)
class Hold:
    hold_id: str
    run_id: str
    template_id: str
    reason: str

    def covers(self, run_id: str, template_id: str) -> bool:
        if self.run_id:
            return self.run_id == run_id
        return self.template_id == template_id


def period_days(name: str, overrides: Mapping[str, int]) -> int | None:
    """The class's retention in days (None for an unknown class: never purged)."""
    return overrides.get(name, DEFAULT_CLASSES.get(name))


def purge_verdict(
    run_id: str,
    template_id: str,
    retention_class: str,
    ended_at: float | None,
    now: float,
    overrides: Mapping[str, int],
    holds: Iterable[Hold],
) -> str | None:
    """Why the run must be kept, or None when it may be purged now."""
    if ended_at is None:
        return "the run has not ended"
    days = period_days(retention_class, overrides)
    if days is None:
        return f"retention class {retention_class!r} is unknown: kept until it is defined"
    if now < ended_at + days * DAY_S:
        return f"kept for {days} days after its end ({retention_class})"
    hold = next((h for h in holds if h.covers(run_id, template_id)), None)
    if hold is not None:
        return f"under legal hold {hold.hold_id}: {hold.reason}"
    return None
