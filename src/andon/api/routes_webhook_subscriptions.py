"""Outbound webhooks: subscriptions to Andon's events and the log of their deliveries."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from andon.api.models import Strict
from andon.api.problems import responses
from andon.api.security import Andon, Caller, Writer

router = APIRouter(tags=["webhooks"])


class SubscriptionIn(Strict):
    url: str = Field(min_length=8, max_length=2000)
    event_types: list[str] = Field(min_length=1, max_length=20)
    secret: str = Field(min_length=16, max_length=500)


class SubscriptionOut(BaseModel):
    subscription_id: str


class DeliveryOut(BaseModel):
    delivery_id: str
    subscription_id: str
    event_type: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: float


@router.post("/v1/webhook-subscriptions", status_code=201, response_model=SubscriptionOut,
             responses=responses(401, 403, 422, 429))  # fmt: skip
def subscribe(body: SubscriptionIn, andon: Andon, who: Writer) -> SubscriptionOut:
    """Signed deliveries of Andon events (task assigned/escalated, run ended, policy
    violation) to ``url``; internal addresses are refused unless allow-listed."""
    sid = andon.notifier.subscribe(who, body.url, body.event_types, body.secret)
    return SubscriptionOut(subscription_id=sid)


@router.delete("/v1/webhook-subscriptions/{subscription_id}", status_code=204,
               responses=responses(401, 403, 404, 429))  # fmt: skip
def unsubscribe(subscription_id: str, andon: Andon, who: Writer) -> Response:
    andon.notifier.unsubscribe(who, subscription_id)
    return Response(status_code=204)


@router.get("/v1/webhook-deliveries", response_model=list[DeliveryOut],
            responses=responses(401, 403, 422))  # fmt: skip
def deliveries(
    andon: Andon,
    who: Caller,
    status: Annotated[str | None, Query(pattern="^(pending|delivered|dead)$")] = None,
) -> list[DeliveryOut]:
    """The delivery log; ``status=dead`` lists the dead letters."""
    return [DeliveryOut(**asdict(d)) for d in andon.notifier.deliveries(who, status)]


@router.post("/v1/webhook-deliveries/{delivery_id}/replay", status_code=204,
             responses=responses(401, 403, 404, 429))  # fmt: skip
def replay(delivery_id: str, andon: Andon, who: Writer) -> Response:
    andon.notifier.replay(who, delivery_id)
    return Response(status_code=204)


class AttemptOut(BaseModel):
    attempt: int
    at: float
    status: int | None
    latency_ms: float
    error: str | None


@router.get("/v1/webhook-deliveries/{delivery_id}/attempts", response_model=list[AttemptOut],
            responses=responses(401, 403, 404))  # fmt: skip
def attempts(delivery_id: str, andon: Andon, who: Caller) -> list[AttemptOut]:
    """The delivery log of one delivery: response code and latency of each attempt."""
    return [AttemptOut(**asdict(a)) for a in andon.notifier.attempts(who, delivery_id)]
