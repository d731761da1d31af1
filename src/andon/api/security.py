"""Who calls: a bearer token resolved to an ``Actor``; writes are rate-limited per token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from andon.bootstrap import App
from andon.errors import AuthenticationError
from andon.governance.identity import Actor
from andon.runtime.write_rate import RateLimiter

bearer = HTTPBearer(auto_error=False, description="An API or session token: andon_<id>_<secret>")


def andon(request: Request) -> App:
    app: App = request.app.state.andon
    return app


def actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError("send 'Authorization: Bearer <token>'")
    found = andon(request).tokens.resolve(credentials.credentials)
    request.state.token = credentials.credentials.split("_")[1]
    return found


def writer(request: Request, who: Annotated[Actor, Depends(actor)]) -> Actor:
    """The caller of a write endpoint, within its rate."""
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.take(str(request.state.token))
    return who


Caller = Annotated[Actor, Depends(actor)]
Writer = Annotated[Actor, Depends(writer)]
Andon = Annotated[App, Depends(andon)]
