"""``andon egress``: the tenant's egress allow-list (internal networks its outbound calls
may reach, such as the plant's MES)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from andon.cli.shell import AsUser, InTenant, out, session
from andon.runtime.directory import DEFAULT_TENANT, LOCAL_ADMIN

egress_app = typer.Typer(
    help="Internal networks this tenant's outbound calls may reach.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(egress_app, name="egress")


@egress_app.command("allow")
def allow(
    network: Annotated[str, typer.Argument(help="A CIDR (10.20.0.0/16) or one address.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the admin log).")] = "",
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Let the tenant's calls (http.request, connections, webhooks, email) reach NETWORK."""
    with session() as built:
        found = built.egress_allow.allow(built.actor(user, tenant), network, reason)
    out.print(f"allowed {found.network}", markup=False)


@egress_app.command("deny")
def deny(
    network: Annotated[str, typer.Argument(help="An entry of the list.")],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Remove an entry: the network is denied again for the tenant's calls."""
    with session() as built:
        built.egress_allow.deny(built.actor(user, tenant), network)
    out.print(f"denied {network}", markup=False)


@egress_app.command("list")
def list_allowed(user: AsUser = LOCAL_ADMIN, tenant: InTenant = DEFAULT_TENANT) -> None:
    """The tenant's allow-list: network, who added it, when, why."""
    with session() as built:
        for entry in built.egress_allow.entries(built.actor(user, tenant)):
            when = datetime.fromtimestamp(entry.added_at, UTC).isoformat(timespec="seconds")
            line = f"{entry.network:<20} {entry.added_by:<16} {when}  {entry.reason}"
            out.print(line.rstrip(), markup=False)
