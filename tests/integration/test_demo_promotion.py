"""The live demo leaves a governed promotion in progress: the shipped requisition is in
production everywhere through an approved promotion, and its next version (two quotes
instead of three) waits for the template owner's signature for the Stuttgart pilot; once
Tom and Quinn sign, Stuttgart starts version 2 and the other plants keep version 1."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from andon import bootstrap
from andon.config import Settings, StoreSettings
from andon.runtime.clock import ManualClock
from andon.runtime.service import Credentials, TaskDecision
from andon.runtime.worker import WorkerSettings
from andon.testing import T0
from andon.tools.demo import publish_reference
from andon.tools.demo.actions import DemoActions
from andon.tools.demo.live import PASSWORD, provision_logins
from andon.tools.demo.promotion import PILOT, TEMPLATE, stage_promotion
from andon.tools.demo.staff import Staff


def test_the_demo_leaves_a_promotion_waiting_for_the_owner(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    app = bootstrap.build(
        Settings(store=StoreSettings(f"sqlite:///{tmp_path / 'a.db'}")), clock=clock
    )
    try:
        admin = app.actor()
        DemoActions(1, clock).register(app.actions)
        publish_reference(app.service, admin, Console(quiet=True))
        Staff(app).provision(["QA"])  # the demo's plants and people
        provision_logins(app)
        run_id = stage_promotion(app, PASSWORD)
        assert run_id is not None
        assert stage_promotion(app, PASSWORD) is None, "a second demo on this database adds none"

        [waiting] = [t for t in app.service.tasks(app.actor("tom")) if t.run_id == run_id]
        assert waiting.step == "owner_approval"
        evidence = app.service.run(admin, run_id).state["input"]
        assert isinstance(evidence, dict)
        assert "input.quotes < 2" in str(evidence["diff"]) and evidence["author"] == "lena"
        view = app.lifecycle.versions(admin, TEMPLATE)
        assert {(f.stage, f.plant, f.record.version) for f in view.in_force} == {
            ("dev", "", 2), ("test", "", 1), ("test", PILOT, 2), ("production", "", 1),
        }  # fmt: skip

        sign = Credentials(PASSWORD, "two quotes are enough below the tender limit")
        app.service.decide_task(app.actor("tom"), TaskDecision(waiting.task_id, credentials=sign))
        qa = TaskDecision(f"{run_id}:qa_approval:1", credentials=sign)
        app.service.decide_task(app.actor("quinn"), qa)
        worker = app.worker(WorkerSettings(threads=1))
        while worker.run_once():
            pass
        worker.close()
        assert app.service.run(admin, run_id).outcome == "promoted"
        view = app.lifecycle.versions(admin, TEMPLATE)
        live = {f.plant: f.record.version for f in view.in_force if f.stage == "production"}
        assert live == {"": 1, PILOT: 2}
    finally:
        app.close()
