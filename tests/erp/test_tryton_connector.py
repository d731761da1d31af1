"""The Tryton connector against a real Tryton 8.2 server over JSON-RPC."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from tryton_server import TrytonServer

from andon.actions.registry import ActionCall, ActionRegistry
from andon.connectors import tryton_actions as connector
from andon.connectors.tryton import TrytonClient
from andon.core.json import JsonObject
from andon.errors import ActionError

pytestmark = pytest.mark.erp


def action_call(data: JsonObject, key: str = "run-1", attempt: int = 1) -> ActionCall:
    """Attempt ``attempt`` of step order_bolts in run ``key`` (its first visit, seq 1)."""
    return ActionCall(key, "order_bolts", attempt, f"{key}:order_bolts:1", data, 20.0)


def bolts(server: TrytonServer, description: str = "M8 bolts for line 3") -> JsonObject:
    info = server.template.info
    return {
        "description": description,
        "supplier": str(info["supplier"]),
        "currency": "EUR",
        "requester": str(info["requester"]),
        "supply_date": "2026-12-01",
        "lines": [
            {"product": str(info["product_code"]), "quantity": 500, "unit_price": "0.12"},
            {"product": "Hex bolt M8", "quantity": 40, "unit_price": 0.5, "description": "spare"},
        ],
    }


def client_for(server: TrytonServer, password: str | None = None) -> TrytonClient:
    template = server.template
    return TrytonClient(
        server.url, server.database, template.login, password or template.password, 10.0
    )


def requisitions_with(client: TrytonClient, key: str) -> list[JsonObject]:
    return client.search_read(
        "purchase.requisition", [("description", "like", f"%[andon:{key}:order_bolts:1]")], ["id"]
    )


def test_login_opens_a_session_with_the_users_company(tryton: TrytonServer) -> None:
    with client_for(tryton) as client:
        client.login()
        assert client.context["company"] == tryton.template.info["company"]
        assert client.context["employee.rec_name"] == tryton.template.info["requester"]
        assert client.search_read("company.company", [], ["id"]) == [{"id": 1}]


def test_an_expired_session_logs_in_again(tryton: TrytonServer) -> None:
    with client_for(tryton) as client:
        client.login()
        stale = client._authorization
        client.logout()  # Tryton deletes the session server-side
        client._authorization = stale
        assert client.search_read("company.company", [], ["id"]) == [{"id": 1}]
        assert client._authorization not in (None, stale)


def test_wrong_password_is_a_permanent_error_that_hides_the_password(
    tryton_env: TrytonServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "not-the-Password-4711"
    with client_for(tryton_env, wrong) as client, pytest.raises(ActionError) as caught:
        client.login()
    assert caught.value.permanent
    assert "login refused for user 'andon'" in str(caught.value)
    assert wrong not in str(caught.value) and wrong not in repr(client)
    assert caught.value.__cause__ is None

    monkeypatch.setenv("ANDON_TRYTON_PASSWORD", wrong)
    with pytest.raises(ActionError) as via_action:
        connector.create_purchase_requisition(action_call(bolts(tryton_env)))
    assert via_action.value.permanent and wrong not in str(via_action.value)


def test_created_requisition_is_approved_and_reads_back_as_sent(tryton_env: TrytonServer) -> None:
    created = connector.create_purchase_requisition(action_call(bolts(tryton_env), key="rt:1"))
    assert isinstance(created, dict)
    assert created["state"] == "draft" and created["created"] is True
    requisition_id = created["requisition_id"]

    approved = connector.approve_purchase_requisition(
        action_call({"requisition_id": requisition_id})
    )
    # Without a queue worker Tryton turns an approved requisition into purchase requests
    # in the same request, so it is already "processing".
    assert approved == {
        "requisition_id": requisition_id,
        "number": created["number"],
        "state": "processing",
    }
    again = connector.approve_purchase_requisition(action_call({"requisition_id": requisition_id}))
    assert again == approved

    read = connector.read_purchase_requisition(action_call({"requisition_id": requisition_id}))
    assert isinstance(read, dict)
    assert read["state"] == "processing"
    assert read["approved_by"] == "Ada Requester" and read["employee"] == "Ada Requester"
    assert read["description"] == "M8 bolts for line 3 [andon:rt:1:order_bolts:1]"
    assert (read["currency"], read["total_amount"], read["supply_date"]) == (
        "EUR",
        "80.00",
        "2026-12-01",
    )
    assert read["lines"] == [
        {
            "product": "BOLT-M8",
            "description": None,
            "quantity": 500.0,
            "unit": "u",
            "unit_price": "0.12",
            "supplier": "Acme Fasteners",
        },
        {
            "product": "BOLT-M8",
            "description": "spare",
            "quantity": 40.0,
            "unit": "u",
            "unit_price": "0.5",
            "supplier": "Acme Fasteners",
        },
    ]
    # Tryton's own downstream effect: one purchase request per line, for that quantity.
    with client_for(tryton_env) as client:
        requests = client.search_read(
            "purchase.request",
            [("origin.requisition", "=", requisition_id, "purchase.requisition.line")],
            ["quantity", "party.name", "state"],
            order=[("quantity", "DESC")],
        )
    assert [(r["quantity"], r["state"]) for r in requests] == [(500.0, "draft"), (40.0, "draft")]


def test_a_retried_attempt_finds_its_requisition_instead_of_creating_another(
    tryton_env: TrytonServer,
) -> None:
    key = "run-7%_x"  # LIKE wildcards in the run id must not match other runs
    first = connector.create_purchase_requisition(action_call(bolts(tryton_env), key=key))
    # The next attempt (the first one's answer was lost) finds what the first one made.
    second = connector.create_purchase_requisition(
        action_call(bolts(tryton_env), key=key, attempt=2)
    )
    assert isinstance(first, dict) and isinstance(second, dict)
    assert second == {**first, "created": False}

    other = connector.create_purchase_requisition(action_call(bolts(tryton_env), key="run-7"))
    assert isinstance(other, dict) and other["requisition_id"] != first["requisition_id"]
    with client_for(tryton_env) as client:
        assert len(requisitions_with(client, key)) == 1


def test_tryton_validation_errors_are_permanent_and_name_model_and_method(
    tryton_env: TrytonServer,
) -> None:
    data: JsonObject = {
        "description": "half a bolt",
        "product": "BOLT-M8",
        "quantity": 2.5,
        "unit_price": 1,
    }
    with pytest.raises(ActionError) as caught:
        connector.create_purchase_requisition(action_call(data, key="bad:1"))
    assert caught.value.permanent
    message = str(caught.value)
    assert message.startswith("Tryton purchase.requisition.create refused:")
    assert '"Quantity"' in message and "digits" in message

    with pytest.raises(ActionError, match="no purchasable products matching 'NOPE'") as unknown:
        connector.create_purchase_requisition(
            action_call({**data, "product": "NOPE", "quantity": 2}, key="bad:2")
        )
    assert unknown.value.permanent


def test_an_outage_is_retryable_and_the_retry_works_after_restart(
    own_tryton: TrytonServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in own_tryton.env().items():
        monkeypatch.setenv(name, value)
    before = connector.create_purchase_requisition(action_call(bolts(own_tryton), key="o:1"))
    assert isinstance(before, dict)

    own_tryton.stop()
    call = action_call(bolts(own_tryton), key="o:2")
    with pytest.raises(ActionError, match="cannot reach") as down:
        connector.create_purchase_requisition(call)
    assert down.value.permanent is False
    with pytest.raises(ActionError) as approve_down:
        connector.approve_purchase_requisition(action_call({"requisition_id": 1}))
    assert approve_down.value.permanent is False

    own_tryton.start()
    after = connector.create_purchase_requisition(call)
    assert isinstance(after, dict) and after["created"] is True
    assert after["requisition_id"] != before["requisition_id"]
    approved = connector.approve_purchase_requisition(
        action_call({"requisition_id": after["requisition_id"]})
    )
    assert isinstance(approved, dict) and approved["state"] == "processing"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_a_timeout_is_retryable(silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}"
    with (
        TrytonClient(url, "andon", "andon", "secret-pw", 0.3) as client,
        pytest.raises(ActionError, match=r"timed out after 0\.3s") as caught,
    ):
        client.login()
    assert caught.value.permanent is False and "secret-pw" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_missing_configuration_is_permanent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANDON_TRYTON_URL", raising=False)
    with pytest.raises(ActionError, match="ANDON_TRYTON_URL") as caught:
        connector.read_purchase_requisition(action_call({"requisition_id": 1}))
    assert caught.value.permanent


def test_register_adds_the_three_actions() -> None:
    registry = ActionRegistry()
    connector.register(registry)
    assert registry.names() == [
        "tryton.approve_purchase_requisition",
        "tryton.create_purchase_requisition",
        "tryton.read_purchase_requisition",
    ]
