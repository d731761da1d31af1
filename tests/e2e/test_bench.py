"""``andon bench``: the figures it promises, from a real (small) run on SQLite."""

from __future__ import annotations

import json
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest
from test_cli import andon

FIGURES = {
    "backend",
    "runs",
    "runs_per_s",
    "transitions_per_s",
    "p50_ms",
    "p99_ms",
    "ceiling_commits_per_s",
    "ratio",
    "synchronous",
    "commit_p50_ms",
    "p50_per_step_vs_commit",
}


def test_bench_json_reports_throughput_latency_and_the_ceiling(tmp_path: Path) -> None:
    database = tmp_path / "bench.db"
    done = andon(
        tmp_path, "bench", "--json", "--runs", "60", "--latency-runs", "20",
        "--database", str(database),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) >= FIGURES
    assert result["backend"] == "sqlite"
    assert result["synchronous"] == "FULL"
    assert result["runs"] == 60
    assert result["runs_per_s"] > 0 and result["ceiling_commits_per_s"] > 0
    # The ratio is taken before the two rates are rounded for the report: equal to the
    # ratio of the reported rates up to that rounding.
    reported = result["transitions_per_s"] / result["ceiling_commits_per_s"]
    assert result["ratio"] == pytest.approx(reported, abs=0.0015)
    assert result["p99_ms"] >= result["p50_ms"] > 0
    # every run notified exactly once: no side effect lost or repeated
    assert result["effects"] == 60 + 20
    with closing(sqlite3.connect(database)) as conn:
        statuses = dict(conn.execute("SELECT status, count(*) FROM runs GROUP BY status"))
        leftover = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    assert statuses == {"completed": 80}
    assert leftover == 0
    # four facts per run with the approval: start, validate, notify, approval decision
    assert result["facts_per_run"] == 4.0


def test_bench_refuses_an_unknown_durability_setting(tmp_path: Path) -> None:
    done = andon(tmp_path, "bench", "--runs", "10", "--synchronous", "SOMETIMES")
    assert done.returncode != 0
    assert "synchronous must be one of" in done.stderr


def test_http_ingest_loses_nothing_under_concurrent_clients(tmp_path: Path) -> None:
    done = andon(tmp_path, "bench-http", "--seconds", "3", "--clients", "4")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["accepted"] > 50
    assert result["refused"] == 0
    assert result["lost"] == 0
    assert result["p99_ms"] >= result["p50_ms"] > 0


def test_bench_on_postgresql_reports_throughput_and_the_ceiling(tmp_path: Path) -> None:
    done = andon(tmp_path, "bench", "--backend", "postgresql", "--workers", "1", "--runs", "60",
                 "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["backend"], result["workers"], result["runs"]) == ("postgresql", 1, 60)
    assert result["synchronous_commit"] == "on"
    assert result["facts_per_run"] == 4.0
    # The ratio is taken before the two rates are rounded for the report: equal to the
    # ratio of the reported rates up to that rounding.
    reported = result["transitions_per_s"] / result["ceiling_commits_per_s"]
    assert result["ratio"] == pytest.approx(reported, abs=0.0015)


def test_cpu_split_reports_busy_shares_and_passes_the_exit_code_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from andon.tools.bench import cpu_split

    spin = (
        "import time\nend = time.time() + 1.2\nwhile time.time() < end: pass\nraise SystemExit(3)"
    )
    assert cpu_split.main([sys.executable, "-c", spin]) == 3
    out = capsys.readouterr().out
    shares = [int(v) for v in out.split("every 0.5 s:")[1].split("\n")[0].split()]
    assert len(shares) >= 2 and max(shares) >= 40  # one of two cores spun
    assert "CPU seconds by role:" in out
