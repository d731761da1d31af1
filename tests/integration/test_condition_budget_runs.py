"""Conditions over large inputs: evaluated quickly, or an incident / a clear error; never a
freeze inside the write transaction (the CEL binding cannot be interrupted once it runs)."""

from __future__ import annotations

import threading
import time

import pytest

from andon import bootstrap
from andon.core.json import JsonValue
from andon.core.template import Template
from andon.errors import InputError
from andon.runtime.service import StartRequest
from andon.testing import accept_any, publish, tenant_reader

PAIRS = "input.items.exists(a, input.items.exists(b, a + b == -1))"
SWEEP = f"""\
id: sweep
version: 1
input:
  type: object
  properties:
    items: {{type: array, items: {{type: integer}}}}
steps:
  - id: check
    kind: timer
    duration: 1h
    when: "{PAIRS}"
  - id: done
    kind: end
"""
TRIGGERED = f"""\
id: on-batch
version: 1
input:
  type: object
  properties:
    items: {{type: array, items: {{type: integer}}}}
triggers:
  - event: batch.done
    when: "{PAIRS}"
steps:
  - id: done
    kind: end
"""


def status(app: bootstrap.App, run_id: str) -> str:
    with tenant_reader(app) as reader:
        row = reader.run(run_id)
    assert row is not None
    return row.status


def test_a_condition_over_a_large_list_is_an_incident_not_a_freeze(app: bootstrap.App) -> None:
    publish(app.service, app.actor(), SWEEP, "sweep.yaml")
    small = app.service.start_run(app.actor(), StartRequest("sweep", {"items": [1, 2, 3]}))
    assert status(app, small) == "completed"  # the condition was false: the timer skipped
    started = time.monotonic()
    large = app.service.start_run(app.actor(), StartRequest("sweep", {"items": list(range(5_000))}))
    assert time.monotonic() - started < 5  # unbounded: 25 million pairs, minutes
    assert status(app, large) == "incident"


def test_a_trigger_condition_over_a_large_list_refuses_the_event(app: bootstrap.App) -> None:
    accept_any(app.service, app.actor(), "batch.done")
    publish(app.service, app.actor(), TRIGGERED, "on-batch.yaml")
    assert (
        len(app.service.send_event(app.actor(), "batch.done", "k1", {"items": [1, -2]}).started)
        == 1
    )
    started = time.monotonic()
    with pytest.raises(InputError, match=r"trigger on batch\.done: .*too costly"):
        app.service.send_event(app.actor(), "batch.done", "k2", {"items": list(range(5_000))})
    assert time.monotonic() - started < 5


def test_trigger_conditions_are_judged_before_the_write_lock_is_taken(
    app: bootstrap.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a trigger's condition is evaluated, another writer taking in the same event
    type and key is not held up (it would wait for the whole evaluation otherwise)."""
    accept_any(app.service, app.actor(), "batch.done")
    publish(app.service, app.actor(), TRIGGERED, "on-batch.yaml")
    judged = Template.starts_on
    tenant = app.actor().tenant_id
    writer_done: list[bool] = []

    def starts_on(template: Template, event_type: str, data: JsonValue) -> bool:
        def other_writer() -> None:
            with app.service.store.transaction() as tx:
                tx.scoped(tenant).lock_correlation("batch.done", "k1")

        other = threading.Thread(target=other_writer, daemon=True)
        other.start()
        other.join(5)
        writer_done.append(not other.is_alive())
        return judged(template, event_type, data)

    monkeypatch.setattr(Template, "starts_on", starts_on)
    received = app.service.send_event(app.actor(), "batch.done", "k1", {"items": [1, -2]})
    assert len(received.started) == 1
    assert writer_done == [True]
