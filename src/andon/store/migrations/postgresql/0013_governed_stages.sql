-- Governed stages (docs/adr/0034-governed-promotion.md): a version enters a governed stage
-- only through an approved promotion run. Stage lists set before this keep their live
-- (last) stage governed, as the default list does, unless it is also the first (publishing
-- puts new versions there, so it cannot be governed). The rollout history is append-only,
-- like the journal (migration 0010): what was in force, and who put it there, stays.
ALTER TABLE stages ADD COLUMN governed INTEGER NOT NULL DEFAULT 0;
UPDATE stages SET governed = 1
WHERE position > 0
  AND position = (SELECT MAX(s2.position) FROM stages s2 WHERE s2.tenant_id = stages.tenant_id);

CREATE FUNCTION andon_rollouts_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
    MESSAGE = 'andon: ' || TG_OP || ' on rollouts is refused: the rollout history is append-only';
END
$$;

CREATE TRIGGER rollouts_append_only BEFORE UPDATE OR DELETE ON rollouts FOR EACH ROW EXECUTE FUNCTION andon_rollouts_append_only();
CREATE TRIGGER rollouts_no_truncate BEFORE TRUNCATE ON rollouts FOR EACH STATEMENT EXECUTE FUNCTION andon_rollouts_append_only();
