"""``andon promote``, ``rollback``, ``versions`` and ``stages``: which template version is
in force at each stage and plant (ADR 0031)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from andon.cli.shell import AsUser, InTenant, fail, out, session
from andon.runtime.directory import DEFAULT_TENANT, LOCAL_ADMIN
from andon.runtime.lifecycle import Versions

stages_app = typer.Typer(help="The tenant's stages, first to last (live).", no_args_is_help=True)
Reason = Annotated[str, typer.Option("--reason", help="Why (kept in the admin log).")]


def register(app: typer.Typer) -> None:
    app.command("promote")(promote)
    app.command("rollback")(rollback)
    app.command("versions")(versions)
    app.add_typer(stages_app, name="stages")


def promote(
    template: Annotated[str, typer.Argument(help="Template id.")],
    version: Annotated[int, typer.Argument(help="A published version.", min=1)],
    to: Annotated[str, typer.Option("--to", help="The stage (see andon stages list).")],
    plants: Annotated[
        str, typer.Option("--plants", help="Sites, comma-separated; default every plant.")
    ] = "",
    overlay: Annotated[
        int | None, typer.Option("--overlay", help="Pin this overlay revision (one plant).")
    ] = None,
    reason: Reason = "",
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Put VERSION of TEMPLATE in force at a stage, for some plants or every plant."""
    names = [p.strip() for p in plants.split(",") if p.strip()]
    with session() as built:
        added = built.lifecycle.put_in_force(
            built.actor(user, tenant), template, version, to, names,
            overlay_revision=overlay, reason=reason,
        )  # fmt: skip
    if not added:
        out.print(f"{template}@{version} was already in force there", markup=False)
    for record in added:
        where = record.plant or "every plant"
        out.print(f"{template}@{version} in force at {to} for {where}", markup=False)


def rollback(
    template: Annotated[str, typer.Argument(help="Template id.")],
    plant: Annotated[str, typer.Option("--plant", help="A site; default every plant.")] = "",
    stage: Annotated[
        str | None, typer.Option("--stage", help="Default: the last (live) stage.")
    ] = None,
    reason: Reason = "",
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Put back what was in force for a plant before its latest promotion (journaled)."""
    with session() as built:
        record = built.lifecycle.rollback(
            built.actor(user, tenant), template, plant, stage, reason=reason
        )
    where = plant or "every plant"
    if record.version is None:
        out.print(f"{where} follows every plant's version again at {record.stage}", markup=False)
    else:
        out.print(
            f"{template}@{record.version} in force at {record.stage} for {where}", markup=False
        )


def versions(
    template: Annotated[str, typer.Argument(help="Template id.")],
    history: Annotated[bool, typer.Option("--history", help="Every change, oldest first.")] = False,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """What is in force where: stage, plant, version, overlay revision, since, by whom."""
    with session() as built:
        view = built.lifecycle.versions(built.actor(user, tenant), template)
    for line in render(view, history):
        out.print(line, markup=False)


def render(view: Versions, history: bool = False) -> list[str]:
    lines = [f"{view.template_id}: latest published v{view.latest}"]
    if not view.managed:
        lines.append(f"  not in force at {view.stages[-1]} yet: runs start the latest version")
    lines.append(f"  {'STAGE':<12} {'PLANT':<14} {'VERSION':<8} {'OVERLAY':<8} SINCE")
    for found in view.in_force:
        r = found.record
        overlay = f"r{r.overlay_revision}" if r.overlay_revision else "newest"
        lines.append(
            f"  {found.stage:<12} {found.plant or '*':<14} {'v' + str(r.version):<8} "
            f"{overlay:<8} {_when(r.at)} by {r.by}"
        )
    if history:
        lines.append("  history:")
        for r in view.history:
            version = f"v{r.version}" if r.version is not None else "(every plant's)"
            lines.append(
                f"  #{r.seq:<4} {_when(r.at)} {r.act.value:<11} {r.stage:<12} "
                f"{r.plant or '*':<14} {version} {r.reason}".rstrip()
            )
    return lines


@stages_app.command("list")
def stages_list(user: AsUser = LOCAL_ADMIN, tenant: InTenant = DEFAULT_TENANT) -> None:
    """The stages, first (new versions land there) to last (runs start from there)."""
    with session() as built:
        names = built.lifecycle.stages(built.actor(user, tenant))
    out.print(" -> ".join(names), markup=False)


@stages_app.command("set")
def stages_set(
    names: Annotated[str, typer.Argument(help="Comma-separated, first to last: dev,test,prod")],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Replace the tenant's stage list (an administrator's act, kept in the admin log)."""
    wanted = [n for n in names.split(",") if n.strip()]
    if not wanted:
        fail("name at least one stage")
    with session() as built:
        found = built.lifecycle.set_stages(built.actor(user, tenant), wanted)
    out.print(" -> ".join(found), markup=False)


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
