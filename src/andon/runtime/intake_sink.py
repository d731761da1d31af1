"""The sink adapters hand their events to: the service's inbox, or the dead-letter list.

``take`` commits the event (deduplicated on source + event id) before it returns, so the
adapter acknowledges only what is safe; an event breaking its contract is committed as a
dead letter instead (and acknowledged: no redelivery can fix it). ``reject`` keeps what an
adapter could not map at all. Both act as the connector's own service identity.
"""

from __future__ import annotations

import base64
import json

from andon.core.json import JsonValue
from andon.governance.identity import Actor
from andon.intake import InboundEvent
from andon.runtime.dead_letters import MAPPING
from andon.runtime.service import Andon


class ServiceSink:
    def __init__(self, service: Andon, actor: Actor, channel: str) -> None:
        self.service = service
        self.actor = actor
        self.channel = channel
        self.taken = 0
        self.duplicates = 0
        self.dead_letters = 0

    def __call__(self, event: InboundEvent) -> bool:
        """EventSink: True when the event was new and taken in."""
        got = self.service.take_event(self.actor, self.channel, event)
        if got.dead_letter is not None:
            self.dead_letters += 1
            return False
        if got.duplicate:
            self.duplicates += 1
            return False
        self.taken += 1
        return True

    def reject(self, where: str, payload: bytes | JsonValue, reason: str) -> None:
        """Keep a message no event could be made of, with where it came from and why."""
        self.service.keep_dead_letter(
            self.actor, self.channel, MAPPING, f"{where}: {reason}", kept_text(payload)
        )
        self.dead_letters += 1


def kept_text(payload: bytes | JsonValue) -> str:
    """The payload as text: UTF-8 as it is, binary (Sparkplug protobuf) as ``base64:...``."""
    if isinstance(payload, bytes):
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(payload).decode("ascii")
    return payload if isinstance(payload, str) else json.dumps(payload, sort_keys=True)
