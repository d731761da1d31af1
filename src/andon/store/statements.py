"""Statements built once at import, executed with parameter dicts.

Building a Core statement per call (``insert(t).values(...)``) cost more CPU than the
commit itself; a prebuilt statement is compiled once and reused from the cache.
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, func, insert, select, update

from andon.store import schema as s

INSERT_TEMPLATE = insert(s.templates)
INSERT_OVERLAY = insert(s.overlays)
SELECT_OVERLAY = select(s.overlays).where(s.overlays.c.digest == bindparam("digest"))
SELECT_LATEST_OVERLAY = (
    select(s.overlays)
    .where(
        s.overlays.c.template_id == bindparam("template_id"),
        s.overlays.c.plant == bindparam("plant"),
    )
    .order_by(s.overlays.c.published_at.desc())
    .limit(1)
)
SELECT_TEMPLATE_VERSION = select(s.templates).where(
    s.templates.c.template_id == bindparam("template_id"),
    s.templates.c.version == bindparam("version"),
)
SELECT_TEMPLATE_LATEST = (
    select(s.templates)
    .where(s.templates.c.template_id == bindparam("template_id"))
    .order_by(s.templates.c.version.desc())
    .limit(1)
)
LATEST_TEMPLATE_VERSION = select(func.max(s.templates.c.version)).where(
    s.templates.c.template_id == bindparam("template_id")
)
SELECT_TEMPLATES = select(s.templates).order_by(s.templates.c.template_id, s.templates.c.version)

INSERT_RUN = insert(s.runs)
SELECT_RUN = select(s.runs).where(s.runs.c.run_id == bindparam("run_id"))
UPDATE_RUN = update(s.runs).where(
    s.runs.c.run_id == bindparam("b_run_id"), s.runs.c.revision == bindparam("b_revision")
)
INSERT_JOURNAL = insert(s.run_events)
SELECT_JOURNAL = (
    select(s.run_events)
    .where(s.run_events.c.run_id == bindparam("run_id"))
    .order_by(s.run_events.c.seq)
)
COUNT_FACTS = select(func.count()).select_from(s.run_events)
COUNT_RUNS_BY_STATUS = select(s.runs.c.status, func.count()).group_by(s.runs.c.status)

INSERT_OUTBOX = insert(s.outbox)
DELETE_OUTBOX_KEY = delete(s.outbox).where(
    s.outbox.c.run_id == bindparam("b_run_id"), s.outbox.c.key == bindparam("b_key")
)
RELEASE_OUTBOX = delete(s.outbox).where(
    s.outbox.c.id == bindparam("b_id"), s.outbox.c.lease_owner == bindparam("b_owner")
)
# A worker may keep to runs whose id starts with a prefix. Not LIKE: a bound LIKE pattern
# makes SQLite prepare the statement again on every execution.
_RUN_ID_STARTS_WITH = func.substr(s.outbox.c.run_id, 1, bindparam("b_prefix_len")) == bindparam(
    "b_prefix"
)
CLAIM_OUTBOX = (
    update(s.outbox)
    .where(
        s.outbox.c.id.in_(
            select(s.outbox.c.id)
            .where(s.outbox.c.due_at <= bindparam("b_now"), _RUN_ID_STARTS_WITH)
            .order_by(s.outbox.c.due_at, s.outbox.c.id)
            .limit(bindparam("b_limit"))
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
    s.outbox.c.run_id == bindparam("b_run_id"), s.outbox.c.kind == "timer"
)

INSERT_TASK = insert(s.tasks)
SELECT_TASK = select(s.tasks).where(s.tasks.c.task_id == bindparam("task_id"))
CLOSE_TASK = (
    update(s.tasks)
    .where(s.tasks.c.task_id == bindparam("b_task_id"))
    .values(status="closed", outcome=bindparam("b_outcome"), closed_at=bindparam("b_now"))
)
CANCEL_RUN_TASKS = (
    update(s.tasks)
    .where(s.tasks.c.run_id == bindparam("b_run_id"), s.tasks.c.status == "open")
    .values(status="cancelled", closed_at=bindparam("b_now"))
)

INSERT_SUBSCRIPTION = insert(s.subscriptions)
DELETE_SUBSCRIPTION = delete(s.subscriptions).where(
    s.subscriptions.c.run_id == bindparam("b_run_id"), s.subscriptions.c.step == bindparam("b_step")
)
DELETE_RUN_SUBSCRIPTIONS = delete(s.subscriptions).where(
    s.subscriptions.c.run_id == bindparam("b_run_id")
)
SELECT_SUBSCRIBERS = (
    select(s.subscriptions.c.run_id, s.subscriptions.c.step)
    .where(
        s.subscriptions.c.event_type == bindparam("event_type"),
        s.subscriptions.c.correlation_key == bindparam("key"),
    )
    .order_by(s.subscriptions.c.created_at, s.subscriptions.c.run_id)
)
INSERT_INBOX_IGNORE = insert(s.inbox).prefix_with("OR IGNORE", dialect="sqlite")
UPDATE_INBOX_MATCHES = update(s.inbox).where(
    s.inbox.c.source == bindparam("b_source"), s.inbox.c.event_id == bindparam("b_event_id")
)
