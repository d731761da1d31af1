"""Which runs an export covers, and their facts as the store streams them
(``store/exports.py``: run by run, oldest start first, each run's facts by sequence)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.store.exports import Case, Fact
from andon.store.transaction import SqlReader

__all__ = ["Case", "Fact", "Scope", "cases", "scope_for"]


@dataclass(frozen=True, slots=True)
class Scope:
    """Which runs of one tenant to export."""

    tenant: str
    template: str | None = None
    since: float | None = None
    """Runs started at or after this time (UTC seconds since the epoch)."""
    until: float | None = None
    """Runs started before this time."""
    plants: frozenset[str] | None = None
    """The plants the reader may see; None means every plant of the tenant."""


def scope_for(
    actor: Actor,
    template: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> Scope:
    """The scope ``actor`` may export: their tenant, only plants they may read runs of."""
    plants = authz.readable_sites(actor, Permission.RUN_READ)
    if plants is not None and not plants:
        authz.require(actor, Permission.RUN_READ)  # raises with the reason
    return Scope(actor.tenant_id, template, since, until, plants)


def cases(reader: SqlReader, scope: Scope) -> Iterator[tuple[Case, Iterator[Fact]]]:
    """Each run in scope with its facts, streamed; consume a run's facts before the next."""
    reads = reader.scoped(scope.tenant).exports
    return reads.cases(scope.template, scope.since, scope.until, scope.plants)
