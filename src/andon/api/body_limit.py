"""Bounded request bodies, enforced before routing, authentication or parsing.

A pure ASGI wrapper (no buffering middleware): a declared ``Content-Length`` above the
route's cap is refused before one byte of the body is read; a streamed (chunked) body is
read only up to the cap and refused as soon as it passes it. Either way the answer is a
413 problem naming the limit, and the connection is closed so the rest is never read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from andon.api.problems import MEDIA_TYPE
from andon.errors import InputError

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """Largest request body in bytes, per route family."""

    login: int = 16 * KIB
    """``/v1/session`` and the UI sign-in: a tenant, a user and a password."""
    intake: int = 2 * MIB
    """``/v1/hooks/...`` and ``/v1/events``: one event or a batch of them."""
    ui: int = 1 * MIB
    """The UI's other forms (task decisions)."""
    default: int = 8 * MIB
    """Every other route (templates, contracts, administration)."""

    def for_path(self, path: str) -> int:
        if path in ("/v1/session", "/ui/login"):
            return self.login
        if path.startswith("/v1/hooks/") or path in ("/v1/events", "/v1/events/batch"):
            return self.intake
        if path.startswith("/ui/"):
            return self.ui
        return self.default


def load(environ: Mapping[str, str]) -> BodyLimits:
    """Caps from ``ANDON_MAX_BODY_{LOGIN,INTAKE,UI,DEFAULT}`` (bytes); unset keep the defaults."""
    values: dict[str, int] = {}
    for name in ("login", "intake", "ui", "default"):
        variable = f"ANDON_MAX_BODY_{name.upper()}"
        raw = environ.get(variable)
        if raw is None:
            continue
        if not raw.strip().isdigit() or int(raw) < 1:
            raise InputError(f"{variable} must be a positive number of bytes, not {raw!r}")
        values[name] = int(raw)
    return BodyLimits(**values)


class BodyLimit:
    """The ASGI wrapper around the whole application."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.limits.for_path(scope["path"])
        declared = _content_length(scope)
        if declared is not None:
            # The server delivers no more than the declared length, so the header suffices.
            if declared > cap:
                await _too_large(send, cap)
            else:
                await self.app(scope, receive, send)
            return
        # Streamed without a length: read at most the cap, then hand the body on whole.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                await _too_large(send, cap)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # only http.disconnect is left

    return replayed


async def _too_large(send: Send, cap: int) -> None:
    body = json.dumps(
        {
            "type": "urn:andon:problem:too-large",
            "title": "Body too large",
            "status": 413,
            "detail": f"the request body exceeds the limit of {cap} bytes for this route",
            "limit": cap,
        }
    ).encode()
    headers = [
        (b"content-type", MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the unread rest of the body is never read
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
