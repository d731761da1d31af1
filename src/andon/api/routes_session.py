"""A person's session: log in with a password for a session token, log out to end it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from andon.api.models import Login, TokenOut
from andon.api.problems import responses
from andon.api.security import Andon, Writer, bearer

router = APIRouter()


@router.post("/v1/session", response_model=TokenOut, status_code=201, tags=["auth"],
             responses=responses(401, 422, 429))  # fmt: skip
def login(body: Login, andon: Andon, request: Request) -> TokenOut:
    """A person logs in for the inbox; the session token lasts eight hours."""
    client = request.client.host if request.client else ""
    issued = andon.tokens.login(body.tenant, body.user, body.password, client)
    return TokenOut(token_id=issued.token_id, token=issued.token, expires_at=issued.expires_at)


@router.delete("/v1/session", status_code=204, tags=["auth"],
               responses=responses(401, 429))  # fmt: skip
def logout(
    andon: Andon,
    who: Writer,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Response:
    """Sign out: the session token in the Authorization header stops working at once."""
    assert credentials is not None  # Writer refused the request without one
    andon.tokens.end_session(credentials.credentials)
    return Response(status_code=204)
