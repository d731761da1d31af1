"""Fixtures that run a real Tryton ERP (its own venv, never imported) for the connector tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tryton_server import TrytonServer, TrytonTemplate, ensure_template


@pytest.fixture(autouse=True)
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tryton listens on loopback, which egress refuses unless explicitly allowed (andon
    processes started from a test inherit the setting)."""
    monkeypatch.setenv("ANDON_EGRESS_ALLOW", "127.0.0.1/32")


@pytest.fixture(scope="session")
def tryton_template() -> TrytonTemplate:
    """Venv plus template database, built by scripts/tryton_env.py when missing or stale."""
    return ensure_template()


def _serve(template: TrytonTemplate, tmp_path_factory: pytest.TempPathFactory) -> TrytonServer:
    server = TrytonServer(template, tmp_path_factory.mktemp("tryton"))
    server.start()
    return server


@pytest.fixture(scope="module")
def tryton(
    tryton_template: TrytonTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TrytonServer]:
    """A server shared by one test module (startup costs ~5 s); tests keep apart by keys."""
    server = _serve(tryton_template, tmp_path_factory)
    yield server
    server.stop()


@pytest.fixture
def own_tryton(
    tryton_template: TrytonTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TrytonServer]:
    """A server for one test, for tests that stop and restart it."""
    server = _serve(tryton_template, tmp_path_factory)
    yield server
    server.stop()


@pytest.fixture
def tryton_env(tryton: TrytonServer, monkeypatch: pytest.MonkeyPatch) -> TrytonServer:
    """Point the ``tryton.*`` actions at the shared server."""
    for name, value in tryton.env().items():
        monkeypatch.setenv(name, value)
    return tryton
