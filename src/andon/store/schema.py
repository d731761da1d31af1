"""The whole schema, designed up front, as SQLAlchemy Core tables.

Times are UTC seconds since the epoch (REAL) so that due-time comparisons stay numeric and
indexable on every backend. JSON columns hold canonical JSON text.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Float,
    FromClause,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    literal_column,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("applied_at", Float, nullable=False),
)

templates = Table(
    "templates",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("template_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("published_at", Float, nullable=False),
    Column("published_by", Text, nullable=False),
    PrimaryKeyConstraint("tenant_id", "template_id", "version"),
)

overlays = Table(
    "overlays",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("digest", Text, nullable=False),
    Column("template_id", Text, nullable=False),
    Column("plant", Text, nullable=False),
    Column("params", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("published_at", Float, nullable=False),
    PrimaryKeyConstraint("tenant_id", "digest"),
    Index("ix_overlays_template_plant", "tenant_id", "template_id", "plant", "published_at"),
)

runs = Table(
    "runs",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("run_id", Text, primary_key=True),
    Column("template_id", Text, nullable=False),
    Column("template_version", Integer, nullable=False),
    Column("overlay_digest", Text, nullable=False),
    Column("plant", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("outcome", Text),
    Column("state", Text, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("last_seq", Integer, nullable=False),
    Column("last_hash", Text, nullable=False),
    Column("started_by", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("ended_at", Float),
    Index("ix_runs_status", "tenant_id", "status", "created_at"),
)

run_events = Table(
    "run_events",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("type", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("trace", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("at", Float, nullable=False),
    Column("hash", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "seq"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Text, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("due_at", Float, nullable=False),
    Column("lease_owner", Text),
    Column("lease_expires_at", Float),
    Column("attempts", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("run_id", "key", name="uq_outbox_run_key"),
    Index("ix_outbox_due", "due_at"),
    # A claim per tenant (fair sharing) reads this tenant's due rows, not everyone's.
    Index("ix_outbox_tenant_due", "tenant_id", "due_at"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("task_id", Text, primary_key=True),
    Column("run_id", Text, nullable=False),
    Column("step", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("plant", Text, nullable=False),
    Column("roles", Text, nullable=False),
    Column("quorum", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("outcome", Text),
    Column("level", Integer, nullable=False),
    Column("escalated_to", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("due_at", Float),
    Column("closed_at", Float),
    Column("claimed_by", Text),
    Column("claimed_at", Float),
    Index("ix_tasks_status", "tenant_id", "status", "created_at"),
    Index("ix_tasks_run", "run_id"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("step", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("correlation_key", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float),
    PrimaryKeyConstraint("run_id", "step"),
    Index("ix_subscriptions_match", "tenant_id", "event_type", "correlation_key"),
)

# Event contracts: the JSON Schema of an event type's data, by version (newest wins).
event_contracts = Table(
    "event_contracts",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("schema", Text, nullable=False),
    Column("digest", Text, nullable=False),
    Column("registered_at", Float, nullable=False),
    Column("registered_by", Text, nullable=False),
    PrimaryKeyConstraint("tenant_id", "event_type", "version"),
)

# Events that could not be taken in (no mapping, no contract, data against the contract),
# kept with the reason until an operator replays or discards them. One row per distinct
# message: a broker redelivering it bumps ``deliveries``.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("letter_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("stage", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("event", Text),
    Column("received_at", Float, nullable=False),
    Column("deliveries", Integer, nullable=False),
    Column("resolution", Text),
    Column("resolved_at", Float),
    Column("resolved_by", Text),
    PrimaryKeyConstraint("tenant_id", "letter_id"),
    # The operator's list: open letters, oldest first.
    Index("ix_dead_letters_open", "tenant_id", "resolved_at", "received_at"),
)

inbox = Table(
    "inbox",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("correlation_key", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("received_at", Float, nullable=False),
    Column("matched_runs", Integer, nullable=False),
    Column("plant", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("tenant_id", "source", "event_id"),
    # A wait that begins looks here for an event that came before it.
    Index("ix_inbox_correlation", "tenant_id", "event_type", "correlation_key", "received_at"),
    # Replaying a time window of the inbox into a template version.
    Index("ix_inbox_received", "tenant_id", "received_at"),
)

# ---- identity, tenancy and the administrative audit chain (Governance) --------------------

partners = Table(
    "partners",
    metadata,
    Column("partner_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("partner_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

sites = Table(
    "sites",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("site_id", Text, nullable=False),
    Column("parent_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    PrimaryKeyConstraint("tenant_id", "site_id"),
)

users = Table(
    "users",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("tenant_id", Text),
    Column("partner_id", Text),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("password_hash", Text),
    Column("active", Integer, nullable=False),
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", Float),
    Column("created_at", Float, nullable=False),
)

grants = Table(
    "grants",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("site", Text, nullable=False),
    Column("granted_by", Text, nullable=False),
    Column("granted_at", Float, nullable=False),
    PrimaryKeyConstraint("tenant_id", "user_id", "role", "site"),
)

authority_ranks = Table(
    "authority_ranks",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("rank", Integer, nullable=False),
    PrimaryKeyConstraint("tenant_id", "role"),
)

delegations = Table(
    "delegations",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("delegation_id", Text, nullable=False),
    Column("delegator", Text, nullable=False),
    Column("delegate", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("site", Text, nullable=False),
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
    PrimaryKeyConstraint("tenant_id", "delegation_id"),
    Index("ix_delegations_delegate", "tenant_id", "delegate"),
)

admin_log = Table(
    "admin_log",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("action", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("at", Float, nullable=False),
    Column("hash", Text, nullable=False),
    PrimaryKeyConstraint("tenant_id", "seq"),
)

# ---- signed checkpoints, retention and legal holds (Governance) -----------------------------

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("public_key", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("checkpoint_id", Integer, primary_key=True, autoincrement=False),
    Column("at", Float, nullable=False),
    Column("previous", Text, nullable=False),
    Column("heads_digest", Text, nullable=False),
    Column("heads", Integer, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("signature", Text, nullable=False),
    Column("hash", Text, nullable=False),
)

checkpoint_heads = Table(
    "checkpoint_heads",
    metadata,
    Column("checkpoint_id", Integer, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("chain", Text, nullable=False),
    Column("chain_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("hash", Text, nullable=False),
    PrimaryKeyConstraint("checkpoint_id", "tenant_id", "chain", "chain_id"),
    Index("ix_checkpoint_heads_chain", "tenant_id", "chain", "chain_id", "seq"),
)

retention_classes = Table(
    "retention_classes",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("retention_class", Text, nullable=False),
    Column("days", Integer, nullable=False),
    PrimaryKeyConstraint("tenant_id", "retention_class"),
)

legal_holds = Table(
    "legal_holds",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("hold_id", Text, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("template_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("placed_by", Text, nullable=False),
    Column("placed_at", Float, nullable=False),
    Column("released_by", Text),
    Column("released_at", Float),
    PrimaryKeyConstraint("tenant_id", "hold_id"),
)

# ---- API tokens (API) --------------------------------------------------------------------

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("roles", Text, nullable=False),
    Column("sites", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked_at", Float),
    Index("ix_api_tokens_tenant", "tenant_id", "user_id"),
)

# Failed sign-ins per client and per account-from-client (andon.runtime.throttle); not
# tenant data: a key names its tenant, and an unknown tenant is throttled like any other.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", Text, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("blocked_until", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# ---- webhooks (API) --------------------------------------------------------------------

webhook_sources = Table(
    "webhook_sources",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("source_id", Text, nullable=False),
    Column("scheme", Text, nullable=False),
    Column("secrets", Text, nullable=False),
    Column("signature_header", Text, nullable=False),
    Column("mapping", Text, nullable=False),
    Column("acting_user", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    PrimaryKeyConstraint("tenant_id", "source_id"),
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("subscription_id", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("event_types", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("active", Integer, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    PrimaryKeyConstraint("tenant_id", "subscription_id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("delivery_id", Text, nullable=False),
    Column("subscription_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    PrimaryKeyConstraint("tenant_id", "delivery_id"),
    Index("ix_webhook_deliveries_status", "tenant_id", "status", "created_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("delivery_id", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("status", Integer),
    Column("latency_ms", Float, nullable=False),
    Column("error", Text),
    PrimaryKeyConstraint("tenant_id", "delivery_id", "attempt"),
)

# ---- connections for actions (Connectors) ------------------------------------------------

connections = Table(
    "connections",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("settings", Text, nullable=False),
    Column("secrets", Text, nullable=False),
    Column("updated_by", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    PrimaryKeyConstraint("tenant_id", "name"),
)

# ---- per-tenant egress allow-list (Safety) -----------------------------------------------

egress_allow = Table(
    "egress_allow",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("network", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("added_by", Text, nullable=False),
    Column("added_at", Float, nullable=False),
    PrimaryKeyConstraint("tenant_id", "network"),
)

# ---- stages, rollouts and overlay revisions (Lifecycle, ADR 0031) ---------------------------

stages = Table(
    "stages",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("set_by", Text, nullable=False),
    Column("set_at", Float, nullable=False),
    Column("governed", Integer, nullable=False, server_default="0"),
    PrimaryKeyConstraint("tenant_id", "position"),
)

# Append-only (a database guard, migrations sqlite 0017 / pg 0013): what is in force is the
# fold of a template's records per stage and plant.
rollouts = Table(
    "rollouts",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("template_id", Text, nullable=False),
    Column("stage", Text, nullable=False),
    Column("plant", Text, nullable=False),
    Column("version", Integer),
    Column("overlay_revision", Integer),
    Column("act", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("via_run", Text),
    Column("put_by", Text, nullable=False),
    Column("put_at", Float, nullable=False),
    PrimaryKeyConstraint("tenant_id", "seq"),
    Index("ix_rollouts_stage_template", "tenant_id", "stage", "template_id"),
)

# Each publication of a plant's overlay, numbered; the content is kept once per digest in
# ``overlays``, so publishing earlier content again is a new revision that points at it.
overlay_revisions = Table(
    "overlay_revisions",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("template_id", Text, nullable=False),
    Column("plant", Text, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("digest", Text, nullable=False),
    Column("published_at", Float, nullable=False),
    PrimaryKeyConstraint("tenant_id", "template_id", "plant", "revision"),
)

# ---- dashboard indexes (Analytics) ---------------------------------------------------------
#
# The dashboards (andon.analytics) read these tables directly; there is no second copy of the
# data. Journal facts that the charts count are found through partial indexes whose
# conditions read the canonical JSON text (sorted keys, no spaces) of the row; a query names
# the same condition, written here once, with its literals inline: SQLite uses a partial
# index only when the query repeats the index's condition term for term, never a bound
# parameter. See docs/adr/0018-analytics-queries.md.


class _Position(FunctionElement[int]):
    """Where ``needle`` (a literal) first occurs in a text column; 0 when it does not."""

    inherit_cache = True
    type = Integer()


@compiles(_Position)
def _position_sqlite(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = list(element.clauses)
    return f"instr({compiler.process(haystack, **kw)}, {compiler.process(needle, **kw)})"


@compiles(_Position, "postgresql")
def _position_postgresql(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = list(element.clauses)
    return f"strpos({compiler.process(haystack, **kw)}, {compiler.process(needle, **kw)})"


def _found(column: ColumnElement[str], needle: str) -> ColumnElement[bool]:
    return _Position(column, sql_text(needle)) > literal_column("0", Integer)


def sql_text(value: str) -> ColumnElement[str]:
    """A string literal written into the statement rather than bound."""
    return literal_column("'" + value.replace("'", "''") + "'", Text)


def _starts(column: ColumnElement[str], prefix: str) -> ColumnElement[bool]:
    one, length = literal_column("1", Integer), literal_column(str(len(prefix)), Integer)
    return func.substr(column, one, length) == sql_text(prefix)


def _timer(events: FromClause, kind: str) -> ColumnElement[bool]:
    return (events.c.type == sql_text("TimerFired")) & _starts(events.c.body, f'{{"key":"{kind}:')


def parked_run(events: FromClause) -> ColumnElement[bool]:
    """The fact parked its run in an incident (a step failed with nowhere to go)."""
    return _found(events.c.trace, '"change":"incident"')


def step_failed(events: FromClause) -> ColumnElement[bool]:
    """An attempt of an action failed (retried or not)."""
    return events.c.type == sql_text("StepFailed")


def sla_breached(events: FromClause) -> ColumnElement[bool]:
    """A due time passed: an approval's ``due_in`` or a wait's ``timeout`` timer fired."""
    return _timer(events, "timeout")


def escalated(events: FromClause) -> ColumnElement[bool]:
    """An approval was escalated (its escalation timer fired)."""
    return _timer(events, "escalate")


def wait_began(events: FromClause) -> ColumnElement[bool]:
    """The fact made the run wait: for an event or on a timer."""
    trace = events.c.trace
    return _found(trace, '"change":"waiting"') | _found(trace, '"change":"timer"')


def wait_ended(events: FromClause) -> ColumnElement[bool]:
    """The fact ended a wait (its first note): an event received, a wait timed out, a timer
    elapsed; the step is the first note's."""
    trace = events.c.trace
    return (
        _starts(trace, '[{"change":"received"')
        | _starts(trace, '[{"change":"timed_out"')
        | _starts(trace, '[{"change":"elapsed"')
    )


INDEXED_TRACE_BYTES = 2000
"""The longest trace a PostgreSQL index row holds: a B-tree row must stay under ~2.7 kB, and
the other columns of the row (tenant id of at most 64 characters, run id, time, seq) take
the rest."""


def trace_indexed(events: FromClause) -> ColumnElement[bool]:
    """The row's trace is short enough for a PostgreSQL index row to hold."""
    limit = literal_column(str(INDEXED_TRACE_BYTES), Integer)
    return func.octet_length(events.c.trace) <= limit


def trace_not_indexed(events: FromClause) -> ColumnElement[bool]:
    """The row's trace is longer than a PostgreSQL index row may hold."""
    limit = literal_column(str(INDEXED_TRACE_BYTES), Integer)
    return func.octet_length(events.c.trace) > limit


# Completed runs by end time, with everything a window filters on (cycle times, trends).
Index(
    "ix_runs_ended",
    runs.c.tenant_id,
    runs.c.status,
    runs.c.ended_at,
    runs.c.template_id,
    runs.c.plant,
    runs.c.created_at,
)
# Runs by start time (trends), and run -> template and plant (facts filtered by them).
Index("ix_runs_started", runs.c.tenant_id, runs.c.created_at, runs.c.template_id, runs.c.plant)
Index("ix_runs_kind", runs.c.tenant_id, runs.c.run_id, runs.c.template_id, runs.c.plant)
# Decided tasks by step, candidate roles and plant, with their times (latency, bottlenecks).
Index(
    "ix_tasks_decided",
    tasks.c.tenant_id,
    tasks.c.status,
    tasks.c.step,
    tasks.c.roles,
    tasks.c.plant,
    tasks.c.closed_at,
    tasks.c.created_at,
    tasks.c.outcome,
)
# The journal rows each trend counts; each index holds only its own rows.
_events = run_events
Index(
    "ix_run_events_incidents",
    _events.c.tenant_id,
    _events.c.run_id,
    _events.c.at,
    _events.c.type,
    sqlite_where=parked_run(_events),
    postgresql_where=parked_run(_events),
)
Index(
    "ix_run_events_failures",
    _events.c.tenant_id,
    _events.c.at,
    _events.c.run_id,
    sqlite_where=step_failed(_events),
    postgresql_where=step_failed(_events),
)
Index(
    "ix_run_events_breaches",
    _events.c.tenant_id,
    _events.c.at,
    _events.c.run_id,
    sqlite_where=sla_breached(_events),
    postgresql_where=sla_breached(_events),
)
Index(
    "ix_run_events_escalations",
    _events.c.tenant_id,
    _events.c.at,
    _events.c.run_id,
    sqlite_where=escalated(_events),
    postgresql_where=escalated(_events),
)
# Waits: where they began (per run) and where they ended (per time), for step durations.
Index(
    "ix_run_events_wait_began",
    _events.c.tenant_id,
    _events.c.run_id,
    _events.c.seq,
    _events.c.at,
    sqlite_where=wait_began(_events),
    postgresql_where=wait_began(_events),
)
# Wait ends by time, with the trace they ended a wait at: the step is read from the index.
_wait_end = (_events.c.tenant_id, _events.c.at, _events.c.run_id, _events.c.seq)
Index(
    "ix_run_events_wait_ended",
    *_wait_end,
    _events.c.trace,
    sqlite_where=wait_ended(_events),
).ddl_if(dialect="sqlite")
# A PostgreSQL index row must stay under ~2.7 kB: the index holds the traces that fit (an
# included column, returned by index-only scans), and the rare longer ones are found through
# an index of their own and read from the table.
Index(
    "ix_run_events_wait_ended",
    *_wait_end,
    postgresql_include=["trace"],
    postgresql_where=wait_ended(_events) & trace_indexed(_events),
).ddl_if(dialect="postgresql")
Index(
    "ix_run_events_wait_ended_long",
    *_wait_end,
    postgresql_where=wait_ended(_events) & trace_not_indexed(_events),
).ddl_if(dialect="postgresql")
