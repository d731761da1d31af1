"""Andon bench."""
