"""``andon validate`` and ``andon publish`` on hostile YAML: one line with file:line, fast."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_cli import andon

DEEP = 10_000
HOSTILE = {
    "flow-lists.yaml": ("id: x\nversion: 1\nsteps: " + "[" * DEEP + "]" * DEEP + "\n", 3),
    "flow-maps.yaml": ("id: x\nversion: 1\nsteps: " + "{a: " * DEEP + "1" + "}" * DEEP + "\n", 3),
    "block-maps.yaml": (
        "id: x\nversion: 1\nsteps:\n" + "".join(" " * i + "a:\n" for i in range(1, 1_300)),
        43,
    ),
    "tag.yaml": ("id: x\nversion: 1\nsteps: !!python/object/apply:os.system [id]\n", 3),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("command", ["validate", "publish"])
def test_hostile_yaml_is_one_line_with_file_and_line(
    tmp_path: Path, name: str, command: str
) -> None:
    text, line = HOSTILE[name]
    (tmp_path / name).write_text(text)
    started = time.monotonic()
    result = andon(tmp_path, command, name)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    out = [x for x in (result.stdout + result.stderr).splitlines() if f"{name}:" in x]
    assert len(out) == 1 and out[0].split()[0].startswith(f"{name}:{line}"), out
    assert elapsed < 10  # the interpreter's start-up included; minutes before the bound
