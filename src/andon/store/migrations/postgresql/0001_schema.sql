-- 0001: the whole schema on PostgreSQL, equal to andon/store/schema.py (and to SQLite's
-- migrations 0001-0006 taken together).
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

CREATE TABLE api_tokens (
    token_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    sites TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    expires_at FLOAT NOT NULL,
    revoked_at FLOAT,
    PRIMARY KEY (token_id)
);
CREATE INDEX ix_api_tokens_tenant ON api_tokens (tenant_id, user_id);

CREATE TABLE authority_ranks (
    tenant_id TEXT NOT NULL,
    role TEXT NOT NULL,
    rank INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, role)
);

CREATE TABLE checkpoint_heads (
    checkpoint_id INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    chain TEXT NOT NULL,
    chain_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (checkpoint_id, tenant_id, chain, chain_id)
);
CREATE INDEX ix_checkpoint_heads_chain ON checkpoint_heads (tenant_id, chain, chain_id, seq);

CREATE TABLE checkpoints (
    checkpoint_id INTEGER NOT NULL,
    at FLOAT NOT NULL,
    previous TEXT NOT NULL,
    heads_digest TEXT NOT NULL,
    heads INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (checkpoint_id)
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

CREATE TABLE grants (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    site TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at FLOAT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, role, site)
);

CREATE TABLE inbox (
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

CREATE TABLE legal_holds (
    tenant_id TEXT NOT NULL,
    hold_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    template_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    placed_by TEXT NOT NULL,
    placed_at FLOAT NOT NULL,
    released_by TEXT,
    released_at FLOAT,
    PRIMARY KEY (tenant_id, hold_id)
);

CREATE TABLE outbox (
    id SERIAL NOT NULL,
    tenant_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    due_at FLOAT NOT NULL,
    lease_owner TEXT,
    lease_expires_at FLOAT,
    attempts INTEGER NOT NULL,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_outbox_run_key UNIQUE (run_id, key)
);
CREATE INDEX ix_outbox_due ON outbox (due_at);

CREATE TABLE overlays (
    tenant_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    template_id TEXT NOT NULL,
    plant TEXT NOT NULL,
    params TEXT NOT NULL,
    source TEXT NOT NULL,
    published_at FLOAT NOT NULL,
    PRIMARY KEY (tenant_id, digest)
);
CREATE INDEX ix_overlays_template_plant ON overlays (tenant_id, template_id, plant, published_at);

CREATE TABLE partners (
    partner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (partner_id)
);

CREATE TABLE retention_classes (
    tenant_id TEXT NOT NULL,
    retention_class TEXT NOT NULL,
    days INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, retention_class)
);

CREATE TABLE run_events (
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

CREATE TABLE runs (
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
CREATE INDEX ix_runs_status ON runs (tenant_id, status, created_at);

CREATE TABLE signing_keys (
    key_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (key_id)
);

CREATE TABLE sites (
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (tenant_id, site_id)
);

CREATE TABLE subscriptions (
    tenant_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    event_type TEXT NOT NULL,
    correlation_key TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    expires_at FLOAT,
    PRIMARY KEY (run_id, step)
);
CREATE INDEX ix_subscriptions_match ON subscriptions (tenant_id, event_type, correlation_key);

CREATE TABLE tasks (
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
CREATE INDEX ix_tasks_run ON tasks (run_id);
CREATE INDEX ix_tasks_status ON tasks (tenant_id, status, created_at);

CREATE TABLE templates (
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

CREATE TABLE tenants (
    tenant_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (tenant_id)
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

CREATE TABLE webhook_attempts (
    tenant_id TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at FLOAT NOT NULL,
    status INTEGER,
    latency_ms FLOAT NOT NULL,
    error TEXT,
    PRIMARY KEY (tenant_id, delivery_id, attempt)
);

CREATE TABLE webhook_deliveries (
    tenant_id TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    created_at FLOAT NOT NULL,
    updated_at FLOAT NOT NULL,
    PRIMARY KEY (tenant_id, delivery_id)
);
CREATE INDEX ix_webhook_deliveries_status ON webhook_deliveries (tenant_id, status, created_at);

CREATE TABLE webhook_sources (
    tenant_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    scheme TEXT NOT NULL,
    secrets TEXT NOT NULL,
    signature_header TEXT NOT NULL,
    mapping TEXT NOT NULL,
    acting_user TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    updated_at FLOAT NOT NULL,
    PRIMARY KEY (tenant_id, source_id)
);

CREATE TABLE webhook_subscriptions (
    tenant_id TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    url TEXT NOT NULL,
    event_types TEXT NOT NULL,
    secret TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (tenant_id, subscription_id)
);

INSERT INTO partners (partner_id, name, created_at) VALUES ('local', 'This installation', 0);
INSERT INTO tenants (tenant_id, partner_id, name, created_at) VALUES ('default', 'local', 'Default tenant', 0);
