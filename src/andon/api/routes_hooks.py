"""Inbound webhooks (authenticated by their signature, not a token) and their sources."""

from __future__ import annotations

from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from andon.api.models import EventOut, Strict
from andon.api.problems import problem, responses
from andon.api.security import Andon, Writer
from andon.errors import InputError
from andon.runtime.hooks import MAX_BODY, EventMapping

router = APIRouter(tags=["webhooks"])


class MappingIn(Strict):
    type: str = Field(min_length=1, max_length=2000, description="CEL over 'event'")
    key: str = Field(min_length=1, max_length=2000)
    data: str = Field(default="event", max_length=2000)
    id: str = Field(default="", max_length=2000)
    plant: str = Field(default="", max_length=2000)


class SourceIn(Strict):
    source_id: str = Field(min_length=1, max_length=64)
    scheme: str = Field(pattern="^(standard-webhooks|hmac-sha256-hex)$")
    secret: str = Field(min_length=16, max_length=500)
    mapping: MappingIn
    acting_user: str = Field(min_length=1, max_length=64)
    signature_header: str = Field(default="x-signature", min_length=1, max_length=100)


class RotateIn(Strict):
    secret: str = Field(min_length=16, max_length=500)
    grace_s: float = Field(default=86_400.0, ge=0, le=30 * 86_400)


class SourceOut(BaseModel):
    source_id: str


BODY = {
    "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
    "required": True,
}


@router.post(
    "/v1/hooks/{tenant_id}/{source_id}",
    status_code=202,
    response_model=EventOut,
    openapi_extra={"requestBody": BODY},
    responses={413: {"description": "Body too large"}, **responses(401, 404, 422)},
)
async def receive(tenant_id: str, source_id: str, request: Request) -> Any:
    """A signed delivery; a replayed message id is acknowledged (duplicate) and not processed."""
    body = await request.body()
    if len(body) > MAX_BODY:
        return problem(413, "too-large", "Body too large", f"at most {MAX_BODY} bytes")
    andon = request.app.state.andon
    got = await to_thread.run_sync(
        andon.hooks.receive, tenant_id, source_id, dict(request.headers), body
    )
    return EventOut(reached=got.reached, started=list(got.started), duplicate=got.duplicate,
                    dead_letter=got.dead_letter)  # fmt: skip


@router.post("/v1/webhook-sources", status_code=201, response_model=SourceOut,
             responses=responses(401, 403, 404, 409, 422, 429))  # fmt: skip
def add_source(body: SourceIn, andon: Andon, who: Writer) -> SourceOut:
    mapping = EventMapping(**body.mapping.model_dump())
    andon.hooks.add_source(who, body.source_id, scheme=body.scheme, secret=body.secret,
                           mapping=mapping, acting_user=body.acting_user,
                           signature_header=body.signature_header)  # fmt: skip
    return SourceOut(source_id=body.source_id)


@router.post("/v1/webhook-sources/{source_id}/rotate", status_code=204,
             responses=responses(401, 403, 404, 422, 429))  # fmt: skip
def rotate(source_id: str, body: RotateIn, andon: Andon, who: Writer) -> Response:
    if not body.secret.strip():
        raise InputError("secret must not be blank")
    andon.hooks.rotate_secret(who, source_id, body.secret, grace_s=body.grace_s)
    return Response(status_code=204)


@router.put("/v1/webhook-sources/{source_id}/mapping", status_code=204,
            responses=responses(401, 403, 404, 422, 429))  # fmt: skip
def set_mapping(
    source_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: MappingIn,
    andon: Andon,
    who: Writer,
) -> Response:
    """Replace how the source's deliveries become events; replaying its dead letters maps
    them again with the new mapping."""
    andon.hooks.set_mapping(who, source_id, EventMapping(**body.model_dump()))
    return Response(status_code=204)
