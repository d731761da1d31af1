"""Dead-letter and inbox-window rows: statements shared by the transaction and the reader."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import ClauseElement

from andon.core.json import JsonObject
from andon.store import schema as s
from andon.store.rows import dumps

_d = s.dead_letters
# A redelivered bad message is one letter seen more often, not a second letter.
INSERT_DEAD_LETTER = {
    "sqlite": sqlite_insert(_d).on_conflict_do_update(
        index_elements=[_d.c.tenant_id, _d.c.letter_id],
        set_={"deliveries": _d.c.deliveries + 1},
    ),
    "postgresql": pg_insert(_d).on_conflict_do_update(
        index_elements=[_d.c.tenant_id, _d.c.letter_id],
        set_={"deliveries": _d.c.deliveries + 1},
    ),
}
SELECT_DEAD_LETTER = select(_d).where(
    _d.c.tenant_id == bindparam("b_tenant"), _d.c.letter_id == bindparam("b_letter")
)
SELECT_OPEN_LETTERS = (
    select(_d)
    .where(_d.c.tenant_id == bindparam("b_tenant"), _d.c.resolved_at.is_(None))
    .order_by(_d.c.received_at, _d.c.letter_id)
    .limit(bindparam("b_limit"))
)
SELECT_ALL_LETTERS = (
    select(_d)
    .where(_d.c.tenant_id == bindparam("b_tenant"))
    .order_by(_d.c.received_at, _d.c.letter_id)
    .limit(bindparam("b_limit"))
)
RESOLVE_DEAD_LETTER = (
    update(_d)
    .where(
        _d.c.tenant_id == bindparam("b_tenant"),
        _d.c.letter_id == bindparam("b_letter"),
        _d.c.resolved_at.is_(None),
    )
    .values(
        resolution=bindparam("resolution"),
        resolved_at=bindparam("resolved_at"),
        resolved_by=bindparam("resolved_by"),
    )
)
SELECT_INBOX_WINDOW = (
    select(s.inbox)
    .where(
        s.inbox.c.tenant_id == bindparam("b_tenant"),
        s.inbox.c.received_at >= bindparam("b_since"),
        s.inbox.c.received_at < bindparam("b_until"),
    )
    .order_by(s.inbox.c.received_at, s.inbox.c.source, s.inbox.c.event_id)
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event that could not be taken in. ``stage`` says how far it got: ``mapping``
    (no event could be made of the payload) or ``contract`` (an event, but its type has
    no contract or its data breaks it); ``event`` is the mapped event when there is one."""

    letter_id: str
    channel: str
    stage: str
    reason: str
    payload: str
    event: JsonObject | None
    received_at: float
    deliveries: int
    resolution: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None


@dataclass(frozen=True, slots=True)
class InboxEvent:
    source: str
    event_id: str
    event_type: str
    key: str
    data: str
    received_at: float
    plant: str


def letter_row(row: Mapping[Any, Any]) -> DeadLetter:
    event = json.loads(row["event"]) if row["event"] is not None else None
    return DeadLetter(
        str(row["letter_id"]), str(row["channel"]), str(row["stage"]), str(row["reason"]),
        str(row["payload"]), event, float(row["received_at"]), int(row["deliveries"]),
        row["resolution"], row["resolved_at"], row["resolved_by"],
    )  # fmt: skip


class DeadLetterStatements:
    """Mixed into the write transaction."""

    @property
    def tenant(self) -> str:
        raise NotImplementedError

    @property
    def dialect(self) -> str:
        raise NotImplementedError

    def _rows(self, statement: ClauseElement, params: Mapping[str, object]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _exec(self, statement: ClauseElement, params: Mapping[str, object]) -> Any:
        raise NotImplementedError

    def add_dead_letter(self, letter: DeadLetter) -> None:
        """Keep ``letter``; if it is there already (a redelivery), count one more delivery."""
        self._exec(
            INSERT_DEAD_LETTER[self.dialect],
            {
                "tenant_id": self.tenant,
                "letter_id": letter.letter_id,
                "channel": letter.channel,
                "stage": letter.stage,
                "reason": letter.reason,
                "payload": letter.payload,
                "event": dumps(letter.event) if letter.event is not None else None,
                "received_at": letter.received_at,
                "deliveries": 1,
            },
        )

    def dead_letter(self, letter_id: str) -> DeadLetter | None:
        found = self._rows(SELECT_DEAD_LETTER, {"b_tenant": self.tenant, "b_letter": letter_id})
        return letter_row(found[0]) if found else None

    def resolve_dead_letter(self, letter_id: str, resolution: str, by: str, now: float) -> bool:
        """Mark an open letter replayed or discarded; False when it was not open."""
        params = {"b_tenant": self.tenant, "b_letter": letter_id, "resolution": resolution,
                  "resolved_at": now, "resolved_by": by}  # fmt: skip
        return bool(self._exec(RESOLVE_DEAD_LETTER, params).rowcount == 1)

    def inbox_window(self, since: float, until: float, types: list[str]) -> list[InboxEvent]:
        """The events of ``types`` received in ``[since, until)``, oldest first. (The type
        is filtered here: prepared statements take no expanding lists.)"""
        params = {"b_tenant": self.tenant, "b_since": since, "b_until": until}
        found = self._rows(SELECT_INBOX_WINDOW, params)
        return [inbox_row(r) for r in found if r["event_type"] in types]


def inbox_row(row: Mapping[Any, Any]) -> InboxEvent:
    return InboxEvent(
        str(row["source"]), str(row["event_id"]), str(row["event_type"]),
        str(row["correlation_key"]), str(row["data"]), float(row["received_at"]),
        str(row["plant"]),
    )  # fmt: skip


def read_dead_letters(
    conn: Connection, tenant: str, *, open_only: bool, limit: int
) -> list[DeadLetter]:
    statement = SELECT_OPEN_LETTERS if open_only else SELECT_ALL_LETTERS
    found = conn.execute(statement, {"b_tenant": tenant, "b_limit": limit})
    return [letter_row(r._mapping) for r in found]


def read_dead_letter(conn: Connection, tenant: str, letter_id: str) -> DeadLetter | None:
    found = conn.execute(SELECT_DEAD_LETTER, {"b_tenant": tenant, "b_letter": letter_id}).first()
    return letter_row(found._mapping) if found else None
