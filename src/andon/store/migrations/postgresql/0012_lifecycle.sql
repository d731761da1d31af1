-- Stages per tenant, the append-only history of what is in force per template, stage and
-- plant, and numbered overlay revisions (docs/adr/0031-stages-and-per-plant-rollout.md).
CREATE TABLE stages (
    tenant_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at FLOAT NOT NULL,
    PRIMARY KEY (tenant_id, position)
);
CREATE TABLE rollouts (
    tenant_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    template_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    plant TEXT NOT NULL,
    version INTEGER,
    overlay_revision INTEGER,
    act TEXT NOT NULL,
    reason TEXT NOT NULL,
    via_run TEXT,
    put_by TEXT NOT NULL,
    put_at FLOAT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX ix_rollouts_stage_template ON rollouts (tenant_id, stage, template_id);
CREATE TABLE overlay_revisions (
    tenant_id TEXT NOT NULL,
    template_id TEXT NOT NULL,
    plant TEXT NOT NULL,
    revision INTEGER NOT NULL,
    digest TEXT NOT NULL,
    published_at FLOAT NOT NULL,
    PRIMARY KEY (tenant_id, template_id, plant, revision)
);
-- Overlays published before revisions existed, numbered in the order they applied (the
-- newest published, first digest on a tie, was the one in force: it gets the top number).
INSERT INTO overlay_revisions (tenant_id, template_id, plant, revision, digest, published_at)
SELECT tenant_id, template_id, plant,
       ROW_NUMBER() OVER (
           PARTITION BY tenant_id, template_id, plant ORDER BY published_at, digest DESC
       ),
       digest, published_at
FROM overlays;
