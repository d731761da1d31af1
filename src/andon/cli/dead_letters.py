"""``andon dead-letters`` and ``andon inbox replay``: events that could not be taken in,
and replaying taken-in events into a new template version."""

from __future__ import annotations

from typing import Annotated

import typer

from andon.cli.render import when
from andon.cli.shell import AsUser, InTenant, instant, out, session
from andon.runtime.directory import DEFAULT_TENANT, LOCAL_ADMIN

letters_app = typer.Typer(
    help="Events kept because they could not be taken in.", no_args_is_help=True
)
inbox_app = typer.Typer(help="The inbox of taken-in events.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(letters_app, name="dead-letters")
    app.add_typer(inbox_app, name="inbox")


@letters_app.command("list")
def list_letters(
    every: Annotated[bool, typer.Option("--all", help="Also replayed and discarded ones.")] = False,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Open dead letters, oldest first: id, channel, stage, deliveries and the reason."""
    with session() as built:
        found = built.service.dead_letters(built.actor(user, tenant), open_only=not every)
    for letter in found:
        state = letter.resolution or "open"
        out.print(
            f"{letter.letter_id}  {when(letter.received_at)}  {letter.channel:<18} "
            f"{letter.stage:<8} x{letter.deliveries:<3} {state:<9} {letter.reason}",
            markup=False, highlight=False,
        )  # fmt: skip


@letters_app.command("show")
def show(
    letter_id: Annotated[str, typer.Argument()],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """One dead letter with its payload and, when it was mapped, its event."""
    with session() as built:
        letter = built.service.dead_letter(built.actor(user, tenant), letter_id)
    for name in ("letter_id", "channel", "stage", "reason", "deliveries", "resolution"):
        out.print(f"{name}: {getattr(letter, name)}", markup=False, highlight=False)
    out.print(f"received: {when(letter.received_at)}", markup=False)
    out.print("payload:", markup=False)
    out.print(letter.payload, markup=False, highlight=False)
    if letter.event is not None:
        out.print("event:", markup=False)
        out.print_json(data=letter.event)


@letters_app.command("replay")
def replay(
    letter_id: Annotated[str, typer.Argument()],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Take the event in again after fixing the cause (contract, mapping)."""
    with session() as built:
        got = built.service.replay_dead_letter(built.actor(user, tenant), letter_id)
    out.print(
        f"replayed {letter_id}: reached {got.reached} waiting run(s), started "
        f"{len(got.started)}{' (it had been taken in before)' if got.duplicate else ''}",
        markup=False, highlight=False,
    )  # fmt: skip
    for run_id in got.started:
        out.print(run_id, markup=False)


@letters_app.command("discard")
def discard(
    letter_id: Annotated[str, typer.Argument()],
    why: Annotated[str, typer.Option("--why", help="Recorded on the audit chain.")],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Close a dead letter without taking it in."""
    with session() as built:
        built.service.discard_dead_letter(built.actor(user, tenant), letter_id, why)
    out.print(f"discarded {letter_id}", markup=False)


@inbox_app.command("replay")
def replay_inbox(
    template: Annotated[str, typer.Option("--template", help="Template id")],
    version: Annotated[int, typer.Option("--version", min=1)],
    since: Annotated[str, typer.Option("--since", help="ISO 8601 time, inclusive")],
    until: Annotated[str, typer.Option("--until", help="ISO 8601 time, exclusive")],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Start a run of TEMPLATE@VERSION for each inbox event of the window it triggers on."""
    window = [instant(since, "--since"), instant(until, "--until")]
    with session() as built:
        done = built.service.replay_inbox(built.actor(user, tenant), template, version, *window)
    out.print(
        f"{done.template}: {done.events} event(s) in the window, {len(done.started)} run(s) "
        f"started, {done.already} started by an earlier replay",
        markup=False, highlight=False,
    )  # fmt: skip
    for run_id in done.started:
        out.print(run_id, markup=False)
