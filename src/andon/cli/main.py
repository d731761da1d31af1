"""The product's ``andon`` commands: thin shell that parses input, calls the runtime and
renders output. The installed command is ``andon.tools.cli``: this app plus the tools'
commands (demo, benchmarks), which sit above the shells and register themselves on it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from andon.cli import (
    admin,
    audit,
    connections,
    contracts,
    dead_letters,
    diff,
    dry_run,
    egress,
    export,
    intake,
    lifecycle,
    migrate,
    render,
    retention,
    serve,
)
from andon.cli.shell import AsUser, InTenant, err, fail, out, parse_json, read_text, session
from andon.errors import TemplateError
from andon.runtime.directory import DEFAULT_TENANT, LOCAL_ADMIN
from andon.runtime.service import Credentials, StartRequest, TaskDecision

app = typer.Typer(
    name="andon",
    help="Andon: governed workflow orchestration for manufacturing.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
admin.register(app)
audit.register(app)
retention.register(app)
contracts.register(app)
export.register(app)
connections.register(app)
dead_letters.register(app)
egress.register(app)
diff.register(app)
dry_run.register(app)
intake.register(app)
lifecycle.register(app)


def main() -> None:
    app()


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Template or overlay files.")],
) -> None:
    """Validate templates (and overlays); print every problem with its path and line."""
    from andon.core.loader import validate_text
    from andon.core.overlay import load_overlay

    problems = 0
    for path in files:
        text = read_text(path)
        if _looks_like_overlay(text):
            try:
                load_overlay(text, str(path))
                found = []
            except TemplateError as exc:
                found = list(exc.problems)
        else:
            _, found = validate_text(text, str(path))
        for problem in found:
            out.print(str(problem), markup=False)
        if not found:
            err.print(f"ok {path}", markup=False)
        problems += len(found)
    if problems:
        fail(f"{problems} problem(s) in {len(files)} file(s)")


def _looks_like_overlay(text: str) -> bool:
    lines = [line.split(":", 1)[0].strip() for line in text.splitlines() if ":" in line]
    return "plant" in lines and "template" in lines and "steps" not in lines


@app.command()
def publish(
    file: Annotated[Path, typer.Argument(help="Template file.")],
    overlay: Annotated[
        list[Path] | None, typer.Option("--overlay", help="Plant overlay file(s).")
    ] = None,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Publish a template version (immutable) and plant overlays for it."""
    with session() as built:
        actor = built.actor(user, tenant)
        template = built.service.publish_template(actor, read_text(file), str(file))
        out.print(f"published {template.ref} ({template.digest[:12]})", markup=False)
        for path in overlay or []:
            result = built.service.publish_overlay(actor, read_text(path), str(path))
            out.print(
                f"published overlay {result.template_id} {result.plant} ({result.digest[:12]})",
                markup=False,
            )


@app.command()
def start(
    template: Annotated[
        str, typer.Argument(help="Template id (the version in force) or id@version.")
    ],
    input: Annotated[str, typer.Option("--input", help="Run input as JSON or @file.")],
    plant: Annotated[str, typer.Option("--plant", help="Plant code, e.g. DE-STR.")] = "",
    stage: Annotated[
        str | None, typer.Option("--stage", help="The version in force at this stage.")
    ] = None,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Start a run of a published template."""
    data = parse_json(input, "--input")
    if not isinstance(data, dict):
        fail("--input must be a JSON object")
    template_id, _, version = template.partition("@")
    if version and not version.isdigit():
        fail(f"bad version in {template!r}: use id@N")
    with session() as built:
        run_id = built.service.start_run(
            built.actor(user, tenant),
            StartRequest(template_id, data, plant, int(version) if version else None, stage=stage),
        )
        out.print(run_id, markup=False)


# A group so that ``andon runs`` lists and ``andon runs migrate`` moves runs (ADR 0032).
runs_app = typer.Typer(help="List runs, newest first; or act on many runs at once.")
app.add_typer(runs_app, name="runs")
migrate.register(runs_app)


@runs_app.callback(invoke_without_command=True)
def runs(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="Filter by status.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """List runs, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    with session() as built:
        out.print(render.runs_table(built.service.runs(built.actor(user, tenant), status, limit)))


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Show a run and the timeline of its journal."""
    with session() as built:
        actor = built.actor(user, tenant)
        out.print(render.run_header(built.service.run(actor, run_id)))
        out.print(render.timeline(built.service.journal(actor, run_id)))


@app.command()
def tasks(
    role: Annotated[str | None, typer.Option("--role", help="Only tasks for this role.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include closed tasks.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """List open human tasks (the inbox)."""
    with session() as built:
        found = built.service.tasks(
            built.actor(user, tenant), None if all_ else "open", role, limit
        )
        out.print(render.tasks_table(found))


@app.command()
def approve(
    task_id: Annotated[str, typer.Argument(help="Task id.")],
    user: Annotated[str, typer.Option("--as", envvar="ANDON_USER", help="Who decides.")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve.")] = False,
    outcome: Annotated[str | None, typer.Option("--outcome", help="Other outcome.")] = None,
    role: Annotated[str, typer.Option("--role", help="Role acted in.")] = "",
    comment: Annotated[str, typer.Option("--comment")] = "",
    sign: Annotated[
        bool, typer.Option("--sign", help="Sign electronically (asks for your password).")
    ] = False,
    reason: Annotated[str, typer.Option("--reason", help="Reason stated with a signature.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the signing password from stdin.")
    ] = False,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Approve (or reject) a task; signed steps need --sign."""
    if reject and outcome:
        fail("give either --reject or --outcome, not both", 2)
    decided = outcome or ("reject" if reject else "approve")
    credentials = None
    if sign:
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt("Password (to sign)", hide_input=True)
        credentials = Credentials(password, reason)
    with session() as built:
        decision = built.service.decide_task(
            built.actor(user, tenant),
            TaskDecision(task_id, decided, comment, role, credentials),
        )
        out.print(f"{decided} recorded on {task_id}; run is {decision.run.status}", markup=False)


@app.command()
def send(
    event_type: Annotated[str, typer.Argument(help="Event type, e.g. supplier.x.")],
    key: Annotated[str, typer.Option("--key", help="Correlation key.")],
    data: Annotated[str, typer.Option("--data", help="Event data as JSON or @file.")] = "{}",
    event_id: Annotated[str | None, typer.Option("--id", help="Event id (dedupe).")] = None,
    source: Annotated[str, typer.Option("--source")] = "cli",
    plant: Annotated[str, typer.Option("--plant", help="Plant of runs it starts.")] = "",
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Send an external event to the runs waiting for it (and start runs it triggers)."""
    payload = parse_json(data, "--data")
    with session() as built:
        got = built.service.send_event(
            built.actor(user, tenant), event_type, key, payload, source=source,
            event_id=event_id, plant=plant,
        )  # fmt: skip
        if got.duplicate:
            out.print("duplicate: already received", markup=False)
            return
        out.print(f"delivered to {got.reached} run(s)", markup=False)
        for run_id in got.started:
            out.print(f"started {run_id}", markup=False)


@app.command()
def retry(
    run_id: Annotated[str, typer.Argument()],
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Retry the failed step of a run parked as an incident."""
    with session() as built:
        built.service.retry_incident(built.actor(user, tenant), run_id)
        out.print(f"retrying {run_id}", markup=False)


@app.command()
def cancel(
    run_id: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option("--reason")] = "",
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """Cancel a run."""
    with session() as built:
        built.service.cancel(built.actor(user, tenant), run_id, reason)
        out.print(f"cancelled {run_id}", markup=False)


serve.register(app)  # here, so that --help lists worker, up and api after the run commands


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending schema migrations to the database."""
    with session() as built:
        where = built.service.store.describe()
        out.print(f"database {where} is at the latest schema", markup=False)


if __name__ == "__main__":  # pragma: no cover
    main()
