"""``andon export``: run journals as process-mining logs (OCEL 2.0 JSON, XES)."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TextIO

import typer

from andon.cli.shell import AsUser, InTenant, err, fail, session
from andon.export import Scope, Written, scope_for, write_ocel, write_xes
from andon.runtime.directory import DEFAULT_TENANT, LOCAL_ADMIN
from andon.store.sql import SqlStore

Writer = Callable[[SqlStore, Scope, TextIO], Written]

export_app = typer.Typer(help="Process-mining logs of the runs.", no_args_is_help=True)

OutFile = Annotated[
    Path | None,
    typer.Option("--out", help="File to write (gzip when it ends in .gz); default stdout."),
]
OnlyTemplate = Annotated[str | None, typer.Option("--template", help="Only runs of this template.")]
Since = Annotated[
    str | None, typer.Option("--since", help="Only runs started at or after (ISO 8601, UTC).")
]
Until = Annotated[str | None, typer.Option("--until", help="Only runs started before (ISO 8601).")]


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")


@export_app.command("ocel")
def ocel(
    out_file: OutFile = None,
    template: OnlyTemplate = None,
    since: Since = None,
    until: Until = None,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """OCEL 2.0 JSON: events linked to their run, NCR, lot, supplier, requisition, order..."""
    _export(write_ocel, out_file, template, since, until, user, tenant)


@export_app.command("xes")
def xes(
    out_file: OutFile = None,
    template: OnlyTemplate = None,
    since: Since = None,
    until: Until = None,
    user: AsUser = LOCAL_ADMIN,
    tenant: InTenant = DEFAULT_TENANT,
) -> None:
    """XES: one trace per run, events with activity, time, lifecycle and resource."""
    _export(write_xes, out_file, template, since, until, user, tenant)


def _export(
    writer: Writer,
    out_file: Path | None,
    template: str | None,
    since: str | None,
    until: str | None,
    user: str,
    tenant: str,
) -> None:
    start, end = _time(since, "--since"), _time(until, "--until")
    with session() as built:
        scope = scope_for(built.actor(user, tenant), template, start, end)
        store = built.service.store
        if out_file is None:
            with _stdout() as stream:
                written = writer(store, scope, stream)
        else:
            try:
                with _file(out_file) as stream:
                    written = writer(store, scope, stream)
            except OSError as exc:
                fail(f"cannot write {out_file}: {exc.strerror or exc}")
    objects = f", {written.objects} objects" if written.objects else ""
    where = f" to {out_file}" if out_file else ""
    err.print(
        f"exported {written.cases} runs, {written.events} events{objects}{where}", markup=False
    )


def _time(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: not an ISO 8601 date or time: {value!r}", 2)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


@contextlib.contextmanager
def _stdout() -> Iterator[TextIO]:
    """stdout as UTF-8 whatever the locale says."""
    sys.stdout.flush()
    stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
    try:
        yield stream
    finally:
        stream.flush()
        stream.detach()


@contextlib.contextmanager
def _file(path: Path) -> Iterator[TextIO]:
    """A file written beside ``path`` and renamed over it once complete.

    A ``.gz`` file is gzip with no name or time in its header, so that the same runs give
    the same bytes.
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as raw:
            if path.suffix == ".gz":
                with (
                    gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed,
                    io.TextIOWrapper(packed, encoding="utf-8", newline="\n") as stream,
                ):
                    yield stream
            else:
                with io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as stream:
                    yield stream
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
