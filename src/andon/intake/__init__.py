"""Event intake from brokers and machines: one small interface, one module per technology.

An adapter turns what its broker or server delivers into :class:`InboundEvent` values and
hands each to an :class:`EventSink`. The sink commits the event to the inbox (deduplicated on
``source`` + ``event_id``) before it returns; only then does the adapter acknowledge the
message to its broker. A crash between commit and ack makes the broker redeliver, and the
inbox drops the duplicate, so every event is taken exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from andon.core.json import JsonValue


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """One event as the engine takes it: ``event_type`` without the ``andon.`` prefix and
    version suffix (``machine.state_changed``), ``key`` the correlation key runs wait on,
    ``source`` + ``event_id`` unique per event across redeliveries."""

    event_type: str
    key: str
    data: JsonValue
    source: str
    event_id: str
    plant: str = ""


class EventSink(Protocol):
    """Commits one event; returns False when it was a duplicate. Blocking: adapters on an
    event loop call it in a worker thread. Raising means "not committed": the adapter must
    not acknowledge, so the broker delivers the message again."""

    def __call__(self, event: InboundEvent) -> bool: ...
