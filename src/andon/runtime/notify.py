"""Outbound webhooks: subscriptions per tenant, deliveries written in the same transaction
as the fact that causes them (a transactional outbox), signed with the Standard Webhooks
scheme, retried with exponential backoff by the workers, logged attempt by attempt, and
dead-lettered after the last attempt until an operator replays them.

Targets are checked against server-side request forgery on subscription and again before
every attempt: loopback, private, link-local, multicast and reserved addresses are refused
unless an administrator allow-listed their network (``ANDON_EGRESS_ALLOW``); the send
connects only to the address it checked then (see ``runtime/egress``), so a name that
resolves elsewhere later (DNS rebinding) cannot reach inside.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, insert, select, update

from andon.core.json import JsonObject, JsonValue, canonical_json
from andon.errors import GovernanceError, InputError, NotFoundError
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.runtime import admin_chain, egress, notify_nats
from andon.runtime.clock import Clock
from andon.runtime.operations import operation
from andon.runtime.secretbox import SecretBox
from andon.store import schema as s
from andon.store.base import OutboxItem
from andon.store.sql import SqlStore
from andon.store.transaction import SqlTransaction
from andon.telemetry.tracing import Tracing, trace_headers
from andon.webhooks import signing

WEBHOOK = "webhook"
MAX_ATTEMPTS = 6
TIMEOUT_S = 10.0
EVENT_TYPES = (
    "andon.task.assigned",
    "andon.task.escalated",
    "andon.run.completed",
    "andon.run.cancelled",
    "andon.policy.violated",
)
Network = egress.Network


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at delivering, made outside any transaction."""

    status: int | None
    latency_ms: float
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class AttemptInfo:
    attempt: int
    at: float
    status: int | None
    latency_ms: float
    error: str | None


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


class Notifier:
    def __init__(
        self,
        store: SqlStore,
        clock: Clock,
        box: SecretBox,
        allow: Sequence[Network] = (),
        max_attempts: int = MAX_ATTEMPTS,
        tracing: Tracing | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.box = box
        self.allow = tuple(allow)
        self.max_attempts = max_attempts
        self.tracing = tracing or Tracing()
        self._http = egress.client(self.allow)
        self.policy = self._http.policy
        self.tenant_allow: Callable[[str], Sequence[Network]] | None = None
        """Each tenant's own allow-list (``EgressAllow.networks``), added to ``allow``."""

    # ---- subscriptions -----------------------------------------------------------------

    @operation(Permission.SECRETS_MANAGE)
    def subscribe(self, actor: Actor, url: str, event_types: Sequence[str], secret: str) -> str:
        authz.require(actor, Permission.SECRETS_MANAGE)
        unknown = sorted(set(event_types) - set(EVENT_TYPES) - {"*"})
        if not event_types or unknown:
            raise InputError(f"event types must be from {', '.join(EVENT_TYPES)} or '*'")
        signing.secret_bytes(secret)
        self.check_target(url, actor.tenant_id)
        subscription_id = uuid.uuid4().hex[:12]
        now = self._now()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            tx.conn.execute(
                insert(s.webhook_subscriptions).values(
                    tenant_id=tx.tenant, subscription_id=subscription_id, url=url,
                    event_types=json.dumps(sorted(set(event_types))),
                    secret=self.box.seal(secret, _purpose(tx.tenant, subscription_id)),
                    active=1, created_by=actor.user_id, created_at=now,
                )
            )  # fmt: skip
            types: list[JsonValue] = []
            types.extend(sorted(set(event_types)))
            admin_chain.record(
                tx, "webhook_subscription.added", subscription_id,
                {"url": url, "event_types": types}, actor.user_id, now,
            )  # fmt: skip
        return subscription_id

    @operation(Permission.SECRETS_MANAGE)
    def unsubscribe(self, actor: Actor, subscription_id: str) -> None:
        authz.require(actor, Permission.SECRETS_MANAGE)
        now = self._now()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            table = s.webhook_subscriptions
            done = tx.conn.execute(
                update(table)
                .where(table.c.tenant_id == tx.tenant, table.c.subscription_id == subscription_id)
                .values(active=0)
            )
            if done.rowcount != 1:
                raise NotFoundError(f"no webhook subscription '{subscription_id}'")
            admin_chain.record(
                tx, "webhook_subscription.removed", subscription_id, {}, actor.user_id, now
            )

    @operation(Permission.AUDIT_READ)
    def deliveries(self, actor: Actor, status: str | None = None) -> list[DeliveryInfo]:
        """The delivery log (``status``: pending, delivered or dead)."""
        authz.require(actor, Permission.AUDIT_READ)
        table = s.webhook_deliveries
        query = select(table).where(table.c.tenant_id == actor.tenant_id)
        if status:
            query = query.where(table.c.status == status)
        with self.store.reader() as reader:
            rows = reader.conn.execute(query.order_by(table.c.created_at, table.c.delivery_id))
            return [
                DeliveryInfo(r.delivery_id, r.subscription_id, r.event_type, r.status,
                             r.attempts, r.last_status, r.last_error, r.created_at)
                for r in rows
            ]  # fmt: skip

    @operation(Permission.AUDIT_READ)
    def attempts(self, actor: Actor, delivery_id: str) -> list[AttemptInfo]:
        """Every attempt at one delivery: when, the response code and the latency."""
        authz.require(actor, Permission.AUDIT_READ)
        with self.store.reader() as reader:
            _delivery(reader.conn, actor.tenant_id, delivery_id)  # exists in this tenant
            log = s.webhook_attempts
            rows = reader.conn.execute(
                select(log)
                .where(log.c.tenant_id == actor.tenant_id, log.c.delivery_id == delivery_id)
                .order_by(log.c.attempt)
            )
            return [AttemptInfo(r.attempt, r.at, r.status, r.latency_ms, r.error) for r in rows]

    @operation(Permission.SECRETS_MANAGE)
    def replay(self, actor: Actor, delivery_id: str) -> None:
        """Give a dead letter a fresh set of attempts."""
        authz.require(actor, Permission.SECRETS_MANAGE)
        now = self._now()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            table = s.webhook_deliveries
            done = tx.conn.execute(
                update(table)
                .where(
                    table.c.tenant_id == tx.tenant,
                    table.c.delivery_id == delivery_id,
                    table.c.status == "dead",
                )
                .values(status="pending", attempts=0, updated_at=now)
            )
            if done.rowcount != 1:
                raise NotFoundError(f"no dead-lettered delivery '{delivery_id}'")
            tx.enqueue(delivery_id, WEBHOOK, WEBHOOK, {"delivery_id": delivery_id}, now, now)
            admin_chain.record(tx, "webhook_delivery.replayed", delivery_id, {}, actor.user_id, now)

    # ---- emission (inside a fact's transaction) ----------------------------------------

    def emit(
        self, tx: SqlTransaction, event_type: str, subject: str, data: JsonObject, now: float
    ) -> int:
        """Queue a delivery of the event to each matching subscription of the tenant."""
        if not tx.has_subscriptions():
            return 0
        table = s.webhook_subscriptions
        subscriptions = tx.conn.execute(
            select(table.c.subscription_id, table.c.event_types).where(
                table.c.tenant_id == tx.tenant, table.c.active == 1
            )
        ).all()
        count = 0
        for subscription_id, types in subscriptions:
            wanted = json.loads(types)
            if "*" not in wanted and event_type not in wanted:
                continue
            delivery_id = "wh" + uuid.uuid4().hex[:22]
            message: JsonObject = {
                "id": delivery_id,
                "type": event_type,
                "source": f"andon/{tx.tenant}",
                "subject": subject,
                "time": now,
                "data": data,
            }
            tx.conn.execute(
                insert(s.webhook_deliveries).values(
                    tenant_id=tx.tenant, delivery_id=delivery_id, subscription_id=subscription_id,
                    event_type=event_type, payload=canonical_json(message), status="pending",
                    attempts=0, created_at=now, updated_at=now,
                )
            )  # fmt: skip
            tx.enqueue(delivery_id, WEBHOOK, WEBHOOK, {"delivery_id": delivery_id}, now, now)
            count += 1
        return count

    # ---- delivering (by the workers) ---------------------------------------------------

    def attempt(self, item: OutboxItem) -> Attempt:
        """POST one delivery (no transaction is open meanwhile)."""
        delivery_id = str(item.body["delivery_id"])
        with self.store.reader() as reader:
            row = _delivery(reader.conn, item.tenant_id, delivery_id)
            sub = _subscription(reader.conn, item.tenant_id, row.subscription_id)
        if row.status != "pending" or not sub.active:
            return Attempt(None, 0.0, "skipped: no longer pending or subscribed")
        started = time.monotonic()
        if sub.url.startswith("nats://"):
            return self._attempt_nats(sub.url, row.payload, started, item.tenant_id)
        try:
            self.check_target(sub.url, item.tenant_id)
            secret = self.box.open(sub.secret, _purpose(item.tenant_id, sub.subscription_id))
            stamp = int(self.clock.now().timestamp())
            body = row.payload.encode()
            headers = {
                "content-type": "application/json",
                "webhook-id": delivery_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": signing.sign_standard(secret, delivery_id, stamp, body),
            }
            with self.tracing.webhook(item.tenant_id, row.payload, row.event_type):
                headers.update(trace_headers())  # in the trace of the run it is about
                response = self._client(item.tenant_id).request(
                    "POST", sub.url, content=body, headers=headers, timeout=TIMEOUT_S
                )
            latency = (time.monotonic() - started) * 1000
            error = (
                None
                if 200 <= response.status < 300
                else response.body[:300].decode(errors="replace")
            )
            return Attempt(response.status, latency, error)
        except httpx.HTTPStatusError as exc:  # a redirect: failed, its Location named
            latency = (time.monotonic() - started) * 1000
            return Attempt(exc.response.status_code, latency, str(exc)[:300])
        except (httpx.HTTPError, GovernanceError, InputError) as exc:
            return Attempt(None, (time.monotonic() - started) * 1000, str(exc)[:300])

    def _attempt_nats(self, url: str, payload: str, started: float, tenant: str) -> Attempt:
        try:
            self.check_target(url, tenant)
            notify_nats.publish(url, payload, self._client(tenant).policy)
        except Exception as exc:  # any broker failure is a failed attempt, retried later
            return Attempt(None, (time.monotonic() - started) * 1000, repr(exc)[:300])
        return Attempt(200, (time.monotonic() - started) * 1000, None)

    def record(self, tx: SqlTransaction, item: OutboxItem, attempt: Attempt, now: float) -> None:
        """Log the attempt; done, retry later, or dead-letter after the last attempt."""
        delivery_id = str(item.body["delivery_id"])
        row = _delivery(tx.conn, tx.tenant, delivery_id)
        if row.status != "pending":
            return
        number = row.attempts + 1  # within this round (a replay starts a new round)
        log = s.webhook_attempts
        logged = tx.conn.execute(
            select(func.count()).where(
                log.c.tenant_id == tx.tenant, log.c.delivery_id == delivery_id
            )
        ).scalar_one()
        tx.conn.execute(
            insert(log).values(
                tenant_id=tx.tenant, delivery_id=delivery_id, attempt=int(logged) + 1, at=now,
                status=attempt.status, latency_ms=round(attempt.latency_ms, 3),
                error=attempt.error,
            )
        )  # fmt: skip
        if attempt.ok:
            status = "delivered"
        elif number >= self.max_attempts:
            status = "dead"
        else:
            status = "pending"
            delay = min(2.0 ** (number - 1) * 2.0, 3600.0) * random.uniform(0.8, 1.2)
            tx.enqueue(delivery_id, WEBHOOK, WEBHOOK, {"delivery_id": delivery_id},
                       now + delay, now)  # fmt: skip
        table = s.webhook_deliveries
        tx.conn.execute(
            update(table)
            .where(table.c.tenant_id == tx.tenant, table.c.delivery_id == delivery_id)
            .values(status=status, attempts=number, last_status=attempt.status,
                    last_error=attempt.error, updated_at=now)
        )  # fmt: skip

    # ---- SSRF --------------------------------------------------------------------------

    def check_target(self, url: str, tenant: str | None = None) -> None:
        """Refuse URLs that resolve to internal addresses (unless allow-listed for the
        process or ``tenant``)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "nats") or not parts.hostname:
            raise InputError(
                f"webhook target {url!r} must be an http(s) URL or a nats://host:port/subject"
            )
        if parts.username or parts.password:
            raise InputError("webhook targets may not carry credentials in the URL")
        self._client(tenant).policy.check_url(url, ("http", "https", "nats"))

    def _client(self, tenant: str | None) -> egress.EgressClient:
        if tenant is None or self.tenant_allow is None:
            return self._http
        return egress.client((*self.allow, *self.tenant_allow(tenant)))

    def close(self) -> None:
        pass  # the egress client is shared by the process

    def _now(self) -> float:
        return self.clock.now().timestamp()


def _purpose(tenant_id: str, subscription_id: str) -> str:
    return f"webhook-subscription:{tenant_id}/{subscription_id}"


def _delivery(conn: Any, tenant_id: str, delivery_id: str) -> Any:
    table = s.webhook_deliveries
    row = conn.execute(
        select(table).where(table.c.tenant_id == tenant_id, table.c.delivery_id == delivery_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no webhook delivery '{delivery_id}'")
    return row


def _subscription(conn: Any, tenant_id: str, subscription_id: str) -> Any:
    table = s.webhook_subscriptions
    return conn.execute(
        select(table).where(
            table.c.tenant_id == tenant_id, table.c.subscription_id == subscription_id
        )
    ).one()
