"""Dead letters and replay: nothing an adapter receives is lost, even when it cannot be
taken in yet.

An event that cannot be mapped, whose type has no contract, or whose data breaks the
contract is kept with the reason (``keep_dead_letter``). An operator fixes the cause
(registers the contract, corrects the mapping) and replays it: the event goes through
``send_event`` again under its original source and id, so the inbox still takes it once.
``replay_inbox`` starts runs of one template version from the events of a time window, for
a fix that needs a new template version; both are on the administrative audit chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from andon.core.json import JsonValue
from andon.errors import ConflictError, ContractViolation, InputError, NotFoundError
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.intake import InboundEvent
from andon.runtime import admin_chain
from andon.runtime.clock import Clock
from andon.runtime.facts import FactWriter, StartRequest
from andon.runtime.operations import operation
from andon.runtime.signals import Signals
from andon.runtime.templates import TemplateCache
from andon.store.dead_letters import DeadLetter
from andon.store.sql import SqlStore

if TYPE_CHECKING:
    from andon.runtime.service import Received

MAPPING = "mapping"
CONTRACT = "contract"
MAX_PAYLOAD = 256 * 1024
"""Characters of a payload kept; a longer one is cut (the reason says why it failed)."""

Remapper = Callable[[str, str, str], InboundEvent]
"""``(tenant, channel, payload)`` -> the event: maps a kept payload again (after the
mapping was fixed), registered per kind of channel (the part of the channel before ':')."""


@dataclass(frozen=True, slots=True)
class Taken:
    """What happened to an event an adapter handed in: taken in (``received``) or kept as
    the dead letter ``dead_letter``."""

    received: Received | None = None
    dead_letter: str | None = None

    @property
    def duplicate(self) -> bool:
        return self.received is not None and self.received.duplicate


@dataclass(frozen=True, slots=True)
class InboxReplay:
    template: str
    events: int
    started: tuple[str, ...]
    already: int
    """Events of the window that had started a run of this version before."""


def letter_id(channel: str, event: InboundEvent | None, payload: str) -> str:
    """Stable per message, so a redelivery lands on the same letter."""
    basis = f"{event.source}\0{event.event_id}" if event else payload
    return "dl-" + hashlib.sha256(f"{channel}\0{basis}".encode()).hexdigest()[:20]


def replay_run_id(tenant: str, source: str, event_id: str, template: str, version: int) -> str:
    """Derived like a triggered run's id, with the version: one run per event and version."""
    digest = hashlib.sha256(f"{tenant}\0{source}\0{event_id}\0{template}@{version}".encode())
    return "r" + digest.hexdigest()[:23]


class DeadLetterDesk:
    """Dead-letter and replay operations of the service (mixed into ``Andon``)."""

    store: SqlStore
    clock: Clock
    facts: FactWriter
    templates: TemplateCache
    signals: Signals
    remappers: dict[str, Remapper]

    def send_event(
        self,
        actor: Actor,
        event_type: str,
        key: str,
        data: JsonValue,
        *,
        source: str = "cli",
        event_id: str | None = None,
        plant: str = "",
    ) -> Received:
        raise NotImplementedError

    @operation(Permission.EVENT_SEND)
    def take_event(self, actor: Actor, channel: str, event: InboundEvent) -> Taken:
        """Take in an adapter's event; one breaking its contract becomes a dead letter."""
        try:
            got = self.send_event(
                actor, event.event_type, event.key, event.data,
                source=event.source, event_id=event.event_id, plant=event.plant,
            )  # fmt: skip
        except ContractViolation as exc:
            payload = json.dumps(_event_json(event), sort_keys=True)
            kept = self.keep_dead_letter(actor, channel, CONTRACT, str(exc), payload, event)
            return Taken(dead_letter=kept)
        return Taken(received=got)

    @operation(Permission.EVENT_SEND)
    def keep_dead_letter(
        self,
        actor: Actor,
        channel: str,
        stage: str,
        reason: str,
        payload: str,
        event: InboundEvent | None = None,
    ) -> str:
        """Keep what could not be taken in; returns the letter's id."""
        authz.require(actor, Permission.EVENT_SEND)
        if stage not in (MAPPING, CONTRACT):
            raise InputError(f"stage must be '{MAPPING}' or '{CONTRACT}', not '{stage}'")
        kept = payload[:MAX_PAYLOAD]
        letter = DeadLetter(
            letter_id(channel, event, kept), channel, stage, reason[:2000], kept,
            _event_json(event) if event else None, self.clock.now().timestamp(), 1,
        )  # fmt: skip
        with self.store.transaction() as unscoped:
            unscoped.scoped(actor.tenant_id).add_dead_letter(letter)
        return letter.letter_id

    @operation(Permission.EVENT_REPLAY)
    def dead_letters(
        self, actor: Actor, *, open_only: bool = True, limit: int = 200
    ) -> list[DeadLetter]:
        authz.require(actor, Permission.EVENT_REPLAY)
        with self.store.reader() as reader:
            return reader.scoped(actor.tenant_id).dead_letters(open_only=open_only, limit=limit)

    @operation(Permission.EVENT_REPLAY)
    def dead_letter(self, actor: Actor, letter_id: str) -> DeadLetter:
        authz.require(actor, Permission.EVENT_REPLAY)
        with self.store.reader() as reader:
            found = reader.scoped(actor.tenant_id).dead_letter(letter_id)
        if found is None:
            raise NotFoundError(f"no dead letter '{letter_id}'")
        return found

    @operation(Permission.EVENT_REPLAY)
    def replay_dead_letter(self, actor: Actor, letter_id: str) -> Received:
        """Take the letter's event in again (mapped again when mapping failed); the letter
        is closed only if that succeeds, else the error says what is still wrong."""
        letter = self.dead_letter(actor, letter_id)
        if letter.resolved_at is not None:
            raise ConflictError(f"dead letter {letter_id} was {letter.resolution} already")
        event = self._event_of(actor.tenant_id, letter)
        got = self.send_event(
            actor, event.event_type, event.key, event.data,
            source=event.source, event_id=event.event_id, plant=event.plant,
        )  # fmt: skip
        self._resolve(actor, letter, "replayed", {"started": list(got.started),
                                                  "reached": got.reached})  # fmt: skip
        return got

    @operation(Permission.EVENT_REPLAY)
    def discard_dead_letter(self, actor: Actor, letter_id: str, why: str) -> None:
        """Close a letter without taking it in (a test message, a retired machine)."""
        if not why.strip():
            raise InputError("say why the dead letter is discarded")
        letter = self.dead_letter(actor, letter_id)
        if letter.resolved_at is not None:
            raise ConflictError(f"dead letter {letter_id} was {letter.resolution} already")
        self._resolve(actor, letter, "discarded", {"why": why})

    def _event_of(self, tenant: str, letter: DeadLetter) -> InboundEvent:
        if letter.event is not None:
            return _event_from_json(letter.event)
        kind = letter.channel.split(":", 1)[0]
        remap = self.remappers.get(kind)
        if remap is None:
            raise ConflictError(
                f"dead letter {letter.letter_id} from '{letter.channel}' never became an event, "
                "and that channel cannot map a kept payload again; discard it"
            )
        return remap(tenant, letter.channel, letter.payload)

    def _resolve(
        self, actor: Actor, letter: DeadLetter, resolution: str, detail: dict[str, JsonValue]
    ) -> None:
        now = self.clock.now().timestamp()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            if not tx.resolve_dead_letter(letter.letter_id, resolution, actor.user_id, now):
                raise ConflictError(f"dead letter {letter.letter_id} was closed meanwhile")
            admin_chain.record(
                tx, f"dead_letter.{resolution}", letter.letter_id,
                {"channel": letter.channel, "reason": letter.reason, **detail},
                actor.user_id, now,
            )  # fmt: skip

    @operation(Permission.EVENT_REPLAY)
    def replay_inbox(
        self, actor: Actor, template_id: str, version: int, since: datetime, until: datetime
    ) -> InboxReplay:
        """Start a run of ``template_id`` at ``version`` for every event of the window
        that one of its triggers takes. Replaying the same window again starts nothing new."""
        authz.require(actor, Permission.EVENT_REPLAY)
        if until <= since:
            raise InputError("the window's end must be after its start")
        now = self.clock.now()
        after = self.signals.after_commit(now.timestamp())
        started: list[str] = []
        already = 0
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            row = tx.template(template_id, version)
            if row is None:
                raise NotFoundError(f"no template {template_id}@{version}")
            template = self.templates.compile(tx.tenant, row)
            types = sorted({t.event for t in template.triggers})
            if not types:
                raise InputError(f"{template.ref} has no triggers: no event would start it")
            events = tx.inbox_window(since.timestamp(), until.timestamp(), types)
            for event in events:
                data = json.loads(event.data)
                if not any(
                    t.event == event.event_type and t.takes(data) for t in template.triggers
                ):
                    continue
                authz.require(actor, Permission.RUN_START, event.plant)
                run_id = replay_run_id(
                    tx.tenant, event.source, event.event_id, template_id, version
                )
                if tx.run(run_id) is not None:
                    already += 1
                    continue
                request = StartRequest(template_id, data, event.plant, version, run_id)
                self.facts.start(tx, request, run_id, f"replay:{event.source}", now, after)
                started.append(run_id)
            admin_chain.record(
                tx, "inbox.replayed", template.ref,
                {"since": since.isoformat(), "until": until.isoformat(), "events": len(events),
                 "started": len(started), "already": already},
                actor.user_id, now.timestamp(),
            )  # fmt: skip
        self.signals.committed(after)
        return InboxReplay(template.ref, len(events), tuple(started), already)


def _event_json(event: InboundEvent) -> dict[str, JsonValue]:
    return {
        "type": event.event_type, "key": event.key, "data": event.data,
        "source": event.source, "id": event.event_id, "plant": event.plant,
    }  # fmt: skip


def _event_from_json(kept: dict[str, JsonValue]) -> InboundEvent:
    return InboundEvent(
        str(kept["type"]), str(kept["key"]), kept.get("data"), str(kept["source"]),
        str(kept["id"]), str(kept.get("plant") or ""),
    )  # fmt: skip
