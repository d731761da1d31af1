"""The regulated batch-release reference template end to end through the CLI: four
e-signatures (review, approval, review, release), segregation of duties on the way, and an
evidence bundle that shows each signature's name, time, meaning and record digest."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from test_cli import ROOT, andon

ENV = {"ANDON_ACTIONS": "cli_actions"}
PASSWORD = "a long pass phrase"
BATCH = {
    "batch": "MTF500-2611-07",
    "product": "FG-MTF-500-30",
    "quantity": 120000,
    "exceptions": 2,
    "oos_open": 0,
    "deviations_open": 1,
    "change_controls_open": 0,
}
PEOPLE = {
    "ps.doyle": ("Aoife Doyle", "PS"),
    "qc.byrne": ("Ciaran Byrne", "QC"),
    "qa.walsh": ("Niamh Walsh", "QA"),
    "qa.murphy": ("Sean Murphy", "QA"),
}


def run(cwd: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    if password is None:
        return andon(cwd, *args, env=ENV)
    import os
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith("ANDON_")}
    base["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), *sys.path])
    return subprocess.run(
        [sys.executable, "-m", "andon.cli.main", *args],
        cwd=cwd,
        env={**base, **ENV},
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def sign(cwd: Path, task: str, user: str, reason: str) -> subprocess.CompletedProcess[str]:
    return run(
        cwd, "approve", task, "--as", user, "--sign", "--password-stdin", "--reason", reason,
        password=PASSWORD,
    )  # fmt: skip


def test_a_batch_is_released_with_signatures_and_its_evidence_shows_them(tmp_path: Path) -> None:
    contract = ROOT / "templates" / "contracts" / "batch.completed.json"
    ok(run(tmp_path, "contracts", "register", "batch.completed", str(contract)))
    ok(run(tmp_path, "publish", str(ROOT / "templates" / "batch-release.yaml")))
    ok(run(tmp_path, "sites", "add", "IE-COR", "--name", "Cork"))
    for user, (name, role) in PEOPLE.items():
        added = run(
            tmp_path, "users", "add", user, "--name", name, "--role", f"{role}@IE-COR",
            "--password-stdin", password=PASSWORD,
        )  # fmt: skip
        ok(added)
    (tmp_path / "batch.json").write_text(json.dumps(BATCH))
    run_id = ok(
        run(tmp_path, "start", "batch-release", "--input", "@batch.json", "--plant", "IE-COR")
    ).strip()
    ok(run(tmp_path, "worker", "--once"))

    unsigned = run(tmp_path, "approve", f"{run_id}:production_review:1", "--as", "ps.doyle")
    assert unsigned.returncode == 1 and "needs an electronic signature (review)" in unsigned.stderr
    wrong = run(
        tmp_path, "approve", f"{run_id}:production_review:1", "--as", "ps.doyle", "--sign",
        "--password-stdin", password="not the password",
    )  # fmt: skip
    assert wrong.returncode == 1 and "re-authentication of 'ps.doyle' failed" in wrong.stderr

    ok(sign(tmp_path, f"{run_id}:production_review:1", "ps.doyle", "EBR reviewed by exception"))
    ok(sign(tmp_path, f"{run_id}:qc_approval:1", "qc.byrne", "assay and dissolution in spec"))
    ok(sign(tmp_path, f"{run_id}:qa_review:1", "qa.walsh", "deviation DV-311 assessed"))
    no_reason = run(
        tmp_path, "approve", f"{run_id}:disposition:1", "--as", "qa.murphy", "--sign",
        "--password-stdin", password=PASSWORD,
    )  # fmt: skip
    assert no_reason.returncode == 1 and "needs a reason" in no_reason.stderr
    ok(sign(tmp_path, f"{run_id}:disposition:1", "qa.murphy", "batch meets specification"))
    ok(run(tmp_path, "worker", "--once"))
    assert "released" in ok(run(tmp_path, "runs", "--status", "completed"))

    ok(run(tmp_path, "audit", "checkpoint"))
    assert "4 signatures" in ok(run(tmp_path, "audit", "verify"))
    ok(run(tmp_path, "audit", "export", run_id, "--out", "evidence"))
    bundle = json.loads((tmp_path / "evidence" / f"{run_id}.evidence.json").read_text())
    signed = bundle["signatures"]
    assert [(s["printed_name"], s["meaning"]) for s in signed] == [
        ("Aoife Doyle", "review"),
        ("Ciaran Byrne", "approval"),
        ("Niamh Walsh", "review"),
        ("Sean Murphy", "release"),
    ]
    for item in signed:
        assert item["valid"] is True
        assert re.fullmatch(r"[0-9a-f]{64}", item["record_digest"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*\+00:00", item["signed_at_utc"])
        assert item["method"] == "password"
    assert signed[-1]["reason"] == "batch meets specification"
    assert bundle["run"]["outcome"] == "released"
    assert bundle["template"]["regulated"] is True
    assert bundle["chain"]["verified"] is True
    assert bundle["chain"]["checkpoint"]["covers_seq"] == bundle["chain"]["head"]["seq"]
    gates = [d for d in bundle["decisions"] if d["step"] == "gates"]
    assert gates and gates[0]["matched"] == ["deviations-open"]
    html = (tmp_path / "evidence" / f"{run_id}.evidence.html").read_text()
    assert "Sean Murphy" in html and "meaning: <strong>release</strong>" in html
    assert signed[-1]["record_digest"] in html


def test_the_releaser_may_not_have_reviewed_the_batch_record(tmp_path: Path) -> None:
    contract = ROOT / "templates" / "contracts" / "batch.completed.json"
    ok(run(tmp_path, "contracts", "register", "batch.completed", str(contract)))
    ok(run(tmp_path, "publish", str(ROOT / "templates" / "batch-release.yaml")))
    ok(run(tmp_path, "sites", "add", "IE-COR"))
    for user, role in (("ps.doyle", "PS"), ("qc.byrne", "QC"), ("qa.walsh", "QA")):
        ok(run(tmp_path, "users", "add", user, "--name", user, "--role", f"{role}@IE-COR",
               "--password-stdin", password=PASSWORD))  # fmt: skip
    (tmp_path / "batch.json").write_text(json.dumps(BATCH))
    run_id = ok(
        run(tmp_path, "start", "batch-release", "--input", "@batch.json", "--plant", "IE-COR")
    ).strip()
    ok(run(tmp_path, "worker", "--once"))
    ok(sign(tmp_path, f"{run_id}:production_review:1", "ps.doyle", "reviewed"))
    ok(sign(tmp_path, f"{run_id}:qc_approval:1", "qc.byrne", "in spec"))
    ok(sign(tmp_path, f"{run_id}:qa_review:1", "qa.walsh", "records complete"))
    # qa.walsh reviewed the records; the template does not forbid that one person also
    # releases, but the production reviewer may never release:
    ok(run(tmp_path, "users", "grant", "ps.doyle", "QA@IE-COR"))
    refused = sign(tmp_path, f"{run_id}:disposition:1", "ps.doyle", "looks fine")
    assert refused.returncode == 1
    assert "[conflicting-roles]" in refused.stderr or "[separate-steps]" in refused.stderr
    shown = ok(run(tmp_path, "show", run_id))
    assert "PolicyViolated" in shown
