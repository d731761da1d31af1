"""OpenTelemetry spans of runs: run -> step -> action, all in one trace per run.

A run's trace id is the first 16 bytes of SHA-256 of its id, and the run and step spans
have span ids derived the same way, so an action span any worker starts in any process
names its step span as parent and joins the run's trace without coordination. Action
(and webhook) spans are live, around the call; run and step spans are written once the
run ends, with the times its journal records (see ``RunSpans``). Sampling is decided from
the trace id (``TraceIdRatioBased``), so every process keeps or drops the same runs.

Without an exporter tracing is off: every hook is a cheap no-op.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from andon.core.events import Event, StepFailed
from andon.errors import InputError
from andon.observability import logs

if TYPE_CHECKING:
    from andon.observability.settings import TelemetrySettings
    from andon.store.base import RunRow

SCOPE = "andon"
_PROPAGATOR = TraceContextTextMapPropagator()
_FORCED: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "andon_forced_ids", default=None
)


def trace_id_of(run_id: str) -> int:
    """The run's trace id: the first 16 bytes of SHA-256 of its id."""
    return int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:16], "big") or 1


def run_span_id(run_id: str) -> int:
    return int.from_bytes(hashlib.sha256(run_id.encode()).digest()[16:24], "big") or 1


def step_span_id(run_id: str, step: str) -> int:
    """One span per step of a run (all its visits and attempts)."""
    digest = hashlib.sha256(f"{run_id}\0{step}".encode()).digest()
    return int.from_bytes(digest[:8], "big") or 1


class DerivedIds(IdGenerator):
    """Random ids, except while ``_forced`` names the ids of a run or step span."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        forced = _FORCED.get()
        return forced[1] if forced else self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        forced = _FORCED.get()
        return forced[0] if forced else self._random.generate_trace_id()


@contextmanager
def _forced(trace_id: int, span_id: int) -> Iterator[None]:
    token = _FORCED.set((trace_id, span_id))
    try:
        yield
    finally:
        _FORCED.reset(token)


def trace_headers() -> dict[str, str]:
    """W3C ``traceparent`` (and ``tracestate``) of the current span, for an outbound
    request; empty outside a span. Baggage is never sent to other systems."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


class MeasuredStep(Protocol):
    """A step as run telemetry measured it (``andon.telemetry.measures.StepMeasures``),
    read for its span. A protocol: tracing sits below the runtime, measures above it."""

    step: str
    kind: str
    status: str
    entered_at: float | None
    left_at: float | None
    visits: int
    attempts: int
    retries: int
    incidents: int
    escalations: int
    sla_breaches: int
    touch_s: float
    queue_s: float
    wait_s: float


class MeasuredRun(Protocol):
    """A run as run telemetry measured it (``andon.telemetry.measures.RunMeasures``)."""

    @property
    def steps(self) -> Sequence[MeasuredStep]: ...
    @property
    def touch_s(self) -> float: ...
    @property
    def queue_s(self) -> float: ...
    @property
    def wait_s(self) -> float: ...


class ActionSpan:
    """The span around one action attempt; ``record`` notes the outcome."""

    __slots__ = ("_span",)

    def __init__(self, span: trace.Span | None) -> None:
        self._span = span

    def record(self, outcome: Event) -> None:
        failed = outcome if isinstance(outcome, StepFailed) else None
        if self._span is not None:
            self._span.set_attribute("andon.outcome", _outcome(outcome))
            if failed is not None:
                self._span.set_status(Status(StatusCode.ERROR, failed.error[:300]))
        if failed is not None and logs.configured():
            logs.get("andon.worker").warning(
                "action failed", outcome=_outcome(failed), error=failed.error[:300]
            )


class _NoSpan:
    """What a disabled tracer hands out: no span, no context, nearly no cost."""

    __slots__ = ()

    def __enter__(self) -> ActionSpan:
        return _NO_ACTION

    def __exit__(self, *exc: object) -> None:
        return None


_NO_ACTION = ActionSpan(None)
_NO_SPAN = _NoSpan()


class Tracing:
    def __init__(self, provider: TracerProvider | None = None, ratio: float = 1.0) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer(SCOPE) if provider is not None else None
        self._root = TraceIdRatioBased(ratio)

    @classmethod
    def exporting(
        cls,
        exporter: SpanExporter,
        *,
        ratio: float = 1.0,
        batch: bool = True,
        service_name: str = "andon",
    ) -> Tracing:
        """Spans to ``exporter``; ``batch=False`` exports each span as it ends (tests)."""
        provider = TracerProvider(
            sampler=ParentBased(TraceIdRatioBased(ratio)),
            resource=Resource.create({"service.name": service_name}),
            id_generator=DerivedIds(),
        )
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        provider.add_span_processor(processor)
        return cls(provider, ratio)

    @classmethod
    def configured(cls, settings: TelemetrySettings) -> Tracing:
        """As ``OTEL_TRACES_EXPORTER`` says: off, to the console, or OTLP over HTTP."""
        exporter: SpanExporter
        if settings.traces == "none":
            return cls()
        if settings.traces == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporter = ConsoleSpanExporter()
        else:
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found, unused-ignore]
                    OTLPSpanExporter,
                )
            except ImportError as exc:
                raise InputError(
                    "OTEL_TRACES_EXPORTER=otlp needs the 'otlp' extra "
                    "(opentelemetry-exporter-otlp-proto-http)"
                ) from exc
            exporter = OTLPSpanExporter()
        return cls.exporting(
            exporter, ratio=settings.sample_ratio, service_name=settings.service_name
        )

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def sampled(self, run_id: str) -> bool:
        """Whether the run's trace is kept (the same answer in every process)."""
        if self._tracer is None:
            return False
        return trace_id_of(run_id) & TraceIdRatioBased.TRACE_ID_LIMIT < self._root.bound

    def action(
        self, tenant: str, run_id: str, step: str, attempt: int, action: str
    ) -> AbstractContextManager[ActionSpan]:
        """The span of one action attempt, a child of its step's span; the current span
        while the action runs, so outbound calls carry its ``traceparent``."""
        if self._tracer is None and not logs.configured():
            return _NO_SPAN
        return self._action(tenant, run_id, step, attempt, action)

    @contextmanager
    def _action(
        self, tenant: str, run_id: str, step: str, attempt: int, action: str
    ) -> Iterator[ActionSpan]:
        with logs.bound(run_id=run_id, step=step, attempt=attempt, tenant=tenant):
            if self._tracer is None:
                yield _NO_ACTION
                return
            parent = self._parent(run_id, step_span_id(run_id, step))
            if not self.sampled(run_id):  # no span to record: propagate the step's context
                with trace.use_span(trace.get_current_span(parent), end_on_exit=False):
                    yield _NO_ACTION
                return
            attributes: dict[str, str | int] = {
                "andon.tenant": tenant,
                "andon.run_id": run_id,
                "andon.step": step,
                "andon.attempt": attempt,
                "andon.action": action,
            }
            with self._tracer.start_as_current_span(
                f"action {action}", context=parent, kind=SpanKind.CLIENT, attributes=attributes
            ) as span:
                yield ActionSpan(span)

    @contextmanager
    def webhook(self, tenant: str, payload: str, event_type: str) -> Iterator[None]:
        """The span of one webhook delivery attempt, in the trace of the run it is about
        (the message's ``subject``); current while the request is sent."""
        run_id = _subject(payload) if self._tracer is not None else None
        if self._tracer is None or run_id is None:
            yield
            return
        attributes = {"andon.tenant": tenant, "andon.run_id": run_id, "andon.event": event_type}
        with self._tracer.start_as_current_span(
            f"webhook {event_type}",
            context=self._parent(run_id, run_span_id(run_id)),
            kind=SpanKind.CLIENT,
            attributes=attributes,
        ):
            yield

    def emit_run(self, tenant: str, row: RunRow, measures: MeasuredRun) -> None:
        """Write the run's span and its steps' spans (ids derived from the run id)."""
        if self._tracer is None or not self.sampled(row.run_id):
            return
        run_id = row.run_id
        trace_id = trace_id_of(run_id)
        end = row.ended_at if row.ended_at is not None else row.updated_at
        with _forced(trace_id, run_span_id(run_id)):
            span = self._tracer.start_span(
                f"run {row.template_id}",
                context=otel_context.Context(),
                start_time=_ns(row.created_at),
                attributes={
                    "andon.tenant": tenant, "andon.run_id": run_id,
                    "andon.template": row.template_id,
                    "andon.template_version": row.template_version,
                    "andon.plant": row.plant, "andon.status": row.status,
                    "andon.outcome": row.outcome or "",
                    "andon.touch_s": measures.touch_s, "andon.queue_s": measures.queue_s,
                    "andon.wait_s": measures.wait_s,
                },
            )  # fmt: skip
        parent = self._parent(run_id, run_span_id(run_id))
        for step in measures.steps:
            if step.entered_at is None or step.status == "skipped":
                continue
            with _forced(trace_id, step_span_id(run_id, step.step)):
                child = self._tracer.start_span(
                    f"step {step.step}",
                    context=parent,
                    start_time=_ns(step.entered_at),
                    attributes={
                        "andon.run_id": run_id, "andon.step": step.step,
                        "andon.step_kind": step.kind, "andon.visits": step.visits,
                        "andon.attempts": step.attempts, "andon.retries": step.retries,
                        "andon.escalations": step.escalations,
                        "andon.sla_breaches": step.sla_breaches,
                        "andon.touch_s": step.touch_s, "andon.queue_s": step.queue_s,
                        "andon.wait_s": step.wait_s,
                    },
                )  # fmt: skip
            if step.incidents or step.status == "failed":
                child.set_status(Status(StatusCode.ERROR, f"step {step.status}"))
            child.end(_ns(step.left_at if step.left_at is not None else end))
        if row.status == "cancelled":
            span.set_status(Status(StatusCode.ERROR, "cancelled"))
        span.end(_ns(end))

    def _parent(self, run_id: str, span_id: int) -> otel_context.Context:
        flags = trace.TraceFlags(
            trace.TraceFlags.SAMPLED if self.sampled(run_id) else trace.TraceFlags.DEFAULT
        )
        parent = SpanContext(trace_id_of(run_id), span_id, is_remote=True, trace_flags=flags)
        return trace.set_span_in_context(NonRecordingSpan(parent))

    def close(self) -> None:
        """Export what is buffered and stop."""
        if self.provider is not None:
            self.provider.shutdown()


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def _outcome(outcome: Event) -> str:
    if not isinstance(outcome, StepFailed):
        return "succeeded"
    if outcome.timed_out:
        return "timed_out"
    return "permanent" if outcome.permanent else "failed"


def _subject(payload: str) -> str | None:
    try:
        message = json.loads(payload)
    except ValueError:
        return None
    subject = message.get("subject") if isinstance(message, Mapping) else None
    return subject if isinstance(subject, str) and subject else None
