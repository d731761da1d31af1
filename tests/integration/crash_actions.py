"""Actions for the crash test: every call leaves an effect row carrying its idempotency key.

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
        # Every call is logged; the receiver's dedupe table keeps one row per key, as an
        # idempotent receiver would.
        conn.execute(
            "INSERT INTO calls (key, at) VALUES (?, ?)", (call.idempotency_key, time.time())
        )
        conn.execute("INSERT OR IGNORE INTO effects (key) VALUES (?)", (call.idempotency_key,))
    finally:
        conn.close()
    time.sleep(0.002)  # widen the window in which a kill lands after the effect
    digest = hashlib.sha256(call.idempotency_key.encode()).digest()
    if digest[0] < 20:  # ~8% of attempts fail transiently, deterministically per key
        raise ActionError("transient failure (simulated)")
    return {"key": call.idempotency_key}


def slow(call: ActionCall) -> JsonValue:
    """Logs its call, then takes ``SLOW_EFFECT_S`` seconds (the fencing test pauses the
    worker meanwhile)."""
    conn = sqlite3.connect(os.environ["CRASH_EFFECTS_DB"], timeout=30, isolation_level=None)
    try:
        conn.execute(
            "INSERT INTO calls (key, at) VALUES (?, ?)", (call.idempotency_key, time.time())
        )
    finally:
        conn.close()
    time.sleep(float(os.environ.get("SLOW_EFFECT_S", "1.5")))
    return {"worker_pid": os.getpid()}


def prepare(path: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE calls (key TEXT NOT NULL, at REAL NOT NULL)")
    conn.execute("CREATE TABLE effects (key TEXT PRIMARY KEY)")
    conn.commit()
    conn.close()


def register(registry: ActionRegistry) -> None:
    registry.register("crash.effect", effect)
    registry.register("slow.effect", slow)
