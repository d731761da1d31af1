"""Named connections: settings people may read, a secret only actions get, each change
chained in the administrative log without the secret."""

from __future__ import annotations

import json
from typing import Any

import pytest

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.core.json import JsonObject
from andon.errors import ActionError, GovernanceError, InputError, NotFoundError
from andon.governance import authz
from andon.testing import person, tenant_reader
from backends import rows

TOKEN = "tok-3f9a-very-secret"
ERP: JsonObject = {"url": "https://erp.plant.example/api/", "auth": "bearer", "timeout_s": 5}


def call(tenant: str = "default") -> ActionCall:
    return ActionCall("run-1", "post", 1, "run-1:post:1", {}, None, tenant_id=tenant)


def everything_stored(app: bootstrap.App) -> str:
    """Every row that could hold the secret: connections and the administrative log."""
    stored = rows(app, "SELECT * FROM connections") + rows(app, "SELECT * FROM admin_log")
    return json.dumps([list(map(str, r)) for r in stored])


def test_a_connection_is_set_read_without_its_secret_and_resolved_with_it(
    app: bootstrap.App,
) -> None:
    admin = app.actor()
    info = app.connections.set_connection(admin, "erp", "http", ERP, TOKEN)
    assert info.settings == {
        "url": "https://erp.plant.example/api",
        "auth": "bearer",
        "headers": {},
        "timeout_s": 5.0,
    }
    assert info.has_secret
    listed = app.connections.connections(admin)
    assert [(c.name, c.kind, c.has_secret) for c in listed] == [("erp", "http", True)]
    shown = app.connections.connection(admin, "erp")
    resolved = app.connections.resolve("default", "erp")
    assert resolved.secret is not None and resolved.secret.reveal() == TOKEN
    for text in (repr(info), repr(listed), repr(shown), repr(resolved), str(resolved.secret)):
        assert TOKEN not in text
    assert TOKEN not in everything_stored(app)
    with tenant_reader(app) as reader:
        entry = [a for a in reader.admin_log() if a.action == "connection.set"][-1]
    assert entry.subject == "erp" and entry.body["secret"] == "set"
    assert entry.body["settings"] == info.settings


def test_setting_again_keeps_the_secret_unless_a_new_one_is_given(app: bootstrap.App) -> None:
    admin = app.actor()
    app.connections.set_connection(admin, "erp", "http", ERP, TOKEN)
    app.connections.set_connection(admin, "erp", "http", {**ERP, "timeout_s": 9})
    kept = app.connections.resolve("default", "erp")
    assert kept.secret is not None and kept.secret.reveal() == TOKEN
    assert kept.settings["timeout_s"] == 9.0
    app.connections.set_connection(admin, "erp", "http", ERP, "tok-new")
    replaced = app.connections.resolve("default", "erp").secret
    assert replaced is not None and replaced.reveal() == "tok-new"
    # Without auth the secret is dropped; a secret with no use is refused.
    app.connections.set_connection(admin, "erp", "http", {"url": ERP["url"]})
    assert app.connections.resolve("default", "erp").secret is None
    with pytest.raises(InputError, match="takes no secret"):
        app.connections.set_connection(admin, "erp", "http", {"url": ERP["url"]}, TOKEN)
    with pytest.raises(InputError, match="needs a secret"):
        app.connections.set_connection(admin, "erp", "http", ERP)
    with tenant_reader(app) as reader:
        states = [a.body["secret"] for a in reader.admin_log() if a.action == "connection.set"]
    assert states == ["set", "kept", "set", "none"]


@pytest.mark.parametrize(
    ("kind", "settings", "problem"),
    [
        ("ftp", {"url": "ftp://x"}, "kind must be one of http, smtp"),
        ("http", {"url": "ftp://erp"}, "must be an http"),
        ("http", {"url": "https://u:p@erp.example"}, "may not carry credentials"),
        ("http", {"url": "https://erp.example/?key=1"}, "no query"),
        ("http", {"url": "https://erp.example", "auth": "digest"}, "auth must be one of"),
        ("http", {"url": "https://erp.example", "auth": "basic"}, "username is required"),
        ("http", {"url": "https://erp.example", "username": "u"}, "basic only"),
        ("http", {"url": "https://erp.example", "headers": {"Authorization": "x"}}, "secret"),
        ("http", {"url": "https://erp.example", "headers": {"bad name": "x"}}, "header name"),
        ("http", {"url": "https://erp.example", "timeout_s": 0}, "timeout_s"),
        ("http", {"url": "https://erp.example", "proxy": "x"}, "unknown http setting"),
        ("smtp", {"host": "mail"}, "from is required"),
        ("smtp", {"host": "mail", "from": "andon"}, "not an email address"),
        ("smtp", {"host": "mail", "from": "a@b", "port": 70000}, "port"),
        ("smtp", {"host": "mail\r\nRCPT TO:<x@y>", "from": "a@b"}, "host is required"),
    ],
)
def test_bad_settings_are_named(
    app: bootstrap.App, kind: str, settings: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InputError, match=problem):
        app.connections.set_connection(app.actor(), "c1", kind, settings)
    assert rows(app, "SELECT name FROM connections") == []


def test_api_key_and_smtp_defaults(app: bootstrap.App) -> None:
    admin = app.actor()
    keyed: JsonObject = {"url": "http://mes.local", "auth": "api-key"}
    info = app.connections.set_connection(admin, "mes", "http", keyed, "k-123")
    assert info.settings["header"] == "X-API-Key"
    mail = app.connections.set_connection(admin, "mail", "smtp", {"host": "mx", "from": "a@b.c"})
    assert mail.settings == {"host": "mx", "port": 587, "from": "a@b.c", "starttls": True}
    assert not mail.has_secret
    plain: JsonObject = {"host": "mx", "from": "a@b.c", "starttls": False, "username": "andon"}
    login = app.connections.set_connection(admin, "mail", "smtp", plain, "pw")
    assert login.settings["port"] == 25 and login.has_secret


def test_actions_get_only_their_run_tenants_connections_of_the_right_kind(
    app: bootstrap.App,
) -> None:
    app.connections.set_connection(app.actor(), "erp", "http", ERP, TOKEN)
    app.directory.create_tenant("acme-b", "Other")
    found = app.actions.connection(call(), "erp", "http")
    assert found.name == "erp"
    with pytest.raises(ActionError, match="no connection 'erp'") as elsewhere:
        app.actions.connection(call("acme-b"), "erp", "http")
    assert elsewhere.value.permanent
    with pytest.raises(ActionError, match="is a http connection, not smtp") as mistyped:
        app.actions.connection(call(), "erp", "smtp")
    assert mistyped.value.permanent
    app.connections.delete_connection(app.actor(), "erp")
    with pytest.raises(ActionError, match="no connection 'erp'"):
        app.actions.connection(call(), "erp", "http")
    with pytest.raises(NotFoundError):
        app.connections.delete_connection(app.actor(), "erp")


def test_writing_needs_secrets_manage_and_reading_template_read(app: bootstrap.App) -> None:
    app.connections.set_connection(app.actor(), "erp", "http", ERP, TOKEN)
    owner = person(app, "olga", authz.PROCESS_OWNER)
    with pytest.raises(GovernanceError, match=r"may not secrets\.manage"):
        app.connections.set_connection(owner, "erp", "http", {"url": "https://evil.example"})
    with pytest.raises(GovernanceError, match=r"may not secrets\.manage"):
        app.connections.delete_connection(owner, "erp")
    assert [c.name for c in app.connections.connections(owner)] == ["erp"]
    nobody = person(app, "quinn")  # no role at all
    with pytest.raises(GovernanceError, match=r"may not template\.read"):
        app.connections.connection(nobody, "erp")
    assert app.connections.resolve("default", "erp").settings["url"] == str(ERP["url"]).rstrip("/")
