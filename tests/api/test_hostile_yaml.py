"""Hostile template YAML over the API: a 422 problem naming the line, never a 500."""

from __future__ import annotations

import time

import pytest
from api_support import token_for
from fastapi.testclient import TestClient

from andon import bootstrap

DEEP = 10_000
HOSTILE = {
    "flow lists": ("id: x\nversion: 1\nsteps: " + "[" * DEEP + "]" * DEEP, 3, "nested deeper"),
    "flow maps": (
        "id: x\nversion: 1\nsteps: " + "{a: " * DEEP + "1" + "}" * DEEP,
        3,
        "nested deeper",
    ),
    "block": ("id: x\nversion: 1\nsteps:\n" + "- " * DEEP + "1\n", 4, "nested deeper"),
    "tag": ("id: x\nversion: 1\nsteps: !!python/object/apply:os.system [id]\n", 3, "tag"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_yaml_is_a_located_422(app: bootstrap.App, http: TestClient, kind: str) -> None:
    source, line, words = HOSTILE[kind]
    admin = token_for(app)
    started = time.monotonic()
    published = http.post(
        "/v1/templates", json={"source": source, "name": "evil.yaml"}, headers=admin
    )
    body = published.json()
    assert published.status_code == 422, body
    assert body["type"] == "urn:andon:problem:invalid-template"
    assert [p.split(" ")[0] for p in body["path"]] == [f"evil.yaml:{line}:"], body
    assert words in body["path"][0]
    checked = http.post(
        "/v1/templates/validate", json={"source": source, "name": "evil.yaml"}, headers=admin
    )
    assert checked.status_code == 200 and checked.json()["valid"] is False
    assert checked.json()["problems"][0].startswith(f"evil.yaml:{line}: {words}")
    assert time.monotonic() - started < 2  # both requests; minutes before the bound
