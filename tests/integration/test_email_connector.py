"""``email.send`` against a real SMTP server (aiosmtpd) on a free local port: the message
as received, the login, which refusals are permanent, and no password in any log."""

from __future__ import annotations

import base64
import datetime
import email
import email.policy
import json
import logging
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.errors import ActionError
from andon.runtime.service import StartRequest
from andon.runtime.worker import WorkerSettings
from andon.testing import publish, tenant_reader
from backends import rows

PASSWORD = "smtp-pw-4b7d-never-logged"
FORMS = (PASSWORD, base64.b64encode(PASSWORD.encode()).decode())


@dataclass
class Mailbox:
    port: int
    received: list[Any] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    def settings(self, **more: Any) -> dict[str, Any]:
        base = {"host": "127.0.0.1", "port": self.port, "from": "andon@plant.example"}
        return {**base, "starttls": False, "timeout_s": 5, **more}


class Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("busy@"):
            return "450 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.box.received.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(box: Mailbox, **kwargs: Any) -> Controller:
    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        box.logins.append((login, password))
        return AuthResult(success=(login, password) == ("andon", PASSWORD), handled=False)

    controller = Controller(
        Handler(box), hostname="127.0.0.1", port=box.port, authenticator=authenticate,
        auth_require_tls=False, auth_exclude_mechanism=["LOGIN"], **kwargs,
    )  # fmt: skip
    # (smtplib falls back from PLAIN to LOGIN, which aiosmtpd 1.4 leaves hanging.)
    controller.start()
    return controller


@pytest.fixture(autouse=True)
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SMTP server is on loopback, which egress refuses unless explicitly allowed."""
    monkeypatch.setenv("ANDON_EGRESS_ALLOW", "127.0.0.1/32")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = serve(box)
    yield box
    controller.stop()


def send(app: bootstrap.App, **step_input: Any) -> Any:
    call = ActionCall("run-9", "notify", 1, "run-9:notify:1", step_input, None)
    return app.actions.get("email.send")(call)


def refused(app: bootstrap.App, **step_input: Any) -> ActionError:
    with pytest.raises(ActionError) as failed:
        send(app, **step_input)
    assert not any(form in str(failed.value) for form in FORMS)
    return failed.value


NOTE = {"connection": "mail", "subject": "NCR-00871 needs your decision", "body": "Lot L1.\n"}


def test_a_message_is_received_with_its_headers_and_body_and_no_password_is_logged(
    app: bootstrap.App, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    settings = mailbox.settings(username="andon")
    app.connections.set_connection(app.actor(), "mail", "smtp", settings, PASSWORD)
    caplog.set_level(logging.DEBUG)
    got = send(app, **NOTE, to=["qe@plant.example", "qam@plant.example"])
    assert mailbox.logins == [("andon", PASSWORD)]  # the password did travel, to the server
    (sender, recipients, message), *_ = mailbox.received
    assert sender == "andon@plant.example"
    assert recipients == ["qe@plant.example", "qam@plant.example"]
    assert message["From"] == "andon@plant.example"
    assert message["To"] == "qe@plant.example, qam@plant.example"
    assert message["Subject"] == "NCR-00871 needs your decision"
    assert message["X-Andon-Run"] == "run-9"
    assert message["Message-ID"] == got["message_id"]
    assert message["Message-ID"].endswith("@plant.example>")
    assert message.get_content().replace("\r\n", "\n") == "Lot L1.\n"
    assert got["to"] == recipients
    # Sent again (a redelivered attempt): the same Message-ID, so it reads as a duplicate.
    assert send(app, **NOTE, to="qe@plant.example")["message_id"] == got["message_id"]
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in ours)
    assert not any(form in logged for form in FORMS)


def test_recipient_refusals_5xx_permanent_4xx_retried(app: bootstrap.App, mailbox: Mailbox) -> None:
    app.connections.set_connection(app.actor(), "mail", "smtp", mailbox.settings())
    unknown = refused(app, **NOTE, to="nobody@plant.example")
    assert unknown.permanent and "nobody@plant.example (550)" in str(unknown)
    busy = refused(app, **NOTE, to="busy@plant.example")
    assert not busy.permanent and "(450)" in str(busy)
    # One refused, one took it: a retry would send it twice, so it is not retried.
    partial = refused(app, **NOTE, to=["qe@plant.example", "busy@plant.example"])
    assert partial.permanent
    assert [r for _, r, _ in mailbox.received] == [["qe@plant.example"]]


def test_a_wrong_password_is_permanent_and_not_echoed(app: bootstrap.App, mailbox: Mailbox) -> None:
    settings = mailbox.settings(username="andon")
    app.connections.set_connection(app.actor(), "mail", "smtp", settings, "wrong-" + PASSWORD)
    failed = refused(app, **NOTE, to="qe@plant.example")
    assert failed.permanent and "refused the login 535" in str(failed)
    assert "wrong-" not in str(failed) and not mailbox.received


def test_no_server_is_retried_and_a_missing_starttls_is_permanent(
    app: bootstrap.App, mailbox: Mailbox
) -> None:
    closed = Mailbox(free_port()).settings()
    app.connections.set_connection(app.actor(), "mail", "smtp", closed)
    assert not refused(app, **NOTE, to="qe@plant.example").permanent
    app.connections.set_connection(app.actor(), "mail", "smtp", mailbox.settings(starttls=True))
    clear = refused(app, **NOTE, to="qe@plant.example")
    assert clear.permanent and "offers no STARTTLS" in str(clear)
    assert not mailbox.received  # never sent in clear when STARTTLS was asked for


def test_starttls_to_a_certificate_nobody_vouches_for_is_refused(
    app: bootstrap.App, tmp_path: Path
) -> None:
    box = Mailbox(free_port())
    controller = serve(box, tls_context=self_signed(tmp_path))
    try:
        app.connections.set_connection(app.actor(), "mail", "smtp", box.settings(starttls=True))
        failed = refused(app, **NOTE, to="qe@plant.example")
    finally:
        controller.stop()
    assert failed.permanent and "TLS failed" in str(failed)
    assert not box.received


def test_bad_input_is_permanent(app: bootstrap.App, mailbox: Mailbox) -> None:
    app.connections.set_connection(app.actor(), "mail", "smtp", mailbox.settings())
    for bad in (
        {**NOTE, "to": []},
        {**NOTE, "to": "not-an-address"},
        {**NOTE, "to": "a@b", "subject": "two\r\nBcc: everyone@plant.example"},
        {**NOTE, "to": "a@b", "body": 42},
        {**NOTE, "to": "a@b", "connection": "nowhere"},
    ):
        assert refused(app, **bad).permanent
    assert not mailbox.received


NOTIFY = """
id: notify
version: 1
input: {type: object, properties: {lot: {type: string}}}
steps:
  - id: mail
    kind: action
    action: email.send
    input:
      connection: "'mail'"
      to: "'qe@plant.example'"
      subject: "'Lot ' + input.lot + ' blocked'"
      body: "'Lot ' + input.lot + ' is blocked until the MRB decides.'"
    retry: {max_attempts: 1}
  - {id: done, kind: end, outcome: sent}
"""


def test_a_run_notifies_through_its_tenants_smtp_connection(
    app: bootstrap.App, mailbox: Mailbox
) -> None:
    settings = mailbox.settings(username="andon")
    app.connections.set_connection(app.actor(), "mail", "smtp", settings, PASSWORD)
    publish(app.service, app.actor(), NOTIFY)
    run_id = app.service.start_run(app.actor(), StartRequest("notify", {"lot": "L7"}))
    worker = app.worker(WorkerSettings(threads=1))
    while worker.run_once():
        pass
    worker.close()
    (_, _, message), *_ = mailbox.received
    assert message["Subject"] == "Lot L7 blocked"
    with tenant_reader(app) as reader:
        run = reader.run(run_id)
    assert run is not None and run.status == "completed"
    stored = rows(app, "SELECT * FROM run_events") + rows(app, "SELECT * FROM admin_log")
    stored += rows(app, "SELECT * FROM connections")
    assert not any(form in json.dumps([list(map(str, r)) for r in stored]) for form in FORMS)


def self_signed(tmp_path: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context
