"""Fixtures every folder shares, built with the public kit (andon.testing): ``clock``,
``backend`` and ``app``; a folder's conftest or a test file overrides them where it needs
something else.

Every test process also gets its own configuration folder: signing keys and checkpoint logs
that Andon keeps outside the database by default (ANDON_CONFIG_DIR, else
$XDG_CONFIG_HOME/andon) never land in the home folder, and ``andon`` subprocesses, which
inherit the environment, find the same ones."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from andon import bootstrap, testing
from backends import BACKENDS, database_url

_CONFIG_HOME = "XDG_CONFIG_HOME"
_KEY = pytest.StashKey[tuple[str | None, str]]()


def pytest_configure(config: pytest.Config) -> None:
    folder = tempfile.mkdtemp(prefix="andon-config-")
    config.stash[_KEY] = (os.environ.get(_CONFIG_HOME), folder)
    os.environ[_CONFIG_HOME] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    previous, folder = config.stash.get(_KEY, (None, ""))
    if previous is None:
        os.environ.pop(_CONFIG_HOME, None)
    else:
        os.environ[_CONFIG_HOME] = previous
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def clock() -> testing.ManualClock:
    return testing.ManualClock(testing.T0)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every test that takes ``app`` runs on SQLite and on PostgreSQL."""
    return str(request.param)


@pytest.fixture
def app(backend: str, tmp_path: Path, clock: testing.ManualClock) -> Iterator[bootstrap.App]:
    """Andon on a new database of ``backend``, on the test's clock."""
    with database_url(backend) as url, testing.app(tmp_path, url, clock=clock) as built:
        yield built
