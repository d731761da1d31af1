"""Telemetry of runs: measures derived from the journal, Prometheus metrics computed from
the store at scrape time, and the spans of runs and steps once they end (ADR 0016). Built
on the runtime; the spans, logs and settings it uses are ``andon.observability``."""
