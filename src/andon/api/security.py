"""Who calls: a bearer token resolved to an ``Actor``; writes are rate-limited per token."""

from __future__ import annotations

import threading
import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from andon.bootstrap import App
from andon.errors import AuthenticationError, RateLimitedError
from andon.governance.identity import Actor

bearer = HTTPBearer(auto_error=False, description="An API or session token: andon_<id>_<secret>")


class RateLimiter:
    """A token bucket per caller: ``rate`` writes per second with bursts up to ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - stamp) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                raise RateLimitedError(
                    f"more than {self.rate:g} writes per second for this token",
                    retry_after=(1.0 - tokens) / self.rate,
                )
            self._buckets[key] = (tokens - 1.0, now)


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
