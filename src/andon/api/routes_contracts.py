"""Event contracts: the JSON Schemas templates trigger on and wait for, versioned."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from andon.api.models_contracts import EVENT_TYPE, ContractDetail, ContractIn, ContractOut, summary
from andon.api.problems import responses
from andon.api.security import Andon, Caller, Writer

router = APIRouter()
EventType = Annotated[str, Path(min_length=3, max_length=200, pattern=EVENT_TYPE)]


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
