"""``andon worker``, ``andon up`` and ``andon api``: the long-running commands, and what they
share (the API server and signed checkpoints in threads, a clean stop on SIGTERM/SIGINT)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Annotated

import typer
import uvicorn

from andon import config
from andon.bootstrap import App
from andon.cli.shell import err, fail, session
from andon.errors import AndonError
from andon.runtime.worker import WorkerSettings

# The options of ``andon up``, named once: the tools' ``andon up --demo`` takes them too.
UpHost = Annotated[str, typer.Option("--host", help="Address the HTTP API listens on.")]
UpPort = Annotated[int, typer.Option("--port", min=0, max=65535)]
NoApi = Annotated[bool, typer.Option("--no-api", help="Only the worker.")]
WritesPerS = Annotated[
    float, typer.Option("--writes-per-s", min=0.1, help="Write rate per API token.")
]
CheckpointEvery = Annotated[
    float, typer.Option("--checkpoint-every", help="Seconds between signed checkpoints.")
]


def register(app: typer.Typer) -> None:
    app.command()(worker)
    app.command()(up)
    app.command("api")(api_only)


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
        start_logging(built)
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
            stop = stop_on_signals()
            err.print(
                f"worker {runner.owner} ready: batch {batch}, {concurrency} at once, "
                f"lease {lease:g} s",
                markup=False,
            )
            serve_until_stopped(lambda stop: runner.run_forever(stop), "worker", stop)
        finally:
            runner.close()


def up(
    host: UpHost = "127.0.0.1",
    port: UpPort = 8080,
    no_api: NoApi = False,
    writes_per_s: WritesPerS = 50.0,
    checkpoint_every: CheckpointEvery = 300.0,
) -> None:
    """Run Andon on this machine: HTTP API and web UI, worker and signed audit checkpoints
    (SQLite by default)."""
    with session() as built:
        start_logging(built)
        runner = built.worker(on_error=lambda m: err.print(f"worker: {m}", markup=False))
        settings = config.load(os.environ)
        where = "" if no_api else f"; web UI on http://{host}:{port}/ui, API on /docs"
        durability = f"{_SYNC_NAMES[settings.store.backend]}={built.service.store.synchronous}"
        stop = stop_on_signals()
        err.print(
            f"andon up: database {settings.store.url} ({durability}){where}; Ctrl-C stops",
            markup=False,
        )
        server = None if no_api else api_server(built, host, port, writes_per_s)

        def services(stop: threading.Event) -> None:
            run_services(built, server, checkpoint_every, stop, runner.run_forever)

        try:
            serve_until_stopped(services, "up", stop)
        finally:
            runner.close()


def run_services(
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


def api_only(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8080,
    writes_per_s: Annotated[float, typer.Option("--writes-per-s", min=0.1)] = 50.0,
) -> None:
    """Serve only the HTTP API (stateless: run as many as needed behind a load balancer)."""
    with session() as built:
        start_logging(built)
        err.print(f"andon api on http://{host}:{port}/docs; Ctrl-C stops", markup=False)
        api_server(built, host, port, writes_per_s).run()


_SYNC_NAMES = {"sqlite": "synchronous", "postgresql": "synchronous_commit"}


def start_logging(built: App) -> None:
    """Long-running commands log JSON lines to stderr (ANDON_LOG_FORMAT, ANDON_LOG_LEVEL)."""
    from andon.observability import logs

    logs.configure(built.telemetry.settings.log_format, built.telemetry.settings.log_level)


def api_server(built: App, host: str, port: int, writes_per_s: float) -> uvicorn.Server:
    from andon.api import body_limit
    from andon.api.app import create_api

    api = create_api(
        built, writes_per_s=writes_per_s, burst=max(200.0, writes_per_s * 4),
        body_limits=body_limit.load(os.environ),
    )  # fmt: skip
    # log_config=None: uvicorn's records go to the root logger, as JSON lines like ours.
    config_ = uvicorn.Config(api, host=host, port=port, log_level="warning", log_config=None)
    return uvicorn.Server(config_)


def stop_on_signals() -> threading.Event:
    """An event SIGTERM and SIGINT set: installed before the start line is printed, so a
    Ctrl-C right after it stops the process cleanly instead of interrupting its start."""
    stop = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def serve_until_stopped(
    loop: Callable[[threading.Event], None], name: str, stop: threading.Event | None = None
) -> None:
    """Run ``loop`` until SIGTERM/SIGINT (or ``stop``), then say that ``name`` stopped."""
    loop(stop or stop_on_signals())
    err.print(f"{name} stopped", markup=False)
