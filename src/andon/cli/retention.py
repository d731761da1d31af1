"""``andon retention``: periods per class, legal holds, and the purge job."""

from __future__ import annotations

from typing import Annotated

import typer

from andon.cli.shell import AsUser, InTenant, out, session
from andon.runtime.directory import DEFAULT_TENANT, LOCAL_ADMIN

retention_app = typer.Typer(help="Record retention and legal holds.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")


@retention_app.command("period")
def period(
    retention_class: Annotated[str, typer.Argument(help="e.g. maintenance, batch-release")],
    days: Annotated[int, typer.Argument(min=1)],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Set how many days after its end a run of this class is kept."""
    with session() as built:
        built.retention.set_period(built.actor(user, tenant), retention_class, days)
        out.print(f"{retention_class}: kept {days} days", markup=False)


@retention_app.command("hold")
def hold(
    reason: Annotated[str, typer.Option("--reason", help="Why (case, claim, inspection).")],
    run_id: Annotated[str, typer.Option("--run")] = "",
    template_id: Annotated[str, typer.Option("--template")] = "",
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Place a legal hold on one run or on every run of a template."""
    with session() as built:
        hold_id = built.retention.place_hold(
            built.actor(user, tenant), reason, run_id=run_id, template_id=template_id
        )
        out.print(hold_id, markup=False)


@retention_app.command("release")
def release(
    hold_id: Annotated[str, typer.Argument()],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Release a legal hold."""
    with session() as built:
        built.retention.release_hold(built.actor(user, tenant), hold_id)
        out.print(f"released {hold_id}", markup=False)


@retention_app.command("purge")
def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List, delete nothing.")] = False,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Purge expired runs not under hold; each leaves a tombstone, then a checkpoint signs it."""
    with session() as built:
        purged = built.retention.purge(built.actor(user, tenant), dry_run=dry_run)
        for item in purged:
            out.print(f"{'would purge' if dry_run else 'purged'} {item.run_id} "
                      f"({item.template}, {item.retention_class})", markup=False)  # fmt: skip
        if purged and not dry_run:
            built.auditor.checkpoint()
        out.print(f"{len(purged)} run(s) {'due' if dry_run else 'purged'}", markup=False)
