"""Rows of ``api_tokens``: a tenant's API tokens and sessions, kept as hashes of their
secrets (andon.runtime.tokens issues and checks them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from andon.store import schema as s

_t = s.api_tokens


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as it is listed: never with its secret's hash."""

    token_id: str
    user_id: str
    name: str
    kind: str
    """``api`` or ``session``."""
    roles: tuple[str, ...]
    sites: tuple[str, ...]
    created_at: float
    expires_at: float
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class TokenRow:
    tenant_id: str
    info: TokenInfo
    secret_hash: str
    created_by: str


class TokenRows:
    """The tokens of one tenant."""

    def __init__(self, conn: Connection, tenant: str) -> None:
        self._conn = conn
        self._tenant = tenant

    def issue(self, token: TokenInfo, secret_hash: str, created_by: str) -> None:
        self._conn.execute(
            insert(_t).values(
                token_id=token.token_id, tenant_id=self._tenant, user_id=token.user_id,
                name=token.name, kind=token.kind, secret_hash=secret_hash,
                roles=json.dumps(sorted(token.roles)), sites=json.dumps(sorted(token.sites)),
                created_by=created_by, created_at=token.created_at, expires_at=token.expires_at,
            )
        )  # fmt: skip

    def revoke(self, token_id: str, now: float, *, kind: str = "") -> bool:
        """Revoke the token if it is active (and of ``kind`` when given); False when there is
        no such active token."""
        which = [_t.c.tenant_id == self._tenant, _t.c.token_id == token_id]
        if kind:
            which.append(_t.c.kind == kind)
        done = self._conn.execute(
            update(_t).where(*which, _t.c.revoked_at.is_(None)).values(revoked_at=now)
        )
        return done.rowcount == 1

    def all(self) -> list[TokenInfo]:
        """Every token of the tenant, revoked and expired ones too, oldest first."""
        query = (
            select(_t)
            .where(_t.c.tenant_id == self._tenant)
            .order_by(_t.c.created_at, _t.c.token_id)
        )
        return [_info(r) for r in self._conn.execute(query)]


class InstallationTokens:
    """Tokens looked up by id across tenants: a bearer token names its tenant only
    through its row."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def find(self, token_id: str) -> TokenRow | None:
        found = self._conn.execute(select(_t).where(_t.c.token_id == token_id)).first()
        return _row(found) if found else None


def _row(found: Any) -> TokenRow:
    return TokenRow(found.tenant_id, _info(found), found.secret_hash, found.created_by)


def _info(found: Any) -> TokenInfo:
    return TokenInfo(
        found.token_id, found.user_id, found.name, found.kind, tuple(json.loads(found.roles)),
        tuple(json.loads(found.sites)), found.created_at, found.expires_at, found.revoked_at,
    )  # fmt: skip
