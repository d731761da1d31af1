from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from andon import bootstrap
from andon.runtime.clock import ManualClock
from backends import BACKENDS, settings_for

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every test that takes ``app`` runs on SQLite and on PostgreSQL."""
    return str(request.param)


@pytest.fixture
def app(backend: str, tmp_path: Path, clock: ManualClock) -> Iterator[bootstrap.App]:
    with settings_for(backend, tmp_path) as settings:
        built = bootstrap.build(settings, clock=clock)
        yield built
        built.close()
