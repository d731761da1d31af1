"""Who uses the UI: a person's session token (the API's ``/v1/session`` kind) in an
HttpOnly, SameSite=Strict cookie, and the CSRF checks every form post passes.

CSRF (docs/adr/0019): the cookie is SameSite=Strict, so browsers do not send it on
cross-site requests at all; on top of that every unsafe request must (a) carry a token
derived from the session secret, as the form field ``csrf`` or the ``X-CSRF-Token``
header htmx sends, and (b) come from this origin when the browser says where it comes
from (``Origin``, ``Sec-Fetch-Site``). The login form, before any session exists, uses a
double-submit token: a random cookie that the posted form must repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from andon.bootstrap import App
from andon.errors import AuthenticationError
from andon.governance.identity import Actor
from andon.runtime.write_rate import RateLimiter

COOKIE = "andon_session"
LOGIN_COOKIE = "andon_login"
PATH = "/ui"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


class LoginRequired(Exception):
    """Log in to use the UI."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message or "Log in to use the UI.")


class CsrfRefused(Exception):
    """A form post failed the CSRF checks."""

    def __init__(self) -> None:
        super().__init__(
            "The form was not accepted: it did not come from an Andon page of this session. "
            "Reload the page and try again."
        )


@dataclass(frozen=True, slots=True)
class UiSession:
    actor: Actor
    token_id: str
    csrf: str


def andon(request: Request) -> App:
    app: App = request.app.state.andon
    return app


def csrf_for(token: str) -> str:
    """The CSRF token of a session: an HMAC of a fixed label under the session secret, so
    it is unguessable without the cookie and needs no server-side state."""
    return hmac.new(token.encode(), b"andon-ui-csrf", hashlib.sha256).hexdigest()[:40]


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def current(request: Request) -> UiSession:
    """The signed-in person, or ``LoginRequired`` (the UI redirects to the login page)."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise LoginRequired()
    try:
        actor = andon(request).tokens.resolve(token)
    except AuthenticationError as exc:
        raise LoginRequired(f"log in again: {exc}") from exc
    found = UiSession(actor, token.split("_")[1], csrf_for(token))
    request.state.ui_session = found
    return found


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site or origin."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def posted(request: Request, who: Annotated[UiSession, Depends(current)]) -> UiSession:
    """The session of a form post that passed the CSRF checks, within its write rate."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if (
        not same_origin(request)
        or sent is None
        or not hmac.compare_digest(sent.encode(), who.csrf.encode())
    ):
        raise CsrfRefused()
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.take(who.token_id)
    return who


Session = Annotated[UiSession, Depends(current)]
Posted = Annotated[UiSession, Depends(posted)]
Andon = Annotated[App, Depends(andon)]
