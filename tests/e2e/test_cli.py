"""The ``andon`` command in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from andon.testing import ncr_input

ROOT = Path(__file__).resolve().parents[2]
NCR = ncr_input()
BAD = """\
id: bad
version: 1
roles: [QE]
parameters:
  sla: {type: duration, default: 4h}
steps:
  - id: first
    kind: action
    action: erp.block
    severty: high
  - id: review
    kind: approval
    roles: [QE, QX]
    due_in: 3 days
    next: nowhere
  - id: done
    kind: end
"""


def andon(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ANDON_")}
    base["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), *sys.path])
    return subprocess.run(
        [sys.executable, "-m", "andon.tools.cli", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_reference_templates_validate() -> None:
    files = sorted(str(p) for p in (ROOT / "templates").glob("*.yaml"))
    files += sorted(str(p) for p in (ROOT / "templates" / "overlays").glob("*.yaml"))
    result = andon(ROOT, "validate", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validate_reports_every_planted_mistake_with_path_and_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BAD)
    result = andon(tmp_path, "validate", "bad.yaml")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "bad.yaml:10 steps[0].severty: unknown field 'severty'" in lines
    assert "bad.yaml:13 steps[1].roles[1]: undefined role 'QX' (declare it under 'roles')" in lines
    assert any(
        line.startswith("bad.yaml:14 steps[1].due_in: bad duration '3 days'") for line in lines
    )
    assert "bad.yaml:15 steps[1].next: 'next' points to unknown step 'nowhere'" in lines
    assert result.stderr.strip().endswith("problem(s) in 1 file(s)")


def register_reference_contracts(tmp_path: Path, *event_types: str) -> None:
    for event_type in event_types:
        schema = ROOT / "templates" / "contracts" / f"{event_type}.json"
        registered = andon(tmp_path, "contracts", "register", event_type, str(schema))
        assert registered.returncode == 0, registered.stderr


@pytest.mark.slow  # about a minute: some twenty andon subprocesses
def test_a_supplier_ncr_from_publish_to_close(tmp_path: Path) -> None:
    env = {"ANDON_ACTIONS": "cli_actions"}
    ncr = ROOT / "templates" / "supplier-ncr.yaml"
    overlay = ROOT / "templates" / "overlays" / "supplier-ncr.DE-STR.yaml"
    register_reference_contracts(tmp_path, "quality.ncr_opened", "supplier.scar_response_received")
    published = andon(tmp_path, "publish", str(ncr), "--overlay", str(overlay), env=env)
    assert published.returncode == 0, published.stderr
    assert "published supplier-ncr@1" in published.stdout
    assert andon(tmp_path, "sites", "add", "DE-STR", "--name", "Stuttgart").returncode == 0
    for user, role in (("u-qi", "QI"), ("u-qe", "QE"), ("u-ps", "PS"), ("u-sqe", "SQE")):
        added = andon(tmp_path, "users", "add", user, "--name", user, "--role", f"{role}@DE-STR")
        assert added.returncode == 0, added.stderr
    (tmp_path / "ncr.json").write_text(json.dumps(NCR))
    started = andon(
        tmp_path, "start", "supplier-ncr", "--input", "@ncr.json", "--plant", "DE-STR",
        "--as", "u-qi", env=env,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    assert (tmp_path / "andon.db").exists()  # the default database in the working directory
    assert andon(tmp_path, "worker", "--once", env=env).returncode == 0
    tasks = andon(tmp_path, "tasks", "--role", "PS", "--as", "u-ps", env=env)
    assert f"{run_id}:mrb:1" in tasks.stdout
    for actor, role in (("u-qe", "QE"), ("u-ps", "PS")):
        approved = andon(tmp_path, "approve", f"{run_id}:mrb:1", "--as", actor, "--role", role)
        assert approved.returncode == 0, approved.stderr
    again = andon(tmp_path, "approve", f"{run_id}:mrb:1", "--as", "u-qe")
    assert again.returncode == 1 and "is closed" in again.stderr
    assert andon(tmp_path, "worker", "--once", env=env).returncode == 0
    sent = andon(
        tmp_path,
        "send",
        "supplier.scar_response_received",
        "--key",
        NCR["ncr_id"],
        "--data",
        json.dumps(
            {
                "ncr_id": NCR["ncr_id"],
                "supplier": NCR["supplier"],
                "report": "8D",
                "root_cause": "porosity",
            }
        ),
        "--id",
        "scar-1",
    )
    assert "delivered to 1 run(s)" in sent.stdout, sent.stderr
    review = f"{run_id}:review_scar:1"
    assert andon(tmp_path, "approve", review, "--as", "u-sqe").returncode == 0
    runs = andon(tmp_path, "runs", "--status", "completed")
    assert run_id in runs.stdout and "closed" in runs.stdout
    shown = andon(tmp_path, "show", run_id)
    assert shown.returncode == 0
    for fragment in (
        "RunStarted",
        "disposition decided",
        "scrap-mid",
        "TaskCompleted",
        "EventReceived",
        "completed (outcome=closed)",
    ):
        assert fragment in shown.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("start", "supplier-ncr", "--input", "{bad"), "error: --input is not valid JSON"),
        (("start", "nope", "--input", "{}"), "error: no published template 'nope'"),
        (("show", "r-404"), "error: no run 'r-404'"),
        (("approve", "t-404", "--as", "admin"), "error: no task 't-404'"),
        (("approve", "t-404", "--as", "nobody"), "error: unknown or inactive user 'nobody'"),
        (("validate", "missing.yaml"), "error: cannot read missing.yaml"),
        (("start", "x", "--input", "@nofile.json"), "error: cannot read --input file"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = andon(tmp_path, *args)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(message), result.stderr


def test_database_url_from_the_environment(tmp_path: Path) -> None:
    env = {"ANDON_DATABASE_URL": f"sqlite:///{tmp_path / 'elsewhere.db'}"}
    assert andon(tmp_path, "runs", env=env).returncode == 0
    assert (tmp_path / "elsewhere.db").exists() and not (tmp_path / "andon.db").exists()
    bad = andon(tmp_path, "runs", env={"ANDON_DATABASE_URL": "mysql://x/y"})
    assert bad.returncode == 1 and "scheme 'mysql' is not supported" in bad.stderr
    unreachable = andon(
        tmp_path, "runs", env={"ANDON_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    )
    assert unreachable.returncode == 1 and "cannot open database" in unreachable.stderr


def test_up_works_and_signs_checkpoints_until_stopped(tmp_path: Path) -> None:
    import signal
    import sqlite3
    import time
    from contextlib import closing

    env = {"ANDON_ACTIONS": "cli_actions"}
    ncr = ROOT / "templates" / "supplier-ncr.yaml"
    register_reference_contracts(tmp_path, "quality.ncr_opened", "supplier.scar_response_received")
    assert andon(tmp_path, "publish", str(ncr), env=env).returncode == 0
    (tmp_path / "ncr.json").write_text(json.dumps(NCR))
    run_id = andon(tmp_path, "start", "supplier-ncr", "--input", "@ncr.json").stdout.strip()
    base = {k: v for k, v in os.environ.items() if not k.startswith("ANDON_")}
    base["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), *sys.path])
    server = subprocess.Popen(
        [sys.executable, "-m", "andon.tools.cli", "up", "--port", "0", "--checkpoint-every", "0.3"],
        cwd=tmp_path,
        env={**base, **env},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with closing(sqlite3.connect(tmp_path / "andon.db")) as conn:
                seq = conn.execute("SELECT last_seq FROM runs WHERE run_id=?", (run_id,)).fetchone()
                signed = conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0]
            if seq[0] >= 3 and signed >= 1:  # record and contain ran; a checkpoint was signed
                break
            time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert "up stopped" in stderr
    verified = andon(tmp_path, "audit", "verify")
    assert verified.returncode == 0 and "checkpoints" in verified.stdout, verified.stdout
    assert " 0 checkpoints" not in verified.stdout


def test_contracts_register_list_show_and_refuse_a_breaking_version(tmp_path: Path) -> None:
    first = {"type": "object", "required": ["lot"], "properties": {"lot": {"type": "string"}}}
    (tmp_path / "v1.json").write_text(json.dumps(first))
    added = {**first, "properties": {"lot": {"type": "string"}, "ph": {"type": "number"}}}
    (tmp_path / "v2.json").write_text(json.dumps(added))
    (tmp_path / "broken.json").write_text(json.dumps({"type": "object", "properties": {}}))
    (tmp_path / "not.json").write_text("{lot: string}")
    assert andon(tmp_path, "contracts", "register", "lab.result", "v1.json").stdout.startswith(
        "lab.result v1 "
    )
    assert andon(tmp_path, "contracts", "register", "lab.result", "v2.json").stdout.startswith(
        "lab.result v2 "
    )
    broken = andon(tmp_path, "contracts", "register", "lab.result", "broken.json")
    assert broken.returncode == 1
    assert "v3 is not backward compatible with v2: data.lot: removed" in broken.stderr
    not_json = andon(tmp_path, "contracts", "register", "lab.result", "not.json")
    assert not_json.returncode == 1 and "not.json:1: not JSON" in not_json.stderr
    listed = [line.split() for line in andon(tmp_path, "contracts", "list").stdout.splitlines()]
    assert ["lab.result", "v2", "urn:andon:schema:lab.result:2"] in listed
    assert ["machine.state_changed", "v1", "urn:andon:schema:machine.state_changed:1"] in listed
    shown = andon(tmp_path, "contracts", "show", "lab.result", "--version", "1")
    assert json.loads(shown.stdout) == first


PRESS = """\
id: press-stop
version: {version}
input: {{type: object, required: [press], properties: {{press: {{type: string}}}}}}
triggers: [{{event: press.stopped, key: input.press}}]
steps:
  - {{id: done, kind: end, outcome: {outcome}}}
"""


def test_contract_violations_and_an_inbox_replay_from_the_cli(tmp_path: Path) -> None:
    schema = {"type": "object", "required": ["press"], "properties": {"press": {"type": "string"}}}
    (tmp_path / "press.json").write_text(json.dumps(schema))
    assert andon(tmp_path, "contracts", "register", "press.stopped", "press.json").returncode == 0
    for version, outcome in ((1, "logged"), (2, "logged_again")):
        (tmp_path / f"v{version}.yaml").write_text(PRESS.format(version=version, outcome=outcome))
    assert andon(tmp_path, "publish", "v1.yaml").returncode == 0
    bad = andon(tmp_path, "send", "press.stopped", "--key", "P-1", "--data", '{"press": 7}')
    assert bad.returncode != 0
    assert "press.stopped does not match contract v1: data.press:" in bad.stderr
    sent = andon(tmp_path, "send", "press.stopped", "--key", "P-1", "--data", '{"press": "P-1"}')
    assert sent.returncode == 0, sent.stderr
    assert andon(tmp_path, "publish", "v2.yaml").returncode == 0
    replay = ("inbox", "replay", "--template", "press-stop", "--version", "2",
              "--since", "2000-01-01T00:00:00Z", "--until", "2100-01-01T00:00:00Z")  # fmt: skip
    first = andon(tmp_path, *replay)
    assert first.returncode == 0, first.stderr
    assert "press-stop@2: 1 event(s) in the window, 1 run(s) started" in first.stdout
    again = andon(tmp_path, *replay)
    assert "0 run(s) started, 1 started by an earlier replay" in again.stdout
    naive = andon(tmp_path, *replay[:-1], "2100-01-01T00:00:00")
    assert naive.returncode != 0 and "--until" in naive.stderr and "UTC offset" in naive.stderr
    listed = andon(tmp_path, "dead-letters", "list")
    assert listed.returncode == 0 and listed.stdout.strip() == ""


def test_up_stops_with_an_error_when_its_port_is_taken(tmp_path: Path) -> None:
    import socket
    from contextlib import closing

    with closing(socket.socket()) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = andon(tmp_path, "up", "--port", port)
    assert done.returncode == 1, done.stderr
    assert "the HTTP API could not start (is the port in use?)" in done.stderr
