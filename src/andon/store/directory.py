"""Statements for the directory (partners, tenants, sites, users, grants, delegations)
and the per-tenant chain of administrative acts; mixed into ``SqlTransaction``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.sql import ClauseElement

from andon.core.json import JsonObject
from andon.governance.identity import Delegation, Grant
from andon.store import rows
from andon.store import statements as q
from andon.store.base import UserRow
from andon.store.prepared import Cursor, PreparedSet, WriteBehind, read
from andon.store.rows import dumps


class DirectoryStatements:
    _prepared: PreparedSet
    _writes: WriteBehind

    @property
    def tenant(self) -> str:
        raise NotImplementedError

    def _exec(self, statement: ClauseElement, params: Mapping[str, object]) -> Cursor:
        return self._writes.run(self._prepared.get(statement, params), params)

    def _later(
        self,
        statement: ClauseElement,
        params: Mapping[str, object],
        stale: str = "",
        on_row: Callable[[Any], None] | None = None,
    ) -> None:
        """A write whose result is not needed now: sent with the next statement that needs
        one, or at commit (``WriteBehind``)."""
        self._writes.hold(self._prepared.get(statement, params), params, stale, on_row)

    def _rows(self, statement: ClauseElement, params: Mapping[str, object]) -> list[dict[str, Any]]:
        return read(self._exec(statement, params))

    def _first(
        self, statement: ClauseElement, params: Mapping[str, object]
    ) -> dict[str, Any] | None:
        found = self._rows(statement, params)
        return found[0] if found else None

    # partners, tenants and sites (unscoped: the directory spans tenants)
    def partner_exists(self, partner_id: str) -> bool:
        return self._first(q.SELECT_PARTNER, {"partner_id": partner_id}) is not None

    def insert_partner(self, partner_id: str, name: str, now: float) -> None:
        self._exec(q.INSERT_PARTNER, {"partner_id": partner_id, "name": name, "created_at": now})

    def tenant_partner(self, tenant_id: str) -> str | None:
        """The partner that manages ``tenant_id``, or None when there is no such tenant."""
        found = self._first(q.SELECT_TENANT, {"tenant_id": tenant_id})
        return str(found["partner_id"]) if found else None

    def insert_tenant(self, tenant_id: str, partner_id: str, name: str, now: float) -> None:
        self._exec(
            q.INSERT_TENANT,
            {"tenant_id": tenant_id, "partner_id": partner_id, "name": name, "created_at": now},
        )

    def site_exists(self, site_id: str) -> bool:
        return self._first(q.SELECT_SITE, {"b_tenant": self.tenant, "site_id": site_id}) is not None

    def insert_site(self, site_id: str, parent_id: str, name: str, now: float) -> None:
        self._exec(
            q.INSERT_SITE,
            {
                "tenant_id": self.tenant,
                "site_id": site_id,
                "parent_id": parent_id,
                "name": name,
                "created_at": now,
            },
        )

    # principals
    def user(self, user_id: str) -> UserRow | None:
        found = self._first(q.SELECT_USER, {"user_id": user_id})
        return rows.user_row(found) if found else None

    def insert_user(self, row: UserRow) -> None:
        self._exec(
            q.INSERT_USER,
            {
                "user_id": row.user_id,
                "tenant_id": row.tenant_id,
                "partner_id": row.partner_id,
                "name": row.name,
                "kind": row.kind,
                "password_hash": row.password_hash,
                "active": int(row.active),
                "failed_logins": row.failed_logins,
                "locked_until": row.locked_until,
                "created_at": row.created_at,
            },
        )

    def update_user(self, user_id: str, **values: object) -> None:
        self._exec(q.UPDATE_USER, {"b_user_id": user_id, **values})

    # grants and delegations (scoped to the tenant)
    def grants(self, user_id: str) -> list[Grant]:
        found = self._rows(q.SELECT_GRANTS, {"b_tenant": self.tenant, "user_id": user_id})
        return [Grant(r["role"], r["site"], r["granted_by"]) for r in found]

    def insert_grant(self, user_id: str, grant: Grant, now: float) -> None:
        self._exec(
            q.INSERT_GRANT,
            {
                "tenant_id": self.tenant,
                "user_id": user_id,
                "role": grant.role,
                "site": grant.site,
                "granted_by": grant.granted_by,
                "granted_at": now,
            },
        )

    def delete_grant(self, user_id: str, role: str, site: str) -> bool:
        params = {"b_tenant": self.tenant, "b_user_id": user_id, "b_role": role, "b_site": site}
        return self._exec(q.DELETE_GRANT, params).rowcount == 1

    def role_holders(self, role: str) -> list[str]:
        found = self._rows(q.SELECT_ROLE_HOLDERS, {"b_tenant": self.tenant, "role": role})
        return sorted(str(r["user_id"]) for r in found)

    def delegations_to(self, delegate: str, now: float) -> list[Delegation]:
        found = self._rows(
            q.SELECT_DELEGATIONS_TO, {"b_tenant": self.tenant, "delegate": delegate, "now": now}
        )
        return [
            Delegation(
                r["delegation_id"],
                r["delegator"],
                r["delegate"],
                r["role"],
                r["site"],
                r["starts_at"],
                r["ends_at"],
                r["reason"],
            )
            for r in found
        ]

    def insert_delegation(self, delegation: Delegation, created_by: str, now: float) -> None:
        self._exec(
            q.INSERT_DELEGATION,
            {
                "tenant_id": self.tenant,
                "delegation_id": delegation.delegation_id,
                "delegator": delegation.delegator,
                "delegate": delegation.delegate,
                "role": delegation.role,
                "site": delegation.site,
                "starts_at": delegation.starts_at,
                "ends_at": delegation.ends_at,
                "reason": delegation.reason,
                "created_by": created_by,
                "created_at": now,
                "revoked_at": None,
            },
        )

    def authority_ranks(self) -> dict[str, int]:
        found = self._rows(q.SELECT_RANKS, {"b_tenant": self.tenant})
        return {str(r["role"]): int(r["rank"]) for r in found}

    def set_authority_rank(self, role: str, rank: int) -> None:
        self._exec(q.DELETE_RANK, {"b_tenant": self.tenant, "b_role": role})
        self._exec(q.INSERT_RANK, {"tenant_id": self.tenant, "role": role, "rank": rank})

    # the chain of administrative acts
    def last_admin(self) -> tuple[int, str] | None:
        found = self._first(q.LAST_ADMIN, {"b_tenant": self.tenant})
        return (int(found["seq"]), str(found["hash"])) if found else None

    def insert_admin(
        self,
        seq: int,
        action: str,
        subject: str,
        body: JsonObject,
        actor: str,
        at: float,
        digest: str,
    ) -> None:
        self._exec(
            q.INSERT_ADMIN,
            {
                "tenant_id": self.tenant,
                "seq": seq,
                "action": action,
                "subject": subject,
                "body": dumps(body),
                "actor": actor,
                "at": at,
                "hash": digest,
            },
        )
