-- A claim per tenant (fair sharing) reads that tenant's due rows, not everyone's.
CREATE INDEX ix_outbox_tenant_due ON outbox (tenant_id, due_at);
