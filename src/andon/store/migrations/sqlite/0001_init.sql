-- 0001: the whole Foundation schema (see andon/store/schema.py, which must stay equal).
CREATE TABLE templates (
    template_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    digest TEXT NOT NULL,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    published_at FLOAT NOT NULL,
    published_by TEXT NOT NULL,
    PRIMARY KEY (template_id, version)
);

CREATE TABLE overlays (
    digest TEXT NOT NULL PRIMARY KEY,
    template_id TEXT NOT NULL,
    plant TEXT NOT NULL,
    params TEXT NOT NULL,
    source TEXT NOT NULL,
    published_at FLOAT NOT NULL
);
CREATE INDEX ix_overlays_template_plant ON overlays (template_id, plant, published_at);

CREATE TABLE runs (
    run_id TEXT NOT NULL PRIMARY KEY,
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
    ended_at FLOAT
);
CREATE INDEX ix_runs_status ON runs (status, created_at);

CREATE TABLE run_events (
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

CREATE TABLE outbox (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    "key" TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    due_at FLOAT NOT NULL,
    lease_owner TEXT,
    lease_expires_at FLOAT,
    attempts INTEGER NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT uq_outbox_run_key UNIQUE (run_id, "key")
);
CREATE INDEX ix_outbox_due ON outbox (due_at);

CREATE TABLE tasks (
    task_id TEXT NOT NULL PRIMARY KEY,
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
    closed_at FLOAT
);
CREATE INDEX ix_tasks_status ON tasks (status, created_at);
CREATE INDEX ix_tasks_run ON tasks (run_id);

CREATE TABLE subscriptions (
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    event_type TEXT NOT NULL,
    correlation_key TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    expires_at FLOAT,
    PRIMARY KEY (run_id, step)
);
CREATE INDEX ix_subscriptions_match ON subscriptions (event_type, correlation_key);

CREATE TABLE inbox (
    source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    correlation_key TEXT NOT NULL,
    data TEXT NOT NULL,
    received_at FLOAT NOT NULL,
    matched_runs INTEGER NOT NULL,
    PRIMARY KEY (source, event_id)
);
