-- Named connections that actions use (HTTP, SMTP): non-secret settings as JSON, and the
-- secrets sealed with the secret box (never in clear).
CREATE TABLE connections (
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    settings TEXT NOT NULL,
    secrets TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    updated_at FLOAT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
