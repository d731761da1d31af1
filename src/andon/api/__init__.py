"""The HTTP API: a thin shell over the runtime (see docs/adr/0010-http-api.md)."""
