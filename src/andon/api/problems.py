"""Every error as one JSON shape (RFC 9457 problem details): type, title, status, detail and,
for bad input, the path of each problem."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from andon.errors import (
    AndonError,
    AuthenticationError,
    ConflictError,
    GovernanceError,
    InputError,
    NotFoundError,
    RateLimitedError,
    StoreError,
    TemplateError,
)

MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    path: list[str] | None = None


_KINDS: list[tuple[type[AndonError], int, str, str]] = [
    (AuthenticationError, 401, "unauthenticated", "Not authenticated"),
    (GovernanceError, 403, "forbidden", "Not allowed"),
    (NotFoundError, 404, "not-found", "Not found"),
    (ConflictError, 409, "conflict", "Conflict"),
    (RateLimitedError, 429, "rate-limited", "Too many requests"),
    (TemplateError, 422, "invalid-template", "Invalid template"),
    (InputError, 422, "invalid-input", "Invalid input"),
    (StoreError, 503, "unavailable", "Storage unavailable"),
]


def problem(status: int, kind: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": f"urn:andon:problem:{kind}", "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(AndonError)
    def andon_error(request: Request, exc: AndonError) -> JSONResponse:
        for kind, status, name, title in _KINDS:
            if isinstance(exc, kind):
                response = problem(status, name, title, str(exc).splitlines()[0] or title)
                if isinstance(exc, RateLimitedError):
                    response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
                if isinstance(exc, TemplateError):
                    response = problem(
                        422, name, title, f"{len(exc.problems)} problem(s)",
                        path=[str(p) for p in exc.problems],
                    )  # fmt: skip
                return response
        return problem(500, "internal", "Internal error", "the request failed")

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        paths = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()))
            paths.append(f"{where}: {error.get('msg', 'invalid')}")
        detail = paths[0] if paths else "the request is not valid"
        return problem(422, "invalid-request", "Invalid request", detail, path=paths)

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        # Malformed JSON arrives here as 400; it is bad input like any other (422).
        status = 422 if exc.status_code == 400 else exc.status_code
        detail = str(exc.detail)
        return problem(status, "http", detail if status != 422 else "Invalid request", detail)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented error responses of an endpoint."""
    titles = {401: "Not authenticated", 403: "Not allowed", 404: "Not found",
              409: "Conflict", 413: "Body too large", 422: "Invalid input",
              429: "Too many requests"}  # fmt: skip
    return {
        status: {
            "model": Problem,
            "description": titles.get(status, "Error"),
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
