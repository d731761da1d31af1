"""Clients and actions for external systems (ERPs, plant systems) that Andon calls out to."""
