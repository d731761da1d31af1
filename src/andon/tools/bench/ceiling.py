"""The raw durable commit ceiling: single-row insert transactions on the same database."""

from __future__ import annotations

import statistics
import time

from andon.store.sqlite import SqliteStore

_ROW = '{"part":"RC-4711-CAST","lot":"L2611-0042","severity":3,"qty":6,"note":"ceiling probe"}'


class CommitProbe:
    """Single-row durable commits on demand, for sampling commit latency between runs of
    the engine so that both see the same machine at the same moment."""

    def __init__(self, store: SqliteStore) -> None:
        self._conn = store.raw_connection()
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_probe (id INTEGER PRIMARY KEY, body TEXT)"
        )

    def commit_ms(self) -> float:
        started = time.perf_counter()
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.execute("INSERT INTO bench_probe (body) VALUES (?)", (_ROW,))
        self._conn.execute("COMMIT")
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        self._conn.execute("DROP TABLE bench_probe")
        self._conn.close()


def measure_ceiling(store: SqliteStore, seconds: float) -> dict[str, float]:
    """Commits/s and commit latency of BEGIN IMMEDIATE; INSERT; COMMIT with the store's
    own pragmas (WAL, the same ``synchronous``), in a scratch table it drops afterwards."""
    conn = store.raw_connection()
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_ceiling (id INTEGER PRIMARY KEY, body TEXT)")
        latencies = []
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO bench_ceiling (body) VALUES (?)", (_ROW,))
            conn.execute("COMMIT")
            latencies.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_ceiling")
    finally:
        conn.close()
    ordered = sorted(latencies)
    return {
        "commits_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }
