"""``andon users|sites|tenants``: the directory, from the local console."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from andon.cli.shell import AsUser, InTenant, fail, out, session
from andon.governance.identity import PrincipalKind
from andon.runtime.directory import DEFAULT_TENANT, LOCAL_ADMIN, LOCAL_PARTNER

users_app = typer.Typer(help="People and service accounts of a tenant.", no_args_is_help=True)
sites_app = typer.Typer(help="Plants and their areas/lines.", no_args_is_help=True)
tenants_app = typer.Typer(
    help="Tenants (manufacturers) of this installation.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(sites_app, name="sites")
    app.add_typer(tenants_app, name="tenants")
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(webhooks_app, name="webhooks")


def _role_at(value: str) -> tuple[str, str]:
    role, _, site = value.partition("@")
    if not role:
        fail(f"bad role {value!r}: use ROLE or ROLE@SITE")
    return role, site


@users_app.command("add")
def users_add(
    user_id: Annotated[str, typer.Argument(help="User id (never reused).")],
    name: Annotated[str, typer.Option("--name", help="Printed name (shown on signatures).")],
    roles: Annotated[
        list[str] | None, typer.Option("--role", help="ROLE or ROLE@SITE; repeat for more.")
    ] = None,
    service: Annotated[bool, typer.Option("--service", help="A service account.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read a password from stdin.")
    ] = False,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Add a person (or service account) to the tenant, with role grants."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    with session() as built:
        actor = built.actor(user, tenant)
        kind = PrincipalKind.SERVICE if service else PrincipalKind.PERSON
        built.directory.create_user(actor, user_id, name, kind=kind, password=password)
        for value in roles or []:
            built.directory.grant(actor, user_id, *_role_at(value))
        out.print(f"added {user_id}", markup=False)


@users_app.command("grant")
def users_grant(
    user_id: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Argument(help="ROLE or ROLE@SITE.")],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Grant a role, tenant-wide or at one site."""
    with session() as built:
        built.directory.grant(built.actor(user, tenant), user_id, *_role_at(role))
        out.print(f"granted {role} to {user_id}", markup=False)


@users_app.command("revoke")
def users_revoke(
    user_id: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Argument(help="ROLE or ROLE@SITE.")],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Revoke a role grant."""
    with session() as built:
        built.directory.revoke(built.actor(user, tenant), user_id, *_role_at(role))
        out.print(f"revoked {role} from {user_id}", markup=False)


@users_app.command("password")
def users_password(
    user_id: Annotated[str, typer.Argument()],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Set a user's password (read from stdin)."""
    password = sys.stdin.readline().rstrip("\n")
    with session() as built:
        built.directory.set_password(built.actor(user, tenant), user_id, password)
        out.print(f"password set for {user_id}", markup=False)


@sites_app.command("add")
def sites_add(
    site_id: Annotated[str, typer.Argument(help="Plant code, or an area/line id.")],
    name: Annotated[str, typer.Option("--name")] = "",
    parent: Annotated[str, typer.Option("--in", help="The plant an area belongs to.")] = "",
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Add a plant (or an area/line inside one)."""
    with session() as built:
        built.directory.create_site(built.actor(user, tenant), site_id, name or site_id, parent)
        out.print(f"added site {site_id}", markup=False)


@tenants_app.command("add")
def tenants_add(
    tenant_id: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Option("--name")] = "",
    partner: Annotated[str, typer.Option("--partner")] = LOCAL_PARTNER,
) -> None:
    """Add a tenant and its first administrator, admin@TENANT (installation console)."""
    with session() as built:
        built.directory.create_tenant(tenant_id, name or tenant_id, partner)
        out.print(f"added tenant {tenant_id} (administrator admin@{tenant_id})", markup=False)


tokens_app = typer.Typer(help="API tokens for systems (shown once, stored hashed).")


@tokens_app.command("issue")
def tokens_issue(
    user_id: Annotated[str, typer.Argument(help="The principal the token acts as.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")],
    roles: Annotated[list[str] | None, typer.Option("--role", help="Only these roles.")] = None,
    sites: Annotated[list[str] | None, typer.Option("--site", help="Only these sites.")] = None,
    days: Annotated[int, typer.Option("--days", min=1, max=366)] = 90,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Issue a token; it is printed once and cannot be shown again."""
    with session() as built:
        issued = built.tokens.issue(
            built.actor(user, tenant), user_id, name, roles=roles or (), sites=sites or (),
            days=days,
        )  # fmt: skip
        out.print(issued.token, markup=False)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument()],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    with session() as built:
        built.tokens.revoke(built.actor(user, tenant), token_id)
        out.print(f"revoked {token_id}", markup=False)


webhooks_app = typer.Typer(help="Outbound webhook deliveries and dead letters.")


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    dead: Annotated[bool, typer.Option("--dead", help="Only dead letters.")] = False,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """The delivery log (newest last)."""
    with session() as built:
        found = built.notifier.deliveries(built.actor(user, tenant), "dead" if dead else None)
        for d in found:
            out.print(
                f"{d.delivery_id}  {d.status:<9} {d.attempts} attempt(s)  {d.event_type:<24} "
                f"last {d.last_status or '-'} {d.last_error or ''}".rstrip(),
                markup=False,
            )


@webhooks_app.command("replay")
def webhooks_replay(
    delivery_id: Annotated[str, typer.Argument()],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Send a dead letter again (a fresh set of attempts)."""
    with session() as built:
        built.notifier.replay(built.actor(user, tenant), delivery_id)
        out.print(f"replaying {delivery_id}", markup=False)
