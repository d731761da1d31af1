"""The write rate per token (ADR 0010): a token bucket each caller draws one write from.

Both shells draw from the same limiter, so a form post in the UI counts against the same
rate as an API write with that token (ADR 0019). Buckets live in the process.
"""

from __future__ import annotations

import threading
import time

from andon.errors import RateLimitedError


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
