"""The repositories a write transaction and a reader both offer (ADR 0035): each is built
on the connection and the tenant of the one it hangs off, so a repository of a tenant's
rows cannot be had from an unscoped transaction or reader (``tenant`` raises there)."""

from __future__ import annotations

from sqlalchemy import Connection

from andon.store.audit import InstallationCheckpoints
from andon.store.connections import ConnectionRows, InstallationSecrets
from andon.store.egress_allow import EgressAllowRows
from andon.store.rollouts import RolloutHistory
from andon.store.throttle import ThrottleCounters
from andon.store.tokens import TokenRows
from andon.store.webhook_deliveries import WebhookDeliveries, WebhookSubscriptions
from andon.store.webhook_sources import WebhookSources


class Repositories:
    def _connection(self) -> Connection:
        """The connection; a transaction's first sends the writes it holds back, so a
        repository sees everything the transaction wrote before it was asked for."""
        raise NotImplementedError

    @property
    def tenant(self) -> str:
        raise NotImplementedError

    @property
    def connections(self) -> ConnectionRows:
        return ConnectionRows(self._connection(), self.tenant)

    @property
    def egress_allow(self) -> EgressAllowRows:
        return EgressAllowRows(self._connection(), self.tenant)

    @property
    def installation_checkpoints(self) -> InstallationCheckpoints:
        return InstallationCheckpoints(self._connection())

    @property
    def installation_secrets(self) -> InstallationSecrets:
        return InstallationSecrets(self._connection())

    @property
    def installation_throttle(self) -> ThrottleCounters:
        return ThrottleCounters(self._connection())

    @property
    def rollouts(self) -> RolloutHistory:
        return RolloutHistory(self._connection(), self.tenant)

    @property
    def tokens(self) -> TokenRows:
        return TokenRows(self._connection(), self.tenant)

    @property
    def webhook_deliveries(self) -> WebhookDeliveries:
        return WebhookDeliveries(self._connection(), self.tenant)

    @property
    def webhook_sources(self) -> WebhookSources:
        return WebhookSources(self._connection(), self.tenant)

    @property
    def webhook_subscriptions(self) -> WebhookSubscriptions:
        return WebhookSubscriptions(self._connection(), self.tenant)
