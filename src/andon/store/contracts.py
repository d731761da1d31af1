"""Event contract rows: statements shared by the transaction and the reader."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.sql import ClauseElement

from andon.core.contracts import EventContract
from andon.store import statements as q
from andon.store.rows import dumps


def contract_row(row: Mapping[Any, Any]) -> EventContract:
    return EventContract(
        str(row["event_type"]), int(row["version"]), json.loads(row["schema"]), str(row["digest"])
    )


class ContractStatements:
    """Mixed into the write transaction."""

    @property
    def tenant(self) -> str:
        raise NotImplementedError

    def _rows(self, statement: ClauseElement, params: Mapping[str, object]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _exec(self, statement: ClauseElement, params: Mapping[str, object]) -> Any:
        raise NotImplementedError

    def latest_contracts(self) -> dict[str, EventContract]:
        """The newest version of each of the tenant's registered contracts, by type."""
        found = self._rows(q.LATEST_CONTRACTS, {"b_tenant": self.tenant})
        return {c.event_type: c for c in map(contract_row, found)}

    def newest_contract(self, event_type: str) -> EventContract | None:
        """The tenant's newest version of ``event_type``, if it registered any."""
        params = {"b_tenant": self.tenant, "b_event_type": event_type}
        found = self._rows(q.SELECT_NEWEST_CONTRACT, params)
        return contract_row(found[0]) if found else None

    def insert_contract(self, contract: EventContract, registered_by: str, now: float) -> None:
        self._exec(
            q.INSERT_CONTRACT,
            {
                "tenant_id": self.tenant,
                "event_type": contract.event_type,
                "version": contract.version,
                "schema": dumps(contract.schema),
                "digest": contract.digest,
                "registered_at": now,
                "registered_by": registered_by,
            },
        )


def read_latest_contracts(conn: Connection, tenant: str) -> list[EventContract]:
    found = conn.execute(q.LATEST_CONTRACTS, {"b_tenant": tenant})
    return [contract_row(r._mapping) for r in found]


def read_contract_versions(conn: Connection, tenant: str, event_type: str) -> list[EventContract]:
    params = {"b_tenant": tenant, "b_event_type": event_type}
    return [contract_row(r._mapping) for r in conn.execute(q.SELECT_CONTRACT_VERSIONS, params)]
