"""Inbound webhooks: per-source signature schemes and secrets, a CEL mapping from the
payload to an Andon event, and delivery through the inbox (so a replayed message id is
acknowledged but never processed twice)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from andon.core.expressions import compile_expression
from andon.core.json import JsonObject, JsonValue
from andon.errors import ConflictError, ExpressionError, InputError, NotFoundError
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.intake import InboundEvent
from andon.runtime import admin_chain
from andon.runtime.clock import Clock
from andon.runtime.dead_letters import MAPPING
from andon.runtime.directory import Directory, check_id
from andon.runtime.operations import operation
from andon.runtime.secretbox import SecretBox
from andon.runtime.service import Andon, Received
from andon.store.sql import SqlStore
from andon.store.webhook_sources import WebhookSourceRow, WebhookSources
from andon.webhooks import signing

MAX_BODY = 1_000_000
MAPPING_FIELDS = ("type", "key", "data", "id", "plant")


@dataclass(frozen=True, slots=True)
class EventMapping:
    """CEL expressions over ``event`` (the JSON payload)."""

    type: str
    key: str
    data: str = "event"
    id: str = ""
    """The message id where the scheme carries none (HMAC hex); else ``webhook-id``."""
    plant: str = ""

    def as_json(self) -> JsonObject:
        return {f: getattr(self, f) for f in MAPPING_FIELDS}


class Hooks:
    def __init__(
        self,
        store: SqlStore,
        clock: Clock,
        service: Andon,
        directory: Directory,
        box: SecretBox,
    ) -> None:
        self.store = store
        self.clock = clock
        self.service = service
        self.directory = directory
        self.box = box

    @operation(Permission.SECRETS_MANAGE)
    def add_source(
        self,
        actor: Actor,
        source_id: str,
        *,
        scheme: str,
        secret: str,
        mapping: EventMapping,
        acting_user: str,
        signature_header: str = "x-signature",
    ) -> None:
        """Register a sender; its events act as ``acting_user`` (a service account)."""
        authz.require(actor, Permission.SECRETS_MANAGE)
        check_id(source_id, "source id")
        if scheme not in signing.SCHEMES:
            raise InputError(f"scheme must be one of {', '.join(signing.SCHEMES)}")
        signing.secret_bytes(secret)
        _check_mapping(mapping, scheme)
        self.directory.actor(actor.tenant_id, acting_user)  # exists here
        now = self._now()
        sealed = self._seal(actor.tenant_id, source_id, [{"secret": secret, "until": None}])
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            sources = tx.webhook_sources
            if sources.exists(source_id):
                raise ConflictError(f"webhook source {source_id} exists")
            sources.add(
                WebhookSourceRow(source_id, scheme, sealed, signature_header.lower(),
                                 mapping.as_json(), acting_user, now, now)
            )  # fmt: skip
            admin_chain.record(
                tx, "webhook_source.added", source_id,
                {"scheme": scheme, "acting_user": acting_user, "mapping": mapping.as_json()},
                actor.user_id, now,
            )  # fmt: skip

    @operation(Permission.SECRETS_MANAGE)
    def rotate_secret(
        self, actor: Actor, source_id: str, new_secret: str, *, grace_s: float = 86_400.0
    ) -> None:
        """A new secret; the current ones stay valid for ``grace_s`` seconds."""
        authz.require(actor, Permission.SECRETS_MANAGE)
        signing.secret_bytes(new_secret)
        now = self._now()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            row = _source(tx.webhook_sources, source_id)
            old = json.loads(self.box.open(row.secrets, _purpose(tx.tenant, source_id)))
            kept = [
                {"secret": e["secret"], "until": min(e["until"] or now + grace_s, now + grace_s)}
                for e in old
                if e["until"] is None or e["until"] > now
            ]
            secrets = [{"secret": new_secret, "until": None}, *kept]
            sealed = self._seal(tx.tenant, source_id, secrets)
            tx.webhook_sources.set_secrets(source_id, sealed, now)
            admin_chain.record(
                tx, "webhook_source.secret_rotated", source_id, {"grace_s": grace_s},
                actor.user_id, now,
            )  # fmt: skip

    @operation(Permission.SECRETS_MANAGE)
    def set_mapping(self, actor: Actor, source_id: str, mapping: EventMapping) -> None:
        """Replace how a source's deliveries become events (e.g. to fix what dead-lettered
        them; replaying those letters maps them again with this mapping)."""
        authz.require(actor, Permission.SECRETS_MANAGE)
        now = self._now()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            row = _source(tx.webhook_sources, source_id)
            _check_mapping(mapping, row.scheme)
            tx.webhook_sources.set_mapping(source_id, mapping.as_json(), now)
            admin_chain.record(
                tx, "webhook_source.mapping_set", source_id, {"mapping": mapping.as_json()},
                actor.user_id, now,
            )  # fmt: skip

    def receive(
        self, tenant_id: str, source_id: str, headers: Mapping[str, str], body: bytes
    ) -> Received:
        """Verify, map and take in one delivery. ``SignatureError`` for a forged or stale
        one; ``NotFoundError`` for an unknown source (same answer for every tenant)."""
        if len(body) > MAX_BODY:
            raise InputError(f"the body is larger than {MAX_BODY} bytes")
        now = self._now()
        with self.store.reader() as reader:
            row = _source(reader.scoped(tenant_id).webhook_sources, source_id)
        entries = json.loads(self.box.open(row.secrets, _purpose(tenant_id, source_id)))
        active = [e["secret"] for e in entries if e["until"] is None or e["until"] > now]
        lowered = {k.lower(): v for k, v in headers.items()}
        if row.scheme == signing.STANDARD:
            verified = signing.verify_standard(active, lowered, body, now)
        else:
            verified = signing.verify_hmac_hex(active, lowered.get(row.signature_header, ""), body)
        actor = self.directory.actor(tenant_id, row.acting_user)
        channel = f"webhook:{source_id}"
        mapping = _mapping(row)
        try:
            event = _inbound(mapping, channel, body, verified.message_id or "")
        except InputError as exc:
            # Authentic but not mappable: kept for the operator (with the message id the
            # signature carried, for the replay), never lost.
            kept = json.dumps({"message_id": verified.message_id,
                               "body": body.decode("utf-8", "replace")})  # fmt: skip
            letter = self.service.keep_dead_letter(actor, channel, MAPPING, str(exc), kept)
            return Received(0, (), dead_letter=letter)
        taken = self.service.take_event(actor, channel, event)
        return taken.received or Received(0, (), dead_letter=taken.dead_letter)

    def remap(self, tenant_id: str, channel: str, payload: str) -> InboundEvent:
        """Map a kept delivery again with its source's current mapping (dead-letter replay)."""
        source_id = channel.removeprefix("webhook:")
        with self.store.reader() as reader:
            row = _source(reader.scoped(tenant_id).webhook_sources, source_id)
        kept = json.loads(payload)
        mapping = _mapping(row)
        message_id = str(kept.get("message_id") or "")
        return _inbound(mapping, channel, str(kept["body"]).encode(), message_id)

    def _seal(self, tenant_id: str, source_id: str, secrets: list[JsonObject]) -> str:
        return self.box.seal(json.dumps(secrets), _purpose(tenant_id, source_id))

    def _now(self) -> float:
        return self.clock.now().timestamp()


def _purpose(tenant_id: str, source_id: str) -> str:
    return f"webhook-source:{tenant_id}/{source_id}"


def _source(sources: WebhookSources, source_id: str) -> WebhookSourceRow:
    row = sources.get(source_id)
    if row is None:
        raise NotFoundError(f"no webhook source '{source_id}'")
    return row


def _mapping(row: WebhookSourceRow) -> EventMapping:
    return EventMapping(**{f: str(row.mapping[f]) for f in MAPPING_FIELDS if f in row.mapping})


def _inbound(mapping: EventMapping, channel: str, body: bytes, message_id: str) -> InboundEvent:
    """The event a delivery maps to; ``InputError`` naming what is wrong when it maps to none."""
    try:
        payload: JsonValue = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"the body is not JSON: {exc}") from exc
    event = _map(mapping, payload)
    event_id = message_id or str(event.get("id") or "")
    if not event_id:
        raise InputError("the delivery has no message id (map 'id' for this scheme)")
    return InboundEvent(
        str(event["type"]), str(event["key"]), event.get("data", {}), channel, event_id,
        str(event.get("plant") or ""),
    )  # fmt: skip


def _check_mapping(mapping: EventMapping, scheme: str) -> None:
    for field in MAPPING_FIELDS:
        source = getattr(mapping, field)
        if not source:
            if field in ("type", "key"):
                raise InputError(f"mapping.{field} is required")
            continue
        try:
            compiled = compile_expression(source)
        except ExpressionError as exc:
            raise InputError(f"mapping.{field}: {exc}") from exc
        if not compiled.variables <= {"event"}:
            raise InputError(f"mapping.{field} may only use 'event' (the payload)")
    if scheme == signing.HMAC_HEX and not mapping.id:
        raise InputError("mapping.id is required for hmac-sha256-hex (it has no message id)")


def _map(mapping: EventMapping, payload: JsonValue) -> JsonObject:
    context: dict[str, JsonValue] = {"event": payload}
    out: JsonObject = {}
    for field in MAPPING_FIELDS:
        source = getattr(mapping, field)
        if not source:
            continue
        try:
            out[field] = compile_expression(source).evaluate(context)
        except ExpressionError as exc:
            raise InputError(f"mapping.{field}: {exc}") from exc
    for field in ("type", "key"):
        if not isinstance(out.get(field), str) or not out[field]:
            raise InputError(f"mapping.{field} must give a non-empty string")
    return out
