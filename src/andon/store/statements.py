"""Statements built once at import, executed with parameter dicts.

Building a Core statement per call (``insert(t).values(...)``) cost more CPU than the
commit itself; a prebuilt statement is compiled once and reused from the cache.
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from andon.store import schema as s

INSERT_TEMPLATE = insert(s.templates)
INSERT_CONTRACT = insert(s.event_contracts)
# The newest version of every contract of the tenant (one statement: a publish checks
# all of a template's event types at once).
_NEWEST_CONTRACT = (
    select(s.event_contracts.c.event_type, func.max(s.event_contracts.c.version).label("v"))
    .where(s.event_contracts.c.tenant_id == bindparam("b_tenant"))
    .group_by(s.event_contracts.c.event_type)
    .subquery()
)
LATEST_CONTRACTS = (
    select(s.event_contracts)
    .join(
        _NEWEST_CONTRACT,
        (s.event_contracts.c.event_type == _NEWEST_CONTRACT.c.event_type)
        & (s.event_contracts.c.version == _NEWEST_CONTRACT.c.v),
    )
    .where(s.event_contracts.c.tenant_id == bindparam("b_tenant"))
    .order_by(s.event_contracts.c.event_type)
)
SELECT_CONTRACT_VERSIONS = (
    select(s.event_contracts)
    .where(
        s.event_contracts.c.tenant_id == bindparam("b_tenant"),
        s.event_contracts.c.event_type == bindparam("b_event_type"),
    )
    .order_by(s.event_contracts.c.version)
)
SELECT_NEWEST_CONTRACT = (
    SELECT_CONTRACT_VERSIONS.order_by(None).order_by(s.event_contracts.c.version.desc()).limit(1)
)
INSERT_OVERLAY = insert(s.overlays)
SELECT_OVERLAY = select(s.overlays).where(
    s.overlays.c.tenant_id == bindparam("b_tenant"), s.overlays.c.digest == bindparam("digest")
)
# The newest revision: publishing earlier content again makes it the newest (ADR 0031).
_revisions = s.overlay_revisions
SELECT_LATEST_OVERLAY = (
    select(s.overlays)
    .join(
        _revisions,
        (_revisions.c.tenant_id == s.overlays.c.tenant_id)
        & (_revisions.c.digest == s.overlays.c.digest),
    )
    .where(
        _revisions.c.tenant_id == bindparam("b_tenant"),
        _revisions.c.template_id == bindparam("template_id"),
        _revisions.c.plant == bindparam("plant"),
    )
    .order_by(_revisions.c.revision.desc())
    .limit(1)
)
SELECT_TEMPLATE_VERSION = select(s.templates).where(
    s.templates.c.tenant_id == bindparam("b_tenant"),
    s.templates.c.template_id == bindparam("template_id"),
    s.templates.c.version == bindparam("version"),
)
SELECT_TEMPLATE_LATEST = (
    select(s.templates)
    .where(
        s.templates.c.tenant_id == bindparam("b_tenant"),
        s.templates.c.template_id == bindparam("template_id"),
    )
    .order_by(s.templates.c.version.desc())
    .limit(1)
)
LATEST_TEMPLATE_VERSION = select(func.max(s.templates.c.version)).where(
    s.templates.c.tenant_id == bindparam("b_tenant"),
    s.templates.c.template_id == bindparam("template_id"),
)
LATEST_TEMPLATES = (
    select(s.templates.c.template_id, func.max(s.templates.c.version).label("version"))
    .where(s.templates.c.tenant_id == bindparam("b_tenant"))
    .group_by(s.templates.c.template_id)
    .order_by(s.templates.c.template_id)
)
SELECT_TEMPLATES = (
    select(s.templates)
    .where(s.templates.c.tenant_id == bindparam("b_tenant"))
    .order_by(s.templates.c.template_id, s.templates.c.version)
)

INSERT_RUN = insert(s.runs)
SELECT_RUN = select(s.runs).where(
    s.runs.c.tenant_id == bindparam("b_tenant"), s.runs.c.run_id == bindparam("run_id")
)
# Inside a write transaction the run row is locked (PostgreSQL): facts of one run queue.
SELECT_RUN_FOR_UPDATE = SELECT_RUN.with_for_update()
UPDATE_RUN = update(s.runs).where(
    s.runs.c.tenant_id == bindparam("b_tenant"),
    s.runs.c.run_id == bindparam("b_run_id"),
    s.runs.c.revision == bindparam("b_revision"),
)
INSERT_JOURNAL = insert(s.run_events)
SELECT_JOURNAL = (
    select(s.run_events)
    .where(
        s.run_events.c.tenant_id == bindparam("b_tenant"),
        s.run_events.c.run_id == bindparam("run_id"),
    )
    .order_by(s.run_events.c.seq)
)
COUNT_FACTS = (
    select(func.count())
    .select_from(s.run_events)
    .where(s.run_events.c.tenant_id == bindparam("b_tenant"))
)
COUNT_RUNS_BY_STATUS = (
    select(s.runs.c.status, func.count())
    .where(s.runs.c.tenant_id == bindparam("b_tenant"))
    .group_by(s.runs.c.status)
)

INSERT_OUTBOX = insert(s.outbox).returning(s.outbox.c.id)
INSERT_OUTBOX_QUIETLY = insert(s.outbox)  # held back: nobody needs the id at once
DELETE_OUTBOX_KEY = delete(s.outbox).where(
    s.outbox.c.tenant_id == bindparam("b_tenant"),
    s.outbox.c.run_id == bindparam("b_run_id"),
    s.outbox.c.key == bindparam("b_key"),
)
UNLEASE_OUTBOX = (
    update(s.outbox)
    .where(s.outbox.c.id == bindparam("b_id"), s.outbox.c.lease_owner == bindparam("b_owner"))
    .values(lease_owner=None, lease_expires_at=None, due_at=bindparam("b_now"))
)
EXTEND_LEASE = (
    update(s.outbox)
    .where(s.outbox.c.id == bindparam("b_id"), s.outbox.c.lease_owner == bindparam("b_owner"))
    .values(lease_expires_at=bindparam("b_expires"), due_at=bindparam("b_expires"))
)
RELEASE_OUTBOX = delete(s.outbox).where(
    s.outbox.c.id == bindparam("b_id"), s.outbox.c.lease_owner == bindparam("b_owner")
)
# A worker's whole batch at once, on PostgreSQL (arrays): one round trip, not one per item.
# Rows are locked in id order first (as the heartbeat renews them), so two workers whose
# batches overlap after a lease expired queue instead of deadlocking.
RELEASE_OUTBOX_ALL = (
    delete(s.outbox)
    .where(
        s.outbox.c.id.in_(
            select(s.outbox.c.id)
            .where(
                s.outbox.c.id == func.any(bindparam("b_ids")),
                s.outbox.c.lease_owner == bindparam("b_owner"),
            )
            .order_by(s.outbox.c.id)
            .with_for_update()
            .scalar_subquery()
        ),
        s.outbox.c.lease_owner == bindparam("b_owner"),
    )
    .returning(s.outbox.c.id)
)
LOCK_RUNS = (
    select(s.runs)
    .where(
        s.runs.c.tenant_id == bindparam("b_tenant"),
        s.runs.c.run_id == func.any(bindparam("b_run_ids")),
    )
    .order_by(s.runs.c.run_id)  # the same lock order in every worker: no deadlock
    .with_for_update()
)
# A worker may keep to runs whose id starts with a prefix. Not LIKE: a bound LIKE pattern
# makes SQLite prepare the statement again on every execution.
_RUN_ID_STARTS_WITH = func.substr(s.outbox.c.run_id, 1, bindparam("b_prefix_len")) == bindparam(
    "b_prefix"
)
# Tenants with due work: a claim shares its batch among them, so one tenant's flood cannot
# starve the others.
DUE_TENANTS = (
    select(s.outbox.c.tenant_id)
    .where(s.outbox.c.due_at <= bindparam("b_now"), _RUN_ID_STARTS_WITH)
    .group_by(s.outbox.c.tenant_id)
    .order_by(func.min(s.outbox.c.due_at))
    .limit(64)
)
CLAIM_OUTBOX = (
    update(s.outbox)
    .where(
        s.outbox.c.id.in_(
            select(s.outbox.c.id)
            .where(
                s.outbox.c.due_at <= bindparam("b_now"),
                _RUN_ID_STARTS_WITH,
                s.outbox.c.tenant_id == bindparam("b_tenant"),
            )
            .order_by(s.outbox.c.due_at, s.outbox.c.id)
            .limit(bindparam("b_limit"))
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has one writer anyway
            .scalar_subquery()
        )
    )
    .values(
        lease_owner=bindparam("b_owner"),
        lease_expires_at=bindparam("b_expires"),
        due_at=bindparam("b_expires"),
        attempts=s.outbox.c.attempts + 1,
    )
    .returning(
        s.outbox.c.id,
        s.outbox.c.tenant_id,
        s.outbox.c.run_id,
        s.outbox.c.key,
        s.outbox.c.kind,
        s.outbox.c.body,
        s.outbox.c.created_at,
        s.outbox.c.attempts,
    )
)
NEXT_DUE = select(func.min(s.outbox.c.due_at))
ANY_DUE = (
    select(s.outbox.c.id)
    .where(s.outbox.c.due_at <= bindparam("b_now"), _RUN_ID_STARTS_WITH)
    .limit(1)
)
OUTBOX_DEPTH = select(func.count()).select_from(s.outbox)
DELETE_RUN_TIMERS = delete(s.outbox).where(
    s.outbox.c.tenant_id == bindparam("b_tenant"),
    s.outbox.c.run_id == bindparam("b_run_id"),
    s.outbox.c.kind == "timer",
)

INSERT_TASK = insert(s.tasks)
SELECT_TASK = select(s.tasks).where(
    s.tasks.c.tenant_id == bindparam("b_tenant"), s.tasks.c.task_id == bindparam("task_id")
)
# Several tasks in one statement (PostgreSQL): a batch of decisions reads them at once.
SELECT_TASKS_BY_ID = select(s.tasks).where(
    s.tasks.c.tenant_id == bindparam("b_tenant"),
    s.tasks.c.task_id == func.any(bindparam("b_task_ids")),
)
CLOSE_TASK = (
    update(s.tasks)
    .where(
        s.tasks.c.tenant_id == bindparam("b_tenant"), s.tasks.c.task_id == bindparam("b_task_id")
    )
    .values(status="closed", outcome=bindparam("b_outcome"), closed_at=bindparam("b_now"))
)
CANCEL_RUN_TASKS = (
    update(s.tasks)
    .where(
        s.tasks.c.tenant_id == bindparam("b_tenant"),
        s.tasks.c.run_id == bindparam("b_run_id"),
        s.tasks.c.status == "open",
    )
    .values(status="cancelled", closed_at=bindparam("b_now"))
)

INSERT_SUBSCRIPTION = insert(s.subscriptions)
DELETE_SUBSCRIPTION = delete(s.subscriptions).where(
    s.subscriptions.c.tenant_id == bindparam("b_tenant"),
    s.subscriptions.c.run_id == bindparam("b_run_id"),
    s.subscriptions.c.step == bindparam("b_step"),
)
DELETE_RUN_SUBSCRIPTIONS = delete(s.subscriptions).where(
    s.subscriptions.c.tenant_id == bindparam("b_tenant"),
    s.subscriptions.c.run_id == bindparam("b_run_id"),
)
SELECT_SUBSCRIBERS = (
    select(s.subscriptions.c.run_id, s.subscriptions.c.step)
    .where(
        s.subscriptions.c.tenant_id == bindparam("b_tenant"),
        s.subscriptions.c.event_type == bindparam("event_type"),
        s.subscriptions.c.correlation_key == bindparam("key"),
    )
    .order_by(s.subscriptions.c.created_at, s.subscriptions.c.run_id)
)
# A duplicate (tenant, source, event id) inserts nothing; each dialect spells it its way.
INSERT_INBOX_IGNORE = {
    "sqlite": sqlite_insert(s.inbox).on_conflict_do_nothing(),
    "postgresql": pg_insert(s.inbox).on_conflict_do_nothing(),
}
# Events kept for a wait that begins after they arrived (oldest first).
SELECT_EARLY_EVENTS = (
    select(s.inbox.c.source, s.inbox.c.event_id, s.inbox.c.data)
    .where(
        s.inbox.c.tenant_id == bindparam("b_tenant"),
        s.inbox.c.event_type == bindparam("event_type"),
        s.inbox.c.correlation_key == bindparam("key"),
        s.inbox.c.received_at >= bindparam("since"),
    )
    .order_by(s.inbox.c.received_at, s.inbox.c.event_id)
    .limit(64)
)
SELECT_RECEIVED_EVENTS = select(s.run_events.c.actor, s.run_events.c.body).where(
    s.run_events.c.tenant_id == bindparam("b_tenant"),
    s.run_events.c.run_id == bindparam("run_id"),
    s.run_events.c.type == "EventReceived",
)
UPDATE_INBOX_MATCHES = update(s.inbox).where(
    s.inbox.c.tenant_id == bindparam("b_tenant"),
    s.inbox.c.source == bindparam("b_source"),
    s.inbox.c.event_id == bindparam("b_event_id"),
)
COUNT_INBOX_MATCH = UPDATE_INBOX_MATCHES.values(matched_runs=s.inbox.c.matched_runs + 1)

# ---- identity and the administrative chain -------------------------------------------------

SELECT_TENANT = select(s.tenants).where(s.tenants.c.tenant_id == bindparam("tenant_id"))
INSERT_TENANT = insert(s.tenants)
INSERT_PARTNER = insert(s.partners)
SELECT_PARTNER = select(s.partners).where(s.partners.c.partner_id == bindparam("partner_id"))
INSERT_SITE = insert(s.sites)
SELECT_SITE = select(s.sites).where(
    s.sites.c.tenant_id == bindparam("b_tenant"), s.sites.c.site_id == bindparam("site_id")
)
INSERT_USER = insert(s.users)
SELECT_USER = select(s.users).where(s.users.c.user_id == bindparam("user_id"))
UPDATE_USER = update(s.users).where(s.users.c.user_id == bindparam("b_user_id"))
INSERT_GRANT = insert(s.grants)
DELETE_GRANT = delete(s.grants).where(
    s.grants.c.tenant_id == bindparam("b_tenant"),
    s.grants.c.user_id == bindparam("b_user_id"),
    s.grants.c.role == bindparam("b_role"),
    s.grants.c.site == bindparam("b_site"),
)
SELECT_GRANTS = (
    select(s.grants)
    .where(
        s.grants.c.tenant_id == bindparam("b_tenant"), s.grants.c.user_id == bindparam("user_id")
    )
    .order_by(s.grants.c.role, s.grants.c.site)
)
SELECT_ROLE_HOLDERS = (
    select(s.grants.c.user_id)
    .where(s.grants.c.tenant_id == bindparam("b_tenant"), s.grants.c.role == bindparam("role"))
    .distinct()
)
INSERT_DELEGATION = insert(s.delegations)
SELECT_DELEGATIONS_TO = (
    select(s.delegations)
    .where(
        s.delegations.c.tenant_id == bindparam("b_tenant"),
        s.delegations.c.delegate == bindparam("delegate"),
        s.delegations.c.revoked_at.is_(None),
        s.delegations.c.starts_at <= bindparam("now"),
        s.delegations.c.ends_at > bindparam("now"),
    )
    .order_by(s.delegations.c.starts_at)
)
INSERT_ADMIN = insert(s.admin_log)
LAST_ADMIN = (
    select(s.admin_log.c.seq, s.admin_log.c.hash)
    .where(s.admin_log.c.tenant_id == bindparam("b_tenant"))
    .order_by(s.admin_log.c.seq.desc())
    .limit(1)
)
SELECT_RANKS = select(s.authority_ranks.c.role, s.authority_ranks.c.rank).where(
    s.authority_ranks.c.tenant_id == bindparam("b_tenant")
)
DELETE_RANK = delete(s.authority_ranks).where(
    s.authority_ranks.c.tenant_id == bindparam("b_tenant"),
    s.authority_ranks.c.role == bindparam("b_role"),
)
INSERT_RANK = insert(s.authority_ranks)

# ---- retention -------------------------------------------------------------------------------

PURGE_JOURNAL = delete(s.run_events).where(
    s.run_events.c.tenant_id == bindparam("b_tenant"),
    s.run_events.c.run_id == bindparam("b_run_id"),
)
PURGE_TASKS = delete(s.tasks).where(
    s.tasks.c.tenant_id == bindparam("b_tenant"), s.tasks.c.run_id == bindparam("b_run_id")
)
PURGE_OUTBOX = delete(s.outbox).where(
    s.outbox.c.tenant_id == bindparam("b_tenant"), s.outbox.c.run_id == bindparam("b_run_id")
)
PURGE_RUN = delete(s.runs).where(
    s.runs.c.tenant_id == bindparam("b_tenant"), s.runs.c.run_id == bindparam("b_run_id")
)

ANY_SUBSCRIPTION = (
    select(s.webhook_subscriptions.c.subscription_id)
    .where(
        s.webhook_subscriptions.c.tenant_id == bindparam("b_tenant"),
        s.webhook_subscriptions.c.active == 1,
    )
    .limit(1)
)
