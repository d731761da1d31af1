"""``/metrics``: Prometheus metric families computed from the store when scraped.

Nothing is counted in process memory: every API process (and every replica behind a load
balancer) answers with the same numbers, however many workers wrote them, and a restart
loses nothing. Each series has a ``tenant`` label; a tenant's token sees only its series.
One computation serves the scrapes of ``cache_s`` seconds (one query per table group).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import disable_created_metrics
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.utils import floatToGoString

from andon.core.template import ActionSpec, Template
from andon.errors import AndonError
from andon.runtime.clock import Clock
from andon.store.metrics import MetricReads
from andon.store.sql import SqlStore

BUCKETS: tuple[float, ...] = (
    0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400,
)  # fmt: skip
"""Seconds: actions take tenths of seconds, people hours to days."""
Labels = tuple[str, ...]
_BOUNDS = [floatToGoString(b) for b in BUCKETS] + ["+Inf"]  # type: ignore[no-untyped-call]
TemplateLookup = Callable[[str, str, int], Template]


@dataclass
class _Histogram:
    """Bucket counts (cumulative, per ``BUCKETS``), total count and sum per label set."""

    series: dict[Labels, list[float]] = field(default_factory=dict)

    def add(self, labels: Labels, count: Any, total: Any, cumulative: Sequence[Any]) -> None:
        values = [float(c or 0) for c in cumulative] + [float(count or 0), float(total or 0)]
        found = self.series.get(labels)
        self.series[labels] = (
            values if found is None else [a + b for a, b in zip(found, values, strict=True)]
        )

    def family(self, name: str, doc: str, label_names: Sequence[str]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, doc, labels=label_names)
        for labels, values in sorted(self.series.items()):
            family.add_metric(
                list(labels), list(zip(_BOUNDS, values[:-1], strict=True)), values[-1]
            )
        return family


class _Families:
    """Metric families with ``add`` per label set; samples of one name summed."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, Labels], float] = defaultdict(float)

    def add(self, name: str, labels: Labels, value: Any) -> None:
        self.values[(name, labels)] += float(value or 0)

    def of(self, name: str) -> Iterator[tuple[Labels, float]]:
        for (found, labels), value in sorted(self.values.items()):
            if found == name:
                yield labels, value


COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "andon_runs_started": ("Runs started.", ("tenant", "template", "plant")),
    "andon_runs_ended": ("Runs that ended, by status and outcome.",
                         ("tenant", "template", "status", "outcome")),
    "andon_sla_breaches": ("Approval tasks past their due time (closed late, timed out or "
                           "still open after it).", ("tenant", "template", "step")),
    "andon_escalations": ("Escalations of approval tasks.", ("tenant", "template", "step")),
    "andon_step_retries": ("Failed action attempts that were retried.",
                           ("tenant", "template", "step")),
    "andon_incidents": ("Incidents raised (a step failed with no error path).",
                        ("tenant", "template", "step")),
    "andon_action_failures": ("Failed action attempts per connector action (integration "
                              "failures).", ("tenant", "template", "action", "reason")),
    "andon_policy_violations": ("Refusals by a governance rule, kept in the journal.",
                                ("tenant", "template", "rule")),
    "andon_inbox_events": ("Events taken into the inbox.", ("tenant", "source")),
    "andon_dead_letters": ("Events that could not be taken in.",
                           ("tenant", "channel", "stage")),
    "andon_webhook_attempts": ("Outbound webhook delivery attempts.", ("tenant",)),
    "andon_webhook_delivery_failures": ("Outbound webhook attempts that failed (no 2xx).",
                                        ("tenant",)),
}  # fmt: skip
GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "andon_runs_open": ("Runs not ended, by status.", ("tenant", "template", "status")),
    "andon_tasks_open": ("Approval tasks open.", ("tenant", "template", "step")),
    "andon_tasks_overdue": ("Open approval tasks past their due time.",
                            ("tenant", "template", "step")),
    "andon_outbox_items": ("Outbox rows by state: due (waiting for a worker), leased "
                           "(being worked on) and scheduled (timers and backoffs not due).",
                           ("tenant", "kind", "state")),
    "andon_outbox_oldest_due_age_seconds": ("How long the oldest due, unleased outbox row "
                                            "has waited for a worker.", ("tenant", "kind")),
    "andon_inbox_unmatched_events": ("Inbox events that reached no run (yet).",
                                     ("tenant", "source")),
    "andon_inbox_last_event_age_seconds": ("Seconds since the newest event of the source "
                                           "was taken in (inbox lag).", ("tenant", "source")),
    "andon_dead_letters_open": ("Dead letters not yet replayed or discarded.",
                                ("tenant", "channel", "stage")),
    "andon_webhook_deliveries": ("Outbound webhook deliveries by status.",
                                 ("tenant", "event_type", "status")),
}  # fmt: skip
HISTOGRAMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "andon_run_duration_seconds": ("Start to end of ended runs.",
                                   ("tenant", "template", "outcome")),
    "andon_step_duration_seconds": ("Approval steps: task open to close; action steps: "
                                    "dispatch to outcome, per attempt.",
                                    ("tenant", "template", "step", "kind")),
    "andon_approval_latency_seconds": ("Approval task open to close by candidate role(s) and "
                                       "site.", ("tenant", "role", "plant")),
}  # fmt: skip
ENDED = ("completed", "cancelled")


class StoreMetrics:
    def __init__(
        self, store: SqlStore, clock: Clock, templates: TemplateLookup, *, cache_s: float = 10.0
    ) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no ``_created`` series
        self.store = store
        self.clock = clock
        self.templates = templates
        self.cache_s = cache_s
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def families(self) -> list[Metric]:
        """Every family for every tenant, at most ``cache_s`` old (one computation at a time)."""
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self.cache_s:
                return self._cached[1]
            started = time.monotonic()
            found = self._compute()
            took = GaugeMetricFamily(
                "andon_metrics_collect_seconds", "Time the store took to compute these metrics."
            )
            took.add_metric([], time.monotonic() - started)
            found.append(took)
            self._cached = (time.monotonic(), found)
            return found

    def exposition(self, tenant: str | None, accept: str | None) -> tuple[bytes, str]:
        """The text format (or OpenMetrics, if ``accept`` asks) of ``tenant``'s series, or
        of all tenants' with ``tenant=None``."""
        encode, content_type = choose_encoder(accept or "")
        return encode(_Only(self.families(), tenant)), content_type

    def _compute(self) -> list[Metric]:
        now = self.clock.now().timestamp()
        values = _Families()
        hists: defaultdict[str, _Histogram] = defaultdict(_Histogram)
        with self.store.reader() as reader:
            reads = reader.installation_metrics
            _runs(reads.runs(BUCKETS), values, hists)
            _tasks(reads.tasks(now, BUCKETS), values, hists)
            actions = reads.action_durations(BUCKETS)
            self._actions(actions, hists["andon_step_duration_seconds"])
            self._facts(reads.notable_facts(), values)
            _queues(reads, now, values)
        out: list[Metric] = []
        for name, (doc, labels) in COUNTERS.items():
            counter = CounterMetricFamily(name, doc, labels=labels)
            for found, value in values.of(name):
                counter.add_metric(list(found), value)
            out.append(counter)
        for name, (doc, labels) in GAUGES.items():
            gauge = GaugeMetricFamily(name, doc, labels=labels)
            for found, value in values.of(name):
                gauge.add_metric(list(found), value)
            out.append(gauge)
        for name, (doc, labels) in HISTOGRAMS.items():
            out.append(hists[name].family(name, doc, labels))
        return out

    def _actions(self, rows: Iterable[Any], hist: _Histogram) -> None:
        for tenant, template, _version, step, _type, count, total, *cumulative in rows:
            hist.add((tenant, template, str(step), "action"), count, total, cumulative)

    def _facts(self, rows: Iterable[Any], values: _Families) -> None:
        for tenant, template, version, kind, body, trace in rows:
            fact, changes = json.loads(body), json.loads(trace)
            for change in changes:
                if change.get("change") == "incident":
                    values.add("andon_incidents", (tenant, template, str(change.get("step"))), 1)
            if kind == "PolicyViolated":
                values.add("andon_policy_violations", (tenant, template, str(fact["rule"])), 1)
            elif kind == "StepFailed":
                step = str(fact["step"])
                action = self._action_of(tenant, template, version, step)
                values.add("andon_action_failures", (tenant, template, action, _reason(fact)), 1)
                if any(c.get("change") == "retrying" and c.get("step") == step for c in changes):
                    values.add("andon_step_retries", (tenant, template, step), 1)

    def _action_of(self, tenant: str, template_id: str, version: int, step: str) -> str:
        try:
            spec = self.templates(tenant, template_id, int(version)).steps[step].spec
        except (AndonError, KeyError):
            return "unknown"
        return spec.action if isinstance(spec, ActionSpec) else "unknown"


def _runs(rows: Iterable[Any], values: _Families, hists: dict[str, _Histogram]) -> None:
    for tenant, template, plant, status, outcome, count, total, *cumulative in rows:
        values.add("andon_runs_started", (tenant, template, plant), count)
        if status in ENDED:
            values.add("andon_runs_ended", (tenant, template, status, outcome or ""), count)
            labels = (tenant, template, outcome or status)
            hists["andon_run_duration_seconds"].add(labels, count, total, cumulative)
        else:
            values.add("andon_runs_open", (tenant, template, status), count)


def _tasks(rows: Iterable[Any], values: _Families, hists: dict[str, _Histogram]) -> None:
    for row in rows:
        tenant, template, step, plant, roles, status = row[:6]
        count, levels, breached, overdue, total, *cumulative = row[6:]
        key = (tenant, template, step)
        values.add("andon_escalations", key, levels)
        values.add("andon_sla_breaches", key, breached)
        if status == "open":
            values.add("andon_tasks_open", key, count)
            values.add("andon_tasks_overdue", key, overdue)
        elif status == "closed":
            hists["andon_step_duration_seconds"].add((*key, "approval"), count, total, cumulative)
            role = "+".join(sorted(json.loads(roles))) or "none"
            hists["andon_approval_latency_seconds"].add(
                (tenant, role, plant), count, total, cumulative
            )


def _queues(reads: MetricReads, now: float, values: _Families) -> None:
    for tenant, kind, count, waiting, leased, oldest in reads.outbox(now):
        values.add("andon_outbox_items", (tenant, kind, "due"), waiting)
        values.add("andon_outbox_items", (tenant, kind, "leased"), leased)
        scheduled = int(count or 0) - int(waiting or 0) - int(leased or 0)
        values.add("andon_outbox_items", (tenant, kind, "scheduled"), scheduled)
        age = max(0.0, now - float(oldest)) if oldest is not None else 0.0
        values.add("andon_outbox_oldest_due_age_seconds", (tenant, kind), age)
    for tenant, source, count, newest, unmatched in reads.inbox():
        values.add("andon_inbox_events", (tenant, source), count)
        values.add("andon_inbox_unmatched_events", (tenant, source), unmatched)
        age = max(0.0, now - float(newest)) if newest is not None else 0.0
        values.add("andon_inbox_last_event_age_seconds", (tenant, source), age)
    for tenant, channel, stage, count, still_open in reads.dead_letters():
        values.add("andon_dead_letters", (tenant, channel, stage), count)
        values.add("andon_dead_letters_open", (tenant, channel, stage), still_open)
    for tenant, event_type, status, count in reads.webhook_deliveries():
        values.add("andon_webhook_deliveries", (tenant, event_type, status), count)
    for tenant, ok, failed in reads.webhook_attempts():
        values.add("andon_webhook_attempts", (tenant,), int(ok or 0) + int(failed or 0))
        values.add("andon_webhook_delivery_failures", (tenant,), failed)


def _reason(fact: dict[str, Any]) -> str:
    if fact.get("timed_out"):
        return "timeout"
    return "permanent" if fact.get("permanent") else "transient"


class _Only:
    """The families, restricted to one tenant's samples (``None``: everyone's)."""

    def __init__(self, families: list[Metric], tenant: str | None) -> None:
        self._families = families
        self._tenant = tenant

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            if self._tenant is None:
                yield family
                continue
            only = Metric(family.name, family.documentation, family.type, family.unit)
            only.samples = [x for x in family.samples if x.labels.get("tenant") == self._tenant]
            yield only
