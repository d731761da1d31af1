-- 0003: signed checkpoints over all chain heads, retention classes and legal holds.
CREATE TABLE signing_keys (
    key_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (key_id)
);

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

CREATE TABLE retention_classes (
    tenant_id TEXT NOT NULL,
    retention_class TEXT NOT NULL,
    days INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, retention_class)
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

