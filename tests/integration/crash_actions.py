"""Actions for the crash test: every call is logged, and its effect is applied once per
idempotency key, as an idempotent receiver would.

Loaded into ``andon worker`` subprocesses through ``ANDON_ACTIONS=crash_actions``; the
effects database path comes from ``CRASH_EFFECTS_DB``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time

from andon.actions.registry import ActionCall, ActionRegistry
from andon.core.json import JsonValue
from andon.errors import ActionError


def effect(call: ActionCall) -> JsonValue:
    conn = sqlite3.connect(os.environ["CRASH_EFFECTS_DB"], timeout=30, isolation_level=None)
    try:
        # Every call is logged; the receiver's dedupe table keeps one effect per key. The
        # run and step are kept apart from the key, so the audit can tell a visit whose
        # attempts came under several keys (several effects) from one that did not.
        key = call.idempotency_key
        conn.execute(
            "INSERT INTO calls (key, run_id, step, attempt, at) VALUES (?, ?, ?, ?, ?)",
            (key, call.run_id, call.step, call.attempt, time.time()),
        )
        conn.execute(
            "INSERT OR IGNORE INTO effects (key, run_id, step) VALUES (?, ?, ?)",
            (key, call.run_id, call.step),
        )
    finally:
        conn.close()
    time.sleep(0.002)  # widen the window in which a kill lands after the effect
    digest = hashlib.sha256(f"{call.idempotency_key}#{call.attempt}".encode()).digest()
    if digest[0] < 20:  # ~8% of attempts fail after the effect, deterministically per attempt
        raise ActionError("transient failure (simulated)")
    return {"key": call.idempotency_key}


def slow(call: ActionCall) -> JsonValue:
    """Logs its call, then takes ``SLOW_EFFECT_S`` seconds (the fencing test pauses the
    worker meanwhile)."""
    conn = sqlite3.connect(os.environ["CRASH_EFFECTS_DB"], timeout=30, isolation_level=None)
    try:
        conn.execute(
            "INSERT INTO calls (key, run_id, step, attempt, at) VALUES (?, ?, ?, ?, ?)",
            (call.idempotency_key, call.run_id, call.step, call.attempt, time.time()),
        )
    finally:
        conn.close()
    time.sleep(float(os.environ.get("SLOW_EFFECT_S", "1.5")))
    return {"worker_pid": os.getpid()}


def prepare(path: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE calls (key TEXT NOT NULL, run_id TEXT NOT NULL, step TEXT NOT NULL, "
        "attempt INTEGER NOT NULL, at REAL NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE effects (key TEXT PRIMARY KEY, run_id TEXT NOT NULL, step TEXT NOT NULL)"
    )
    conn.commit()
    conn.close()


def register(registry: ActionRegistry) -> None:
    registry.register("crash.effect", effect)
    registry.register("slow.effect", slow)
