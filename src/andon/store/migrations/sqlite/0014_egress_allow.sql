-- Networks a tenant's outbound calls may reach although internal (a plant's MES), added
-- by the tenant's administrators; other tenants stay denied.
CREATE TABLE egress_allow (
    tenant_id TEXT NOT NULL,
    network TEXT NOT NULL,
    reason TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at FLOAT NOT NULL,
    PRIMARY KEY (tenant_id, network)
);
