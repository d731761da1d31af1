"""The ``andon`` command: thin shell that parses input, calls the runtime and renders output."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from andon import config
from andon.bootstrap import App
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
)
from andon.cli.shell import AsUser, InTenant, err, fail, out, parse_json, read_text, session
from andon.errors import AndonError, TemplateError
from andon.runtime.directory import DEFAULT_TENANT, LOCAL_ADMIN
from andon.runtime.service import Credentials, StartRequest, TaskDecision
from andon.runtime.worker import WorkerSettings

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


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Drain due work, then exit.")] = False,
    batch: Annotated[int, typer.Option("--batch", min=1)] = 64,
    lease: Annotated[float, typer.Option("--lease", help="Lease seconds.")] = 30.0,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=256, help="Actions run at once.")
    ] = 8,
) -> None:
    """Run a worker: claim due actions and timers, run them, deliver the outcomes.

    Any number of workers may run against one database; SIGTERM finishes the batch in hand
    and gives back the leases on work not started.
    """
    with session() as built:
        _start_logging(built)
        runner = built.worker(
            WorkerSettings(batch=batch, lease_s=lease, threads=concurrency),
            on_error=lambda m: err.print(f"worker: {m}", markup=False),
        )
        try:
            if once:
                total = 0
                while done := runner.run_once():
                    total += done
                err.print(f"processed {total} item(s)", markup=False)
                return
            stop = _stop_on_signals()
            err.print(
                f"worker {runner.owner} ready: batch {batch}, {concurrency} at once, "
                f"lease {lease:g} s",
                markup=False,
            )
            _serve(lambda stop: runner.run_forever(stop), "worker", stop)
        finally:
            runner.close()


@app.command()
def up(
    host: Annotated[str, typer.Option("--host", help="Address the HTTP API listens on.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8080,
    no_api: Annotated[bool, typer.Option("--no-api", help="Only the worker.")] = False,
    writes_per_s: Annotated[
        float, typer.Option("--writes-per-s", min=0.1, help="Write rate per API token.")
    ] = 50.0,
    checkpoint_every: Annotated[
        float, typer.Option("--checkpoint-every", help="Seconds between signed checkpoints.")
    ] = 300.0,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Run the simulated demo plants live, with demo logins."),
    ] = False,
    pace: Annotated[
        float, typer.Option("--pace", min=1.0, help="Demo: mean seconds between new documents.")
    ] = 30.0,
    speed: Annotated[
        float,
        typer.Option("--speed", min=1.0, help="Demo: how much faster simulated people act."),
    ] = 60.0,
    seed: Annotated[int, typer.Option("--seed", help="Demo: random seed.")] = 1,
) -> None:
    """Run Andon on this machine: HTTP API and web UI, worker and signed audit checkpoints
    (SQLite by default). With --demo, the simulated demo plants feed it live."""
    if demo:
        _up_demo(host, port, writes_per_s, checkpoint_every, (seed, pace, speed))
        return
    with session() as built:
        _start_logging(built)
        runner = built.worker(on_error=lambda m: err.print(f"worker: {m}", markup=False))
        settings = config.load(os.environ)
        where = "" if no_api else f"; web UI on http://{host}:{port}/ui, API on /docs"
        durability = f"{_SYNC_NAMES[settings.store.backend]}={built.service.store.synchronous}"
        stop = _stop_on_signals()
        err.print(
            f"andon up: database {settings.store.url} ({durability}){where}; Ctrl-C stops",
            markup=False,
        )
        server = None if no_api else _api_server(built, host, port, writes_per_s)
        try:
            _serve(lambda stop: _services(built, server, checkpoint_every, stop,
                                          runner.run_forever), "up", stop)  # fmt: skip
        finally:
            runner.close()


def _up_demo(
    host: str,
    port: int,
    writes_per_s: float,
    checkpoint_every: float,
    live: tuple[int, float, float],
) -> None:
    from andon.demo.live import LiveDemo, LiveSettings, banner

    settings = config.load(os.environ)
    err.print(f"andon up --demo: database {settings.store.url}", markup=False)
    try:
        plants = LiveDemo(settings, LiveSettings(*live), err)
    except AndonError as exc:
        fail(str(exc).splitlines()[0])
    try:
        _start_logging(plants.app)
        server = _api_server(plants.app, host, port, writes_per_s)

        def show() -> None:
            for line in banner(f"http://{host}:{port}"):
                out.print(line, markup=False, highlight=False)

        def loop(stop: threading.Event) -> None:
            plants.run(stop, lambda m: err.print(m, markup=False))

        _serve(lambda stop: _services(plants.app, server, checkpoint_every, stop, loop, show), "up")
    finally:
        plants.close()


def _services(
    built: App,
    server: uvicorn.Server | None,
    checkpoint_every: float,
    stop: threading.Event,
    main: Callable[[threading.Event], None],
    ready: Callable[[], None] = lambda: None,
) -> None:
    """The API server and the signed checkpoints in threads, ``main`` (the worker, or the
    live demo) in this one, until ``stop``; then a last checkpoint seals what was written.
    ``ready`` runs once the API listens; a server that cannot listen ends it all."""

    def checkpoints() -> None:
        while not stop.wait(checkpoint_every):
            try:
                built.auditor.checkpoint()
            except AndonError as exc:
                err.print(f"checkpoint: {exc}", markup=False)

    threads = [threading.Thread(target=checkpoints, name="andon-checkpoints", daemon=True)]
    if server is not None:
        threads.append(threading.Thread(target=server.run, name="andon-api", daemon=True))
    for thread in threads:
        thread.start()
    if server is not None and not _listening(server, threads[-1]):
        stop.set()
        fail("the HTTP API could not start (is the port in use?); nothing was served")
    ready()
    main(stop)
    if server is not None:
        server.should_exit = True
    for thread in threads:
        thread.join(timeout=10)
    built.auditor.checkpoint()


def _listening(server: uvicorn.Server, thread: threading.Thread) -> bool:
    """Wait until the server listens (True) or its thread ended without (False)."""
    while not server.started:
        if not thread.is_alive():
            return False
        thread.join(timeout=0.05)
    return True


@app.command("api")
def api_only(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8080,
    writes_per_s: Annotated[float, typer.Option("--writes-per-s", min=0.1)] = 50.0,
) -> None:
    """Serve only the HTTP API (stateless: run as many as needed behind a load balancer)."""
    with session() as built:
        _start_logging(built)
        err.print(f"andon api on http://{host}:{port}/docs; Ctrl-C stops", markup=False)
        _api_server(built, host, port, writes_per_s).run()


_SYNC_NAMES = {"sqlite": "synchronous", "postgresql": "synchronous_commit"}


def _start_logging(built: App) -> None:
    """Long-running commands log JSON lines to stderr (ANDON_LOG_FORMAT, ANDON_LOG_LEVEL)."""
    from andon.observability import logs

    logs.configure(built.telemetry.settings.log_format, built.telemetry.settings.log_level)


def _api_server(built: App, host: str, port: int, writes_per_s: float) -> uvicorn.Server:
    from andon.api import body_limit
    from andon.api.app import create_api

    api = create_api(
        built, writes_per_s=writes_per_s, burst=max(200.0, writes_per_s * 4),
        body_limits=body_limit.load(os.environ),
    )  # fmt: skip
    # log_config=None: uvicorn's records go to the root logger, as JSON lines like ours.
    config_ = uvicorn.Config(api, host=host, port=port, log_level="warning", log_config=None)
    return uvicorn.Server(config_)


def _stop_on_signals() -> threading.Event:
    """An event SIGTERM and SIGINT set: installed before the start line is printed, so a
    Ctrl-C right after it stops the process cleanly instead of interrupting its start."""
    stop = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def _serve(
    loop: Callable[[threading.Event], None], name: str, stop: threading.Event | None = None
) -> None:
    loop(stop or _stop_on_signals())
    err.print(f"{name} stopped", markup=False)


@app.command()
def demo(
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 1,
    scenario: Annotated[
        str, typer.Option("--scenario", help="plant (NCRs, requisitions) or maintenance")
    ] = "plant",
    mqtt: Annotated[
        str | None,
        typer.Option("--mqtt", help="HOST:PORT of the broker for the Sparkplug machine"),
    ] = None,
) -> None:
    """Simulate a plant: NCRs and requisitions with approvers, suppliers and escalations;
    or (--scenario maintenance) a machine stop escalated until the line runs again."""
    try:
        if scenario == "maintenance":
            from andon.demo.maintenance import run_maintenance_demo

            broker = None
            if mqtt:
                host, _, port = mqtt.rpartition(":")
                if not host or not port.isdigit():
                    fail(f"--mqtt: give HOST:PORT, not '{mqtt}'")
                broker = (host, int(port))
            run_maintenance_demo(config.load(os.environ), out, err, broker)
        elif scenario == "plant":
            from andon.demo import run_demo

            run_demo(config.load(os.environ), seed, out, err)
        else:
            fail(f"--scenario must be plant or maintenance, not '{scenario}'")
    except AndonError as exc:
        fail(str(exc))


@app.command()
def bench(
    runs: Annotated[int, typer.Option("--runs", min=10, help="NCR-lite runs.")] = 2000,
    latency_runs: Annotated[int, typer.Option("--latency-runs", min=10)] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    database: Annotated[Path | None, typer.Option("--database", help="Bench DB file.")] = None,
    synchronous: Annotated[str, typer.Option("--synchronous")] = "FULL",
    backend: Annotated[
        str, typer.Option("--backend", help="sqlite, or postgresql (the local server)")
    ] = "sqlite",
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=32, help="Worker processes (postgresql).")
    ] = 2,
) -> None:
    """Measure engine throughput and latency against the raw commit ceiling."""
    from andon.bench.ncr_lite import BenchConfig, run_bench

    try:
        if backend == "postgresql":
            from andon.bench.postgres import PgBenchConfig, run_pg_bench

            result = run_pg_bench(PgBenchConfig(workers=workers, runs=runs))
        elif backend == "sqlite":
            result = run_bench(
                BenchConfig(
                    runs=runs,
                    latency_runs=latency_runs,
                    database=database,
                    synchronous=synchronous,
                ),
                progress=err,
            )
        else:
            fail(f"--backend must be sqlite or postgresql, not {backend!r}")
    except (AndonError, OSError) as exc:
        fail(str(exc))
    if as_json:
        out.print(json.dumps(result, sort_keys=True), markup=False)
    else:
        out.print(render.bench_table(result))


@app.command("bench-http")
def bench_http(
    seconds: Annotated[float, typer.Option("--seconds", min=1.0)] = 60.0,
    clients: Annotated[int, typer.Option("--clients", min=1, max=64)] = 8,
) -> None:
    """Sustained event ingest over HTTP on loopback: events/s, p99, and none lost."""
    from andon.bench.ingest import IngestConfig, run_ingest

    try:
        result = run_ingest(IngestConfig(seconds, clients))
    except AndonError as exc:
        fail(str(exc))
    out.print(json.dumps(result, sort_keys=True), markup=False)
    if result["lost"]:
        fail(f"{result['lost']} accepted event(s) are not in the inbox")


@app.command("bench-cel")
def bench_cel(
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timings per expression.")] = 3,
) -> None:
    """The costliest CEL evaluations the budget admits, timed: the worst should stay < 100 ms."""
    from andon.bench.cel_cost import run_cel_bench

    out.print(json.dumps(run_cel_bench(repeats), indent=2), markup=False)


@app.command("bench-mqtt")
def bench_mqtt(
    events: Annotated[int, typer.Option("--events", min=10, help="Events per phase.")] = 5000,
    host: Annotated[
        str | None, typer.Option("--host", help="Broker; default: a private mosquitto.")
    ] = None,
    port: Annotated[int, typer.Option("--port", help="Broker port (with --host).")] = 1883,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    database: Annotated[Path | None, typer.Option("--database", help="Bench DB file.")] = None,
) -> None:
    """MQTT intake to committed inbox rows next to the broker's own rate: events/s, none lost."""
    from andon.bench.mqtt_intake import MqttBenchConfig, run_mqtt_bench, table

    try:
        result = run_mqtt_bench(MqttBenchConfig(events, host, port, database))
    except (AndonError, OSError) as exc:
        fail(str(exc))
    if as_json:
        out.print(json.dumps(result, sort_keys=True), markup=False)
    else:
        out.print(table(result))
    if result["lost"] or result["duplicates"]:
        fail(f"{result['lost']} event(s) lost, {result['duplicates']} doubled in the inbox")


@app.command("bench-dashboards")
def bench_dashboards(
    runs: Annotated[int, typer.Option("--runs", min=10, help="Completed runs.")] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="Generator seed.")] = 1,
    backend: Annotated[
        str, typer.Option("--backend", help="sqlite, or postgresql (the local server)")
    ] = "sqlite",
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timed runs per query.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    database: Annotated[
        Path | None, typer.Option("--database", help="SQLite file to keep and reuse.")
    ] = None,
) -> None:
    """Dashboard queries over a seeded store of N completed runs: ms per query vs 300 ms."""
    from andon.bench.dashboards import DashboardBenchConfig, run_dashboard_bench, table

    try:
        config = DashboardBenchConfig(runs, seed, backend, repeats, database)
        result = run_dashboard_bench(config, progress=None if as_json else err)
    except (AndonError, OSError) as exc:
        fail(str(exc))
    if as_json:
        out.print(json.dumps(result, sort_keys=True), markup=False)
    else:
        out.print(table(result))


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending schema migrations to the database."""
    with session() as built:
        where = built.service.store.describe()
        out.print(f"database {where} is at the latest schema", markup=False)


if __name__ == "__main__":  # pragma: no cover
    main()
