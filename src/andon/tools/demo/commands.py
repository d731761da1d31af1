"""``andon demo`` and ``andon up --demo``: the simulated plants on the command line, added to
the product's commands by the tools (the shells do not know the demo)."""

from __future__ import annotations

import os
import threading
from typing import Annotated

import typer

from andon import config
from andon.cli import serve
from andon.cli.shell import err, fail, out
from andon.errors import AndonError


def register(app: typer.Typer) -> None:
    """Add ``andon demo``, and give the product's ``andon up`` the --demo options in place
    (so that --help still lists it where it was)."""
    found = next(info for info in app.registered_commands if info.callback is serve.up)
    found.callback = up
    app.command()(demo)


def up(
    host: serve.UpHost = "127.0.0.1",
    port: serve.UpPort = 8080,
    no_api: serve.NoApi = False,
    writes_per_s: serve.WritesPerS = 50.0,
    checkpoint_every: serve.CheckpointEvery = 300.0,
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
    serve.up(host, port, no_api, writes_per_s, checkpoint_every)


def _up_demo(
    host: str,
    port: int,
    writes_per_s: float,
    checkpoint_every: float,
    live: tuple[int, float, float],
) -> None:
    from andon.tools.demo.live import LiveDemo, LiveSettings, banner

    settings = config.load(os.environ)
    err.print(f"andon up --demo: database {settings.store.url}", markup=False)
    try:
        plants = LiveDemo(settings, LiveSettings(*live), err)
    except AndonError as exc:
        fail(str(exc).splitlines()[0])
    try:
        serve.start_logging(plants.app)
        server = serve.api_server(plants.app, host, port, writes_per_s)

        def show() -> None:
            for line in banner(f"http://{host}:{port}"):
                out.print(line, markup=False, highlight=False)

        def loop(stop: threading.Event) -> None:
            plants.run(stop, lambda m: err.print(m, markup=False))

        def services(stop: threading.Event) -> None:
            serve.run_services(plants.app, server, checkpoint_every, stop, loop, show)

        serve.serve_until_stopped(services, "up")
    finally:
        plants.close()


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
            from andon.tools.demo.maintenance import run_maintenance_demo

            broker = None
            if mqtt:
                host, _, port = mqtt.rpartition(":")
                if not host or not port.isdigit():
                    fail(f"--mqtt: give HOST:PORT, not '{mqtt}'")
                broker = (host, int(port))
            run_maintenance_demo(config.load(os.environ), out, err, broker)
        elif scenario == "plant":
            from andon.tools.demo import run_demo

            run_demo(config.load(os.environ), seed, out, err)
        else:
            fail(f"--scenario must be plant or maintenance, not '{scenario}'")
    except AndonError as exc:
        fail(str(exc))
