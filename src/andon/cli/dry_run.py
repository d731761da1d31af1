"""``andon dry-run``: replay recent inbox events against a candidate version in a sandbox and
show where its runs would go differently from the version in force (ADR 0033)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from andon.cli.shell import AsUser, InTenant, instant, out, session
from andon.runtime.directory import DEFAULT_TENANT, LOCAL_ADMIN


def register(app: typer.Typer) -> None:
    app.command("dry-run")(dry_run)


def dry_run(
    template: Annotated[str, typer.Argument(help="Template id.")],
    version: Annotated[int, typer.Argument(help="The candidate version.", min=1)],
    last: Annotated[
        int | None,
        typer.Option("--last", help="The newest N events (default 200; 5000 at most)."),
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO 8601 time, inclusive.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO 8601 time, exclusive.")] = None,
    plant: Annotated[str | None, typer.Option("--plant", help="Only this plant's events.")] = None,
    every: Annotated[
        bool,
        typer.Option("--all", help="Every differing event (with --json: every event taken)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Run the newest inbox events (or those of --since/--until) through VERSION of
    TEMPLATE and through the version in force, in memory, answering each step from the
    real run the event started; list the events whose path, decisions or end differ.
    Writes nothing."""
    window = (
        instant(since, "--since") if since else None,
        instant(until, "--until") if until else None,
    )
    with session() as built:
        report = built.dry_runs.run(
            built.actor(user, tenant), template, version, plant=plant, last=last,
            since=window[0], until=window[1],
        )  # fmt: skip
    if as_json:
        body = report.to_json(every_event=every)
        out.print(json.dumps(body, indent=2, ensure_ascii=False), markup=False)
    else:
        out.print(report.render_text(None if every else 20).rstrip("\n"), markup=False)
