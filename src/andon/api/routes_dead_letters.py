"""Dead letters: events that could not be taken in, to read, replay or discard."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from andon.api.models import EventOut
from andon.api.models_contracts import DeadLetterOut, DiscardIn
from andon.api.problems import responses
from andon.api.security import Andon, Caller, Writer

router = APIRouter()
LetterId = Annotated[str, Path(min_length=1, max_length=64)]


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
