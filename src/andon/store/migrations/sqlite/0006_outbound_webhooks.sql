-- 0006: outbound webhooks: subscriptions (sealed secrets), deliveries and their attempts.
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

