"""Telemetry of whole runs: their measures on request, and their run and step spans once
they end in this process (whichever commit ended them: a worker's outcome, a person's
decision, an event, a cancellation)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from andon.core.template import Template
from andon.governance.identity import Actor
from andon.observability import logs
from andon.observability.tracing import Tracing
from andon.runtime.service import Andon
from andon.runtime.signals import AfterCommit, Signals
from andon.store.sql import SqlStore
from andon.telemetry.measures import RunMeasures, measure

TemplateLookup = Callable[[str, str, int], Template]


def measure_run(service: Andon, actor: Actor, run_id: str) -> RunMeasures:
    """The measures of a run the actor may read (its journal replayed)."""
    row = service.run(actor, run_id)
    journal = service.journal(actor, run_id)

    def version(number: int) -> Template:
        return service.templates.get(actor.tenant_id, row.template_id, number)

    return measure(version, row, journal, service.clock.now().timestamp())


class RunSpans:
    """Writes the run span and step spans of sampled runs that ended."""

    def __init__(self, store: SqlStore, templates: TemplateLookup, tracing: Tracing) -> None:
        self.store = store
        self.templates = templates
        self.tracing = tracing

    def ended(self, runs: Sequence[tuple[str, str]]) -> None:
        for tenant, run_id in runs:
            if not self.tracing.sampled(run_id):
                continue
            try:
                with self.store.reader() as unscoped:
                    reader = unscoped.scoped(tenant)
                    row = reader.run(run_id)
                    journal = reader.journal(run_id) if row is not None else []
                if row is None:
                    continue
                versions = partial(self.templates, tenant, row.template_id)
                found = measure(versions, row, journal, row.updated_at)
                self.tracing.emit_run(tenant, row, found)
            except Exception:  # telemetry must not fail a write that has already committed
                if logs.configured():
                    logs.get("andon.telemetry").exception("run spans failed", run_id=run_id)


class SpanSignals(Signals):
    """The service's commit signals, which also hand the runs that ended to ``on_ended``
    (after the commit, on the committing thread)."""

    def __init__(self, on_ended: Callable[[Sequence[tuple[str, str]]], None]) -> None:
        super().__init__()
        self._on_ended = on_ended

    def committed(self, after: AfterCommit, *, hand_over: bool = True) -> int:
        generation = super().committed(after, hand_over=hand_over)
        if after.ended:
            self._on_ended(list(after.ended))
        return generation
