"""Request and response bodies of the event contract routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from andon.api.models import Strict
from andon.core.contracts import EventContract

EVENT_TYPE = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"


class ContractIn(Strict):
    event_type: str = Field(min_length=3, max_length=200, pattern=EVENT_TYPE)
    json_schema: dict[str, Any] = Field(
        alias="schema", description="JSON Schema (2020-12) of the event's data"
    )


class ContractOut(BaseModel):
    event_type: str
    version: int
    urn: str
    digest: str


class ContractDetail(ContractOut):
    json_schema: dict[str, Any] = Field(serialization_alias="schema")

    @classmethod
    def of(cls, contract: EventContract) -> ContractDetail:
        return cls(
            event_type=contract.event_type, version=contract.version, urn=contract.urn,
            digest=contract.digest, json_schema=contract.schema,
        )  # fmt: skip


def summary(contract: EventContract) -> ContractOut:
    return ContractOut(
        event_type=contract.event_type, version=contract.version, urn=contract.urn,
        digest=contract.digest,
    )  # fmt: skip


class DeadLetterOut(BaseModel):
    letter_id: str
    channel: str
    stage: str
    reason: str
    payload: str
    event: dict[str, Any] | None
    received_at: float
    deliveries: int
    resolution: str | None
    resolved_at: float | None
    resolved_by: str | None


class DiscardIn(Strict):
    why: str = Field(min_length=1, max_length=2000)


class InboxReplayIn(Strict):
    template_id: str = Field(min_length=1, max_length=63)
    version: int = Field(ge=1, le=1_000_000)
    since: datetime
    until: datetime


class InboxReplayOut(BaseModel):
    template: str
    events: int
    started: list[str]
    already: int
