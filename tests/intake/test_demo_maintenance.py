"""`andon demo --scenario maintenance` end to end: CNC-07 (OPC UA) and CNC-08 (Sparkplug B
over a real broker) stop; the intakes open cases (CNC-08's after the debounce), the CMMS gets
work orders over HTTP, the ladder escalates on a fast clock, and each case closes when its
machine runs again and its work order is done."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from mosquitto_server import Mosquitto
from rich.console import Console

from andon import bootstrap
from andon.config import Settings, StoreSettings
from andon.tools.demo.maintenance import run_maintenance_demo

pytestmark = pytest.mark.slow


def _console() -> Console:
    return Console(file=io.StringIO(), width=160, force_terminal=False, color_system=None)


def test_machine_stops_are_escalated_until_the_line_runs_again(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    settings = Settings(
        store=StoreSettings(url=f"sqlite:///{tmp_path / 'andon.db'}"),
        signing_key=tmp_path / "keys" / "signing-key",
        secrets_key=tmp_path / "secrets-key",
    )
    out = _console()
    result = run_maintenance_demo(settings, out, _console(), (mosquitto.host, mosquitto.port))
    assert result.outcomes == {"CNC-07": "restored", "CNC-08": "restored"}
    assert result.work_orders == 2
    assert sorted(result.escalations) == [
        "CNC-07 escalated to MS", "CNC-07 escalated to PS, maintenance manager, PL (replan)",
        "CNC-08 escalated to MS", "CNC-08 escalated to PS, maintenance manager, PL (replan)",
    ]  # fmt: skip
    assert isinstance(out.file, io.StringIO)
    story = out.file.getvalue()
    assert "T+ 50 min  the stop outlasted the two-minute debounce: case" in story
    assert "T+106 min  WO-DE-4513 completed: CNC-08's case completed, restored" in story

    app = bootstrap.build(settings)
    try:
        runs = {m: app.service.run(app.actor(), r) for m, r in result.cases.items()}
        journal = app.service.journal(app.actor(), result.cases["CNC-07"])
    finally:
        app.close()
    assert runs["CNC-07"].started_by.startswith("event:/connectors/opcua/")
    assert runs["CNC-08"].started_by == "event:/connectors/sparkplug/DE-STR/L02-EDGE"
    stop = runs["CNC-08"].state["input"]
    assert stop["stop_reason"] == {"id": 2205, "code": "UNP-ELEC", "origin": "plc"}
    assert [e.type for e in journal].count("TimerFired") == 2, "two rungs, on the fast clock"
