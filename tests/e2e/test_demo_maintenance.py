"""`andon demo --scenario maintenance` end to end: a simulated OPC UA machine stops, the
intake opens a case, the CMMS gets a work order over HTTP, the ladder escalates on a fast
clock, and the case closes when the machine runs again and the work order is done."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from andon import bootstrap
from andon.config import Settings, StoreSettings
from andon.demo.maintenance import run_maintenance_demo

pytestmark = pytest.mark.slow


def _console() -> Console:
    return Console(file=io.StringIO(), width=120, force_terminal=False, color_system=None)


def test_a_machine_stop_is_escalated_until_the_line_runs_again(tmp_path: Path) -> None:
    settings = Settings(
        store=StoreSettings(url=f"sqlite:///{tmp_path / 'andon.db'}"),
        signing_key=tmp_path / "signing-key",
        secrets_key=tmp_path / "secrets-key",
    )
    out = _console()
    result = run_maintenance_demo(settings, out, _console())
    assert (result.outcome, result.work_orders) == ("restored", 1)
    assert result.escalations == ("MS", "PS, maintenance manager, PL (replan)")
    assert isinstance(out.file, io.StringIO)
    story = out.file.getvalue()
    assert "T+ 47 min  CNC-07 goes to Held, stop reason 2101" in story
    assert "T+102 min  work order completed; case completed: restored" in story

    app = bootstrap.build(settings)
    try:
        journal = app.service.journal(app.actor(), result.run_id)
        run = app.service.run(app.actor(), result.run_id)
    finally:
        app.close()
    facts = [e.type for e in journal]
    assert facts.count("TimerFired") == 2, "two rungs of the ladder, on the fast clock"
    assert run.started_by.startswith("event:/connectors/opcua/")
    assert run.state["input"]["stop_reason"] == {"id": 2101, "code": "UNP-MECH", "origin": "plc"}
