-- 0002: tenancy on every tenant-owned table; identity, grants, delegations and the
-- administrative audit chain. Rows written before tenancy belong to tenant 'default'.
CREATE TABLE templates_new (
    tenant_id TEXT NOT NULL,
    template_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    digest TEXT NOT NULL,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    published_at FLOAT NOT NULL,
    published_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, template_id, version)
);
INSERT INTO templates_new (tenant_id, template_id, version, digest, title, source, published_at, published_by)
    SELECT 'default', template_id, version, digest, title, source, published_at, published_by FROM templates;
DROP TABLE templates;
ALTER TABLE templates_new RENAME TO templates;

CREATE TABLE overlays_new (
    tenant_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    template_id TEXT NOT NULL,
    plant TEXT NOT NULL,
    params TEXT NOT NULL,
    source TEXT NOT NULL,
    published_at FLOAT NOT NULL,
    PRIMARY KEY (tenant_id, digest)
);
INSERT INTO overlays_new (tenant_id, digest, template_id, plant, params, source, published_at)
    SELECT 'default', digest, template_id, plant, params, source, published_at FROM overlays;
DROP TABLE overlays;
ALTER TABLE overlays_new RENAME TO overlays;
CREATE INDEX ix_overlays_template_plant ON overlays (tenant_id, template_id, plant, published_at);

CREATE TABLE runs_new (
    tenant_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    template_id TEXT NOT NULL,
    template_version INTEGER NOT NULL,
    overlay_digest TEXT NOT NULL,
    plant TEXT NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT,
    state TEXT NOT NULL,
    revision INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    last_hash TEXT NOT NULL,
    started_by TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    updated_at FLOAT NOT NULL,
    ended_at FLOAT,
    PRIMARY KEY (run_id)
);
INSERT INTO runs_new (tenant_id, run_id, template_id, template_version, overlay_digest, plant, status, outcome, state, revision, last_seq, last_hash, started_by, created_at, updated_at, ended_at)
    SELECT 'default', run_id, template_id, template_version, overlay_digest, plant, status, outcome, state, revision, last_seq, last_hash, started_by, created_at, updated_at, ended_at FROM runs;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
CREATE INDEX ix_runs_status ON runs (tenant_id, status, created_at);

CREATE TABLE run_events_new (
    tenant_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    trace TEXT NOT NULL,
    actor TEXT NOT NULL,
    at FLOAT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
INSERT INTO run_events_new (tenant_id, run_id, seq, type, body, trace, actor, at, hash)
    SELECT 'default', run_id, seq, type, body, trace, actor, at, hash FROM run_events;
DROP TABLE run_events;
ALTER TABLE run_events_new RENAME TO run_events;

CREATE TABLE outbox_new (
    id INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    "key" TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    due_at FLOAT NOT NULL,
    lease_owner TEXT,
    lease_expires_at FLOAT,
    attempts INTEGER NOT NULL,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_outbox_run_key UNIQUE (run_id, "key")
);
INSERT INTO outbox_new (id, tenant_id, run_id, "key", kind, body, due_at, lease_owner, lease_expires_at, attempts, created_at)
    SELECT id, 'default', run_id, "key", kind, body, due_at, lease_owner, lease_expires_at, attempts, created_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX ix_outbox_due ON outbox (due_at);

CREATE TABLE tasks_new (
    tenant_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    title TEXT NOT NULL,
    plant TEXT NOT NULL,
    roles TEXT NOT NULL,
    quorum TEXT NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT,
    level INTEGER NOT NULL,
    escalated_to TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    due_at FLOAT,
    closed_at FLOAT,
    claimed_by TEXT,
    claimed_at FLOAT,
    PRIMARY KEY (task_id)
);
INSERT INTO tasks_new (tenant_id, task_id, run_id, step, title, plant, roles, quorum, status, outcome, level, escalated_to, created_at, due_at, closed_at, claimed_by, claimed_at)
    SELECT 'default', task_id, run_id, step, title, plant, roles, quorum, status, outcome, level, escalated_to, created_at, due_at, closed_at, NULL, NULL FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;
CREATE INDEX ix_tasks_run ON tasks (run_id);
CREATE INDEX ix_tasks_status ON tasks (tenant_id, status, created_at);

CREATE TABLE subscriptions_new (
    tenant_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    event_type TEXT NOT NULL,
    correlation_key TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    expires_at FLOAT,
    PRIMARY KEY (run_id, step)
);
INSERT INTO subscriptions_new (tenant_id, run_id, step, event_type, correlation_key, created_at, expires_at)
    SELECT 'default', run_id, step, event_type, correlation_key, created_at, expires_at FROM subscriptions;
DROP TABLE subscriptions;
ALTER TABLE subscriptions_new RENAME TO subscriptions;
CREATE INDEX ix_subscriptions_match ON subscriptions (tenant_id, event_type, correlation_key);

CREATE TABLE inbox_new (
    tenant_id TEXT NOT NULL,
    source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    correlation_key TEXT NOT NULL,
    data TEXT NOT NULL,
    received_at FLOAT NOT NULL,
    matched_runs INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, source, event_id)
);
INSERT INTO inbox_new (tenant_id, source, event_id, event_type, correlation_key, data, received_at, matched_runs)
    SELECT 'default', source, event_id, event_type, correlation_key, data, received_at, matched_runs FROM inbox;
DROP TABLE inbox;
ALTER TABLE inbox_new RENAME TO inbox;

CREATE TABLE partners (
    partner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (partner_id)
);

CREATE TABLE tenants (
    tenant_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (tenant_id)
);

CREATE TABLE sites (
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (tenant_id, site_id)
);

CREATE TABLE users (
    user_id TEXT NOT NULL,
    tenant_id TEXT,
    partner_id TEXT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    password_hash TEXT,
    active INTEGER NOT NULL,
    failed_logins INTEGER NOT NULL,
    locked_until FLOAT,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (user_id)
);

CREATE TABLE grants (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    site TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at FLOAT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, role, site)
);

CREATE TABLE authority_ranks (
    tenant_id TEXT NOT NULL,
    role TEXT NOT NULL,
    rank INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, role)
);

CREATE TABLE delegations (
    tenant_id TEXT NOT NULL,
    delegation_id TEXT NOT NULL,
    delegator TEXT NOT NULL,
    delegate TEXT NOT NULL,
    role TEXT NOT NULL,
    site TEXT NOT NULL,
    starts_at FLOAT NOT NULL,
    ends_at FLOAT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    revoked_at FLOAT,
    PRIMARY KEY (tenant_id, delegation_id)
);
CREATE INDEX ix_delegations_delegate ON delegations (tenant_id, delegate);

CREATE TABLE admin_log (
    tenant_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    actor TEXT NOT NULL,
    at FLOAT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

INSERT INTO partners (partner_id, name, created_at) VALUES ('local', 'This installation', 0);
INSERT INTO tenants (tenant_id, partner_id, name, created_at) VALUES ('default', 'local', 'Default tenant', 0);
