"""Events: take them in (once per source and id) and replay the inbox of taken-in events."""

from __future__ import annotations

from fastapi import APIRouter

from andon.api.models import EventIn, EventOut, EventsIn, EventsOut
from andon.api.models_contracts import InboxReplayIn, InboxReplayOut
from andon.api.problems import responses
from andon.api.security import Andon, Writer
from andon.bootstrap import App
from andon.governance.identity import Actor

router = APIRouter()


@router.post("/v1/events", response_model=EventOut, status_code=202, tags=["events"],
             responses=responses(401, 403, 422, 429))  # fmt: skip
def ingest(body: EventIn, andon: Andon, who: Writer) -> EventOut:
    """Take in one event (once per ``source`` and ``id``) and deliver it to waiting runs."""
    return _received(andon, who, body)


@router.post("/v1/events/batch", response_model=EventsOut, status_code=202, tags=["events"],
             responses=responses(401, 403, 422, 429))  # fmt: skip
def ingest_batch(body: EventsIn, andon: Andon, who: Writer) -> EventsOut:
    return EventsOut(results=[_received(andon, who, e) for e in body.events])


def _received(andon: App, who: Actor, event: EventIn) -> EventOut:
    got = andon.service.send_event(
        who, event.type, event.key, event.data, source=event.source, event_id=event.id,
        plant=event.plant,
    )  # fmt: skip
    return EventOut(reached=got.reached, started=list(got.started), duplicate=got.duplicate)


@router.post("/v1/inbox/replay", response_model=InboxReplayOut, tags=["events"],
             responses=responses(401, 403, 404, 422, 429))  # fmt: skip
def replay_inbox(body: InboxReplayIn, andon: Andon, who: Writer) -> InboxReplayOut:
    """Start runs of one template version from the inbox's events of a time window."""
    done = andon.service.replay_inbox(who, body.template_id, body.version, body.since, body.until)
    return InboxReplayOut(template=done.template, events=done.events,
                          started=list(done.started), already=done.already)  # fmt: skip
