"""``andon dry-run`` as a reviewer types it (in-process): the shipped purchase requisition
with a lower L1 limit, replayed on three recorded requisitions, names the one whose
approval level changes; as a table or as JSON; bad options are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from andon import bootstrap, config
from andon.cli import main
from andon.runtime.worker import WorkerSettings
from andon.testing import declare_events
from andon.tools.demo.actions import DemoActions

ROOT = Path(__file__).resolve().parents[2] / "templates"


def andon(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main.app, list(args), env=env, catch_exceptions=False)


def requisition(pr_id: str, amount: str) -> dict[str, object]:
    return {
        "pr_id": pr_id, "requester": "u-req", "cost_center": "CC-10", "category": "mro",
        "total": {"amount": float(amount), "currency": "EUR"}, "quotes": 3,
    }  # fmt: skip


def test_the_requisition_whose_level_changes_is_listed(tmp_path: Path) -> None:
    env = {"ANDON_DATABASE_URL": f"sqlite:///{tmp_path / 'andon.db'}"}
    v1 = (ROOT / "purchase-requisition.yaml").read_text()
    v2 = v1.replace("version: 1", "version: 2", 1).replace(
        'default: {amount: "5000", currency: EUR}', 'default: {amount: "1000", currency: EUR}', 1
    )
    app = bootstrap.build(config.load(env))
    try:
        admin = app.actor()
        DemoActions(0, app.service.clock).register(app.actions)  # the actions it names
        declare_events(app.service, admin, v1)
        app.service.publish_template(admin, v1)
        ungoverned = ["dev", "test", "production"]  # promotions here need no approval run
        app.lifecycle.set_stages(admin, ungoverned, governed=[])
        for stage in ("test", "production"):
            app.lifecycle.put_in_force(admin, "purchase-requisition", 1, stage)
        for pr_id, amount in (("PR-1", "800"), ("PR-2", "3000"), ("PR-3", "20000")):
            app.service.send_event(admin, "purchase.requisition_raised", pr_id,
                                   requisition(pr_id, amount), event_id=pr_id)  # fmt: skip
        worker = app.worker(WorkerSettings(threads=1))
        while worker.run_once():
            pass
        app.service.publish_template(admin, v2)
    finally:
        app.close()

    table = andon(env, "dry-run", "purchase-requisition", "2")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0] == (
        "dry run of purchase-requisition@2 against the version in force: 3 events considered, "
        "3 taken by a trigger, 1 differ, 0 actions skipped"
    )
    assert " PR-2 " in lines[2] and "v1 waits at approve_l1" in lines[2]
    assert lines[3:] == ["    decision level: l1 -> l2"]

    body = json.loads(andon(env, "dry-run", "purchase-requisition", "2", "--json", "--all").output)
    assert [e["event_id"] for e in body["events"]] == ["PR-1", "PR-2", "PR-3"]
    assert [e["event_id"] for e in body["differing_events"]] == ["PR-2"]
    assert body["events"][1]["candidate"]["decisions"][0]["matched"] == ["l2"]

    bad = CliRunner().invoke(main.app, ["dry-run", "purchase-requisition", "2", "--last", "0"],
                             env=env)  # fmt: skip
    assert bad.exit_code == 1
    assert "last must be between 1 and 5000 events, not 0" in bad.output
    vague = CliRunner().invoke(
        main.app, ["dry-run", "purchase-requisition", "2", "--since", "yesterday"], env=env
    )
    assert vague.exit_code == 1 and "--since: 'yesterday' is not an ISO 8601 time" in vague.output
