"""``andon publish`` refuses an action step whose action ANDON_ACTIONS does not provide
(ADR 0030): one line with the file, the line and the action, and a failing exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FLOW = """\
id: quarantine
version: 1
steps:
  - id: hold
    kind: action
    action: erp.quarantine_lott
  - id: done
    kind: end
    outcome: held
"""


def andon(cwd: Path, *args: str, actions: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANDON_")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), *sys.path])
    if actions:
        env["ANDON_ACTIONS"] = actions
    return subprocess.run(
        [sys.executable, "-m", "andon.cli.main", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_publishing_an_unregistered_action_fails_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "quarantine.yaml").write_text(FLOW)

    refused = andon(tmp_path, "publish", "quarantine.yaml", actions="cli_actions")

    assert refused.returncode != 0
    assert refused.stdout == ""
    lines = refused.stderr.splitlines()
    assert lines[0].startswith(
        "quarantine.yaml:6 steps[0].action: no action named 'erp.quarantine_lott' is "
        "registered; did you mean 'erp.quarantine_lot'"
    ), refused.stderr

    fixed = FLOW.replace("quarantine_lott", "quarantine_lot")
    (tmp_path / "quarantine.yaml").write_text(fixed)
    without = andon(tmp_path, "publish", "quarantine.yaml")  # this process loads no modules
    assert without.returncode != 0 and "erp.quarantine_lot" in without.stderr
    published = andon(tmp_path, "publish", "quarantine.yaml", actions="cli_actions")
    assert published.returncode == 0, published.stderr
    assert "published quarantine@1" in published.stdout
