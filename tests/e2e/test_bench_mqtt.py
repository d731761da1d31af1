"""``andon bench-mqtt``: MQTT intake to committed inbox rows next to the broker's own rate,
from a real (small) run against a private mosquitto."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from test_cli import andon

EVENTS = 300


def test_bench_mqtt_commits_every_event_once_and_reports_both_rates(tmp_path: Path) -> None:
    database = tmp_path / "bench.db"
    done = andon(
        tmp_path, "bench-mqtt", "--json", "--events", str(EVENTS), "--database", str(database)
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["events"] == EVENTS
    assert result["taken"] == EVENTS
    assert (result["lost"], result["duplicates"], result["dead_letters"]) == (0, 0, 0)
    assert result["ceiling_received"] == EVENTS
    assert result["andon_per_s"] > 0 and result["ceiling_per_s"] > 0
    assert result["ratio"] == round(result["andon_per_s"] / result["ceiling_per_s"], 3)
    assert result["andon_latency_p99_ms"] >= result["andon_latency_p50_ms"] > 0
    # the inbox itself: one row per event, all of the contract's type, none kept as dead letter
    with closing(sqlite3.connect(database)) as conn:
        rows = conn.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM inbox "
            "WHERE event_type = 'machine.state_changed'"
        ).fetchone()
    assert rows == (EVENTS, EVENTS)


def test_bench_mqtt_fails_clearly_without_a_broker(tmp_path: Path) -> None:
    done = andon(tmp_path, "bench-mqtt", "--events", "10", "--host", "127.0.0.1", "--port", "1")
    assert done.returncode != 0
    assert "MQTT broker 127.0.0.1:1" in done.stderr
