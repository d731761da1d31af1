"""Helpers for the API tests (a module of its own: conftest names clash across folders)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from uvicorn._types import ASGIApplication

from andon import bootstrap


def token_for(app: bootstrap.App, user: str = "admin", tenant: str = "default") -> dict[str, str]:
    """An Authorization header for ``user`` (issued by the tenant's administrator)."""
    admin_id = "admin" if tenant == "default" else f"admin@{tenant}"
    issued = app.tokens.issue(app.actor(admin_id, tenant), user, f"test token for {user}")
    return {"Authorization": f"Bearer {issued.token}"}


def accept_any(
    app: bootstrap.App, event_type: str = "a.b", tenant: str = "default", user: str = "admin"
) -> None:
    """Register a free-form contract for ``event_type`` (as ``user``, who may publish):
    for tests that send events of a made-up type and look at what the API does with them."""
    free_form = {"type": "object", "additionalProperties": True}
    app.service.register_contract(app.actor(user, tenant), event_type, free_form)


@contextmanager
def serving(api: ASGIApplication) -> Iterator[str]:
    """A real uvicorn server for ``api`` on a free loopback port; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the API server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
