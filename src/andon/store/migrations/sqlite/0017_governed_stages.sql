-- Governed stages (docs/adr/0034-governed-promotion.md): a version enters a governed stage
-- only through an approved promotion run. Stage lists set before this keep their live
-- (last) stage governed, as the default list does, unless it is also the first (publishing
-- puts new versions there, so it cannot be governed). The rollout history is append-only,
-- like the journal (migration 0015): what was in force, and who put it there, stays.
ALTER TABLE stages ADD COLUMN governed INTEGER NOT NULL DEFAULT 0;
UPDATE stages SET governed = 1
WHERE position > 0
  AND position = (SELECT MAX(s2.position) FROM stages s2 WHERE s2.tenant_id = stages.tenant_id);

CREATE TRIGGER rollouts_no_update BEFORE UPDATE ON rollouts
BEGIN $$ SELECT RAISE(ABORT, 'andon: UPDATE on rollouts is refused: the rollout history is append-only'); $$ END;
CREATE TRIGGER rollouts_no_delete BEFORE DELETE ON rollouts
BEGIN $$ SELECT RAISE(ABORT, 'andon: DELETE on rollouts is refused: the rollout history is append-only'); $$ END;
