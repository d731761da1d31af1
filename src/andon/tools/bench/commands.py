"""``andon bench`` and its kin (``bench-http``, ``bench-cel``, ``bench-mqtt``,
``bench-dashboards``): the benchmarks on the command line, added to the product's commands by
the tools. Each imports its bench when run, so that other commands start no slower."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from andon.cli.shell import err, fail, out
from andon.core.json import JsonValue
from andon.errors import AndonError
from andon.tools.bench import figures

Figures = dict[str, JsonValue]


def register(app: typer.Typer) -> None:
    app.command()(bench)
    app.command("bench-http")(bench_http)
    app.command("bench-cel")(bench_cel)
    app.command("bench-mqtt")(bench_mqtt)
    app.command("bench-dashboards")(bench_dashboards)


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
    from andon.tools.bench.ncr_lite import BenchConfig, run_bench

    try:
        if backend == "postgresql":
            from andon.tools.bench.postgres import PgBenchConfig, run_pg_bench

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
    _report(result, as_json, lambda figs: figures.table("andon bench (NCR-lite)", figs))


def _report(result: Figures, as_json: bool, table: Callable[[Figures], Table]) -> None:
    """The figures as one JSON object, or as the bench's table."""
    if as_json:
        out.print(json.dumps(result, sort_keys=True), markup=False)
    else:
        out.print(table(result))


def bench_http(
    seconds: Annotated[float, typer.Option("--seconds", min=1.0)] = 60.0,
    clients: Annotated[int, typer.Option("--clients", min=1, max=64)] = 8,
) -> None:
    """Sustained event ingest over HTTP on loopback: events/s, p99, and none lost."""
    from andon.tools.bench.ingest import IngestConfig, run_ingest

    try:
        result = run_ingest(IngestConfig(seconds, clients))
    except AndonError as exc:
        fail(str(exc))
    out.print(json.dumps(result, sort_keys=True), markup=False)
    if result["lost"]:
        fail(f"{result['lost']} accepted event(s) are not in the inbox")


def bench_cel(
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timings per expression.")] = 3,
) -> None:
    """The costliest CEL evaluations the budget admits, timed: the worst should stay < 100 ms."""
    from andon.tools.bench.cel_cost import run_cel_bench

    out.print(json.dumps(run_cel_bench(repeats), indent=2), markup=False)


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
    from andon.tools.bench.mqtt_intake import MqttBenchConfig, run_mqtt_bench, table

    try:
        result = run_mqtt_bench(MqttBenchConfig(events, host, port, database))
    except (AndonError, OSError) as exc:
        fail(str(exc))
    _report(result, as_json, table)
    if result["lost"] or result["duplicates"]:
        fail(f"{result['lost']} event(s) lost, {result['duplicates']} doubled in the inbox")


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
    from andon.tools.bench.dashboards import DashboardBenchConfig, run_dashboard_bench, table

    try:
        config = DashboardBenchConfig(runs, seed, backend, repeats, database)
        result = run_dashboard_bench(config, progress=None if as_json else err)
    except (AndonError, OSError) as exc:
        fail(str(exc))
    _report(result, as_json, table)
