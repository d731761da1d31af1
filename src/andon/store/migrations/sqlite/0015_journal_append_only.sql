-- The journal tables are append-only, as on PostgreSQL (docs/adr/0025-audit-anchor.md):
-- UPDATE and DELETE on run_events, admin_log, checkpoints and checkpoint_heads abort. The
-- retention purge alone deletes an expired run's journal rows: its transaction drops
-- run_events_no_delete and creates it again before it commits (DDL is transactional in
-- SQLite and there is one writer, so no other transaction sees it missing). Whoever can
-- write the file can drop the triggers too: the guard stops mistakes and ordinary code
-- paths, the checkpoint log outside the database detects changes made around it.

CREATE TRIGGER run_events_no_update BEFORE UPDATE ON run_events
BEGIN $$ SELECT RAISE(ABORT, 'andon: UPDATE on run_events is refused: the journal is append-only'); $$ END;
CREATE TRIGGER run_events_no_delete BEFORE DELETE ON run_events
BEGIN $$ SELECT RAISE(ABORT, 'andon: DELETE on run_events is refused: the journal is append-only'); $$ END;
CREATE TRIGGER admin_log_no_update BEFORE UPDATE ON admin_log
BEGIN $$ SELECT RAISE(ABORT, 'andon: UPDATE on admin_log is refused: the journal is append-only'); $$ END;
CREATE TRIGGER admin_log_no_delete BEFORE DELETE ON admin_log
BEGIN $$ SELECT RAISE(ABORT, 'andon: DELETE on admin_log is refused: the journal is append-only'); $$ END;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN $$ SELECT RAISE(ABORT, 'andon: UPDATE on checkpoints is refused: the journal is append-only'); $$ END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN $$ SELECT RAISE(ABORT, 'andon: DELETE on checkpoints is refused: the journal is append-only'); $$ END;
CREATE TRIGGER checkpoint_heads_no_update BEFORE UPDATE ON checkpoint_heads
BEGIN $$ SELECT RAISE(ABORT, 'andon: UPDATE on checkpoint_heads is refused: the journal is append-only'); $$ END;
CREATE TRIGGER checkpoint_heads_no_delete BEFORE DELETE ON checkpoint_heads
BEGIN $$ SELECT RAISE(ABORT, 'andon: DELETE on checkpoint_heads is refused: the journal is append-only'); $$ END;
