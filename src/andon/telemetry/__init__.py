"""Operational telemetry: measures derived from the journal, Prometheus metrics computed
from the store at scrape time, OpenTelemetry spans of runs, steps and actions, and
structured JSON logs (ADR 0016)."""
