"""Signing in and out, and the UI's entry point."""

from __future__ import annotations

import hmac
from contextlib import suppress
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from andon.errors import AndonError, AuthenticationError, RateLimitedError
from andon.web import session as ui
from andon.web.render import HEADERS, UiRoute, html
from andon.web.session import Andon, Posted

router = APIRouter(prefix="/ui", route_class=UiRoute)
LOGIN_FAILED = "Sign-in failed: the tenant, user or password was not accepted."
LOGIN_THROTTLED = "Too many failed sign-ins from this computer; please wait and try again"


@router.get("")
@router.get("/")
def home() -> Response:
    return RedirectResponse("/ui/inbox", status_code=303, headers=HEADERS)


@router.get("/login")
def login_form(request: Request, next: str = "", tenant: str = "default") -> Response:
    return _login_page(request, next, tenant, "", "", 200)


@router.post("/login")
def login(
    request: Request,
    andon: Andon,
    tenant: Annotated[str, Form(max_length=200)],
    user: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    nonce = request.cookies.get(ui.LOGIN_COOKIE, "")
    fresh = not nonce or not hmac.compare_digest(nonce.encode(), csrf.encode())
    if fresh or not ui.same_origin(request):
        message = "The sign-in form had expired or came from elsewhere; please try again."
        return _login_page(request, next, tenant, user, message, 403)
    client = request.client.host if request.client else ""
    try:
        issued = andon.tokens.login(tenant.strip(), user.strip(), password, client)
    except RateLimitedError as exc:
        slow = _login_page(request, next, tenant, user, f"{LOGIN_THROTTLED} ({exc})", 429)
        slow.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return slow
    except AndonError:
        return _login_page(request, next, tenant, user, LOGIN_FAILED, 403)
    response = RedirectResponse(_safe_next(next), status_code=303, headers=HEADERS)
    lifetime = int(issued.expires_at - andon.service.clock.now().timestamp())
    response.set_cookie(
        ui.COOKIE, issued.token, max_age=max(lifetime, 0), path=ui.PATH, httponly=True,
        samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip
    response.delete_cookie(
        ui.LOGIN_COOKIE, path=f"{ui.PATH}/login", httponly=True, samesite="strict"
    )
    return response


@router.post("/logout")
def logout(request: Request, andon: Andon, who: Posted) -> Response:
    token = request.cookies.get(ui.COOKIE, "")
    with suppress(AuthenticationError):  # ended already: signing out is done either way
        andon.tokens.end_session(token)
    response = RedirectResponse("/ui/login", status_code=303, headers=HEADERS)
    response.delete_cookie(ui.COOKIE, path=ui.PATH, httponly=True, samesite="strict")
    return response


def _login_page(
    request: Request, next: str, tenant: str, user: str, error: str, status: int
) -> Response:
    nonce = ui.new_login_nonce()
    context = {"title": "Sign in", "next": next, "tenant": tenant, "user": user,
               "error": error, "csrf": nonce}  # fmt: skip
    response = html(request, "login.html", context, status=status)
    response.set_cookie(
        ui.LOGIN_COOKIE, nonce, max_age=1800, path=f"{ui.PATH}/login", httponly=True,
        samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


def _safe_next(target: str) -> str:
    """Only a path of the UI itself: never another host (no open redirect)."""
    if target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/inbox"
