-- 0005: inbound webhook sources (secrets sealed with AES-GCM, never in clear).
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
