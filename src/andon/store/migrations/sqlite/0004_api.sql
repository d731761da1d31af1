-- 0004: API tokens (hashed, bound to a tenant, a principal, roles and sites).
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
