"""Helpers for the API tests (a module of its own: conftest names clash across folders)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from andon import bootstrap


def token_for(app: bootstrap.App, user: str = "admin", tenant: str = "default") -> dict[str, str]:
    """An Authorization header for ``user`` (issued by the tenant's administrator)."""
    admin_id = "admin" if tenant == "default" else f"admin@{tenant}"
    issued = app.tokens.issue(app.actor(admin_id, tenant), user, f"test token for {user}")
    return {"Authorization": f"Bearer {issued.token}"}


@contextmanager
def serve(api: FastAPI) -> Iterator[str]:
    """``api`` on a real uvicorn server on loopback; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)  # uvicorn offers no event for "listening"
    assert server.started, "the API server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
