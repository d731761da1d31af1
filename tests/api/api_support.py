"""Helpers for the API tests (a module of its own: conftest names clash across folders)."""

from __future__ import annotations

from andon import bootstrap


def token_for(app: bootstrap.App, user: str = "admin", tenant: str = "default") -> dict[str, str]:
    """An Authorization header for ``user`` (issued by the tenant's administrator)."""
    admin_id = "admin" if tenant == "default" else f"admin@{tenant}"
    issued = app.tokens.issue(app.actor(admin_id, tenant), user, f"test token for {user}")
    return {"Authorization": f"Bearer {issued.token}"}
