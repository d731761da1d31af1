"""Inbound webhooks from the attacker's side, and a valid delivery that starts a run once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

import pytest
from api_support import token_for
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from andon import bootstrap
from andon.governance import authz
from andon.governance.identity import PrincipalKind
from andon.runtime.clock import ManualClock
from andon.runtime.hooks import EventMapping
from andon.store import schema
from andon.testing import drain, ncr_input, publish
from andon.webhooks import signing
from backends import rows

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_" + base64.b64encode(b"portal secret of 32 bytes length").decode()
OTHER = "whsec_" + base64.b64encode(b"an attacker's guess at a secret!").decode()
NCR = ncr_input()
BODY = json.dumps({"kind": "ncr", "plant": "DE-STR", "ncr": NCR}).encode()
URL = "/v1/hooks/default/qms"


@pytest.fixture
def hooked(app: bootstrap.App) -> bootstrap.App:
    for name in ("qms.record_ncr", "erp.block_lot", "erp.execute_disposition",
                 "supplier.issue_scar", "notify.escalate"):  # fmt: skip
        app.actions.register(name, lambda call: {"done": call.idempotency_key})
    admin = app.actor()
    publish(app.service, admin, (ROOT / "templates" / "supplier-ncr.yaml").read_text())
    app.directory.create_site(admin, "DE-STR", "Stuttgart")
    app.directory.create_user(admin, "svc-qms", "QMS connector", kind=PrincipalKind.SERVICE)
    app.directory.grant(admin, "svc-qms", authz.INTEGRATION)
    mapping = EventMapping(
        type="'quality.ncr_opened'", key="event.ncr.ncr_id", data="event.ncr",
        plant="event.plant",
    )  # fmt: skip
    app.hooks.add_source(admin, "qms", scheme=signing.STANDARD, secret=SECRET,
                         mapping=mapping, acting_user="svc-qms")  # fmt: skip
    return app


def signed(clock: ManualClock, message_id: str, body: bytes = BODY, secret: str = SECRET,
           at: float | None = None) -> dict[str, str]:  # fmt: skip
    stamp = int(at if at is not None else clock.now().timestamp())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signing.sign_standard(secret, message_id, stamp, body),
        "content-type": "application/json",
    }


def runs(app: bootstrap.App) -> list[str]:
    return [r.run_id for r in app.service.runs(app.actor())]


def test_a_valid_delivery_starts_one_run_even_when_sent_five_times(
    hooked: bootstrap.App, http: TestClient, clock: ManualClock
) -> None:
    answers = [
        http.post(URL, content=BODY, headers=signed(clock, "msg-1")).json() for _ in range(5)
    ]
    assert [a["duplicate"] for a in answers] == [False, True, True, True, True]
    assert len(answers[0]["started"]) == 1
    assert runs(hooked) == answers[0]["started"]
    run = hooked.service.run(hooked.actor(), answers[0]["started"][0])
    assert (run.template_id, run.plant, run.started_by) == (
        "supplier-ncr",
        "DE-STR",
        "event:webhook:qms",
    )


def test_forged_changed_stale_and_replayed_deliveries_are_refused(
    hooked: bootstrap.App, http: TestClient, clock: ManualClock
) -> None:
    tampered = BODY.replace(b"2500", b"2501")
    attempts = {
        "wrong secret": (BODY, signed(clock, "m-1", secret=OTHER)),
        "body changed by one byte": (tampered, signed(clock, "m-2")),
        "timestamp 6 minutes old": (BODY, signed(clock, "m-3", at=clock.now().timestamp() - 360)),
        "timestamp 6 minutes ahead": (BODY, signed(clock, "m-4", at=clock.now().timestamp() + 360)),
        "no signature": (BODY, {k: v for k, v in signed(clock, "m-5").items() if k != "webhook-signature"}),
    }  # fmt: skip
    codes = {
        name: http.post(URL, content=body, headers=h).status_code
        for name, (body, h) in attempts.items()
    }
    assert codes == dict.fromkeys(attempts, 401)
    assert runs(hooked) == []
    first = http.post(URL, content=BODY, headers=signed(clock, "m-6"))
    clock.advance(timedelta(seconds=30))
    replay = http.post(URL, content=BODY, headers=signed(clock, "m-6"))  # re-signed, same id
    assert first.json()["duplicate"] is False and replay.json()["duplicate"] is True
    assert len(runs(hooked)) == 1


def test_a_rotated_out_secret_is_refused_after_its_grace(
    hooked: bootstrap.App, http: TestClient, clock: ManualClock
) -> None:
    fresh = "whsec_" + base64.b64encode(b"the new secret after rotation!!!").decode()
    hooked.hooks.rotate_secret(hooked.actor(), "qms", fresh, grace_s=60)
    assert http.post(URL, content=BODY, headers=signed(clock, "r-1")).status_code == 202
    assert (
        http.post(URL, content=BODY, headers=signed(clock, "r-2", secret=fresh)).status_code == 202
    )
    clock.advance(timedelta(seconds=61))
    assert http.post(URL, content=BODY, headers=signed(clock, "r-3")).status_code == 401
    assert (
        http.post(URL, content=BODY, headers=signed(clock, "r-4", secret=fresh)).status_code == 202
    )


def test_bad_bodies_and_unknown_sources(
    hooked: bootstrap.App, http: TestClient, clock: ManualClock
) -> None:
    # Authentic but unusable deliveries are kept as dead letters, with the reason.
    not_json = b"{not json"
    kept = http.post(URL, content=not_json, headers=signed(clock, "b-1", not_json))
    assert kept.status_code == 202 and kept.json()["dead_letter"]
    huge = b'{"x": "' + b"a" * 1_000_001 + b'"}'
    assert http.post(URL, content=huge, headers=signed(clock, "b-2", huge)).status_code == 413
    for url in ("/v1/hooks/default/nope", "/v1/hooks/other-tenant/qms"):
        assert http.post(url, content=BODY, headers=signed(clock, "b-3")).status_code == 404
    unmapped = json.dumps({"plant": "DE-STR"}).encode()
    answer = http.post(URL, content=unmapped, headers=signed(clock, "b-4", unmapped))
    assert answer.status_code == 202 and answer.json()["dead_letter"]
    letters = http.get("/v1/dead-letters", headers=token_for(hooked)).json()
    reasons = sorted(d["reason"] for d in letters)  # same instant: their order is by id
    assert len(reasons) == 2 and reasons[0].startswith("mapping.key")
    assert reasons[1].startswith("the body is not JSON")


def test_the_standard_webhooks_library_and_we_agree(
    hooked: bootstrap.App, http: TestClient, clock: ManualClock
) -> None:
    ours = signed(clock, "lib-1")
    stamp = int(ours["webhook-timestamp"])
    theirs = Webhook(SECRET)
    from datetime import UTC, datetime

    assert (
        theirs.sign("lib-1", datetime.fromtimestamp(stamp, UTC), BODY.decode())
        == ours["webhook-signature"]
    )


def test_a_vendor_hmac_hex_source(hooked: bootstrap.App, http: TestClient) -> None:
    secret = "vendor-shared-secret-123"
    hooked.hooks.add_source(
        hooked.actor(), "vendor", scheme=signing.HMAC_HEX, secret=secret,
        mapping=EventMapping(type="'supplier.scar_response_received'", key="event.ref",
                         id="event.delivery",
                         data="{'ncr_id': event.ref, 'supplier': 'S-1003', 'report': '8D'}"),
        acting_user="svc-qms", signature_header="X-Hub-Signature-256",
    )  # fmt: skip
    body = json.dumps({"ref": "NCR-1", "delivery": "d-77"}).encode()
    good = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    url = "/v1/hooks/default/vendor"
    assert http.post(url, content=body, headers={"X-Hub-Signature-256": good}).status_code == 202
    again = http.post(url, content=body, headers={"X-Hub-Signature-256": good})
    assert again.json()["duplicate"] is True
    bad = "sha256=" + "0" * 64
    assert http.post(url, content=body, headers={"X-Hub-Signature-256": bad}).status_code == 401
    assert http.post(url, content=body).status_code == 401


def test_secrets_are_sealed_in_the_database(
    hooked: bootstrap.App, tmp_path: Path, backend: str
) -> None:
    tables = sorted(schema.metadata.tables)
    everything = repr([rows(hooked, f"SELECT * FROM {table}") for table in tables]).encode()
    if backend == "sqlite":  # the file too, freed pages and write-ahead log included
        wal = tmp_path / "andon.db-wal"
        everything += (tmp_path / "andon.db").read_bytes()
        everything += wal.read_bytes() if wal.exists() else b""
    assert SECRET.encode() not in everything
    assert SECRET.removeprefix("whsec_").encode() not in everything


def test_the_ncr_flow_from_a_qms_webhook_to_the_mrb_decision_over_http(
    hooked: bootstrap.App, http: TestClient, clock: ManualClock
) -> None:
    """What the README shows with curl: a signed webhook starts the run, people log in and
    decide from their inbox."""
    admin = hooked.actor()
    for user, role in (("u-qe", "QE"), ("u-ps", "PS")):
        hooked.directory.create_user(admin, user, user.upper(), password=f"{user} password!")
        hooked.directory.grant(admin, user, role)
    started = http.post(URL, content=BODY, headers=signed(clock, "qms-871")).json()["started"]
    drain(hooked)
    for user in ("u-qe", "u-ps"):
        login = {"tenant": "default", "user": user, "password": f"{user} password!"}
        token = http.post("/v1/session", json=login).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        task = http.get("/v1/tasks", headers=bearer).json()[0]
        assert task["run_id"] == started[0] and task["step"] == "mrb"
        decided = http.post(f"/v1/tasks/{task['task_id']}/decision", headers=bearer,
                            json={"outcome": "approve", "comment": "scrap"})  # fmt: skip
        assert decided.status_code == 200
    drain(hooked)
    run = hooked.service.run(admin, started[0])
    steps = [f.body.get("step") for f in hooked.service.journal(admin, started[0])]
    assert run.status == "running" and "mrb" in steps  # now waiting for the supplier's SCAR


def test_an_authentic_delivery_that_does_not_map_is_kept_and_replayed_after_the_fix(
    hooked: bootstrap.App, http: TestClient, clock: ManualClock
) -> None:
    admin = token_for(hooked)
    renamed = json.dumps({"kind": "ncr", "plant": "DE-STR", "report": NCR}).encode()
    kept = http.post(URL, content=renamed, headers=signed(clock, "msg-9", body=renamed))
    assert kept.status_code == 202 and kept.json()["started"] == []
    letter_id = kept.json()["dead_letter"]
    again = http.post(URL, content=renamed, headers=signed(clock, "msg-9", body=renamed))
    assert again.json()["dead_letter"] == letter_id, "a redelivery is the same letter"
    (letter,) = http.get("/v1/dead-letters", headers=admin).json()
    assert (letter["letter_id"], letter["channel"], letter["stage"], letter["deliveries"]) == (
        letter_id, "webhook:qms", "mapping", 2,
    )  # fmt: skip
    assert "mapping.key" in letter["reason"] and runs(hooked) == []

    still = http.post(f"/v1/dead-letters/{letter_id}/replay", headers=admin)
    assert still.status_code == 422, "the mapping is not fixed yet; the letter stays open"
    fixed = {"type": "'quality.ncr_opened'", "key": "event.report.ncr_id",
             "data": "event.report", "plant": "event.plant"}  # fmt: skip
    put = http.put("/v1/webhook-sources/qms/mapping", json=fixed, headers=admin)
    assert put.status_code == 204, put.text
    replayed = http.post(f"/v1/dead-letters/{letter_id}/replay", headers=admin)
    assert replayed.status_code == 200 and len(replayed.json()["started"]) == 1
    assert runs(hooked) == replayed.json()["started"]
    assert http.post(f"/v1/dead-letters/{letter_id}/replay", headers=admin).status_code == 409
    # The QMS sends it once more: the inbox knows the message id, no second run.
    late = http.post(URL, content=renamed, headers=signed(clock, "msg-9", body=renamed))
    assert late.json()["duplicate"] is True and len(runs(hooked)) == 1


def test_a_delivery_breaking_the_contract_is_kept_with_the_field(
    hooked: bootstrap.App, http: TestClient, clock: ManualClock
) -> None:
    short = {k: v for k, v in NCR.items() if k != "severity"}
    body = json.dumps({"kind": "ncr", "plant": "DE-STR", "ncr": short}).encode()
    kept = http.post(URL, content=body, headers=signed(clock, "msg-10", body=body)).json()
    letter = http.get(f"/v1/dead-letters/{kept['dead_letter']}", headers=token_for(hooked)).json()
    assert letter["stage"] == "contract" and letter["event"]["id"] == "msg-10"
    assert 'data: "severity" is a required property' in letter["reason"]
    discard = http.post(f"/v1/dead-letters/{kept['dead_letter']}/discard",
                        json={"why": "QMS resent it complete"}, headers=token_for(hooked))  # fmt: skip
    assert discard.status_code == 204
    assert http.get("/v1/dead-letters", headers=token_for(hooked)).json() == []
