"""Throttling failed sign-ins: exponential backoff per client and per account-from-client.

Instead of locking an account (which any stranger who knows its name can do), failures
are counted under keys: the client address alone, and the account as tried from that
client. A key with too many recent failures is refused (429) for a delay that doubles
with each further failure. The real user, signing in from their own client, shares no
key with a sprayer elsewhere. Counters live in the database, so every API process of a
PostgreSQL installation sees the same ones (docs/adr/0024-edge-login-throttling.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from andon.errors import RateLimitedError
from andon.store.throttle import ThrottleCounters

WINDOW_S = 15 * 60.0
"""Failures older than this (with no newer one) are forgotten."""


@dataclass(frozen=True, slots=True)
class Rule:
    free: int
    """Failures allowed before the first delay."""
    base_s: float
    max_s: float
    clears_on_success: bool


CLIENT = Rule(free=10, base_s=1.0, max_s=15 * 60.0, clears_on_success=False)
ACCOUNT = Rule(free=5, base_s=1.0, max_s=15 * 60.0, clears_on_success=True)

Keys = Sequence[tuple[str, Rule]]


def login_keys(tenant_id: str, user_id: str, client: str) -> Keys:
    """A sign-in counts against its client and against the account as tried from there."""
    return ((f"client:{client}", CLIENT), (f"login:{tenant_id}/{user_id}@{client}", ACCOUNT))


def signing_keys(tenant_id: str, user_id: str) -> Keys:
    """Re-authentication for a signature: only the holder of a session can try it."""
    return ((f"sign:{tenant_id}/{user_id}", ACCOUNT),)


def check(counters: ThrottleCounters, keys: Keys, now: float) -> None:
    """Refuse (429) while any of ``keys`` is in its delay (read-only: a reader's will do)."""
    until = counters.blocked_until([key for key, _ in keys])
    wait = max((blocked - now for blocked in until), default=0.0)
    if wait > 0:
        raise RateLimitedError(
            f"too many failed sign-ins: try again in {max(1, round(wait))} s", retry_after=wait
        )


def failed(counters: ThrottleCounters, keys: Keys, now: float) -> tuple[int, float]:
    """Count one failure under each key; the failures of the last key and the longest
    delay this failure started (0: none)."""
    longest = 0.0
    failures = 0
    for key, rule in keys:
        failures = counters.count_failure(key, now, stale=now - WINDOW_S)
        if failures >= rule.free:
            delay = min(rule.base_s * 2.0 ** (failures - rule.free), rule.max_s)
            counters.block(key, now + delay)
            longest = max(longest, delay)
    return failures, longest


def succeeded(counters: ThrottleCounters, keys: Keys) -> None:
    """A right password forgets the account's failures (not the client's)."""
    counters.forget([key for key, rule in keys if rule.clears_on_success])
