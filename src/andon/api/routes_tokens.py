"""API tokens of the tenant's principals: issue, list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Response

from andon.api.models import TokenInfoOut, TokenOut, TokenRequest
from andon.api.problems import responses
from andon.api.security import Andon, Caller, Writer

router = APIRouter()


@router.post("/v1/tokens", response_model=TokenOut, status_code=201, tags=["auth"],
             responses=responses(401, 403, 404, 422, 429))  # fmt: skip
def issue_token(body: TokenRequest, andon: Andon, who: Writer) -> TokenOut:
    """An API token for a principal of the tenant; the token is shown only here."""
    issued = andon.tokens.issue(who, body.user, body.name, roles=body.roles, sites=body.sites,
                                days=body.days)  # fmt: skip
    return TokenOut(token_id=issued.token_id, token=issued.token, expires_at=issued.expires_at)


@router.get("/v1/tokens", response_model=list[TokenInfoOut], tags=["auth"],
            responses=responses(401, 403))  # fmt: skip
def list_tokens(andon: Andon, who: Caller) -> list[TokenInfoOut]:
    return [
        TokenInfoOut(token_id=t.token_id, user_id=t.user_id, name=t.name, kind=t.kind,
                     roles=list(t.roles), sites=list(t.sites), created_at=t.created_at,
                     expires_at=t.expires_at, revoked_at=t.revoked_at)
        for t in andon.tokens.list(who)
    ]  # fmt: skip


@router.delete("/v1/tokens/{token_id}", status_code=204, tags=["auth"],
               responses=responses(401, 403, 404, 429))  # fmt: skip
def revoke_token(token_id: str, andon: Andon, who: Writer) -> Response:
    andon.tokens.revoke(who, token_id)
    return Response(status_code=204)
