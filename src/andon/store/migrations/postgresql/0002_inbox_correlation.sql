-- Events kept for a wait that begins after they arrived (out-of-order delivery).
CREATE INDEX ix_inbox_correlation ON inbox (tenant_id, event_type, correlation_key, received_at);
