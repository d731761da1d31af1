"""Egress from the attacker's side: real listeners on denied addresses count every
connection they accept, and no trick (a URL from run input, DNS rebinding, a redirect, an
IPv6 form embedding 127.x) may make one of them see a single connection. Allow-listed
loopback still works, pooled; answers are capped in size and in total time."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from andon import bootstrap, egress
from andon.actions.registry import ActionCall
from andon.egress import EgressClient, EgressDenied, Policy
from andon.errors import ActionError, GovernanceError
from andon.runtime.service import StartRequest
from andon.runtime.worker import WorkerSettings
from andon.testing import publish, tenant_reader
from backends import BACKENDS, rows, settings_for
from egress_support import OK, Listener, answer, read_request
from flows import REVIEW_FLOW


@pytest.fixture
def denied() -> Iterator[list[Listener]]:
    """Listeners on loopback aliases and ::1 that nothing is allowed to reach."""
    found = [Listener("127.0.0.2"), Listener("127.0.0.3")]
    with contextlib.suppress(OSError):  # no IPv6 loopback here: the IPv4 ones suffice
        found.append(Listener("::1"))
    yield found
    for listener in found:
        listener.close()
    assert [listener.accepted for listener in found] == [0] * len(found)


def fetch(app: bootstrap.App, url: str) -> ActionError:
    call = ActionCall("run-1", "fetch", 1, "run-1:fetch:1", {"url": url, "method": "GET"}, 5.0)
    with pytest.raises(ActionError) as failed:
        app.actions.get("http.request")(call)
    return failed.value


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1",
        "192.0.0.8", "192.0.2.1", "198.51.100.1", "203.0.113.1", "198.18.0.1", "::1", "::",
        "fe80::1", "fc00::1", "fec0::1", "ff02::1", "ff0e::1", "2001:db8::1", "100::1",
        "::ffff:127.0.0.1", "::127.0.0.1", "2002:7f00:1::1", "2002:a9fe:a9fe::",
        "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1",
    ],
)  # fmt: skip
def test_every_special_purpose_range_is_denied(address: str) -> None:
    assert egress.denied_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "64:ff9b::5db8:d822"])
def test_public_addresses_pass(address: str) -> None:
    assert egress.denied_reason(ipaddress.ip_address(address)) is None


def test_a_url_from_run_input_cannot_reach_a_denied_listener(
    app: bootstrap.App, denied: list[Listener]
) -> None:
    for listener in denied:
        failure = fetch(app, f"{listener.url}/latest/meta-data/iam")
        assert failure.permanent and "internal address" in str(failure)


@pytest.mark.parametrize(
    "form", ["::ffff:127.0.0.2", "::127.0.0.2", "2002:7f00:2::1", "64:ff9b::7f00:2"]
)
def test_ipv6_forms_embedding_loopback_are_refused(
    app: bootstrap.App, denied: list[Listener], form: str
) -> None:
    failure = fetch(app, f"http://[{form}]:{denied[0].port}/")
    assert "127.0.0.2" in str(failure) and "internal address" in str(failure)


def test_a_rebinding_resolver_gains_nothing(denied: list[Listener]) -> None:
    answers = iter([["93.184.216.34"], [denied[0].host]])
    policy = Policy(resolver=lambda host, port: next(answers))
    policy.check_url(f"http://rebind.example:{denied[0].port}/")  # the check: public
    client = EgressClient(policy)
    with pytest.raises(EgressDenied, match=r"resolves to internal address 127\.0\.0\.2"):
        client.request("GET", f"http://rebind.example:{denied[0].port}/", timeout=5)
    client.close()


def test_one_denied_answer_among_public_ones_refuses_the_host(denied: list[Listener]) -> None:
    policy = Policy(resolver=lambda host, port: ["93.184.216.34", denied[0].host])
    client = EgressClient(policy)
    with pytest.raises(EgressDenied):
        client.request("GET", f"http://mixed.example:{denied[0].port}/", timeout=5)
    client.close()


def test_a_redirect_to_a_denied_listener_is_a_failure_naming_it(
    app: bootstrap.App, denied: list[Listener], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = f"{denied[0].url}/latest/meta-data/iam"
    hop = Listener(
        "127.0.0.1",
        answer(f"HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n".encode()),
    )
    monkeypatch.setenv("ANDON_EGRESS_ALLOW", "127.0.0.1/32")
    failure = fetch(app, f"{hop.url}/start")
    hop.close()
    assert failure.permanent and target in str(failure) and "not followed" in str(failure)
    assert hop.accepted == 1


def test_allow_listed_loopback_works_only_through_the_explicit_setting(
    app: bootstrap.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    allowed = Listener("127.0.0.1")
    monkeypatch.delenv("ANDON_EGRESS_ALLOW", raising=False)
    monkeypatch.delenv("ANDON_WEBHOOK_ALLOW", raising=False)
    assert "internal address" in str(fetch(app, allowed.url))
    assert allowed.accepted == 0
    monkeypatch.setenv("ANDON_EGRESS_ALLOW", "127.0.0.1/32")
    call = ActionCall(
        "run-1", "fetch", 1, "run-1:fetch:1", {"url": allowed.url, "method": "GET"}, 5.0
    )
    assert app.actions.get("http.request")(call) == {"status": 200, "body": {"secret": "x"}}
    allowed.close()


def test_a_run_cannot_fetch_metadata_into_its_journal(
    app: bootstrap.App, denied: list[Listener]
) -> None:
    publish(app.service, app.actor(), FETCH_URL)
    run_id = app.service.start_run(
        app.actor(), StartRequest("fetch-url", {"url": f"{denied[0].url}/latest/meta-data/iam"})
    )
    worker = app.worker(WorkerSettings(threads=1))
    while worker.run_once():
        pass
    worker.close()
    with tenant_reader(app) as reader:
        run = reader.run(run_id)
    assert run is not None and run.status == "incident"  # a permanent failure, for people
    journal = json.dumps([list(map(str, r)) for r in rows(app, "SELECT * FROM run_events")])
    assert "internal address 127.0.0.2" in journal and "secret" not in journal


def test_a_webhook_to_a_denied_address_is_refused_at_subscription(
    app: bootstrap.App, denied: list[Listener]
) -> None:
    with pytest.raises(GovernanceError, match="internal address"):
        app.notifier.subscribe(app.actor(), f"{denied[0].url}/hook", ["*"], "whsec_" + "a" * 32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_webhooks_reach_loopback_only_through_the_explicit_setting(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Listener("127.0.0.1", answer(b"HTTP/1.1 204 No Content\r\n\r\n"))
    monkeypatch.setenv("ANDON_EGRESS_ALLOW", "127.0.0.1/32")
    with settings_for(backend, tmp_path) as settings:
        built = bootstrap.build(settings)
        admin = built.actor()
        publish(built.service, admin, REVIEW_FLOW)
        built.notifier.subscribe(admin, f"{receiver.url}/hook", ["*"], "whsec_" + "b" * 32)
        built.service.start_run(admin, StartRequest("review", {}))
        worker = built.worker(WorkerSettings(threads=1))
        while worker.run_once():
            pass
        worker.close()
        (delivery,) = built.notifier.deliveries(admin)
        built.close()
    receiver.close()
    assert (delivery.status, receiver.accepted) == ("delivered", 1)


def test_a_huge_answer_is_cut_at_the_cap() -> None:
    size = 50 * 1024 * 1024
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode()

    def flood(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(head)
        block = b"x" * 65536
        for _ in range(size // len(block)):
            conn.sendall(block)

    big = Listener("127.0.0.1", flood)
    client = EgressClient(Policy(egress.networks(["127.0.0.1/32"])), max_bytes=1024 * 1024)
    with pytest.raises(httpx.DecodingError, match="larger than 1048576 bytes"):
        client.request("GET", big.url, timeout=20)
    client.close()
    big.close()


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_slow_drip_is_cut_at_the_total_time(where: str) -> None:
    stop = threading.Event()

    def drip(conn: socket.socket) -> None:
        read_request(conn)
        if where == "body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while not stop.wait(0.05):  # each read gets a byte well within any per-read timeout
            conn.sendall(b"x" if where == "body" else b"X-Drip: x\r\n")

    slow = Listener("127.0.0.1", drip)
    client = EgressClient(Policy(egress.networks(["127.0.0.1/32"])))
    started = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        client.request("GET", slow.url, timeout=1.0)
    assert time.monotonic() - started < 5.0  # one deadline, not one per read
    stop.set()
    client.close()
    slow.close()


def test_connections_are_pooled_one_per_origin() -> None:
    server = Listener("127.0.0.1", answer(OK, keep_alive=True))
    client = EgressClient(Policy(egress.networks(["127.0.0.1/32"])))
    for _ in range(3):
        assert client.request("GET", server.url, timeout=5).status == 200
    assert server.accepted == 1
    client.close()
    server.close()


def test_tls_verifies_the_urls_hostname_and_sends_it_as_sni(tmp_path: Path) -> None:
    names: list[str | None] = []
    server_context = _certificate(tmp_path, "erp.plant.test")
    server_context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,misc]
    seen: list[bytes] = []

    def tls(conn: socket.socket) -> None:
        with server_context.wrap_socket(conn, server_side=True) as wrapped:
            data = wrapped.recv(4096)
            seen.append(data)
            wrapped.sendall(OK)

    server = Listener("127.0.0.1", tls)
    trust = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    policy = Policy(egress.networks(["127.0.0.1/32"]), resolver=lambda host, port: ["127.0.0.1"])
    client = EgressClient(policy, context=trust)
    reply = client.request("GET", f"https://erp.plant.test:{server.port}/x", timeout=5)
    assert reply.status == 200 and names == ["erp.plant.test"]
    assert f"host: erp.plant.test:{server.port}".encode() in seen[0].lower()
    with pytest.raises(httpx.ConnectError, match="certificate"):
        client.request("GET", f"https://other.plant.test:{server.port}/x", timeout=5)
    client.close()
    server.close()


def _certificate(tmp_path: Path, hostname: str) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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


FETCH_URL = """
id: fetch-url
version: 1
input: {type: object, properties: {url: {type: string}}}
steps:
  - id: fetch
    kind: action
    action: http.request
    input:
      url: "input.url"
      method: "'GET'"
    retry: {max_attempts: 1}
  - {id: done, kind: end, outcome: fetched}
"""
