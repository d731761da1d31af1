"""Webhooks in and out: signature schemes (pure) and their runtime."""
