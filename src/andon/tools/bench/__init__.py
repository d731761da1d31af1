"""Benchmarks: the engine against the commit ceiling, HTTP and MQTT intake, CEL costs and
the dashboards over a synthetic store (docs/benchmarks.md)."""
