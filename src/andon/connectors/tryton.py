"""Tryton ERP over JSON-RPC: a small sync client (Tryton runs apart, never imported).

It sends through the egress client like every other outbound call, so an ERP on a private
or loopback address must be allow-listed. Unreachable servers, timeouts, HTTP 429/5xx and
Tryton concurrency errors raise a retryable ``ActionError``; a refused address, a redirect,
a rejected login, missing access rights and Tryton's user or validation errors raise a
permanent one.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from types import TracebackType
from typing import Final

import httpx

from andon import egress
from andon.core.json import JsonObject, JsonValue
from andon.errors import ActionError

DEFAULT_TIMEOUT_S: Final = 30.0
_RETRYABLE_STATUS: Final = frozenset({429, 500, 502, 503, 504})


class _Encoder(json.JSONEncoder):
    """Tryton's JSON-RPC dialect: typed objects tagged with ``__class__``."""

    def default(self, o: object) -> object:
        if isinstance(o, Decimal):
            return {"__class__": "Decimal", "decimal": str(o)}
        if isinstance(o, datetime):  # before date: datetime is a date subclass
            parts = ("year", "month", "day", "hour", "minute", "second", "microsecond")
            return {"__class__": "datetime", **{p: getattr(o, p) for p in parts}}
        if isinstance(o, date):
            return {"__class__": "date", "year": o.year, "month": o.month, "day": o.day}
        return super().default(o)


def _decode(obj: dict[str, JsonValue]) -> JsonValue:
    """Turn Tryton's typed objects into plain JSON: exact decimal strings, ISO dates."""
    kind = obj.get("__class__")
    if kind == "Decimal":
        return obj["decimal"]
    if kind == "date":
        return date(int(str(obj["year"])), int(str(obj["month"])), int(str(obj["day"]))).isoformat()
    if kind == "datetime":
        y, mo, d, h, mi, s, us = (
            int(str(obj[p]))
            for p in ("year", "month", "day", "hour", "minute", "second", "microsecond")
        )
        return datetime(y, mo, d, h, mi, s, us).isoformat()
    if kind == "timedelta":
        return obj["seconds"]
    if kind == "bytes":
        return obj["base64"]
    return obj


def _text(value: JsonValue) -> str:
    return "" if value is None else str(value)


def _tryton_error(where: str, error: JsonValue) -> ActionError:
    """Map Tryton's ``error`` member: user/validation errors are permanent, contention is not."""
    kind = error[0] if isinstance(error, list) and error else error
    detail = error[1] if isinstance(error, list) and len(error) > 1 else None
    parts = detail if isinstance(detail, list) else [detail]
    if kind == "UserError":  # also every ValidationError and AccessError
        message = " - ".join(_text(p) for p in parts[:2] if p)
        return ActionError(f"{where} refused: {message}", permanent=True)
    if kind == "UserWarning":
        message = " - ".join(_text(p) for p in parts[1:3] if p)
        return ActionError(f"{where} needs a warning confirmed: {message}", permanent=True)
    if kind == "ConcurrencyException":
        return ActionError(f"{where} hit a concurrent change: {_text(detail)}")
    if kind == "LoginException":
        return ActionError(f"{where} asks for login parameter {_text(parts[0])}", permanent=True)
    # Any other server exception comes as [str(exc), traceback]; keep the message only.
    message = _text(kind)
    transient = "database is locked" in message or "RateLimit" in message
    return ActionError(f"{where} failed on the server: {message[:500]}", permanent=not transient)


def _brief(body: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip()[:200]


class _SessionExpiredError(ActionError):
    """Tryton no longer accepts the session."""


class TrytonClient:
    """Sync JSON-RPC client for one Tryton database, logged in as one user."""

    def __init__(
        self,
        base_url: str,
        database: str,
        login: str,
        password: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        *,
        http: egress.EgressClient | None = None,
    ) -> None:
        """``http`` is the egress client to send through (default: the process's shared
        one, whose allow-list is ``ANDON_EGRESS_ALLOW``); it stays open after ``close``."""
        self.url = f"{base_url.rstrip('/')}/{database}/rpc/"
        self._login = login
        self._password = password
        self._timeout_s = timeout_s
        self._http = http or egress.client()
        self._authorization: str | None = None
        self._ids = itertools.count(1)
        self.context: JsonObject = {}

    def __repr__(self) -> str:
        return f"TrytonClient({self.url!r}, login={self._login!r})"

    def __enter__(self) -> TrytonClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Log out (best effort, so Tryton does not keep one session per action call); the
        pooled egress client is shared, so it stays open."""
        self.logout()

    def login(self) -> None:
        """Open a session and load the user's context (company, employee, language)."""
        self._authorization = None
        result = self._post("common.db.login", [self._login, {"password": self._password}, "en"])
        if not (isinstance(result, list) and len(result) >= 2 and isinstance(result[0], int)):
            raise ActionError(
                f"Tryton login answered unexpectedly: {result!r:.100}", permanent=True
            )
        token = f"{self._login}:{result[0]}:{result[1]}".encode()
        self._authorization = "Session " + base64.b64encode(token).decode("ascii")
        preferences = self._post("model.res.user.get_preferences", [True, {}])
        self.context = preferences if isinstance(preferences, dict) else {}

    def logout(self) -> None:
        if self._authorization is None:
            return
        with contextlib.suppress(ActionError):  # the session expires on its own anyway
            self._post("common.db.logout", [], timeout_s=min(self._timeout_s, 2.0))
        self._authorization = None

    def call(self, method: str, *params: object) -> JsonValue:
        """Call ``model.<name>.<method>`` (or ``wizard.…``) with the user's context appended."""
        if self._authorization is None:
            self.login()
        try:
            return self._post(method, [*params, self.context])
        except _SessionExpiredError:
            # 401 means the call was not executed, so repeating it is safe.
            self.login()
            return self._post(method, [*params, self.context])

    def search_read(
        self,
        model: str,
        domain: Sequence[object],
        fields: Sequence[str],
        *,
        limit: int | None = None,
        order: Sequence[tuple[str, str]] | None = None,
    ) -> list[JsonObject]:
        rows = self.call(f"model.{model}.search_read", domain, 0, limit, order, list(fields))
        return self._records(model, "search_read", rows)

    def read(self, model: str, ids: Sequence[int], fields: Sequence[str]) -> list[JsonObject]:
        rows = self.call(f"model.{model}.read", list(ids), list(fields))
        return self._records(model, "read", rows)

    def create(self, model: str, values: Mapping[str, object]) -> int:
        """Create one record (One2Many values as ``[["create", [...]]]``); return its id."""
        ids = self.call(f"model.{model}.create", [dict(values)])
        if not (isinstance(ids, list) and len(ids) == 1 and isinstance(ids[0], int)):
            raise ActionError(f"Tryton {model}.create answered {ids!r:.100}", permanent=True)
        return ids[0]

    def execute(self, model: str, button: str, ids: Sequence[int]) -> JsonValue:
        """Press a workflow button (e.g. ``wait``, ``approve``) on the records."""
        return self.call(f"model.{model}.{button}", list(ids))

    @staticmethod
    def _records(model: str, method: str, rows: JsonValue) -> list[JsonObject]:
        if not isinstance(rows, list):
            raise ActionError(f"Tryton {model}.{method} answered {rows!r:.100}", permanent=True)
        return [row for row in rows if isinstance(row, dict)]

    def _unsent(self, where: str, exc: Exception, timeout: float) -> ActionError:
        """A request without an answer: refused or bounced is permanent, the rest is not."""
        if isinstance(exc, egress.EgressDenied):
            return ActionError(f"{where} refused {self.url}: {exc}", permanent=True)
        if isinstance(exc, httpx.TimeoutException):
            return ActionError(f"{where} timed out after {timeout}s")
        if isinstance(exc, httpx.HTTPStatusError | httpx.DecodingError):  # a redirect, too big
            return ActionError(f"{where} at {self.url} {exc}", permanent=True)
        return ActionError(f"{where} cannot reach {self.url}: {exc}")

    def _post(
        self, method: str, params: list[object], *, timeout_s: float | None = None
    ) -> JsonValue:
        where = f"Tryton {method.removeprefix('model.')}"
        is_login = method == "common.db.login"
        payload = json.dumps(
            {"id": next(self._ids), "method": method, "params": params}, cls=_Encoder
        )
        headers = {"Content-Type": "application/json"}
        if self._authorization:
            headers["Authorization"] = self._authorization
        timeout = timeout_s or self._timeout_s
        try:
            reply = self._http.request(
                "POST", self.url, content=payload.encode(), headers=headers, timeout=timeout
            )
        except (egress.EgressDenied, httpx.HTTPError) as exc:
            # The login request carries the password: don't chain it into the error.
            raise self._unsent(where, exc, timeout) from (None if is_login else exc)
        status = reply.status
        if status == 401 and is_login:
            raise ActionError(
                f"Tryton login refused for user '{self._login}' at {self.url} (HTTP 401)",
                permanent=True,
            )
        if status == 401:
            raise _SessionExpiredError(f"{where}: session not accepted (HTTP 401)", permanent=True)
        if status in _RETRYABLE_STATUS:
            raise ActionError(f"{where} answered HTTP {status}")
        if status >= 400:
            text = reply.body.decode("utf-8", "replace")
            raise ActionError(f"{where} answered HTTP {status}: {_brief(text)}", permanent=True)
        try:
            body = json.loads(reply.body, object_hook=_decode)
        except ValueError as exc:
            raise ActionError(f"{where} did not answer JSON", permanent=True) from exc
        if not isinstance(body, dict):
            raise ActionError(f"{where} answered {body!r:.100}", permanent=True)
        if body.get("error") is not None:
            raise _tryton_error(where, body["error"])
        result: JsonValue = body.get("result")
        return result
