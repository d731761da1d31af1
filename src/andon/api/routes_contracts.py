"""Event contracts (the JSON Schemas templates trigger on and wait for), dead letters and
replay of the inbox."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from andon.api.models import EventOut
from andon.api.models_contracts import (
    EVENT_TYPE,
    ContractDetail,
    ContractIn,
    ContractOut,
    DeadLetterOut,
    DiscardIn,
    InboxReplayIn,
    InboxReplayOut,
    summary,
)
from andon.api.problems import responses
from andon.api.security import Andon, Caller, Writer

router = APIRouter()
EventType = Annotated[str, Path(min_length=3, max_length=200, pattern=EVENT_TYPE)]
LetterId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/v1/contracts", response_model=list[ContractOut], tags=["contracts"],
            responses=responses(401, 403))  # fmt: skip
def list_contracts(andon: Andon, who: Caller) -> list[ContractOut]:
    """The newest version of every contract the tenant can use (standard and its own)."""
    return [summary(c) for c in andon.service.contracts(who)]


@router.post("/v1/contracts", response_model=ContractDetail, status_code=201,
             tags=["contracts"], responses=responses(401, 403, 409, 422, 429))  # fmt: skip
def register_contract(body: ContractIn, andon: Andon, who: Writer) -> ContractDetail:
    """Register the next version of a type's contract; 409 names every incompatible field."""
    return ContractDetail.of(
        andon.service.register_contract(who, body.event_type, body.json_schema)
    )


@router.get("/v1/contracts/{event_type}", response_model=ContractDetail, tags=["contracts"],
            responses=responses(401, 403, 404, 422))  # fmt: skip
def get_contract(
    event_type: EventType,
    andon: Andon,
    who: Caller,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> ContractDetail:
    """One version of a contract, the newest by default."""
    return ContractDetail.of(andon.service.contract(who, event_type, version))


@router.get("/v1/dead-letters", response_model=list[DeadLetterOut], tags=["events"],
            responses=responses(401, 403, 422))  # fmt: skip
def list_dead_letters(
    andon: Andon,
    who: Caller,
    state: Annotated[Literal["open", "all"], Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[DeadLetterOut]:
    """Events that could not be taken in, with the reason; open ones by default."""
    found = andon.service.dead_letters(who, open_only=state == "open", limit=limit)
    return [DeadLetterOut(**asdict(d)) for d in found]


@router.get("/v1/dead-letters/{letter_id}", response_model=DeadLetterOut, tags=["events"],
            responses=responses(401, 403, 404, 422))  # fmt: skip
def get_dead_letter(letter_id: LetterId, andon: Andon, who: Caller) -> DeadLetterOut:
    return DeadLetterOut(**asdict(andon.service.dead_letter(who, letter_id)))


@router.post("/v1/dead-letters/{letter_id}/replay", response_model=EventOut, tags=["events"],
             responses=responses(401, 403, 404, 409, 422, 429))  # fmt: skip
def replay_dead_letter(letter_id: LetterId, andon: Andon, who: Writer) -> EventOut:
    """Take the event in again after the cause was fixed; 422 says what is still wrong."""
    got = andon.service.replay_dead_letter(who, letter_id)
    return EventOut(reached=got.reached, started=list(got.started), duplicate=got.duplicate)


@router.post("/v1/dead-letters/{letter_id}/discard", status_code=204, tags=["events"],
             responses=responses(401, 403, 404, 409, 422, 429))  # fmt: skip
def discard_dead_letter(
    letter_id: LetterId, body: DiscardIn, andon: Andon, who: Writer
) -> Response:
    andon.service.discard_dead_letter(who, letter_id, body.why)
    return Response(status_code=204)


@router.post("/v1/inbox/replay", response_model=InboxReplayOut, tags=["events"],
             responses=responses(401, 403, 404, 422, 429))  # fmt: skip
def replay_inbox(body: InboxReplayIn, andon: Andon, who: Writer) -> InboxReplayOut:
    """Start runs of one template version from the inbox's events of a time window."""
    done = andon.service.replay_inbox(who, body.template_id, body.version, body.since, body.until)
    return InboxReplayOut(template=done.template, events=done.events,
                          started=list(done.started), already=done.already)  # fmt: skip
