"""Outbound webhooks: subscriptions per tenant, deliveries written in the same transaction
as the fact that causes them (a transactional outbox), signed with the Standard Webhooks
scheme, retried with exponential backoff by the workers, logged attempt by attempt, and
dead-lettered after the last attempt until an operator replays them.

Targets are checked against server-side request forgery on subscription and again before
every attempt: loopback, private, link-local, multicast and reserved addresses are refused
unless an administrator allow-listed their network (``ANDON_EGRESS_ALLOW``); the send
connects only to the address it checked then (see ``andon.egress``), so a name that
resolves elsewhere later (DNS rebinding) cannot reach inside.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from andon import egress
from andon.core.json import JsonObject, JsonValue, canonical_json
from andon.errors import GovernanceError, InputError, NotFoundError
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.observability.tracing import Tracing, trace_headers
from andon.runtime import admin_chain, notify_nats
from andon.runtime.clock import Clock
from andon.runtime.operations import operation
from andon.runtime.secretbox import SecretBox
from andon.store.base import OutboxItem
from andon.store.sql import SqlStore
from andon.store.transaction import SqlTransaction
from andon.store.webhook_deliveries import AttemptInfo, Delivery, DeliveryInfo, WebhookDeliveries
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
            sealed = self.box.seal(secret, _purpose(tx.tenant, subscription_id))
            tx.webhook_subscriptions.add(
                subscription_id, url, sorted(set(event_types)), sealed, actor.user_id, now
            )
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
            if not tx.webhook_subscriptions.deactivate(subscription_id):
                raise NotFoundError(f"no webhook subscription '{subscription_id}'")
            admin_chain.record(
                tx, "webhook_subscription.removed", subscription_id, {}, actor.user_id, now
            )

    @operation(Permission.AUDIT_READ)
    def deliveries(self, actor: Actor, status: str | None = None) -> list[DeliveryInfo]:
        """The delivery log (``status``: pending, delivered or dead)."""
        authz.require(actor, Permission.AUDIT_READ)
        with self.store.reader() as reader:
            return reader.scoped(actor.tenant_id).webhook_deliveries.listed(status)

    @operation(Permission.AUDIT_READ)
    def attempts(self, actor: Actor, delivery_id: str) -> list[AttemptInfo]:
        """Every attempt at one delivery: when, the response code and the latency."""
        authz.require(actor, Permission.AUDIT_READ)
        with self.store.reader() as reader:
            deliveries = reader.scoped(actor.tenant_id).webhook_deliveries
            _delivery(deliveries, delivery_id)  # exists in this tenant
            return deliveries.attempts(delivery_id)

    @operation(Permission.SECRETS_MANAGE)
    def replay(self, actor: Actor, delivery_id: str) -> None:
        """Give a dead letter a fresh set of attempts."""
        authz.require(actor, Permission.SECRETS_MANAGE)
        now = self._now()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            if not tx.webhook_deliveries.revive(delivery_id, now):
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
        count = 0
        for sub in tx.webhook_subscriptions.active():
            if "*" not in sub.event_types and event_type not in sub.event_types:
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
            tx.webhook_deliveries.add(
                delivery_id, sub.subscription_id, event_type, canonical_json(message), now
            )
            tx.enqueue(delivery_id, WEBHOOK, WEBHOOK, {"delivery_id": delivery_id}, now, now)
            count += 1
        return count

    # ---- delivering (by the workers) ---------------------------------------------------

    def attempt(self, item: OutboxItem) -> Attempt:
        """POST one delivery (no transaction is open meanwhile)."""
        delivery_id = str(item.body["delivery_id"])
        with self.store.reader() as unscoped:
            reader = unscoped.scoped(item.tenant_id)
            row = _delivery(reader.webhook_deliveries, delivery_id)
            sub = reader.webhook_subscriptions.get(row.subscription_id)
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
        row = _delivery(tx.webhook_deliveries, delivery_id)
        if row.status != "pending":
            return
        number = row.attempts + 1  # within this round (a replay starts a new round)
        tx.webhook_deliveries.log_attempt(
            delivery_id, now, attempt.status, attempt.latency_ms, attempt.error
        )
        if attempt.ok:
            status = "delivered"
        elif number >= self.max_attempts:
            status = "dead"
        else:
            status = "pending"
            delay = min(2.0 ** (number - 1) * 2.0, 3600.0) * random.uniform(0.8, 1.2)
            tx.enqueue(delivery_id, WEBHOOK, WEBHOOK, {"delivery_id": delivery_id},
                       now + delay, now)  # fmt: skip
        tx.webhook_deliveries.settle(
            delivery_id, status, number, attempt.status, attempt.error, now
        )

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


def _delivery(deliveries: WebhookDeliveries, delivery_id: str) -> Delivery:
    found = deliveries.get(delivery_id)
    if found is None:
        raise NotFoundError(f"no webhook delivery '{delivery_id}'")
    return found
