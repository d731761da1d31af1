-- Events that could not be taken in, kept with the reason until replayed or discarded.
CREATE TABLE dead_letters (
    tenant_id TEXT NOT NULL,
    letter_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL,
    event TEXT,
    received_at FLOAT NOT NULL,
    deliveries INTEGER NOT NULL,
    resolution TEXT,
    resolved_at FLOAT,
    resolved_by TEXT,
    PRIMARY KEY (tenant_id, letter_id)
);
CREATE INDEX ix_dead_letters_open ON dead_letters (tenant_id, resolved_at, received_at);
-- The plant an event was sent for: a replay starts its runs there again.
ALTER TABLE inbox ADD COLUMN plant TEXT NOT NULL DEFAULT '';
-- Replaying a time window of the inbox into a template version.
CREATE INDEX ix_inbox_received ON inbox (tenant_id, received_at);
