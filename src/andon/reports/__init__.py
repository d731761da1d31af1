"""Human-readable renderings of runtime data (evidence reports)."""
