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
    dry_run_events: Annotated[
        int,
        typer.Option("--dry-run-events", min=0, max=5000, help="Governed: events replayed."),
    ] = 200,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Put VERSION of TEMPLATE in force at a stage, for some plants or every plant. At a
    governed stage (production by default) this requests the promotion instead: a
    template-promotion run that the process owner and QA sign; its end puts it in force."""
    names = [p.strip() for p in plants.split(",") if p.strip()]
    with session() as built:
        actor = built.actor(user, tenant)
        if to in built.lifecycle.governed(actor):
            run_id = built.promotions.request(
                actor, template, version, to, names, overlay_revision=overlay,
                reason=reason, dry_run_events=dry_run_events,
            )  # fmt: skip
            where = ", ".join(names) or "every plant"
            out.print(
                f"promotion of {template}@{version} to {to} for {where} requested: run "
                f"{run_id} awaits its approvals (andon show {run_id})",
                markup=False,
            )
            return
        added = built.lifecycle.put_in_force(
            actor, template, version, to, names, overlay_revision=overlay, reason=reason
        )
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
        actor = built.actor(user, tenant)
        names, governed = built.lifecycle.stages(actor), built.lifecycle.governed(actor)
    out.print(_stage_line(names, governed), markup=False)


@stages_app.command("set")
def stages_set(
    names: Annotated[str, typer.Argument(help="Comma-separated, first to last: dev,test,prod")],
    governed: Annotated[
        str | None,
        typer.Option(
            "--governed",
            help="Stages entered only through an approved promotion, comma-separated "
            "('' for none); default: the last.",
        ),
    ] = None,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Replace the tenant's stage list (an administrator's act, kept in the admin log)."""
    wanted = [n for n in names.split(",") if n.strip()]
    if not wanted:
        fail("name at least one stage")
    chosen = None if governed is None else [n for n in governed.split(",") if n.strip()]
    with session() as built:
        actor = built.actor(user, tenant)
        found = built.lifecycle.set_stages(actor, wanted, chosen)
        now_governed = built.lifecycle.governed(actor)
    out.print(_stage_line(found, now_governed), markup=False)


def _stage_line(names: tuple[str, ...], governed: frozenset[str]) -> str:
    return " -> ".join(f"{n} (governed)" if n in governed else n for n in names)


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
