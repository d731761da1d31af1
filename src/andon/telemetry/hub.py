"""The telemetry of one ``bootstrap.App``: its settings, tracer and store metrics."""

from __future__ import annotations

from dataclasses import dataclass

from andon.observability.settings import TelemetrySettings
from andon.observability.tracing import Tracing
from andon.telemetry.metrics import StoreMetrics


@dataclass
class Telemetry:
    settings: TelemetrySettings
    tracing: Tracing
    metrics: StoreMetrics

    def close(self) -> None:
        """Export the spans still buffered."""
        self.tracing.close()
