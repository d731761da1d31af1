from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from andon import bootstrap
from andon.api.app import create_api


@pytest.fixture
def http(app: bootstrap.App) -> Iterator[TestClient]:
    with TestClient(create_api(app, writes_per_s=1000, burst=1000)) as client:
        yield client
