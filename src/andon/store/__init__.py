"""Persistence: the Store seam (base.py), its schema and the SQLite implementation."""
