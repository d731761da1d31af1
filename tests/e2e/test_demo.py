"""`andon demo` end to end: the real service and worker on a simulated clock, run twice."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from andon.config import Settings, StoreSettings
from andon.store.sqlite import SqliteStore
from andon.tools.demo import DemoResult, run_demo

pytestmark = pytest.mark.slow


def _console() -> Console:
    return Console(file=io.StringIO(), width=120, force_terminal=False, color_system=None)


def _run(settings: Settings) -> tuple[DemoResult, str]:
    out = _console()
    result = run_demo(settings, 1, out, _console())
    assert isinstance(out.file, io.StringIO)
    return result, out.file.getvalue()


def _settled(store: SqliteStore, run_id: str) -> bool:
    """Ended, or still running only because it legitimately waits (event, task, timer)."""
    with store.reader() as unscoped:
        reader = unscoped.scoped("default")
        row = reader.run(run_id)
    assert row is not None
    if row.status in ("completed", "cancelled"):
        return True
    steps = row.state.get("steps", {})
    assert isinstance(steps, dict)
    waiting = [s for s in steps.values() if isinstance(s, dict) and s.get("status") == "waiting"]
    return row.status == "running" and bool(waiting)


def test_demo_is_deterministic_and_leaves_its_runs(tmp_path: Path) -> None:
    settings = Settings(store=StoreSettings(url=f"sqlite:///{tmp_path / 'andon.db'}"))

    first, first_text = _run(settings)
    second, second_text = _run(settings)

    assert first_text == second_text
    assert "Escalations" in first_text
    assert first.escalations > 0
    outcomes = {outcome for _, outcome, _ in first.outcomes if not outcome.startswith("(")}
    assert {"approved", "rejected", "closed", "closed_scar_overdue"} <= outcomes
    for name in outcomes:
        assert name in first_text
    assert first.retries > 0 and first.scar_timeouts > 0
    assert _fields(first) | {"run_ids": ()} == _fields(second) | {"run_ids": ()}

    assert 100 <= first.runs <= 200
    assert set(first.run_ids).isdisjoint(second.run_ids)
    store = SqliteStore(settings.store.sqlite_path)
    try:
        with store.reader() as unscoped:
            reader = unscoped.scoped("default")
            assert sum(reader.count_runs_by_status().values()) == first.runs + second.runs
        assert all(_settled(store, run_id) for run_id in second.run_ids)
    finally:
        store.close()


def _fields(result: DemoResult) -> dict[str, object]:
    return {name: getattr(result, name) for name in DemoResult.__dataclass_fields__}
