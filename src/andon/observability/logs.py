"""Structured logs: one JSON object per line (structlog), carrying the run, step and trace
ids bound where they are known, and the trace and span ids of the current span.

Nothing is configured at import: long-running commands (``andon up``, ``worker``, ``api``)
call ``configure`` at startup. Until then Andon's own log calls are skipped, so library use,
tests and the demo print nothing.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import IO, Any

from opentelemetry import trace

_configured = False


def configured() -> bool:
    """Whether ``configure`` ran (Andon logs nothing before)."""
    return _configured


def configure(format: str = "json", level: str = "info", stream: IO[str] | None = None) -> None:
    """Send structlog and the standard library's loggers (uvicorn's too) to ``stream``
    (stderr), as JSON lines or, with ``format="console"``, readable lines."""
    import structlog

    global _configured
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_ids,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=True)
        if format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)
    _configured = True


def add_trace_ids(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: the current span's trace and span ids (hex), if any."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def get(name: str) -> Any:
    """A structlog logger (only call it once ``configured()``)."""
    import structlog

    return structlog.get_logger(name)


@contextmanager
def bound(**values: object) -> Iterator[None]:
    """Bind ``values`` to every log line of this context (thread or task) meanwhile."""
    if not _configured:
        yield
        return
    import structlog

    with structlog.contextvars.bound_contextvars(**values):
        yield
