"""Every test process gets its own configuration folder: signing keys and checkpoint logs
that Andon keeps outside the database by default (ANDON_CONFIG_DIR, else
$XDG_CONFIG_HOME/andon) never land in the home folder, and ``andon`` subprocesses, which
inherit the environment, find the same ones."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

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
