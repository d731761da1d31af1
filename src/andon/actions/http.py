"""``http.request``: call a REST endpoint, passing the idempotency key (the same for every
attempt of a step visit) and the attempt number (``Andon-Attempt``) along; through a
named connection (base URL, auth, timeout, default headers) or a plain URL; optionally
mapping the JSON answer with a JMESPath expression."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import jmespath
from jmespath.exceptions import JMESPathError

from andon import egress
from andon.actions.registry import ActionCall, ActionRegistry, ConnectionConfig
from andon.core.json import JsonValue
from andon.errors import ActionError
from andon.observability.tracing import trace_headers

DEFAULT_TIMEOUT_S = 30.0
HTTP = "http"


def http_request(
    call: ActionCall,
    registry: ActionRegistry | None = None,
    client: egress.EgressClient | None = None,
) -> JsonValue:
    """Input: ``url``, or ``connection`` and a ``path`` relative to its base URL; optional
    ``method`` (POST), ``json``, ``headers`` and ``map`` (JMESPath over the JSON body: its
    result is the output; without it the output is ``{status, body}``).

    5xx answers, timeouts and connection errors are retried by the step's policy; other
    non-2xx answers, like a bad ``map``, are permanent failures. ``client`` is the
    process's shared egress client for the run's tenant (the process's allow-list plus the
    tenant's) unless a caller brings its own (the demo's CMMS stub).
    """
    mapping = _compiled_map(call.input.get("map"))
    method = str(call.input.get("method", "POST")).upper()
    headers: dict[str, str] = {}
    connection: ConnectionConfig | None = None
    timeout = call.timeout_s
    if "connection" in call.input:
        if registry is None:
            raise ActionError("http.request has no connections here", permanent=True)
        connection = registry.connection(call, call.input["connection"], HTTP)
        url = _join(str(connection.settings["url"]), call.input.get("path", ""))
        headers.update(_str_map(connection.settings.get("headers")))
        timeout = timeout or _number(connection.settings.get("timeout_s"))
    else:
        given = call.input.get("url")
        if not isinstance(given, str) or not given.startswith(("http://", "https://")):
            raise ActionError(f"http.request needs an http(s) 'url', got {given!r}", permanent=True)
        url = given
    for name, value in _str_map(call.input.get("headers")).items():
        _put(headers, name, value)
    # The connection's credentials go last: a step's headers cannot replace them.
    auth = _authenticate(connection, headers) if connection is not None else None
    _put(headers, "Idempotency-Key", call.idempotency_key)  # one per step visit
    _put(headers, "Andon-Attempt", str(call.attempt))  # rises with every retry
    for name, value in trace_headers().items():  # the action span's traceparent, if traced
        _put(headers, name, value)
    timeout = timeout or DEFAULT_TIMEOUT_S
    shown = f"{method} {_shown(url)}"
    try:
        through = client or (registry.egress_client(call) if registry else egress.client())
        response = through.request(
            method, url, json=call.input.get("json"), headers=headers, auth=auth, timeout=timeout
        )
    except egress.EgressDenied as exc:
        raise ActionError(f"{shown} refused: {exc}", permanent=True) from exc
    except httpx.TimeoutException as exc:
        raise ActionError(f"{shown} timed out after {timeout}s") from exc
    except (httpx.HTTPStatusError, httpx.DecodingError) as exc:  # a redirect, too big
        raise ActionError(f"{shown} {exc}", permanent=True) from exc
    except httpx.HTTPError as exc:
        raise ActionError(f"{shown} failed: {exc}") from exc
    if response.status >= 500:
        raise ActionError(f"{shown} answered {response.status}")
    if response.status >= 400:
        raise ActionError(f"{shown} answered {response.status}", permanent=True)
    body: JsonValue = None
    if response.headers.get("content-type", "").startswith("application/json"):
        try:
            body = response.json()
        except ValueError as exc:
            raise ActionError(f"{shown} answered JSON that does not parse") from exc
    if mapping is None:
        return {"status": response.status, "body": body}
    if body is None:
        raise ActionError(f"{shown} answered no JSON to map", permanent=True)
    try:
        mapped: JsonValue = mapping.search(body)
    except JMESPathError as exc:
        raise ActionError(f"map {mapping.expression!r} failed: {exc}", permanent=True) from exc
    return mapped


def register(registry: ActionRegistry) -> None:
    registry.register("http.request", lambda call: http_request(call, registry))


def _compiled_map(expression: JsonValue) -> Any:
    """The compiled ``map`` (checked before anything is sent), or None."""
    if expression is None:
        return None
    if not isinstance(expression, str) or not expression.strip():
        raise ActionError(f"map must be a JMESPath expression, got {expression!r}", permanent=True)
    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        raise ActionError(
            f"map {expression!r} is not valid JMESPath: {exc}", permanent=True
        ) from exc


def _authenticate(connection: ConnectionConfig, headers: dict[str, str]) -> httpx.BasicAuth | None:
    scheme = connection.settings.get("auth", "none")
    secret = connection.secret.reveal() if connection.secret is not None else ""
    if scheme == "basic":
        _put(headers, "Authorization", None)
        return httpx.BasicAuth(str(connection.settings["username"]), secret)
    if scheme == "bearer":
        _put(headers, "Authorization", f"Bearer {secret}")
    elif scheme == "api-key":
        _put(headers, str(connection.settings["header"]), secret)
    return None


def _put(headers: dict[str, str], name: str, value: str | None) -> None:
    """Set (or with None remove) a header, whatever the case it was given in."""
    for present in [k for k in headers if k.lower() == name.lower()]:
        del headers[present]
    if value is not None:
        headers[name] = value


def _shown(url: str) -> str:
    """The URL for messages: without credentials, query or fragment (they may be secret)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def _join(base: str, path: JsonValue) -> str:
    """``path`` below ``base``: it may not name another host or climb out of the base."""
    if not isinstance(path, str):
        raise ActionError(f"'path' must be a string, got {path!r}", permanent=True)
    if "://" in path or path.startswith("//") or ".." in path.split("?")[0].split("/"):
        raise ActionError(f"'path' {path!r} must stay below the connection's URL", permanent=True)
    return f"{base.rstrip('/')}/{path.lstrip('/')}" if path else base


def _str_map(value: JsonValue) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _number(value: JsonValue) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
