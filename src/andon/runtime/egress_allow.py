"""A tenant's egress allow-list: the internal networks (a plant's MES at 10.20.0.5) that
this tenant's outbound calls may reach, and no other tenant's. Changed by the tenant's
administrators only, each change chained in the tenant's admin log.

Calls read the list through ``networks``, cached per tenant for a few seconds: a change
made in this process is seen at once; another process (a worker) sees it within
``CACHE_S``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from andon import egress
from andon.errors import InputError, NotFoundError
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.runtime import admin_chain
from andon.runtime.clock import Clock
from andon.runtime.operations import operation
from andon.store import egress_allow as rows
from andon.store.sql import SqlStore

CACHE_S = 5.0
MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class AllowEntry:
    network: str
    reason: str
    added_by: str
    added_at: float


class EgressAllow:
    def __init__(self, store: SqlStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._cache: dict[str, tuple[float, tuple[egress.Network, ...]]] = {}
        self._lock = threading.Lock()

    @operation(Permission.SECRETS_MANAGE)
    def allow(self, actor: Actor, network: str, reason: str = "") -> AllowEntry:
        """Let the tenant's calls reach ``network`` (a CIDR or one address)."""
        authz.require(actor, Permission.SECRETS_MANAGE)
        (net,) = egress.networks([network])
        reason = reason.strip()
        if len(reason) > MAX_REASON:
            raise InputError(f"the reason is longer than {MAX_REASON} characters")
        now = self.clock.now().timestamp()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            row = rows.AllowRow(tx.tenant, str(net), reason, actor.user_id, now)
            tx.egress_allow.save(row)
            admin_chain.record(
                tx, "egress.allowed", str(net), {"reason": reason}, actor.user_id, now
            )
        self._forget(actor.tenant_id)
        return _entry(row)

    @operation(Permission.SECRETS_MANAGE)
    def deny(self, actor: Actor, network: str) -> None:
        """Remove an entry: the network is denied again for the tenant's calls."""
        authz.require(actor, Permission.SECRETS_MANAGE)
        (net,) = egress.networks([network])
        now = self.clock.now().timestamp()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            if not tx.egress_allow.delete(str(net)):
                raise NotFoundError(f"network {net} is not on the egress allow-list")
            admin_chain.record(tx, "egress.denied", str(net), {}, actor.user_id, now)
        self._forget(actor.tenant_id)

    @operation(Permission.SECRETS_MANAGE)
    def entries(self, actor: Actor) -> list[AllowEntry]:
        """The tenant's list (it maps the plant's network: administrators only)."""
        authz.require(actor, Permission.SECRETS_MANAGE)
        with self.store.reader() as reader:
            return [_entry(r) for r in reader.scoped(actor.tenant_id).egress_allow.all()]

    def networks(self, tenant_id: str) -> tuple[egress.Network, ...]:
        """The networks ``tenant_id``'s outbound calls may reach although internal."""
        now = time.monotonic()
        with self._lock:
            found = self._cache.get(tenant_id)
        if found is not None and found[0] > now:
            return found[1]
        with self.store.reader() as reader:
            listed = reader.scoped(tenant_id).egress_allow.all()
        nets = egress.networks(r.network for r in listed)
        with self._lock:
            self._cache[tenant_id] = (now + CACHE_S, nets)
        return nets

    def _forget(self, tenant_id: str) -> None:
        with self._lock:
            self._cache.pop(tenant_id, None)


def _entry(row: rows.AllowRow) -> AllowEntry:
    return AllowEntry(row.network, row.reason, row.added_by, row.added_at)
