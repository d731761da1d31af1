"""What every command shares: consoles, one-line failures, the app session, inputs."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from andon import bootstrap, config
from andon.core.json import JsonValue
from andon.errors import AndonError, TemplateError

# Piped output (scripts, CI logs) gets wide tables rather than ids cut to fit 80 columns.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", markup=True, highlight=False)
    raise typer.Exit(code)


@contextmanager
def session() -> Iterator[bootstrap.App]:
    """Build the app from the environment; turn Andon errors into one-line exits."""
    built: bootstrap.App | None = None
    try:
        built = bootstrap.build(config.load(os.environ))
        yield built
    except TemplateError as exc:
        for problem in exc.problems:
            err.print(str(problem), markup=False)
        fail(f"{len(exc.problems)} problem(s)")
    except AndonError as exc:
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    finally:
        if built is not None:
            built.close()


def parse_json(value: str, what: str) -> JsonValue:
    """JSON text, or ``@path`` to read it from a file."""
    text = value
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            fail(f"cannot read {what} file {path}: {exc.strerror}")
    try:
        parsed: JsonValue = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    return parsed


def instant(text: str, option: str) -> datetime:
    """An ISO 8601 time with its UTC offset, given as ``option``."""
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option}: '{text}' is not an ISO 8601 time like 2026-11-26T08:00:00+00:00")
    if found.tzinfo is None:
        fail(f"{option}: '{text}' has no UTC offset (add Z or +01:00)")
    return found


def read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text")


AsUser = Annotated[str, typer.Option("--as", envvar="ANDON_USER", help="Who acts (a user id).")]
InTenant = Annotated[
    str, typer.Option("--tenant", envvar="ANDON_TENANT", help="The tenant acted in.")
]
