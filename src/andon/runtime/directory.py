"""The directory: partners, tenants, sites, principals, grants and delegations.

Resolving who acts (``actor``) happens here, and every change of who may do what is an
administrative act chained in the tenant's audit log.
"""

from __future__ import annotations

import re
import uuid
from typing import Protocol

from andon.core.json import JsonValue
from andon.errors import ConflictError, GovernanceError, InputError, NotFoundError
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import (
    TENANT_WIDE,
    Actor,
    Delegation,
    Grant,
    PrincipalKind,
)
from andon.runtime import admin_chain, throttle
from andon.runtime.clock import Clock
from andon.runtime.credentials import check_against_nobody, check_password, hash_password
from andon.runtime.operations import operation
from andon.store.base import AdminRow, UserRow
from andon.store.sql import SqlStore
from andon.store.transaction import SqlTransaction

LOCAL_PARTNER = "local"
DEFAULT_TENANT = "default"
LOCAL_ADMIN = "admin"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def check_id(value: str, what: str) -> str:
    if not _ID.fullmatch(value):
        raise InputError(
            f"{what} {value!r} must be 1-64 letters, digits or . _ @ - (starting alphanumeric)"
        )
    return value


class SecondFactor(Protocol):
    """A second identification component (e.g. a TOTP verifier) for signing."""

    name: str

    def verify(self, user_id: str, code: str) -> bool: ...


class Directory:
    def __init__(
        self, store: SqlStore, clock: Clock, second_factor: SecondFactor | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.second_factor = second_factor

    # ---- the installation (local console, not a tenant operation) ------------------------

    def ensure_installation(self) -> None:
        """A fresh database gets a local administrator of the default tenant, so that the
        embedded default works with no set-up; it holds administrative roles only."""
        with self.store.transaction() as tx:
            if tx.user(LOCAL_ADMIN) is not None:
                return
            now = self._now()
            tx.insert_user(
                UserRow(
                    LOCAL_ADMIN,
                    DEFAULT_TENANT,
                    None,
                    "Local administrator",
                    PrincipalKind.PERSON.value,
                    None,
                    True,
                    0,
                    None,
                    now,
                )
            )
            scoped = tx.scoped(DEFAULT_TENANT)
            for role in (authz.TENANT_ADMIN, authz.PROCESS_OWNER, authz.AUDITOR):
                scoped.insert_grant(LOCAL_ADMIN, Grant(role, TENANT_WIDE, "installation"), now)
            admin_chain.record(
                scoped,
                "installation.created",
                LOCAL_ADMIN,
                {"roles": [authz.TENANT_ADMIN, authz.PROCESS_OWNER, authz.AUDITOR]},
                "installation",
                now,
            )

    def create_partner(self, partner_id: str, name: str) -> None:
        check_id(partner_id, "partner id")
        with self.store.transaction() as tx:
            if tx.partner_exists(partner_id):
                raise ConflictError(f"partner {partner_id} exists")
            tx.insert_partner(partner_id, name, self._now())

    def create_tenant(self, tenant_id: str, name: str, partner_id: str = LOCAL_PARTNER) -> None:
        """Create a tenant and its first administrator (``admin@<tenant>``)."""
        check_id(tenant_id, "tenant id")
        now = self._now()
        with self.store.transaction() as tx:
            if not tx.partner_exists(partner_id):
                raise NotFoundError(f"no partner '{partner_id}'")
            if tx.tenant_partner(tenant_id) is not None:
                raise ConflictError(f"tenant {tenant_id} exists")
            tx.insert_tenant(tenant_id, partner_id, name, now)
            admin_id = f"admin@{tenant_id}"
            tx.insert_user(
                UserRow(
                    admin_id,
                    tenant_id,
                    None,
                    f"{name} administrator",
                    PrincipalKind.PERSON.value,
                    None,
                    True,
                    0,
                    None,
                    now,
                )
            )
            scoped = tx.scoped(tenant_id)
            scoped.insert_grant(
                admin_id, Grant(authz.TENANT_ADMIN, TENANT_WIDE, "installation"), now
            )
            admin_chain.record(
                scoped,
                "tenant.created",
                tenant_id,
                {"partner": partner_id, "name": name, "admin": admin_id},
                "installation",
                now,
            )

    def create_partner_user(self, partner_id: str, user_id: str, name: str) -> None:
        """A partner's own user; it acts only in tenants that grant it roles."""
        check_id(user_id, "user id")
        with self.store.transaction() as tx:
            if not tx.partner_exists(partner_id):
                raise NotFoundError(f"no partner '{partner_id}'")
            if tx.user(user_id) is not None:
                raise ConflictError(f"user {user_id} exists")
            tx.insert_user(
                UserRow(
                    user_id,
                    None,
                    partner_id,
                    name,
                    PrincipalKind.PERSON.value,
                    None,
                    True,
                    0,
                    None,
                    self._now(),
                )
            )

    # ---- who acts --------------------------------------------------------------------------

    def actor(self, tenant_id: str, user_id: str) -> Actor:
        """Resolve ``user_id`` acting in ``tenant_id``, with its grants and delegations."""
        with self.store.transaction() as tx:
            return self._resolve(tx, tenant_id, user_id)

    def _resolve(self, tx: SqlTransaction, tenant_id: str, user_id: str) -> Actor:
        user = tx.user(user_id)
        partner = tx.tenant_partner(tenant_id)
        if user is None or not user.active or partner is None:
            raise GovernanceError(f"unknown or inactive user '{user_id}' in tenant '{tenant_id}'")
        if user.tenant_id is not None and user.tenant_id != tenant_id:
            # Said exactly as for a user that does not exist: no hint at other tenants.
            raise GovernanceError(f"unknown or inactive user '{user_id}' in tenant '{tenant_id}'")
        if user.tenant_id is None and user.partner_id != partner:
            raise GovernanceError(
                f"user '{user_id}' may not act in tenant '{tenant_id}': its partner "
                f"'{user.partner_id}' does not manage this tenant"
            )
        scoped = tx.scoped(tenant_id)
        return Actor(
            user.user_id,
            tenant_id,
            user.name,
            PrincipalKind(user.kind),
            tuple(scoped.grants(user_id)),
            user.partner_id,
            tuple(scoped.delegations_to(user_id, self._now())),
        )

    def authenticate(
        self,
        actor: Actor,
        password: str,
        second_factor: str | None = None,
        *,
        client: str | None = None,
    ) -> str:
        """Re-authenticate ``actor`` for signing (or, with ``client``, for a sign-in);
        return the method used.

        Both components are checked every time (11.200: signing outside a continuous
        session uses all of them). Repeated failures slow further attempts down (429
        with a growing delay, andon.runtime.throttle) instead of locking the account, and
        every failure and every delay started is an act in the tenant's audit chain.
        """
        now = self._now()
        keys = (
            throttle.signing_keys(actor.tenant_id, actor.user_id)
            if client is None
            else throttle.login_keys(actor.tenant_id, actor.user_id, client)
        )
        with self.store.reader() as reader:
            throttle.check(reader.installation_throttle, keys, now)
        factor_ok = True
        if self.second_factor is not None:
            factor_ok = second_factor is not None and self.second_factor.verify(
                actor.user_id, second_factor
            )
        with self.store.transaction() as tx:
            user = tx.user(actor.user_id)
            if user is None:
                raise GovernanceError(f"unknown user '{actor.user_id}'")
            if check_password(password, user.password_hash) and factor_ok:
                throttle.succeeded(tx.installation_throttle, keys)
                return (
                    "password"
                    if self.second_factor is None
                    else (f"password+{self.second_factor.name}")
                )
            failures, delay = throttle.failed(tx.installation_throttle, keys, now)
            body: dict[str, JsonValue] = {"attempt": failures, "throttled_s": delay}
            if client is not None:
                body["client"] = client
            scoped = tx.scoped(actor.tenant_id)
            admin_chain.record(scoped, "auth.failed", actor.user_id, body, actor.user_id, now)
            if delay:
                admin_chain.record(
                    scoped, "auth.throttled", actor.user_id, body, actor.user_id, now
                )
        raise GovernanceError(f"re-authentication of '{actor.user_id}' failed")

    def refuse_unknown(self, tenant_id: str, user_id: str, password: str, client: str) -> None:
        """A sign-in as a user (or in a tenant) that does not exist: as slow as a wrong
        password and counted under the same keys, so neither answer nor timing tells."""
        check_against_nobody(password)
        now = self._now()
        with self.store.transaction() as tx:
            failures, delay = throttle.failed(
                tx.installation_throttle, throttle.login_keys(tenant_id, user_id, client), now
            )
            if delay and tx.tenant_partner(tenant_id) is not None:
                body: dict[str, JsonValue] = {"attempt": failures, "throttled_s": delay,
                                              "client": client}  # fmt: skip
                admin_chain.record(
                    tx.scoped(tenant_id), "auth.throttled", user_id, body, f"client:{client}", now
                )

    # ---- tenant administration (operations) ------------------------------------------------

    @operation(Permission.USERS_MANAGE)
    def create_user(
        self,
        actor: Actor,
        user_id: str,
        name: str,
        *,
        kind: PrincipalKind = PrincipalKind.PERSON,
        password: str | None = None,
    ) -> None:
        authz.require(actor, Permission.USERS_MANAGE)
        check_id(user_id, "user id")
        if not name.strip():
            raise InputError("a user needs a printed name (it is shown on signatures)")
        hashed = hash_password(password) if password is not None else None
        now = self._now()
        with self.store.transaction() as tx:
            if tx.user(user_id) is not None:
                raise ConflictError(f"user {user_id} exists")  # ids are never reassigned
            tx.insert_user(
                UserRow(
                    user_id,
                    actor.tenant_id,
                    None,
                    name.strip(),
                    kind.value,
                    hashed,
                    True,
                    0,
                    None,
                    now,
                )
            )
            admin_chain.record(
                tx.scoped(actor.tenant_id),
                "user.created",
                user_id,
                {"name": name.strip(), "kind": kind.value, "password": hashed is not None},
                actor.user_id,
                now,
            )

    @operation(Permission.USERS_MANAGE)
    def set_password(self, actor: Actor, user_id: str, password: str) -> None:
        authz.require(actor, Permission.USERS_MANAGE)
        hashed = hash_password(password)
        now = self._now()
        with self.store.transaction() as tx:
            self._own_user(tx, actor, user_id)
            tx.update_user(user_id, password_hash=hashed, failed_logins=0, locked_until=None)
            admin_chain.record(
                tx.scoped(actor.tenant_id), "user.password_set", user_id, {}, actor.user_id, now
            )

    @operation(Permission.ROLES_MANAGE)
    def grant(self, actor: Actor, user_id: str, role: str, site: str = TENANT_WIDE) -> None:
        authz.require(actor, Permission.ROLES_MANAGE)
        check_id(role, "role")
        now = self._now()
        with self.store.transaction() as tx:
            user = tx.user(user_id)
            partner = tx.tenant_partner(actor.tenant_id)
            if user is None or not user.may_hold_grants_in(actor.tenant_id, partner):
                raise NotFoundError(f"no user '{user_id}' in tenant '{actor.tenant_id}'")
            scoped = tx.scoped(actor.tenant_id)
            if site and not scoped.site_exists(site):
                raise NotFoundError(f"no site '{site}' in tenant '{actor.tenant_id}'")
            if any(g.role == role and g.site == site for g in scoped.grants(user_id)):
                return
            scoped.insert_grant(user_id, Grant(role, site, actor.user_id), now)
            admin_chain.record(
                scoped, "grant.added", user_id, {"role": role, "site": site}, actor.user_id, now
            )

    @operation(Permission.ROLES_MANAGE)
    def revoke(self, actor: Actor, user_id: str, role: str, site: str = TENANT_WIDE) -> None:
        authz.require(actor, Permission.ROLES_MANAGE)
        now = self._now()
        with self.store.transaction() as tx:
            scoped = tx.scoped(actor.tenant_id)
            if not scoped.delete_grant(user_id, role, site):
                raise NotFoundError(
                    f"user '{user_id}' holds no grant {role!r} at {site or 'tenant'}"
                )
            admin_chain.record(
                scoped, "grant.revoked", user_id, {"role": role, "site": site}, actor.user_id, now
            )

    @operation(Permission.ROLES_MANAGE)
    def create_site(self, actor: Actor, site_id: str, name: str, parent: str = "") -> None:
        """A plant (``parent`` empty) or an area/line inside one."""
        authz.require(actor, Permission.ROLES_MANAGE)
        check_id(site_id, "site id")
        now = self._now()
        with self.store.transaction() as tx:
            scoped = tx.scoped(actor.tenant_id)
            if scoped.site_exists(site_id):
                raise ConflictError(f"site {site_id} exists")
            if parent and not scoped.site_exists(parent):
                raise NotFoundError(f"no site '{parent}' in tenant '{actor.tenant_id}'")
            scoped.insert_site(site_id, parent, name, now)
            admin_chain.record(
                scoped,
                "site.created",
                site_id,
                {"name": name, "parent": parent},
                actor.user_id,
                now,
            )

    @operation(Permission.TASK_DECIDE)
    def delegate(
        self,
        actor: Actor,
        delegate: str,
        role: str,
        until: float,
        *,
        site: str = TENANT_WIDE,
        reason: str = "",
        starts: float | None = None,
    ) -> str:
        """Out-of-office: ``actor`` lets ``delegate`` act in ``role`` until ``until``.

        Only to equal or higher authority: the delegate must hold ``role`` itself or a role
        the tenant ranks at least as high (``set_authority``); never to a service account.
        """
        now = self._now()
        begins = now if starts is None else starts
        if until <= begins:
            raise InputError("a delegation must end after it starts")
        if actor.grant_for(role, site) is None:
            where = site or "tenant level"
            raise GovernanceError(f"{actor.user_id} cannot delegate {role!r}: not held at {where}")
        if delegate == actor.user_id:
            raise InputError("a delegation goes to someone else")
        delegation_id = uuid.uuid4().hex[:12]
        with self.store.transaction() as tx:
            target = self._resolve(tx, actor.tenant_id, delegate)
            if target.is_service:
                raise GovernanceError(f"{delegate} is a service account; people delegate to people")
            scoped = tx.scoped(actor.tenant_id)
            if not _equal_or_higher(target, role, site, scoped.authority_ranks()):
                raise GovernanceError(
                    f"{delegate} holds neither {role!r} nor a role ranked at least as high at "
                    f"{site or 'tenant level'}: delegation only goes to equal or higher authority"
                )
            scoped.insert_delegation(
                Delegation(
                    delegation_id, actor.user_id, delegate, role, site, begins, until, reason
                ),
                actor.user_id,
                now,
            )
            admin_chain.record(
                scoped,
                "delegation.created",
                delegation_id,
                {
                    "delegator": actor.user_id,
                    "delegate": delegate,
                    "role": role,
                    "site": site,
                    "starts_at": begins,
                    "ends_at": until,
                    "reason": reason,
                },
                actor.user_id,
                now,
            )
        return delegation_id

    @operation(Permission.ROLES_MANAGE)
    def set_authority(self, actor: Actor, role: str, rank: int) -> None:
        """Rank a role on the tenant's ladder of authority (higher = more authority)."""
        authz.require(actor, Permission.ROLES_MANAGE)
        check_id(role, "role")
        now = self._now()
        with self.store.transaction() as tx:
            scoped = tx.scoped(actor.tenant_id)
            scoped.set_authority_rank(role, rank)
            admin_chain.record(scoped, "authority.ranked", role, {"rank": rank}, actor.user_id, now)

    @operation(Permission.AUDIT_READ)
    def admin_log(self, actor: Actor) -> list[AdminRow]:
        authz.require(actor, Permission.AUDIT_READ)
        with self.store.reader() as reader:
            return reader.scoped(actor.tenant_id).admin_log()

    def _own_user(self, tx: SqlTransaction, actor: Actor, user_id: str) -> UserRow:
        user = tx.user(user_id)
        if user is None or user.tenant_id != actor.tenant_id:
            raise NotFoundError(f"no user '{user_id}' in tenant '{actor.tenant_id}'")
        return user

    def _now(self) -> float:
        return self.clock.now().timestamp()


def _equal_or_higher(target: Actor, role: str, site: str, ranks: dict[str, int]) -> bool:
    if target.grant_for(role, site) is not None:
        return True
    needed = ranks.get(role)
    if needed is None:
        return False
    return any(g.covers(site) and ranks.get(g.role, needed - 1) >= needed for g in target.grants)
