"""Andon cli."""
