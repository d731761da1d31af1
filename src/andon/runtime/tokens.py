"""API tokens and sessions: random secrets shown once, stored as SHA-256 hashes, bound to
a tenant, a principal and optionally a subset of its roles and sites, expiring, revocable.

A token looks like ``andon_<id>_<secret>``: the id finds the row, the secret is compared
with the stored hash in constant time. Secrets are 256 random bits, so a fast hash is
enough (nothing to brute-force). A person's session is a short-lived token issued after
checking the password; OIDC can issue the same kind of session later.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from andon.core.json import JsonValue
from andon.errors import AuthenticationError, GovernanceError, InputError, NotFoundError
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import TENANT_WIDE, Actor, Grant
from andon.runtime import admin_chain, throttle
from andon.runtime.clock import Clock
from andon.runtime.directory import Directory
from andon.runtime.operations import operation
from andon.store.sql import SqlStore
from andon.store.tokens import TokenInfo

PREFIX = "andon"
SESSION_S = 8 * 3600.0
MAX_TOKEN_DAYS = 366
LOGIN_REFUSED = "sign-in refused: the tenant, user or password was not accepted"


@dataclass(frozen=True, slots=True)
class Issued:
    token_id: str
    token: str
    """The whole secret token; shown once, never stored."""
    expires_at: float


class Tokens:
    def __init__(self, store: SqlStore, clock: Clock, directory: Directory) -> None:
        self.store = store
        self.clock = clock
        self.directory = directory

    @operation(Permission.USERS_MANAGE)
    def issue(
        self,
        actor: Actor,
        user_id: str,
        name: str,
        *,
        roles: Sequence[str] = (),
        sites: Sequence[str] = (),
        days: int = 90,
    ) -> Issued:
        """A token for a principal of the tenant (typically a service account)."""
        authz.require(actor, Permission.USERS_MANAGE)
        if not 1 <= days <= MAX_TOKEN_DAYS:
            raise InputError(f"a token lives 1 to {MAX_TOKEN_DAYS} days")
        self.directory.actor(actor.tenant_id, user_id)  # exists in this tenant
        now = self._now()
        return self._issue(actor.tenant_id, user_id, name, "api", roles, sites,
                           now + days * 86400.0, actor.user_id)  # fmt: skip

    def login(self, tenant_id: str, user_id: str, password: str, client: str = "") -> Issued:
        """A session for a person who gives the password, signing in from ``client`` (its
        address). An unknown tenant or user is refused exactly like a wrong password, in
        words and in time; failures slow that client down (andon.runtime.throttle)."""
        with self.store.reader() as reader:
            throttle.check(
                reader.installation_throttle,
                throttle.login_keys(tenant_id, user_id, client),
                self._now(),
            )
        try:
            actor = self.directory.actor(tenant_id, user_id)
        except GovernanceError:
            self.directory.refuse_unknown(tenant_id, user_id, password, client)
            raise AuthenticationError(LOGIN_REFUSED) from None
        try:
            self.directory.authenticate(actor, password, client=client)
        except GovernanceError:
            raise AuthenticationError(LOGIN_REFUSED) from None
        return self._issue(tenant_id, user_id, "session", "session", (), (),
                           self._now() + SESSION_S, user_id)  # fmt: skip

    def end_session(self, token: str) -> None:
        """Sign out: the holder of a session token revokes it, so a copy of the cookie or
        token stops working too. Only session tokens end this way (an API token is revoked
        by an admin); an unknown or already ended token is refused like any bad token."""
        actor = self.resolve(token)
        if not self._revoke(actor, token.split("_")[1], "session.ended", kind="session"):
            raise AuthenticationError("not a session token: sign out ends sessions only")

    @operation(Permission.USERS_MANAGE)
    def revoke(self, actor: Actor, token_id: str) -> None:
        authz.require(actor, Permission.USERS_MANAGE)
        if not self._revoke(actor, token_id, "token.revoked"):
            raise NotFoundError(f"no active token '{token_id}'")

    def _revoke(self, actor: Actor, token_id: str, entry: str, *, kind: str = "") -> bool:
        """Revoke an active token of the actor's tenant (of ``kind`` when given) and log it
        in the admin chain; False when there is no such token."""
        now = self._now()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            if not tx.tokens.revoke(token_id, now, kind=kind):
                return False
            admin_chain.record(tx, entry, token_id, {}, actor.user_id, now)
        return True

    @operation(Permission.USERS_MANAGE)
    def list(self, actor: Actor) -> list[TokenInfo]:
        authz.require(actor, Permission.USERS_MANAGE)
        with self.store.reader() as reader:
            return reader.scoped(actor.tenant_id).tokens.all()

    def resolve(self, token: str) -> Actor:
        """The actor a bearer token stands for, narrowed to the token's roles and sites."""
        parts = token.split("_")
        if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
            raise AuthenticationError("malformed token")
        with self.store.reader() as reader:
            row = reader.installation_tokens.find(parts[1])
        if row is None or not hmac.compare_digest(row.secret_hash, _hash(parts[2])):
            raise AuthenticationError("unknown token")
        if row.info.revoked_at is not None:
            raise AuthenticationError("the token was revoked")
        if row.info.expires_at <= self._now():
            raise AuthenticationError("the token has expired")
        try:
            actor = self.directory.actor(row.tenant_id, row.info.user_id)
        except GovernanceError as exc:  # the principal was removed or deactivated
            raise AuthenticationError("the token's user may no longer act") from exc
        return _narrowed(actor, row.info.roles, row.info.sites)

    def _issue(
        self,
        tenant_id: str,
        user_id: str,
        name: str,
        kind: str,
        roles: Sequence[str],
        sites: Sequence[str],
        expires_at: float,
        by: str,
    ) -> Issued:
        role_list: list[JsonValue] = []
        role_list.extend(sorted(roles))
        site_list: list[JsonValue] = []
        site_list.extend(sorted(sites))
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32).replace("_", "-")
        now = self._now()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(tenant_id)
            issued = TokenInfo(token_id, user_id, name, kind, tuple(roles), tuple(sites), now,
                               expires_at, None)  # fmt: skip
            tx.tokens.issue(issued, _hash(secret), by)
            admin_chain.record(
                tx, f"{kind}.issued", token_id,
                {"user": user_id, "name": name, "roles": role_list, "sites": site_list,
                 "expires_at": expires_at},
                by, now,
            )  # fmt: skip
        return Issued(token_id, f"{PREFIX}_{token_id}_{secret}", expires_at)

    def _now(self) -> float:
        return self.clock.now().timestamp()


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


def _narrowed(actor: Actor, roles: Sequence[str], sites: Sequence[str]) -> Actor:
    """Keep the grants the token allows: listed roles only; tenant-wide grants become
    grants at each listed site."""
    grants: list[Grant] = []
    for grant in actor.grants:
        if roles and grant.role not in roles:
            continue
        if not sites:
            grants.append(grant)
        elif grant.site == TENANT_WIDE:
            grants.extend(Grant(grant.role, site, grant.granted_by) for site in sites)
        elif grant.site in sites:
            grants.append(grant)
    delegations = tuple(
        d for d in actor.delegations
        if (not roles or d.role in roles) and (not sites or d.site in (TENANT_WIDE, *sites))
    )  # fmt: skip
    return replace(actor, grants=tuple(grants), delegations=delegations)
