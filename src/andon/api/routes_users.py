"""Users of the tenant and their role grants (per site or tenant-wide)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from andon.api.models import GrantIn, UserIn, UserOut
from andon.api.problems import responses
from andon.api.security import Andon, Writer
from andon.governance.identity import PrincipalKind

router = APIRouter()


@router.post("/v1/users", status_code=201, tags=["admin"], response_model=UserOut,
             responses=responses(401, 403, 404, 409, 422, 429))  # fmt: skip
def add_user(body: UserIn, andon: Andon, who: Writer) -> UserOut:
    kind = PrincipalKind.SERVICE if body.service else PrincipalKind.PERSON
    andon.directory.create_user(who, body.user_id, body.name, kind=kind, password=body.password)
    for value in body.roles:
        role, _, site = value.partition("@")
        andon.directory.grant(who, body.user_id, role, site)
    return UserOut(user_id=body.user_id)


@router.post("/v1/users/{user_id}/grants", status_code=204, tags=["admin"],
             responses=responses(401, 403, 404, 422, 429))  # fmt: skip
def grant(user_id: str, body: GrantIn, andon: Andon, who: Writer) -> Response:
    andon.directory.grant(who, user_id, body.role, body.site)
    return Response(status_code=204)


@router.delete("/v1/users/{user_id}/grants/{role}", status_code=204, tags=["admin"],
               responses=responses(401, 403, 404, 422, 429))  # fmt: skip
def revoke(user_id: str, role: str, andon: Andon, who: Writer, site: str = "") -> Response:
    andon.directory.revoke(who, user_id, role, site)
    return Response(status_code=204)
