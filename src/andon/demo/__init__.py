"""Andon demo."""
