"""Outbound webhooks of one tenant: the subscriptions, the deliveries queued for them and
the log of every attempt at a delivery (runtime/notify.py decides what to send and when)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from andon.store import schema as s

_subs, _deliveries, _attempts = s.webhook_subscriptions, s.webhook_deliveries, s.webhook_attempts


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: str
    url: str
    event_types: tuple[str, ...]
    """The event types it wants, or ``*`` for all."""
    secret: str
    """Sealed (runtime/secretbox.py)."""
    active: bool


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a worker needs to attempt a delivery and to record the outcome."""

    delivery_id: str
    subscription_id: str
    event_type: str
    payload: str
    status: str
    attempts: int
    """Attempts within the current round (a replay starts a new one)."""


@dataclass(frozen=True, slots=True)
class DeliveryInfo:
    delivery_id: str
    subscription_id: str
    event_type: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class AttemptInfo:
    attempt: int
    at: float
    status: int | None
    latency_ms: float
    error: str | None


class WebhookSubscriptions:
    """The tenant's outbound webhook subscriptions."""

    def __init__(self, conn: Connection, tenant: str) -> None:
        self.conn = conn
        self.tenant = tenant

    def add(
        self,
        subscription_id: str,
        url: str,
        event_types: Sequence[str],
        sealed_secret: str,
        created_by: str,
        at: float,
    ) -> None:
        self.conn.execute(
            insert(_subs).values(
                tenant_id=self.tenant, subscription_id=subscription_id, url=url,
                event_types=json.dumps(list(event_types)), secret=sealed_secret, active=1,
                created_by=created_by, created_at=at,
            )
        )  # fmt: skip

    def deactivate(self, subscription_id: str) -> bool:
        """False when the tenant has no such subscription."""
        done = self.conn.execute(
            update(_subs)
            .where(_subs.c.tenant_id == self.tenant, _subs.c.subscription_id == subscription_id)
            .values(active=0)
        )
        return done.rowcount == 1

    def active(self) -> list[Subscription]:
        found = self.conn.execute(
            select(_subs).where(_subs.c.tenant_id == self.tenant, _subs.c.active == 1)
        )
        return [_subscription(r) for r in found]

    def get(self, subscription_id: str) -> Subscription:
        """The subscription a delivery names (deactivated ones are kept, so it exists)."""
        found = self.conn.execute(
            select(_subs).where(
                _subs.c.tenant_id == self.tenant, _subs.c.subscription_id == subscription_id
            )
        ).one()
        return _subscription(found)


class WebhookDeliveries:
    """The tenant's queued and finished deliveries, with the log of their attempts."""

    def __init__(self, conn: Connection, tenant: str) -> None:
        self.conn = conn
        self.tenant = tenant

    def add(
        self, delivery_id: str, subscription_id: str, event_type: str, payload: str, at: float
    ) -> None:
        """Queue a pending delivery (its outbox row is the caller's)."""
        self.conn.execute(
            insert(_deliveries).values(
                tenant_id=self.tenant, delivery_id=delivery_id, subscription_id=subscription_id,
                event_type=event_type, payload=payload, status="pending", attempts=0,
                created_at=at, updated_at=at,
            )
        )  # fmt: skip

    def get(self, delivery_id: str) -> Delivery | None:
        r = self.conn.execute(
            select(_deliveries).where(
                _deliveries.c.tenant_id == self.tenant, _deliveries.c.delivery_id == delivery_id
            )
        ).first()
        if r is None:
            return None
        return Delivery(
            r.delivery_id, r.subscription_id, r.event_type, r.payload, r.status, r.attempts
        )

    def listed(self, status: str | None = None) -> list[DeliveryInfo]:
        """The delivery log, oldest first (``status``: pending, delivered or dead)."""
        query = select(_deliveries).where(_deliveries.c.tenant_id == self.tenant)
        if status:
            query = query.where(_deliveries.c.status == status)
        found = self.conn.execute(
            query.order_by(_deliveries.c.created_at, _deliveries.c.delivery_id)
        )
        return [
            DeliveryInfo(r.delivery_id, r.subscription_id, r.event_type, r.status,
                         r.attempts, r.last_status, r.last_error, r.created_at)
            for r in found
        ]  # fmt: skip

    def attempts(self, delivery_id: str) -> list[AttemptInfo]:
        found = self.conn.execute(
            select(_attempts)
            .where(_attempts.c.tenant_id == self.tenant, _attempts.c.delivery_id == delivery_id)
            .order_by(_attempts.c.attempt)
        )
        return [AttemptInfo(r.attempt, r.at, r.status, r.latency_ms, r.error) for r in found]

    def log_attempt(
        self,
        delivery_id: str,
        at: float,
        status: int | None,
        latency_ms: float,
        error: str | None,
    ) -> None:
        """Append an attempt, numbered across every round of the delivery."""
        logged = self.conn.execute(
            select(func.count()).where(
                _attempts.c.tenant_id == self.tenant, _attempts.c.delivery_id == delivery_id
            )
        ).scalar_one()
        self.conn.execute(
            insert(_attempts).values(
                tenant_id=self.tenant, delivery_id=delivery_id, attempt=int(logged) + 1, at=at,
                status=status, latency_ms=round(latency_ms, 3), error=error,
            )
        )  # fmt: skip

    def settle(
        self,
        delivery_id: str,
        status: str,
        attempts: int,
        last_status: int | None,
        last_error: str | None,
        at: float,
    ) -> None:
        """Record where a delivery stands after an attempt."""
        self.conn.execute(
            update(_deliveries)
            .where(_deliveries.c.tenant_id == self.tenant, _deliveries.c.delivery_id == delivery_id)
            .values(status=status, attempts=attempts, last_status=last_status,
                    last_error=last_error, updated_at=at)
        )  # fmt: skip

    def revive(self, delivery_id: str, at: float) -> bool:
        """Make a dead letter pending again with a fresh round of attempts (False: the
        tenant has no such dead-lettered delivery)."""
        done = self.conn.execute(
            update(_deliveries)
            .where(
                _deliveries.c.tenant_id == self.tenant,
                _deliveries.c.delivery_id == delivery_id,
                _deliveries.c.status == "dead",
            )
            .values(status="pending", attempts=0, updated_at=at)
        )
        return done.rowcount == 1


def _subscription(r: Row[Any]) -> Subscription:
    return Subscription(
        r.subscription_id, r.url, tuple(json.loads(r.event_types)), r.secret, bool(r.active)
    )
