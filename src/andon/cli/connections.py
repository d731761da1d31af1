"""``andon connections``: a tenant's named connections for actions (secrets read from stdin,
never shown); ``andon secrets``: rotating and retiring the keys that seal them."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from andon.cli.shell import AsUser, InTenant, fail, out, session
from andon.core.json import JsonObject
from andon.runtime.connections import ConnectionInfo
from andon.runtime.directory import DEFAULT_TENANT, LOCAL_ADMIN

connections_app = typer.Typer(
    help="Named connections actions use (HTTP, SMTP); their secrets are sealed.",
    no_args_is_help=True,
)
secrets_app = typer.Typer(help="The keys that seal secrets at rest.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(connections_app, name="connections")
    app.add_typer(secrets_app, name="secrets")


@connections_app.command("set")
def set_connection(
    name: Annotated[str, typer.Argument(help="The name steps use (connection: NAME).")],
    kind: Annotated[str, typer.Option("--kind", help="http or smtp.")],
    url: Annotated[str | None, typer.Option("--url", help="http: the base URL.")] = None,
    auth: Annotated[
        str | None, typer.Option("--auth", help="http: none, basic, bearer or api-key.")
    ] = None,
    username: Annotated[
        str | None, typer.Option("--username", help="http basic auth; an SMTP login.")
    ] = None,
    header: Annotated[
        str | None, typer.Option("--header", help="http api-key: its header (X-API-Key).")
    ] = None,
    default_header: Annotated[
        list[str] | None,
        typer.Option("--default-header", help="http: NAME=VALUE sent on every request."),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="smtp: the server.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="smtp: 587 or 25.")] = None,
    sender: Annotated[str | None, typer.Option("--from", help="smtp: the sender.")] = None,
    starttls: Annotated[
        bool, typer.Option("--starttls/--no-starttls", help="smtp: upgrade to TLS.")
    ] = True,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds (a step's timeout wins).")
    ] = None,
    secret_stdin: Annotated[
        bool,
        typer.Option("--secret-stdin", help="Read the password, token or API key from stdin."),
    ] = False,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Create or replace a connection (without --secret-stdin it keeps its secret)."""
    settings: JsonObject = {}
    if kind == "http":
        given = {"url": url, "auth": auth, "username": username, "header": header}
        settings.update({k: v for k, v in given.items() if v is not None})
        if default_header:
            settings["headers"] = dict(_pair(h) for h in default_header)
    else:
        given = {"host": host, "from": sender, "username": username}
        settings.update({k: v for k, v in given.items() if v is not None})
        settings["starttls"] = starttls
        if port is not None:
            settings["port"] = port
    if timeout is not None:
        settings["timeout_s"] = timeout
    secret = sys.stdin.readline().rstrip("\r\n") if secret_stdin else None
    with session() as built:
        found = built.connections.set_connection(
            built.actor(user, tenant), name, kind, settings, secret
        )
    out.print(f"{found.name}: {_summary(found)}", markup=False)


@connections_app.command("list")
def list_connections(user: AsUser = LOCAL_ADMIN, tenant: InTenant = DEFAULT_TENANT) -> None:
    """The tenant's connections (never their secrets)."""
    with session() as built:
        for found in built.connections.connections(built.actor(user, tenant)):
            out.print(f"{found.name:<24} {found.kind:<5} {_summary(found)}", markup=False)


@connections_app.command("show")
def show(
    name: Annotated[str, typer.Argument()],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """One connection's settings as JSON; its secret only as set or not."""
    with session() as built:
        found = built.connections.connection(built.actor(user, tenant), name)
    shown = {
        "name": found.name,
        "kind": found.kind,
        "settings": found.settings,
        "secret": "set" if found.has_secret else "none",
        "updated_by": found.updated_by,
        "updated_at": found.updated_at,
    }
    out.print_json(json.dumps(shown))


@connections_app.command("delete")
def delete(
    name: Annotated[str, typer.Argument()],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Delete a connection (steps naming it then fail permanently)."""
    with session() as built:
        built.connections.delete_connection(built.actor(user, tenant), name)
    out.print(f"deleted {name}", markup=False)


@secrets_app.command("keys")
def keys() -> None:
    """The keys, newest (sealing) first, with how many values each seals."""
    with session() as built:
        current = built.secret_keys.box.current_key()
        for key_id, count in built.secret_keys.usage().items():
            mark = "sealing" if key_id == current else "older"
            out.print(f"{key_id}  {mark:<7}  {count} value(s)", markup=False)


@secrets_app.command("rotate")
def rotate() -> None:
    """Add a new key and seal every secret again with it, in one transaction."""
    with session() as built:
        done = built.secret_keys.rotate()
    made = "new key" if done.added else "newest key of ANDON_SECRETS_KEY"
    out.print(f"sealing with {done.key_id} ({made})", markup=False)
    for table, count in sorted(done.resealed.items()):
        out.print(f"re-sealed {count} value(s) in {table}", markup=False)
    out.print(f"re-sealed {sum(done.resealed.values())} value(s) in all", markup=False)
    for older in done.older:
        out.print(f"retire the old key with: andon secrets retire {older}", markup=False)


@secrets_app.command("retire")
def retire(key_id: Annotated[str, typer.Argument(help="An old key's id.")]) -> None:
    """Drop an old key; refused while any secret is still sealed with it."""
    with session() as built:
        removed = built.secret_keys.retire(key_id)
    if removed:
        out.print(f"retired {key_id}", markup=False)
    else:
        out.print(f"nothing uses {key_id}: remove it from ANDON_SECRETS_KEY", markup=False)


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        fail(f"--default-header {text!r} must be NAME=VALUE")
    return name.strip(), value.strip()


def _summary(found: ConnectionInfo) -> str:
    settings = found.settings
    if found.kind == "http":
        where = f"{settings['url']} auth {settings['auth']}"
    else:
        where = f"{settings['host']}:{settings['port']} from {settings['from']}"
    return f"{where}, secret {'set' if found.has_secret else 'none'}"
