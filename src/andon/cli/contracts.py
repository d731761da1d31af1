"""``andon contracts``: the event contracts templates trigger on and wait for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from andon.cli.shell import AsUser, InTenant, fail, out, read_text, session
from andon.runtime.directory import DEFAULT_TENANT, LOCAL_ADMIN

contracts_app = typer.Typer(help="Event contracts (JSON Schemas by version).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(contracts_app, name="contracts")


@contracts_app.command("register")
def register_contract(
    event_type: Annotated[str, typer.Argument(help="e.g. lab.result_posted")],
    file: Annotated[Path, typer.Argument(help="JSON Schema of the event's data.")],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Register the next version of a contract; refused when not backward compatible."""
    text = read_text(file)
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{file}:{exc.lineno}: not JSON: {exc.msg}")
    with session() as built:
        found = built.service.register_contract(built.actor(user, tenant), event_type, schema)
    out.print(f"{found.event_type} v{found.version} ({found.digest[:12]})", markup=False)


@contracts_app.command("list")
def list_contracts(user: AsUser = LOCAL_ADMIN, tenant: InTenant = DEFAULT_TENANT) -> None:
    """The newest version of every contract the tenant can use."""
    with session() as built:
        for found in built.service.contracts(built.actor(user, tenant)):
            out.print(f"{found.event_type:<36} v{found.version:<3} {found.urn}", markup=False)


@contracts_app.command("show")
def show(
    event_type: Annotated[str, typer.Argument()],
    version: Annotated[int | None, typer.Option("--version", min=1)] = None,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Print one version of a contract (the newest by default) as JSON Schema."""
    with session() as built:
        found = built.service.contract(built.actor(user, tenant), event_type, version)
    out.print_json(json.dumps(found.schema))
