"""Rows of ``webhook_sources``: a tenant's senders of inbound webhooks, with their sealed
secrets and event mapping (andon.runtime.hooks verifies and maps the deliveries)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from andon.core.json import JsonObject
from andon.store import schema as s

_t = s.webhook_sources


@dataclass(frozen=True, slots=True)
class WebhookSourceRow:
    source_id: str
    scheme: str
    secrets: str
    """Sealed (andon.runtime.secretbox): never stored in the clear."""
    signature_header: str
    mapping: JsonObject
    acting_user: str
    created_at: float
    updated_at: float


class WebhookSources:
    """The webhook sources of one tenant."""

    def __init__(self, conn: Connection, tenant: str) -> None:
        self._conn = conn
        self._tenant = tenant

    def get(self, source_id: str) -> WebhookSourceRow | None:
        found = self._conn.execute(select(_t).where(*self._key(source_id))).first()
        return _row(found) if found else None

    def exists(self, source_id: str) -> bool:
        found = self._conn.execute(select(_t.c.source_id).where(*self._key(source_id)))
        return found.first() is not None

    def add(self, row: WebhookSourceRow) -> None:
        self._conn.execute(
            insert(_t).values(
                tenant_id=self._tenant, source_id=row.source_id, scheme=row.scheme,
                secrets=row.secrets, signature_header=row.signature_header,
                mapping=json.dumps(row.mapping), acting_user=row.acting_user,
                created_at=row.created_at, updated_at=row.updated_at,
            )
        )  # fmt: skip

    def set_secrets(self, source_id: str, sealed: str, now: float) -> None:
        self._update(source_id, secrets=sealed, updated_at=now)

    def set_mapping(self, source_id: str, mapping: JsonObject, now: float) -> None:
        self._update(source_id, mapping=json.dumps(mapping), updated_at=now)

    def _update(self, source_id: str, **values: object) -> None:
        self._conn.execute(update(_t).where(*self._key(source_id)).values(**values))

    def _key(self, source_id: str) -> tuple[Any, ...]:
        return (_t.c.tenant_id == self._tenant, _t.c.source_id == source_id)


def _row(found: Any) -> WebhookSourceRow:
    return WebhookSourceRow(
        found.source_id, found.scheme, found.secrets, found.signature_header,
        json.loads(found.mapping), found.acting_user, found.created_at, found.updated_at,
    )  # fmt: skip
