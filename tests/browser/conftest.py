"""Fixtures of the UI tests: the ``ui_world`` database (a test module may override
``world`` to prepare more), FastAPI's test client over it, the same served with a worker
thread, and a headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import ui_world
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright
from ui_served import CHROMIUM_ARGS, chromium, serve
from ui_world import World

from andon.api.app import create_api


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = ui_world.build(tmp_path)
    yield built
    built.app.close()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_api(world.app)) as http:
        yield http


@pytest.fixture
def served(world: World) -> Iterator[tuple[str, World]]:
    with serve(world) as base:
        yield base, world


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()
