"""``http.request``: call a REST endpoint, passing the idempotency key along."""

from __future__ import annotations

import httpx

from andon.actions.registry import ActionCall, ActionRegistry
from andon.core.json import JsonValue
from andon.errors import ActionError

DEFAULT_TIMEOUT_S = 30.0


def http_request(call: ActionCall) -> JsonValue:
    """Input: ``url``, optional ``method`` (POST), ``json``, ``headers``.

    5xx answers, timeouts and connection errors are retried by the step's policy; other
    non-2xx answers are permanent failures.
    """
    url = call.input.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ActionError(f"http.request needs an http(s) 'url', got {url!r}", permanent=True)
    method = str(call.input.get("method", "POST")).upper()
    headers = {"Idempotency-Key": call.idempotency_key}
    extra = call.input.get("headers")
    if isinstance(extra, dict):
        headers.update({str(k): str(v) for k, v in extra.items()})
    timeout = call.timeout_s or DEFAULT_TIMEOUT_S
    try:
        response = httpx.request(
            method, url, json=call.input.get("json"), headers=headers, timeout=timeout
        )
    except httpx.TimeoutException as exc:
        raise ActionError(f"{method} {url} timed out after {timeout}s") from exc
    except httpx.HTTPError as exc:
        raise ActionError(f"{method} {url} failed: {exc}") from exc
    if response.status_code >= 500:
        raise ActionError(f"{method} {url} answered {response.status_code}")
    if response.status_code >= 400:
        raise ActionError(f"{method} {url} answered {response.status_code}", permanent=True)
    body: JsonValue = None
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
    return {"status": response.status_code, "body": body}


def register(registry: ActionRegistry) -> None:
    registry.register("http.request", http_request)
