"""How Andon's code reports on itself as it works: OpenTelemetry spans, structured JSON
logs and their settings (ADR 0016). Below the runtime, so every layer may use it; the
telemetry of runs, which reads the runtime, is ``andon.telemetry`` (ADR 0035)."""
