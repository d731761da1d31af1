"""Runs: start (idempotent with a key), read with the journal timeline, list, intervene."""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from andon.api.models import FactOut, Intervention, RunDetail, RunOut, RunPage, Started, StartRun
from andon.api.problems import responses
from andon.api.security import Andon, Caller, Writer
from andon.errors import ConflictError, InputError, NotFoundError
from andon.runtime.service import StartRequest

router = APIRouter(prefix="/v1/runs", tags=["runs"])
STATUSES = ("created", "running", "incident", "completed", "cancelled")


@router.post(
    "",
    status_code=201,
    response_model=Started,
    responses={200: {"model": Started, "description": "Already started with this key"},
               **responses(401, 403, 404, 409, 422, 429)},
)  # fmt: skip
def start_run(
    body: StartRun,
    andon: Andon,
    who: Writer,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Started:
    """Start a run. With ``Idempotency-Key`` the same key starts one run only."""
    run_id = None
    if idempotency_key:
        digest = hashlib.sha256(f"{who.tenant_id}\0{idempotency_key}".encode()).hexdigest()
        run_id = f"k{digest[:23]}"
        try:
            existing = andon.service.run(who, run_id)
        except NotFoundError:
            existing = None
        if existing is not None:
            if existing.template_id != body.template:
                raise ConflictError("this Idempotency-Key started a run of another template")
            response.status_code = 200
            return Started(run_id=run_id, created=False)
    request = StartRequest(body.template, body.input, body.plant, body.version, run_id, body.stage)
    started = andon.service.start_run(who, request)
    return Started(run_id=started, created=True)


@router.get("", response_model=RunPage, responses=responses(401, 403, 422))
def list_runs(
    andon: Andon,
    who: Caller,
    status: Annotated[
        str | None, Query(pattern="^(created|running|incident|completed|cancelled)$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> RunPage:
    """Runs newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    rows = andon.service.runs(who, status, limit, _decode(cursor) if cursor else None)
    nxt = _encode(rows[-1].created_at, rows[-1].run_id) if len(rows) == limit else None
    return RunPage(items=[RunOut.of(r) for r in rows], next_cursor=nxt)


@router.get("/{run_id}", response_model=RunDetail, responses=responses(401, 403, 404))
def get_run(run_id: str, andon: Andon, who: Caller) -> RunDetail:
    """A run with the timeline of its journal."""
    row = andon.service.run(who, run_id)
    facts = [FactOut.of(f) for f in andon.service.journal(who, run_id)]
    return RunDetail(**RunOut.of(row).model_dump(), journal=facts)


@router.post(
    "/{run_id}/cancel", response_model=RunOut, responses=responses(401, 403, 404, 409, 422, 429)
)
def cancel_run(run_id: str, body: Intervention, andon: Andon, who: Writer) -> RunOut:
    andon.service.cancel(who, run_id, body.text)
    return RunOut.of(andon.service.run(who, run_id))


@router.post(
    "/{run_id}/retry", response_model=RunOut, responses=responses(401, 403, 404, 409, 422, 429)
)
def retry_run(run_id: str, body: Intervention, andon: Andon, who: Writer) -> RunOut:
    """Retry the failed step of a run parked as an incident."""
    andon.service.retry_incident(who, run_id, body.text)
    return RunOut.of(andon.service.run(who, run_id))


def _encode(created_at: float, run_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at!r}|{run_id}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[float, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, run_id = text.split("|", 1)
        return float(created), run_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError("cursor: not a cursor this API gave out") from exc
