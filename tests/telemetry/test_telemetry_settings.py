"""Telemetry settings from the environment: standard OTEL_* names, a scrape token kept
only as its digest, and refusals of values that would silently misbehave."""

from __future__ import annotations

from pathlib import Path

import pytest

from andon.errors import InputError
from andon.observability.settings import TelemetrySettings, token_digest

TOKEN = "a-scrape-token-long-enough-123"


def test_defaults_trace_nothing_and_log_json() -> None:
    settings = TelemetrySettings.load({})
    assert (settings.traces, settings.sample_ratio, settings.metrics_token_sha256) == (
        "none", 1.0, None
    )  # fmt: skip
    assert (settings.log_format, settings.log_level, settings.metrics_cache_s) == (
        "json",
        "info",
        10.0,
    )


def test_standard_names_and_a_token_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    settings = TelemetrySettings.load(
        {
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_TRACES_SAMPLER_ARG": "0.25",
            "OTEL_SERVICE_NAME": "andon-plant-7",
            "ANDON_METRICS_TOKEN_FILE": str(tmp_path / "token"),
            "ANDON_METRICS_CACHE_S": "0",
        }
    )
    assert (settings.traces, settings.sample_ratio, settings.service_name) == (
        "console", 0.25, "andon-plant-7"
    )  # fmt: skip
    assert settings.metrics_token_sha256 == token_digest(TOKEN) and TOKEN not in repr(settings)
    assert settings.metrics_cache_s == 0


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_EXPORTER": "zipkin"},
        {"OTEL_TRACES_SAMPLER_ARG": "1.5"},
        {"OTEL_TRACES_SAMPLER_ARG": "half"},
        {"ANDON_METRICS_TOKEN": "short"},
        {"ANDON_LOG_FORMAT": "xml"},
        {"ANDON_METRICS_CACHE_S": "-1"},
    ],
)
def test_bad_values_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(InputError):
        TelemetrySettings.load(environ)
