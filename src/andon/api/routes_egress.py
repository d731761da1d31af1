"""The tenant's egress allow-list: internal networks its outbound calls may reach."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from andon.api.models import Strict
from andon.api.problems import responses
from andon.api.security import Andon, Caller, Writer

router = APIRouter(tags=["admin"])


class AllowIn(Strict):
    network: str = Field(min_length=1, max_length=64, description="a CIDR or one address")
    reason: str = Field(default="", max_length=500)


class AllowOut(BaseModel):
    network: str
    reason: str
    added_by: str
    added_at: float


@router.get("/v1/egress-allow", response_model=list[AllowOut], responses=responses(401, 403))
def allowed(andon: Andon, who: Caller) -> list[AllowOut]:
    return [AllowOut(**asdict(e)) for e in andon.egress_allow.entries(who)]


@router.put("/v1/egress-allow", response_model=AllowOut,
            responses=responses(401, 403, 422, 429))  # fmt: skip
def allow(body: AllowIn, andon: Andon, who: Writer) -> AllowOut:
    """Let this tenant's outbound calls reach ``network`` although it is internal."""
    return AllowOut(**asdict(andon.egress_allow.allow(who, body.network, body.reason)))


@router.delete("/v1/egress-allow", status_code=204,
               responses=responses(401, 403, 404, 422, 429))  # fmt: skip
def deny(
    andon: Andon, who: Writer, network: Annotated[str, Query(min_length=1, max_length=64)]
) -> Response:
    """Remove an entry: the network is denied again for this tenant's calls."""
    andon.egress_allow.deny(who, network)
    return Response(status_code=204)
