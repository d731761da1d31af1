"""``andon bench-dashboards``: a seeded store of completed runs, then every dashboard query
timed on it; the figures it promises, from a real small run on SQLite (no timing limits)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from test_cli import andon

RUNS = 2000
DASHBOARDS = ("cycle_times", "approval_latency", "bottleneck_steps", "trends", "open_incidents")
SCOPES = ("all", "plant", "30d")


def bench(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command in a subprocess, with room for the generator on a busy machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANDON_")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), *sys.path])
    return subprocess.run(
        [sys.executable, "-m", "andon.tools.cli", "bench-dashboards", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_bench_dashboards_times_every_query_on_a_store_the_engine_could_have_written(
    tmp_path: Path,
) -> None:
    database = tmp_path / "dashboards.db"
    done = bench(tmp_path, "--runs", str(RUNS), "--json", "--database", str(database))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["backend"], result["runs"], result["seed"]) == ("sqlite", RUNS, 1)
    assert result["completed_runs"] == RUNS
    assert result["open_incidents"] == RUNS // 200
    assert result["journal_rows"] > 5 * RUNS and result["task_rows"] > RUNS
    assert result["generated_s"] > 0 and result["target_ms"] == 300.0
    for dashboard in DASHBOARDS:
        for scope in SCOPES:
            name = f"{dashboard}_{scope}"
            assert 0 < result[f"{name}_min_ms"] <= result[f"{name}_median_ms"], name
            assert isinstance(result[f"{name}_size"], int), name
    assert result["cycle_times_all_size"] == RUNS
    assert result["open_incidents_all_size"] == RUNS // 200
    # NCR: mrb, review_scar, await_scar, await_scar_final; PR: approve_l1 to approve_l5
    assert result["bottleneck_steps_all_size"] == 9
    assert result["slowest_median_ms"] == max(
        result[f"{d}_{s}_median_ms"] for d in DASHBOARDS for s in SCOPES
    )
    assert result["met"] == (result["slowest_median_ms"] < 300.0)

    # The journal chains verify: the generator wrote rows as the runtime writes them.
    verified = andon(
        tmp_path, "audit", "verify", env={"ANDON_DATABASE_URL": f"sqlite:///{database}"}
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{RUNS + RUNS // 200} runs" in verified.stdout + verified.stderr

    # The same seed makes the same store; an existing one is reused, not generated again.
    with closing(sqlite3.connect(database)) as conn:
        before = conn.execute("SELECT count(*), sum(length(hash)) FROM run_events").fetchone()
    again = bench(tmp_path, "--runs", str(RUNS), "--json", "--repeats", "1",
                  "--database", str(database))  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["generated_s"] == 0.0
    with closing(sqlite3.connect(database)) as conn:
        after = conn.execute("SELECT count(*), sum(length(hash)) FROM run_events").fetchone()
    assert after == before


def test_bench_dashboards_refuses_a_store_of_another_size(tmp_path: Path) -> None:
    database = tmp_path / "small.db"
    assert bench(tmp_path, "--runs", "20", "--json", "--database", str(database)).returncode == 0
    refused = bench(tmp_path, "--runs", "30", "--json", "--database", str(database))
    assert refused.returncode != 0
    assert "holds 21 runs" in refused.stderr
