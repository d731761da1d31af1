"""The process-mining group: pm4py (AGPL, the ``pm`` dependency group) reads our exports.

Run with ``make test-pm``; the default run leaves this folder out (``--ignore=tests/pm``
in pytest's addopts), so ``make test`` never needs pm4py. Here the tests fail, never skip,
when pm4py is missing.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "pm: reads the OCEL/XES exports back with pm4py (make test-pm)"
    )
