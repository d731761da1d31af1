"""A tenant's egress allow-list from the attacker's side: a listener on 127.0.0.2 counts
the connections it accepts; tenant A's entry lets A's runs reach it and never B's, removing
it denies A again, and only A's administrators can change it, each change chained."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from test_egress import FETCH_URL
from test_email_connector import Mailbox, free_port, serve
from typer.testing import CliRunner, Result

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.cli import main
from andon.errors import ActionError, GovernanceError, InputError
from andon.governance import authz
from andon.governance.identity import Actor
from andon.runtime.service import StartRequest
from andon.runtime.worker import WorkerSettings
from andon.testing import person, publish, tenant_reader
from backends import rows
from egress_support import Listener

B = "acme-b"
MES = "127.0.0.2/32"


@pytest.fixture
def mes() -> Iterator[Listener]:
    """The plant's MES: internal, so denied unless a tenant allow-lists it."""
    listener = Listener("127.0.0.2")
    yield listener
    listener.close()


def fetch(app: bootstrap.App, actor: Actor, url: str) -> str:
    """Run ``http.request`` against ``url`` as ``actor``'s tenant; the run's status."""
    run_id = app.service.start_run(actor, StartRequest("fetch-url", {"url": url}))
    worker = app.worker(WorkerSettings(threads=1))
    while worker.run_once():
        pass
    worker.close()
    with tenant_reader(app, actor.tenant_id) as reader:
        run = reader.run(run_id)
    assert run is not None
    return run.status


def test_only_the_tenant_that_allow_lists_a_network_reaches_it(
    app: bootstrap.App, mes: Listener
) -> None:
    a = app.actor()
    app.directory.create_tenant(B, "Other manufacturer")
    b = person(app, "mallory", authz.TENANT_ADMIN, authz.PROCESS_OWNER, tenant=B)
    for actor in (a, b):
        publish(app.service, actor, FETCH_URL)
    assert fetch(app, a, f"{mes.url}/orders") == "incident"  # denied by default
    assert mes.accepted == 0

    app.egress_allow.allow(a, MES, "line 1 MES")
    assert fetch(app, b, f"{mes.url}/orders") == "incident"  # A's entry is not B's
    assert mes.accepted == 0
    assert fetch(app, a, f"{mes.url}/orders") == "completed"
    assert mes.accepted == 1

    app.egress_allow.deny(a, MES)
    assert fetch(app, a, f"{mes.url}/orders") == "incident"  # denied again at once
    assert mes.accepted == 1
    journal = json.dumps([list(map(str, r)) for r in rows(app, "SELECT * FROM run_events")])
    assert "internal address 127.0.0.2" in journal

    acts = [(e.action, e.subject) for e in app.directory.admin_log(a)]
    assert acts[-2:] == [("egress.allowed", MES), ("egress.denied", MES)]
    assert app.directory.admin_log(a)[-2].body == {"reason": "line 1 MES"}
    assert app.auditor.verify("default").ok


def test_webhooks_of_the_tenant_use_its_list(app: bootstrap.App, mes: Listener) -> None:
    a = app.actor()
    app.directory.create_tenant(B, "Other manufacturer")
    b = person(app, "mallory", authz.TENANT_ADMIN, tenant=B)
    app.egress_allow.allow(a, MES)
    app.notifier.subscribe(a, f"{mes.url}/hook", ["*"], "whsec_" + "a" * 32)
    with pytest.raises(GovernanceError, match=r"internal address 127\.0\.0\.2"):
        app.notifier.subscribe(b, f"{mes.url}/hook", ["*"], "whsec_" + "b" * 32)


def test_only_administrators_change_the_list(app: bootstrap.App) -> None:
    owner = person(app, "olga", authz.PROCESS_OWNER, authz.OPERATOR, authz.AUDITOR)
    before = app.directory.admin_log(app.actor())
    with pytest.raises(GovernanceError):
        app.egress_allow.allow(owner, MES, "mine")
    with pytest.raises(GovernanceError):
        app.egress_allow.entries(owner)
    assert app.egress_allow.entries(app.actor()) == []
    assert app.egress_allow.networks("default") == ()
    assert app.directory.admin_log(app.actor()) == before


def test_a_bad_entry_is_named(app: bootstrap.App) -> None:
    with pytest.raises(InputError, match=r"'10\.0\.0\.300/8' is not a network"):
        app.egress_allow.allow(app.actor(), "10.0.0.300/8")


def test_the_cli_allows_lists_and_denies_and_the_chain_verifies(tmp_path: Path) -> None:
    env = {"ANDON_DATABASE_URL": f"sqlite:///{tmp_path / 'andon.db'}"}
    cli = CliRunner()

    def andon(*args: str) -> Result:
        return cli.invoke(main.app, list(args), env=env, catch_exceptions=False)

    added = andon("egress", "allow", "10.20.0.0/16", "--reason", "line 1 MES")
    assert added.exit_code == 0 and "allowed 10.20.0.0/16" in added.output
    listed = andon("egress", "list").output
    assert "10.20.0.0/16" in listed and "line 1 MES" in listed
    bad = andon("egress", "allow", "mes.plant")
    assert bad.exit_code == 1 and "'mes.plant' is not a network" in bad.output
    assert andon("egress", "deny", "10.20.0.0/16").exit_code == 0
    assert "10.20.0.0/16" not in andon("egress", "list").output
    missing = andon("egress", "deny", "10.20.0.0/16")
    assert missing.exit_code == 1 and "not on the egress allow-list" in missing.output
    verified = andon("audit", "verify")
    assert verified.exit_code == 0, verified.output


def test_email_of_a_tenant_reaches_its_allow_listed_server_only(app: bootstrap.App) -> None:
    box = Mailbox(free_port())  # on 127.0.0.1: denied unless allow-listed
    controller = serve(box)
    try:
        app.directory.create_tenant(B, "Other manufacturer")
        b = person(app, "mallory", authz.TENANT_ADMIN, tenant=B)
        for actor in (app.actor(), b):
            app.connections.set_connection(actor, "mail", "smtp", box.settings())
        app.egress_allow.allow(app.actor(), "127.0.0.1/32", "plant relay")
        note = {"connection": "mail", "to": "qe@plant.example", "subject": "s", "body": "b"}
        call = ActionCall("run-1", "notify", 1, "run-1:notify:1", note, None, B)
        with pytest.raises(ActionError, match=r"refused: .*internal address 127\.0\.0\.1"):
            app.actions.get("email.send")(call)
        assert box.received == []
        app.actions.get("email.send")(replace(call, tenant_id="default"))
        assert len(box.received) == 1
    finally:
        controller.stop()
