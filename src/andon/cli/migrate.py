"""``andon runs migrate``: move waiting runs of a template to another version (ADR 0032),
one line per run, migrated or refused with its reason."""

from __future__ import annotations

from typing import Annotated

import typer

from andon.cli.shell import AsUser, InTenant, out, session
from andon.errors import InputError
from andon.runtime.directory import DEFAULT_TENANT, LOCAL_ADMIN
from andon.runtime.run_migration import Outcome, Plan, RunMigrations, step_mapping


def register(runs_app: typer.Typer) -> None:
    runs_app.command("migrate")(migrate)


def mapping_of(pairs: list[str]) -> dict[str, str]:
    try:
        return step_mapping(pairs)
    except InputError as exc:
        raise typer.BadParameter(str(exc), param_hint="--map") from exc


def migrate(
    template: Annotated[str, typer.Option("--template", help="Template id.")],
    from_version: Annotated[int, typer.Option("--from", min=1, help="The runs' version.")],
    to_version: Annotated[int, typer.Option("--to", min=1, help="The version to move to.")],
    maps: Annotated[
        list[str] | None,
        typer.Option("--map", help="OLD_STEP=NEW_STEP for a renamed step (repeatable)."),
    ] = None,
    plant: Annotated[
        str | None, typer.Option("--plant", help="Only the runs of this plant.")
    ] = None,
    run_ids: Annotated[
        list[str] | None, typer.Option("--run", help="Only these runs (repeatable).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would happen; write nothing.")
    ] = False,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Move the unended runs of TEMPLATE@FROM to version TO: each waiting step goes on as
    the step of the same id, or the one --map names. A run mid-action, in an incident or
    whose step is gone without a mapping is refused, with the reason."""
    plan = Plan(
        template, from_version, to_version, mapping_of(maps or []), plant,
        tuple(run_ids or ()), dry_run,
    )  # fmt: skip
    with session() as built:
        results = RunMigrations(built.service).migrate(built.actor(user, tenant), plan)
    if not results:
        out.print(f"no unended runs of {template}@{from_version}", markup=False)
        return
    for result in results:
        moved = ", ".join(f"{a} -> {b}" for a, b in result.moved.items())
        detail = f": {result.reason}" if result.reason else f" ({moved})" if moved else ""
        out.print(f"{result.run_id} {result.outcome.value}{detail}", markup=False)
    done = sum(r.outcome is not Outcome.REFUSED for r in results)
    verb = "would migrate" if dry_run else "migrated"
    out.print(f"{done} {verb}, {len(results) - done} refused", markup=False)
