"""Jinja2 rendering for the UI and the route class that turns errors into pages.

Every page carries a strict Content-Security-Policy (scripts and styles only from
``/ui/static``), so no inline script or style may appear in a template.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from andon.errors import (
    AndonError,
    AuthenticationError,
    ConflictError,
    GovernanceError,
    InputError,
    NotFoundError,
    RateLimitedError,
)
from andon.governance import authz
from andon.governance.authz import Permission
from andon.web.session import CsrfRefused, LoginRequired, UiSession

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
HTMX = "htmx-2.0.11.min.js"

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATUS_OF: list[tuple[type[AndonError], int, str]] = [
    (AuthenticationError, 401, "Not signed in"),
    (GovernanceError, 403, "Not allowed"),
    (NotFoundError, 404, "Not found"),
    (ConflictError, 409, "Conflict"),
    (RateLimitedError, 429, "Too many requests"),
    (InputError, 422, "Not accepted"),
]


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "–"
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(stamp: float | None) -> str:
    return "" if stamp is None else datetime.fromtimestamp(stamp, UTC).isoformat()


env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["when"] = _when
env.filters["iso"] = _iso
env.filters["q"] = lambda value: quote(str(value), safe="")
env.globals["htmx"] = HTMX


def html(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render template ``name`` with the signed-in session (if any) and the nav state."""
    session: UiSession | None = getattr(request.state, "ui_session", None)
    catalogue = session is not None and authz.authorize(session.actor, Permission.TEMPLATE_READ)
    base = {"session": session, "path": request.url.path, "catalogue": catalogue}
    body = env.get_template(name).render({**base, **context})
    return HTMLResponse(body, status_code=status, headers={**HEADERS, **(headers or {})})


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def to_login(request: Request, reason: str = "") -> Response:
    """Send the browser to the login page (htmx follows ``HX-Redirect``)."""
    target = "/ui/login" + (f"?next={quote(request.url.path)}" if request.method == "GET" else "")
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": target, **HEADERS})
    return RedirectResponse(target, status_code=303, headers=HEADERS)


def error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    if is_htmx(request):
        context = {"title": title, "detail": detail, "kind": "error"}
        retarget = {"HX-Reswap": "innerHTML", "HX-Retarget": "#flash"}
        return html(request, "_message.html", context, status=status, headers=retarget)
    return html(request, "error.html", {"title": title, "detail": detail}, status=status)


def failure(exc: AndonError) -> tuple[int, str, str]:
    """(status, title, first line of the message) a page shows for ``exc``; an error
    outside the known kinds is a 500 whose detail stays in the server log."""
    for kind, status, title in STATUS_OF:
        if isinstance(exc, kind):
            return status, title, (str(exc).splitlines() or [title])[0]
    return 500, "Something went wrong", "The request failed; the server log has the details."


class UiRoute(APIRoute):
    """Routes of the UI: errors become HTML pages (the API's are problem+json)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as exc:
                return to_login(request, str(exc))
            except CsrfRefused as exc:
                return error_page(request, 403, "Form refused", str(exc))
            except AndonError as exc:
                return error_page(request, *failure(exc))

        return route
