"""/v1/contracts: list, read and register event contracts over HTTP."""

from __future__ import annotations

import copy

from api_support import token_for
from fastapi.testclient import TestClient

from andon import bootstrap

LAB = {
    "type": "object",
    "required": ["sample"],
    "properties": {"sample": {"type": "string"}, "rms_mm_s": {"type": "number"}},
}


def test_the_catalogue_and_a_new_type_over_http(app: bootstrap.App, http: TestClient) -> None:
    auth = token_for(app)
    listed = http.get("/v1/contracts", headers=auth)
    assert listed.status_code == 200
    assert {"event_type": "machine.state_changed", "version": 1} in [
        {k: c[k] for k in ("event_type", "version")} for c in listed.json()
    ]
    body = {"event_type": "lab.vibration_measured", "schema": LAB}
    created = http.post("/v1/contracts", json=body, headers=auth)
    assert created.status_code == 201, created.text
    assert created.json()["urn"] == "urn:andon:schema:lab.vibration_measured:1"
    assert created.json()["schema"] == LAB
    again = http.post("/v1/contracts", json=body, headers=auth)
    assert again.status_code == 201 and again.json()["version"] == 1, "same schema: no new version"
    read = http.get("/v1/contracts/lab.vibration_measured", params={"version": 1}, headers=auth)
    assert read.status_code == 200 and read.json()["schema"] == LAB


def test_an_incompatible_version_is_a_conflict_naming_the_field(
    app: bootstrap.App, http: TestClient
) -> None:
    auth = token_for(app)
    http.post("/v1/contracts", json={"event_type": "lab.vibration_measured", "schema": LAB},
              headers=auth)  # fmt: skip
    retyped = copy.deepcopy(LAB)
    retyped["properties"]["sample"] = {"type": "integer"}  # type: ignore[index]
    refused = http.post(
        "/v1/contracts", json={"event_type": "lab.vibration_measured", "schema": retyped},
        headers=auth,
    )  # fmt: skip
    assert refused.status_code == 409
    assert "data.sample: type changed from string to integer" in refused.json()["detail"]
    newest = http.get("/v1/contracts/lab.vibration_measured", headers=auth).json()
    assert newest["version"] == 1, "nothing was registered"


def test_bad_requests_name_what_is_wrong(app: bootstrap.App, http: TestClient) -> None:
    auth = token_for(app)
    not_object = http.post(
        "/v1/contracts", json={"event_type": "lab.x_done", "schema": {"type": "array"}},
        headers=auth,
    )  # fmt: skip
    assert not_object.status_code == 422 and "object" in not_object.json()["detail"]
    unknown = http.get("/v1/contracts/lab.nothing_here", headers=auth)
    assert unknown.status_code == 404
    assert http.get("/v1/contracts").status_code == 401


def test_reading_contracts_is_not_registering_them(app: bootstrap.App, http: TestClient) -> None:
    admin = app.actor()
    app.directory.create_user(admin, "u-qe", "Anna Keller")
    app.directory.grant(admin, "u-qe", "QE")
    auth = token_for(app, "u-qe")
    assert http.get("/v1/contracts", headers=auth).status_code == 200
    denied = http.post("/v1/contracts", json={"event_type": "lab.vibration_measured",
                                               "schema": LAB}, headers=auth)  # fmt: skip
    assert denied.status_code == 403
