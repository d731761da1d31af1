"""Telemetry settings, read once from the environment: the standard ``OTEL_*`` variables
for traces, ``ANDON_METRICS_*`` for the scrape endpoint and ``ANDON_LOG_*`` for logs."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from andon.errors import InputError

EXPORTERS = ("none", "console", "otlp")
LOG_FORMATS = ("json", "console")


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    traces: str = "none"
    """Where spans go: ``none`` (tracing off, no overhead), ``console`` or ``otlp``."""
    sample_ratio: float = 1.0
    """Share of runs traced; decided from the run's trace id, so every process agrees."""
    service_name: str = "andon"
    metrics_token_sha256: str | None = None
    """SHA-256 (hex) of the installation's scrape token; without it only API tokens scrape."""
    metrics_cache_s: float = 10.0
    """How long one computation of the metrics serves further scrapes of this process."""
    log_format: str = "json"
    log_level: str = "info"

    @classmethod
    def load(cls, environ: Mapping[str, str]) -> TelemetrySettings:
        traces = environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower() or "none"
        if traces not in EXPORTERS:
            raise InputError(f"OTEL_TRACES_EXPORTER must be one of {', '.join(EXPORTERS)}")
        log_format = environ.get("ANDON_LOG_FORMAT", "json").strip().lower()
        if log_format not in LOG_FORMATS:
            raise InputError(f"ANDON_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
        return cls(
            traces=traces,
            sample_ratio=_ratio(environ.get("OTEL_TRACES_SAMPLER_ARG", "1.0")),
            service_name=environ.get("OTEL_SERVICE_NAME", "andon").strip() or "andon",
            metrics_token_sha256=_token_digest(environ),
            metrics_cache_s=_number(
                environ.get("ANDON_METRICS_CACHE_S", "10"), "ANDON_METRICS_CACHE_S"
            ),
            log_format=log_format,
            log_level=environ.get("ANDON_LOG_LEVEL", "info").strip().lower() or "info",
        )


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token_digest(environ: Mapping[str, str]) -> str | None:
    token = environ.get("ANDON_METRICS_TOKEN", "")
    path = environ.get("ANDON_METRICS_TOKEN_FILE", "")
    if path:
        try:
            token = Path(path).read_text("utf-8").strip()
        except OSError as exc:
            raise InputError(f"ANDON_METRICS_TOKEN_FILE: {exc.strerror}") from exc
    if not token:
        return None
    if len(token) < 24:
        raise InputError("the metrics token must have at least 24 characters")
    return token_digest(token)


def _ratio(value: str) -> float:
    ratio = _number(value, "OTEL_TRACES_SAMPLER_ARG")
    if not 0.0 <= ratio <= 1.0:
        raise InputError("OTEL_TRACES_SAMPLER_ARG must be between 0 and 1")
    return ratio


def _number(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError as exc:
        raise InputError(f"{name}: {value!r} is not a number") from exc
    if number < 0:
        raise InputError(f"{name} may not be negative")
    return number
