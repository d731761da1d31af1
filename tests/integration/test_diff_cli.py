"""``andon diff`` as a reviewer types it (in-process): versions as text or JSON, a plant's
overlays latest two or by digest, and one-line errors naming what is missing."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from andon import bootstrap, config
from andon.cli import main
from andon.testing import declare_events
from andon.tools.demo.actions import DemoActions

ROOT = Path(__file__).resolve().parents[2] / "templates"


def andon(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main.app, list(args), env=env, catch_exceptions=False)


def test_versions_and_overlays_are_diffed_as_text_and_json(tmp_path: Path) -> None:
    env = {"ANDON_DATABASE_URL": f"sqlite:///{tmp_path / 'andon.db'}"}
    v1 = (ROOT / "purchase-requisition.yaml").read_text()
    v2 = (
        v1.replace("version: 1", "version: 2", 1)
        .replace("roles: [PM, FC]", "roles: [PM, FC, CFO]")
        .replace("then: {level: L5, rank: 5}}", "then: {level: L5, rank: 6}}")
    )
    overlay = (ROOT / "overlays" / "purchase-requisition.US-GRR.yaml").read_text()
    app = bootstrap.build(config.load(env))
    try:
        admin = app.actor()
        DemoActions(0, app.service.clock).register(app.actions)  # the actions it names
        declare_events(app.service, admin, v1)
        for source in (v1, v2):
            app.service.publish_template(admin, source)
        first = app.service.publish_overlay(admin, overlay)
        second = app.service.publish_overlay(admin, overlay + "  approval_sla: 12h\n")
    finally:
        app.close()

    text = andon(env, "diff", "purchase-requisition", "1", "2")
    assert text.exit_code == 0, text.output
    assert text.output.startswith("purchase-requisition 1 → 2: steps ~2; decision rows 1\n")
    assert '  ~ approve_l3 (approval)\n      roles: ["PM", "FC"] → ["PM", "FC", "CFO"]\n' in (
        text.output
    )
    assert '        ~ l5\n            then: {"level": "L5", "rank": 5} → ' in text.output
    body = json.loads(andon(env, "diff", "purchase-requisition", "1", "2", "--json").output)
    assert [s["key"] for s in body["steps"]] == ["level", "approve_l3"]
    assert andon(env, "diff", "purchase-requisition", "2", "2").output == (
        "purchase-requisition 2 → 2: no semantic changes\n"
    )

    latest = andon(env, "diff", "--overlay", "purchase-requisition", "--plant", "US-GRR")
    assert latest.exit_code == 0, latest.output
    assert f"overlay {first.digest[:12]} → {second.digest[:12]}" in latest.output
    assert "overlay parameters\n  + approval_sla: 12h\n" in latest.output
    assert "effective values under purchase-requisition@2\n  ~ approval_sla: 1d → 12h\n" in (
        latest.output
    )
    back = andon(env, "diff", "--overlay", "purchase-requisition", "--plant", "US-GRR",
                 second.digest[:8], first.digest[:8], "--json")  # fmt: skip
    change = json.loads(back.output)["parameters"][0]
    assert change == {"field": "approval_sla", "status": "removed", "old": "12h", "new": None}

    missing = andon(env, "diff", "purchase-requisition", "1", "7")
    assert missing.exit_code == 1
    assert "no published template 'purchase-requisition@7'" in missing.output
    no_plant = andon(env, "diff", "--overlay", "purchase-requisition")
    assert no_plant.exit_code == 1 and "--overlay needs --plant" in no_plant.output
    bad = andon(env, "diff", "purchase-requisition", "1", "two")
    assert bad.exit_code == 1 and "version 'two' is not a positive number" in bad.output
