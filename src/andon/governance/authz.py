"""Authorization: which permissions an actor's grants give, and why.

A small pure module rather than a policy engine (see docs/adr/0007): permissions come from
roles, roles from scoped grants, and every verdict names the grant that allowed it or the
roles that would have. Object-level rules (is this person a candidate for this task, may
they act on it under segregation of duties) live in ``duties.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from andon.errors import GovernanceError
from andon.governance.identity import TENANT_WIDE, Actor


class Permission(StrEnum):
    TEMPLATE_READ = "template.read"
    TEMPLATE_PUBLISH = "template.publish"
    TEMPLATE_PROMOTE = "template.promote"
    """Change which version is in force at a stage and plant (promote, roll back)."""
    STAGES_MANAGE = "stages.manage"
    RUN_START = "run.start"
    RUN_READ = "run.read"
    RUN_CANCEL = "run.cancel"
    RUN_RETRY = "run.retry"
    RUN_MIGRATE = "run.migrate"
    """Move waiting runs to another version of their template (ADR 0032)."""
    TASK_READ = "task.read"
    TASK_CLAIM = "task.claim"
    TASK_DECIDE = "task.decide"
    EVENT_SEND = "event.send"
    EVENT_REPLAY = "event.replay"
    """Inspect, replay and discard dead letters; replay the inbox into a template."""
    AUDIT_READ = "audit.read"
    USERS_MANAGE = "users.manage"
    ROLES_MANAGE = "roles.manage"
    SECRETS_MANAGE = "secrets.manage"
    RETENTION_MANAGE = "retention.manage"
    DELEGATION_MANAGE = "delegation.manage"


P = Permission
TENANT_ADMIN = "tenant-admin"
PROCESS_OWNER = "process-owner"
OPERATOR = "operator"
AUDITOR = "auditor"
INTEGRATION = "integration"

# Administrative roles are fixed; they never decide tasks. Every other role name is a
# domain role (QE, QA, MRB, ...) declared by templates: its holders take part in runs.
ADMIN_ROLES: dict[str, frozenset[Permission]] = {
    TENANT_ADMIN: frozenset(
        {
            P.USERS_MANAGE,
            P.ROLES_MANAGE,
            P.SECRETS_MANAGE,
            P.RETENTION_MANAGE,
            P.DELEGATION_MANAGE,
            P.STAGES_MANAGE,
            P.AUDIT_READ,
            P.TEMPLATE_READ,
            P.RUN_READ,
            P.TASK_READ,
        }
    ),
    PROCESS_OWNER: frozenset(
        {
            P.TEMPLATE_PUBLISH,
            P.TEMPLATE_PROMOTE,
            P.TEMPLATE_READ,
            P.RUN_START,
            P.RUN_READ,
            P.RUN_CANCEL,
            P.RUN_RETRY,
            P.RUN_MIGRATE,
            P.TASK_READ,
            P.EVENT_SEND,
            P.EVENT_REPLAY,
        }
    ),
    OPERATOR: frozenset(
        {
            P.TEMPLATE_READ,
            P.RUN_START,
            P.RUN_READ,
            P.RUN_CANCEL,
            P.RUN_RETRY,
            P.TASK_READ,
            P.EVENT_SEND,
            P.EVENT_REPLAY,
        }
    ),
    AUDITOR: frozenset({P.AUDIT_READ, P.TEMPLATE_READ, P.RUN_READ, P.TASK_READ}),
    INTEGRATION: frozenset({P.TEMPLATE_READ, P.RUN_START, P.RUN_READ, P.EVENT_SEND}),
}
DOMAIN_ROLE_PERMISSIONS = frozenset(
    {P.TEMPLATE_READ, P.RUN_START, P.RUN_READ, P.TASK_READ, P.TASK_CLAIM, P.TASK_DECIDE}
)


def permissions_of(role: str) -> frozenset[Permission]:
    return ADMIN_ROLES.get(role, DOMAIN_ROLE_PERMISSIONS)


def is_admin_role(role: str) -> bool:
    return role in ADMIN_ROLES


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def authorize(actor: Actor, permission: Permission, site: str = TENANT_WIDE) -> Verdict:
    """May ``actor`` use ``permission`` on an object of ``site`` ("" = tenant-level)?"""
    where = f"site {site}" if site else f"tenant {actor.tenant_id}"
    for grant in actor.grants:
        if grant.covers(site) and permission in permissions_of(grant.role):
            return Verdict(True, f"{actor.user_id} holds {grant}, which gives {permission}")
    givers = sorted(r for r, perms in ADMIN_ROLES.items() if permission in perms)
    if permission in DOMAIN_ROLE_PERMISSIONS:
        givers.append("any domain role")
    return Verdict(
        False,
        f"{actor.user_id} may not {permission} in {where}: no grant there gives it "
        f"(it comes with {', '.join(givers)})",
    )


def require(actor: Actor, permission: Permission, site: str = TENANT_WIDE) -> Verdict:
    verdict = authorize(actor, permission, site)
    if not verdict:
        raise GovernanceError(verdict.reason)
    return verdict


def readable_sites(actor: Actor, permission: Permission) -> frozenset[str] | None:
    """Sites whose objects ``actor`` may see with ``permission``; None means all of them."""
    sites = set()
    for grant in actor.grants:
        if permission in permissions_of(grant.role):
            if grant.site == TENANT_WIDE:
                return None
            sites.add(grant.site)
    return frozenset(sites)
