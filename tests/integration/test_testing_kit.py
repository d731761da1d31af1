"""The public test kit (andon.testing) does what docs/templates.md ("Testing your templates")
shows: the example there is this test."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from andon import testing
from andon.runtime.service import StartRequest, TaskDecision

NCR = (Path(__file__).resolve().parents[2] / "templates" / "supplier-ncr.yaml").read_text("utf-8")
SYSTEMS = (
    "qms.record_ncr", "erp.block_lot", "erp.execute_disposition",
    "supplier.issue_scar", "notify.escalate",
)  # fmt: skip


def test_a_late_supplier_is_chased_then_the_ncr_closes(tmp_path: Path) -> None:
    clock = testing.ManualClock(testing.T0)
    with testing.app(tmp_path, clock=clock) as app:
        for name in SYSTEMS:  # stand-ins for the plant's QMS, ERP and mail
            app.actions.register(name, lambda call: {"ok": True})
        testing.publish(app.service, app.actor(), NCR)
        inspector = testing.person(app, "u-qi", "QI")
        signers = [testing.person(app, "u-qe", "QE"), testing.person(app, "u-ps", "PS")]
        sqe = testing.person(app, "u-sqe", "SQE")
        ncr = testing.ncr_input()
        run_id = app.service.start_run(inspector, StartRequest("supplier-ncr", ncr))
        testing.drain(app)  # record, contain

        for signer in signers:  # 2,500 EUR of scrap: QE and PS sign the MRB
            (task,) = app.service.tasks(signer)
            app.service.decide_task(signer, TaskDecision(task.task_id))
        testing.drain(app)  # execute, issue the SCAR
        clock.advance(timedelta(days=10))  # the supplier's time to answer is up
        testing.drain(app)  # chase
        app.service.send_event(
            app.actor(), "supplier.scar_response_received", str(ncr["ncr_id"]),
            {"ncr_id": ncr["ncr_id"], "supplier": ncr["supplier"], "report": "8D"},
        )  # fmt: skip
        (review,) = app.service.tasks(sqe)
        app.service.decide_task(sqe, TaskDecision(review.task_id))

        run = app.service.run(app.actor(), run_id)
        journal = app.service.journal(app.actor(), run_id)
        assert (run.status, run.outcome) == ("completed", "closed")
        done = [e.body["step"] for e in journal if e.type == "StepSucceeded"]
        assert done == ["record", "contain", "execute", "issue_scar", "escalate_scar"]


def test_settings_keep_keys_and_the_database_in_the_folder(tmp_path: Path) -> None:
    settings = testing.settings(tmp_path, action_timeout_s=2.0)
    assert settings.store.sqlite_path == tmp_path / "andon.db"
    assert (settings.signing_key_path, settings.secrets_key_path) == (
        tmp_path / "keys" / "signing-key",
        tmp_path / "secrets-key",
    )
    assert settings.action_timeout_s == 2.0
    assert testing.settings(tmp_path, "postgresql://db/x").store.backend == "postgresql"


def test_each_ncr_input_is_new() -> None:
    first = testing.ncr_input(severity="m")
    first["lot"] = "changed"
    assert testing.ncr_input()["lot"] == "L2611-0042"
    assert (first["severity"], testing.ncr_input()["severity"]) == ("m", "M")
