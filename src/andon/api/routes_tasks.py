"""The approver's inbox: open tasks for my roles, claim, decide (signed where required)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from andon.api.models import DecisionIn, DecisionOut, TaskOut
from andon.api.problems import responses
from andon.api.security import Andon, Caller, Writer
from andon.governance.identity import Actor
from andon.runtime.service import Credentials, TaskDecision
from andon.store.base import TaskRow

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


@router.get("", response_model=list[TaskOut], responses=responses(401, 403, 422))
def inbox(
    andon: Andon,
    who: Caller,
    mine: Annotated[bool, Query(description="Only tasks I may decide")] = True,
    status: Annotated[str, Query(pattern="^(open|closed|cancelled|any)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TaskOut]:
    rows = andon.service.tasks(who, None if status == "any" else status, None, 10_000)
    if mine:
        rows = [t for t in rows if _candidate(who, t)]
    return [TaskOut.of(t) for t in rows[:limit]]


@router.get("/{task_id}", response_model=TaskOut, responses=responses(401, 403, 404))
def get_task(task_id: str, andon: Andon, who: Caller) -> TaskOut:
    return TaskOut.of(andon.service.task(who, task_id))


@router.post(
    "/{task_id}/claim", response_model=TaskOut, responses=responses(401, 403, 404, 409, 422, 429)
)
def claim(task_id: str, andon: Andon, who: Writer) -> TaskOut:
    return TaskOut.of(andon.service.claim_task(who, task_id))


@router.post(
    "/{task_id}/release", response_model=TaskOut, responses=responses(401, 403, 404, 409, 429)
)
def release(task_id: str, andon: Andon, who: Writer) -> TaskOut:
    """Give a task I claimed back to the other candidates."""
    return TaskOut.of(andon.service.release_task(who, task_id))


@router.post(
    "/{task_id}/decision",
    response_model=DecisionOut,
    responses=responses(401, 403, 404, 409, 422, 429),
)
def decide(task_id: str, body: DecisionIn, andon: Andon, who: Writer) -> DecisionOut:
    """Approve, reject or another outcome; signed steps need ``signature`` (password again)."""
    credentials = None
    if body.signature is not None:
        s = body.signature
        credentials = Credentials(s.password, s.reason, s.second_factor)
    decision = TaskDecision(task_id, body.outcome, body.comment, body.role, credentials)
    result = andon.service.decide_task(who, decision)
    return DecisionOut(task_id=task_id, outcome=body.outcome, run_status=result.run.status.value)


def _candidate(who: Actor, task: TaskRow) -> bool:
    for role in (*task.roles, *task.escalated_to):
        if who.grant_for(role, task.plant) or who.delegation_for(role, task.plant):
            return True
    return False
