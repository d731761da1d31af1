from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from andon import bootstrap
from andon.api.app import create_api
from andon.config import Settings, StoreSettings
from andon.runtime.clock import ManualClock

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def app(tmp_path: Path, clock: ManualClock) -> Iterator[bootstrap.App]:
    built = bootstrap.build(
        Settings(store=StoreSettings(f"sqlite:///{tmp_path / 'andon.db'}")), clock=clock
    )
    yield built
    built.close()


@pytest.fixture
def http(app: bootstrap.App) -> Iterator[TestClient]:
    with TestClient(create_api(app, writes_per_s=1000, burst=1000)) as client:
        yield client
