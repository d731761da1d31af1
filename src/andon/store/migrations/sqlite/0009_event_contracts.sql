-- Event contracts: the JSON Schema of an event type's data, by version (newest wins).
CREATE TABLE event_contracts (
    tenant_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    version INTEGER NOT NULL,
    schema TEXT NOT NULL,
    digest TEXT NOT NULL,
    registered_at FLOAT NOT NULL,
    registered_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, event_type, version)
);
