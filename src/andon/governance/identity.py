"""Who acts: principals, their role grants, and the tenancy they act in.

Partner -> tenant (a manufacturer) -> site (a plant) -> area/line. A principal belongs to
one tenant, or to a partner whose users may act in the tenants that partner manages,
only where a tenant grants them roles. Grants are tenant-wide (``site == ""``) or for one
site. An ``Actor`` is a principal resolved for one tenant: the runtime builds it from the
store, and everything the actor reaches is scoped to that tenant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

TENANT_WIDE = ""


class PrincipalKind(StrEnum):
    PERSON = "person"
    SERVICE = "service"
    """A machine account (an integration, the worker): may never sign."""


@dataclass(frozen=True, slots=True)
class Grant:
    role: str
    site: str = TENANT_WIDE
    granted_by: str = ""

    def covers(self, site: str) -> bool:
        """A tenant-wide grant covers every site; a site grant covers only its site."""
        return self.site == TENANT_WIDE or self.site == site

    def __str__(self) -> str:
        return f"{self.role}@{self.site}" if self.site else f"{self.role} (tenant-wide)"


@dataclass(frozen=True, slots=True)
class Delegation:
    """``delegator`` lets ``delegate`` act in ``role`` from ``starts_at`` until ``ends_at``."""

    delegation_id: str
    delegator: str
    delegate: str
    role: str
    site: str
    starts_at: float
    ends_at: float
    reason: str = ""

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True, slots=True)
class Actor:
    """A principal acting in one tenant, with the grants it holds there."""

    user_id: str
    tenant_id: str
    name: str
    kind: PrincipalKind = PrincipalKind.PERSON
    grants: tuple[Grant, ...] = ()
    partner_id: str | None = None
    delegations: tuple[Delegation, ...] = field(default=())
    """Delegations *to* this actor that are active now: roles it may act in for others."""

    @property
    def is_service(self) -> bool:
        return self.kind is PrincipalKind.SERVICE

    def roles_at(self, site: str) -> frozenset[str]:
        """Roles held in person at ``site`` (tenant-wide grants included)."""
        return frozenset(g.role for g in self.grants if g.covers(site))

    def grant_for(self, role: str, site: str) -> Grant | None:
        return next((g for g in self.grants if g.role == role and g.covers(site)), None)

    def delegation_for(self, role: str, site: str) -> Delegation | None:
        """A delegation that lets this actor act in ``role`` at ``site`` for someone else."""
        return next(
            (
                d
                for d in self.delegations
                if d.role == role and (d.site == TENANT_WIDE or d.site == site)
            ),
            None,
        )

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})" if self.name != self.user_id else self.user_id


SYSTEM_USER = "system"


def system_actor(tenant_id: str) -> Actor:
    """The engine itself (workers, timers): never a person, never holds a role."""
    return Actor(SYSTEM_USER, tenant_id, "Andon engine", PrincipalKind.SERVICE)
