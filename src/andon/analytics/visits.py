"""How long runs stayed in their steps: the visits that the bottleneck chart ranks.

Two kinds of step keep a run waiting, and the store records both ends of their visits:
an approval (its task row is opened and closed) and a wait for an event or on a timer
(the journal row that began it and the one that ended it). Actions, decisions and the
rest take the time of a connector call or none at all; their failures and incidents
have charts of their own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from andon.analytics.model import Window
from andon.analytics.sql import Sites, percentile, rank
from andon.analytics.steps import approval_templates, wait_templates
from andon.store.analytics import AnalyticsReads


@dataclass(frozen=True, slots=True)
class Visits:
    """The visits of one step of one template."""

    template_id: str
    step: str
    count: int
    total_s: float
    p90_s: float | None


def approvals(reads: AnalyticsReads, window: Window, sites: Sites) -> Iterator[Visits]:
    """Opening to closing of the approval tasks closed in the window. A step id that one
    template has is attributed to it at once; others through the task's run. Count and
    sum come from SQL, the 90th percentile from the two rows around its rank (a sort the
    database bounds to the top tenth)."""
    owners = approval_templates(reads)
    durations = reads.approval_durations(window, sites, owners)
    for step, count, total in durations.totals():
        templates = owners.get(step, frozenset())
        if len(templates) == 1:
            at = rank(count, 90)
            skip = count - 1 - min(math.floor(at) + 1, count - 1)
            around = durations.two_longest_after(step, skip)
            p90 = _interpolate(around[::-1], at)
            yield Visits(next(iter(templates)), step, count, total, p90)
            continue
        for template_id, values in durations.per_template(step).items():
            yield _visits(template_id, step, values)


def waits(reads: AnalyticsReads, window: Window, sites: Sites) -> Iterator[Visits]:
    """Start to end of the waits (for events, on timers) that ended in the window: each
    end is paired with the last wait that began before it in the same run."""
    narrowed = window.template_id is not None or window.plant is not None or sites is not None
    if not narrowed:  # attribute by step id, unless some id is not exactly one template's
        by_step = reads.wait_durations(window, sites, by_template=False)
        owners = wait_templates(reads)
        if all(len(owners.get(step_id, ())) == 1 for (step_id,) in by_step):
            for (step_id,), values in by_step.items():
                yield _visits(next(iter(owners[step_id])), step_id, values)
            return
    by_template = reads.wait_durations(window, sites, by_template=True)
    for (template_id, step_id), values in by_template.items():
        yield _visits(template_id, step_id, values)


def _visits(template_id: str, step: str, values: list[float]) -> Visits:
    values.sort()
    return Visits(template_id, step, len(values), math.fsum(values), percentile(values, 90))


def _interpolate(around: list[float], at: float) -> float | None:
    """The percentile at rank ``at`` from the values at ``floor(at)`` and the next rank."""
    if not around:
        return None
    low = around[0]
    high = around[1] if len(around) > 1 else low
    return low + (high - low) * (at - math.floor(at))
