"""Property-based tests of the served OpenAPI spec: schemathesis (its CLI, against a real
uvicorn server on loopback, with a valid token) must find no server error and no response
the spec does not allow, over more than 1,000 generated requests."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import serve

from andon import bootstrap
from andon.api.app import create_api
from andon.config import Settings, StoreSettings
from andon.testing import publish

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    )
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    app = bootstrap.build(Settings(store=StoreSettings(f"sqlite:///{tmp_path / 'andon.db'}")))
    admin = app.actor()
    publish(
        app.service,
        admin,
        "id: tiny\nversion: 1\nsteps:\n  - {id: wait, kind: timer, duration: 1h}\n",
    )
    token = app.tokens.issue(admin, "admin", "schemathesis", days=1).token
    api = create_api(app, writes_per_s=100_000, burst=100_000)
    try:
        with serve(api) as base:
            yield base, token
    finally:
        app.close()


@pytest.mark.slow
def test_no_server_errors_and_no_spec_violations(served: tuple[str, str], tmp_path: Path) -> None:
    base, token = served
    cli = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [
            str(cli), "run", f"{base}/openapi.json",
            "--header", f"Authorization: Bearer {token}",
            "--checks", CHECKS,
            "--max-examples", "60",
            "--seed", "20261126",
            "--workers", "1",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated is not None, output[-3000:]
    assert int(generated.group(1)) >= 1000
    assert generated.group(1) == generated.group(2)
