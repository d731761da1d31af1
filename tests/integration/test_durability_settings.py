"""Durability is asserted at start, not assumed: a PostgreSQL that acknowledges commits
before they reach disk (``synchronous_commit=off``) is refused unless the operator allows
it, SQLite runs with ``synchronous=FULL`` unless told otherwise, and every lowered setting
is named in the log with the value really in force."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from andon import bootstrap, config
from andon.errors import InputError, StoreError
from backends import BACKENDS, rows
from pg_support import fresh_database

LOGGERS = ("andon.store.postgres", "andon.store.sqlite")


@contextmanager
def database(backend: str, tmp_path: Path, *, lowered: bool) -> Iterator[dict[str, str]]:
    """The environment of a fresh database; ``lowered``: on a server set to
    ``synchronous_commit=off`` (as an operator's ALTER DATABASE would), or with SQLite's
    NORMAL asked for."""
    keys_dir = tmp_path / "keys"  # apart from the database, as the key checks require
    keys_dir.mkdir(exist_ok=True)
    keys = {
        "ANDON_SIGNING_KEY": str(keys_dir / "signing-key"),
        "ANDON_SECRETS_KEY": str(keys_dir / "secrets-key"),
    }
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'andon.db'}"
        extra = {"ANDON_SQLITE_SYNCHRONOUS": "NORMAL"} if lowered else {}
        yield {"ANDON_DATABASE_URL": url, **keys, **extra}
        return
    with fresh_database() as url:
        if lowered:
            name = url.rsplit("/", 1)[1]
            with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
                conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        yield {"ANDON_DATABASE_URL": url, **keys}


def test_postgres_with_commits_acknowledged_before_disk_is_refused(tmp_path: Path) -> None:
    with (
        database("postgresql", tmp_path, lowered=True) as environ,
        pytest.raises(StoreError) as refused,
    ):
        bootstrap.build(config.load(environ))
    message = str(refused.value)
    assert "synchronous_commit is 'off'" in message
    assert "ANDON_ALLOW_ASYNC_COMMIT=1" in message


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_default_is_durable_and_not_warned_about(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with database(backend, tmp_path, lowered=False) as environ:
        app = bootstrap.build(config.load(environ))
        try:
            if backend == "sqlite":
                assert rows(app, "PRAGMA synchronous") == [(2,)]  # 2 = FULL
                assert app.service.store.synchronous == "FULL"
            else:
                assert rows(app, "SHOW synchronous_commit") == [("on",)]
                assert app.service.store.synchronous == "on"
        finally:
            app.close()
    assert not [r for r in caplog.records if r.name in LOGGERS]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_lowered_setting_runs_only_when_asked_and_the_log_names_it(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with database(backend, tmp_path, lowered=True) as environ:
        if backend == "postgresql":
            environ["ANDON_ALLOW_ASYNC_COMMIT"] = "1"
        app = bootstrap.build(config.load(environ))
        try:
            if backend == "sqlite":
                assert rows(app, "PRAGMA synchronous") == [(1,)]  # 1 = NORMAL
                named = "synchronous=NORMAL"
            else:
                assert rows(app, "SHOW synchronous_commit") == [("off",)]
                named = "synchronous_commit is 'off'"
        finally:
            app.close()
    warned = [r.getMessage() for r in caplog.records if r.name in LOGGERS]
    assert len(warned) == 1 and named in warned[0], warned
    assert all(r.levelname == "WARNING" for r in caplog.records if r.name in LOGGERS)


def test_the_allow_setting_takes_only_yes_or_no() -> None:
    assert config.load({"ANDON_ALLOW_ASYNC_COMMIT": "1"}).store.allow_async_commit
    assert not config.load({}).store.allow_async_commit
    with pytest.raises(InputError, match="ANDON_ALLOW_ASYNC_COMMIT must be 1 or 0, got 'off'"):
        config.load({"ANDON_ALLOW_ASYNC_COMMIT": "off"})


def up(environ: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """``andon up`` (worker only) as a process of its own, with only ``environ``'s settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ANDON_")}
    return subprocess.Popen(
        [sys.executable, "-m", "andon.cli.main", "up", "--no-api"],
        cwd=cwd,
        env={**base, **environ},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )


def until_started(process: subprocess.Popen[str]) -> str:
    """What ``process`` says until its start line (then stops it as Ctrl-C would), or
    until it ends by itself."""
    assert process.stderr is not None
    said = ""
    try:
        for line in process.stderr:
            said += line
            if line.startswith("andon up:"):
                process.send_signal(signal.SIGINT)
                break
        return said + process.communicate(timeout=60)[1]
    finally:
        if process.poll() is None:  # a failed assertion leaves no server behind
            process.kill()
            process.wait()


@pytest.mark.parametrize("backend", BACKENDS)
def test_andon_up_names_the_setting_in_force(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path, lowered=True) as environ:
        if backend == "postgresql":  # refused until allowed, with the value named
            refused = up(environ, tmp_path)
            said = until_started(refused)
            assert refused.returncode != 0 and "synchronous_commit is 'off'" in said, said
            environ["ANDON_ALLOW_ASYNC_COMMIT"] = "1"
        started = up(environ, tmp_path)
        said = until_started(started)
    assert started.returncode == 0, said
    named = "synchronous=NORMAL" if backend == "sqlite" else "synchronous_commit=off"
    start_line = next(line for line in said.splitlines() if line.startswith("andon up:"))
    assert f"({named})" in start_line, said
    assert "can be lost" in said, said  # the loud warning, with the value found
