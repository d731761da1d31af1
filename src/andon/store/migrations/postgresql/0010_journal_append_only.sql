-- The journal tables are append-only (docs/adr/0025-audit-anchor.md): UPDATE, DELETE and
-- TRUNCATE on run_events, admin_log, checkpoints and checkpoint_heads raise. The one
-- exception is the retention purge, which deletes an expired run's journal rows in a
-- transaction that sets `andon.purge` (SET LOCAL, so it ends with the transaction) and
-- leaves a sealed tombstone. A superuser, or the owner of the tables, can still drop the
-- triggers or set session_replication_role = replica: the guard stops mistakes and
-- ordinary application roles, and the checkpoint log outside the database is what detects
-- changes made around it.

CREATE FUNCTION andon_journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'run_events'
     AND coalesce(current_setting('andon.purge', true), '') = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
    MESSAGE = 'andon: ' || TG_OP || ' on ' || TG_TABLE_NAME || ' is refused: the journal is append-only';
END
$$;

CREATE TRIGGER run_events_append_only BEFORE UPDATE OR DELETE ON run_events FOR EACH ROW EXECUTE FUNCTION andon_journal_append_only();
CREATE TRIGGER run_events_no_truncate BEFORE TRUNCATE ON run_events FOR EACH STATEMENT EXECUTE FUNCTION andon_journal_append_only();
CREATE TRIGGER admin_log_append_only BEFORE UPDATE OR DELETE ON admin_log FOR EACH ROW EXECUTE FUNCTION andon_journal_append_only();
CREATE TRIGGER admin_log_no_truncate BEFORE TRUNCATE ON admin_log FOR EACH STATEMENT EXECUTE FUNCTION andon_journal_append_only();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints FOR EACH ROW EXECUTE FUNCTION andon_journal_append_only();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints FOR EACH STATEMENT EXECUTE FUNCTION andon_journal_append_only();
CREATE TRIGGER checkpoint_heads_append_only BEFORE UPDATE OR DELETE ON checkpoint_heads FOR EACH ROW EXECUTE FUNCTION andon_journal_append_only();
CREATE TRIGGER checkpoint_heads_no_truncate BEFORE TRUNCATE ON checkpoint_heads FOR EACH STATEMENT EXECUTE FUNCTION andon_journal_append_only();
