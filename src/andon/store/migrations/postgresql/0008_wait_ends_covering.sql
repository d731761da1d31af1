-- Dashboard queries (andon.analytics): the index of wait ends holds their trace, as it does
-- on SQLite, so the bottleneck chart reads the step a wait ended at from the index instead
-- of one table page per wait. A B-tree row must stay under ~2.7 kB: the index holds the
-- traces of at most 2000 bytes, and the rare longer ones have an index of their own (read
-- from the table). See docs/adr/0018-analytics-queries.md.

DROP INDEX ix_run_events_wait_ended;
CREATE INDEX ix_run_events_wait_ended ON run_events (tenant_id, at, run_id, seq) INCLUDE (trace) WHERE (substr(trace, 1, 21) = '[{"change":"received"' OR substr(trace, 1, 22) = '[{"change":"timed_out"' OR substr(trace, 1, 20) = '[{"change":"elapsed"') AND octet_length(trace) <= 2000;
CREATE INDEX ix_run_events_wait_ended_long ON run_events (tenant_id, at, run_id, seq) WHERE (substr(trace, 1, 21) = '[{"change":"received"' OR substr(trace, 1, 22) = '[{"change":"timed_out"' OR substr(trace, 1, 20) = '[{"change":"elapsed"') AND octet_length(trace) > 2000;
