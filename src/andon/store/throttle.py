"""Rows of ``login_throttle``: failed sign-ins counted per key (andon.runtime.throttle
decides the keys and the delays). Installation-wide: a key names its tenant itself."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, delete, select, text, update

from andon.store import schema as s

_t = s.login_throttle

_COUNT = text(
    "INSERT INTO login_throttle (key, failures, blocked_until, updated_at) "
    "VALUES (:key, 1, 0, :now) ON CONFLICT (key) DO UPDATE SET "
    "failures = CASE WHEN login_throttle.updated_at < :stale THEN 1 "
    "ELSE login_throttle.failures + 1 END, updated_at = :now"
).bindparams(bindparam("now"), bindparam("stale"), bindparam("key"))


class ThrottleCounters:
    """Failure counters and the delays they started, by key."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def blocked_until(self, keys: Sequence[str]) -> list[float]:
        """When the delay of each of ``keys`` that has a counter ends."""
        found = self._conn.execute(select(_t.c.blocked_until).where(_t.c.key.in_(keys)))
        return [float(row.blocked_until) for row in found]

    def count_failure(self, key: str, now: float, stale: float) -> int:
        """Count one failure (atomically, for concurrent processes), starting again from one
        when the last was before ``stale``; the failures counted now."""
        self._conn.execute(_COUNT, {"key": key, "now": now, "stale": stale})
        return int(self._conn.execute(select(_t.c.failures).where(_t.c.key == key)).scalar_one())

    def block(self, key: str, until: float) -> None:
        self._conn.execute(update(_t).where(_t.c.key == key).values(blocked_until=until))

    def forget(self, keys: Sequence[str]) -> None:
        self._conn.execute(delete(_t).where(_t.c.key.in_(keys)))
