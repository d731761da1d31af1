"""The dashboards for an ``Actor``: authorized like every read of the runtime, scoped to
the actor's tenant and to the sites whose runs the actor may read."""

from __future__ import annotations

from andon.analytics import queries
from andon.analytics.model import (
    Histogram,
    IncidentRow,
    LatencyRow,
    StepRow,
    TrendRow,
    Window,
)
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.runtime.operations import operation
from andon.store.sql import SqlStore


class Analytics:
    """Read-only dashboard queries over the store; each needs ``run.read``.

    An actor whose grants reach only some sites sees only those sites' runs; asking for a
    plant outside them is refused, as reading one of its runs would be.
    """

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    @operation(Permission.RUN_READ)
    def cycle_times(self, actor: Actor, window: Window) -> Histogram:
        sites = self._sites(actor, window)
        with self.store.reader() as reader:
            return queries.cycle_times(reader.scoped(actor.tenant_id), window, sites=sites)

    @operation(Permission.RUN_READ)
    def approval_latency(self, actor: Actor, window: Window) -> list[LatencyRow]:
        sites = self._sites(actor, window)
        with self.store.reader() as reader:
            return queries.approval_latency(reader.scoped(actor.tenant_id), window, sites=sites)

    @operation(Permission.RUN_READ)
    def bottleneck_steps(self, actor: Actor, window: Window, limit: int = 10) -> list[StepRow]:
        sites = self._sites(actor, window)
        with self.store.reader() as reader:
            scoped = reader.scoped(actor.tenant_id)
            return queries.bottleneck_steps(scoped, window, limit, sites=sites)

    @operation(Permission.RUN_READ)
    def trends(self, actor: Actor, window: Window, bucket_s: int = 86_400) -> list[TrendRow]:
        sites = self._sites(actor, window)
        with self.store.reader() as reader:
            scoped = reader.scoped(actor.tenant_id)
            return queries.trends(scoped, window, bucket_s, sites=sites)

    @operation(Permission.RUN_READ)
    def open_incidents(self, actor: Actor, window: Window, limit: int = 50) -> list[IncidentRow]:
        sites = self._sites(actor, window)
        with self.store.reader() as reader:
            scoped = reader.scoped(actor.tenant_id)
            return queries.open_incidents(scoped, window, limit, sites=sites)

    @operation(Permission.RUN_READ)
    def scope(self, actor: Actor) -> tuple[list[str], list[str]]:
        """The plants the actor may narrow a dashboard to, and the tenant's template ids."""
        sites = self._sites(actor, Window())
        with self.store.reader() as reader:
            return queries.scope(reader.scoped(actor.tenant_id), sites)

    @staticmethod
    def _sites(actor: Actor, window: Window) -> frozenset[str] | None:
        """The plants the actor may read (None: all of them); raises when none."""
        if window.plant is not None:
            authz.require(actor, Permission.RUN_READ, window.plant)
            return None  # the window narrows to that plant already
        sites = authz.readable_sites(actor, Permission.RUN_READ)
        if sites is not None and not sites:
            authz.require(actor, Permission.RUN_READ)
        return sites
