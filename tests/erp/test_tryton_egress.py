"""The Tryton connector from the attacker's side: its URL goes through the same egress
policy as every other outbound call. Real listeners count the connections they accept: a
denied address sees none, a redirect is not followed, and only an allow-list (the
process's, or the run's tenant's) lets the actions reach a Tryton on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from test_tryton_connector import action_call, bolts
from tryton_server import TrytonServer

from andon import egress
from andon.actions.registry import ActionCall, ActionRegistry
from andon.connectors import tryton_actions as connector
from andon.connectors.tryton import TrytonClient
from andon.errors import ActionError
from egress_support import Listener, answer

pytestmark = pytest.mark.erp

PASSWORD = "s3cret-Tryton-pw"


@pytest.fixture
def loopback_denied(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo the erp suite's allow-listing: loopback is internal like any private network."""
    monkeypatch.delenv("ANDON_EGRESS_ALLOW", raising=False)
    monkeypatch.delenv("ANDON_WEBHOOK_ALLOW", raising=False)


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener("127.0.0.1")
    yield found
    found.close()


def login_failure(url: str) -> ActionError:
    with (
        TrytonClient(url, "andon", "andon", PASSWORD, 2.0) as client,
        pytest.raises(ActionError) as failed,
    ):
        client.login()
    return failed.value


@pytest.mark.usefixtures("loopback_denied")
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_tryton_url_on_loopback_is_refused_without_a_connection(
    listener: Listener, host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://{host}:{listener.port}"
    failure = login_failure(url)
    message = str(failure)
    assert failure.permanent, "a refused address does not get better by retrying"
    assert f"{url}/andon/rpc/" in message and "internal address 127.0.0.1" in message
    assert "ANDON_EGRESS_ALLOW" in message and "andon egress allow" in message
    assert PASSWORD not in message and failure.__cause__ is None

    monkeypatch.setenv("ANDON_TRYTON_URL", url)
    for name, value in {"DB": "andon", "USER": "andon", "PASSWORD": PASSWORD}.items():
        monkeypatch.setenv(f"ANDON_TRYTON_{name}", value)
    registry = ActionRegistry()
    connector.register(registry)
    call = ActionCall("run-1", "read", 1, "run-1:read:1", {"requisition_id": 1}, 2.0)
    with pytest.raises(ActionError, match="internal address") as via_action:
        registry.get("tryton.read_purchase_requisition")(call)
    assert via_action.value.permanent
    assert listener.accepted == 0


@pytest.mark.usefixtures("loopback_denied")
def test_the_metadata_address_is_refused() -> None:
    # Nothing listens there; without the policy this would be a retryable timeout.
    failure = login_failure("http://169.254.169.254")
    assert failure.permanent and "internal address 169.254.169.254" in str(failure)


def test_a_redirect_is_not_followed(listener: Listener) -> None:
    """Even to an allowed address: Tryton never redirects, so a 3xx is somebody else."""
    moved = f"{listener.url}/andon/rpc/"
    hop = Listener(
        "127.0.0.1",
        answer(f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {moved}\r\n\r\n".encode()),
    )
    failure = login_failure(hop.url)
    hop.close()
    assert failure.permanent and moved in str(failure) and "not followed" in str(failure)
    assert PASSWORD not in str(failure) and failure.__cause__ is None
    assert (hop.accepted, listener.accepted) == (1, 0)


@pytest.mark.usefixtures("loopback_denied")
def test_the_runs_tenant_allow_list_reaches_tryton_and_no_other_tenants(
    tryton_env: TrytonServer,
) -> None:
    loopback = egress.networks(["127.0.0.1/32"])
    registry = ActionRegistry(allowed=lambda tenant: loopback if tenant == "plant-a" else ())
    connector.register(registry)
    create = registry.get("tryton.create_purchase_requisition")

    def as_tenant(tenant: str) -> ActionCall:
        return replace(action_call(bolts(tryton_env), key=f"egress-{tenant}"), tenant_id=tenant)

    created = create(as_tenant("plant-a"))
    assert isinstance(created, dict) and created["created"] is True
    with pytest.raises(ActionError, match=r"internal address 127\.0\.0\.1") as refused:
        create(as_tenant("plant-b"))
    assert refused.value.permanent
