-- Dashboard queries (andon.analytics): indexes over runs, tasks and the journal; the
-- journal ones are partial, on conditions over the canonical JSON text of a row.
-- See docs/adr/0018-analytics-queries.md.

-- Completed runs by end time, with everything a window filters on (cycle times, trends).
CREATE INDEX ix_runs_ended ON runs (tenant_id, status, ended_at, template_id, plant, created_at);
-- Runs by start time (trends).
CREATE INDEX ix_runs_started ON runs (tenant_id, created_at, template_id, plant);
-- Run -> template and plant, for facts filtered by them.
CREATE INDEX ix_runs_kind ON runs (tenant_id, run_id, template_id, plant);
-- Decided tasks by step, candidate roles and plant, with their times.
CREATE INDEX ix_tasks_decided ON tasks (tenant_id, status, step, roles, plant, closed_at, created_at, outcome);
-- The journal rows each trend counts; each index holds only its own rows.
CREATE INDEX ix_run_events_incidents ON run_events (tenant_id, run_id, at, type) WHERE strpos(trace, '"change":"incident"') > 0;
CREATE INDEX ix_run_events_failures ON run_events (tenant_id, at, run_id) WHERE type = 'StepFailed';
CREATE INDEX ix_run_events_breaches ON run_events (tenant_id, at, run_id) WHERE type = 'TimerFired' AND substr(body, 1, 16) = '{"key":"timeout:';
CREATE INDEX ix_run_events_escalations ON run_events (tenant_id, at, run_id) WHERE type = 'TimerFired' AND substr(body, 1, 17) = '{"key":"escalate:';
-- Waits: where they began (per run) and where they ended (per time).
CREATE INDEX ix_run_events_wait_began ON run_events (tenant_id, run_id, seq, at) WHERE strpos(trace, '"change":"waiting"') > 0 OR strpos(trace, '"change":"timer"') > 0;
CREATE INDEX ix_run_events_wait_ended ON run_events (tenant_id, at, run_id, seq) WHERE substr(trace, 1, 21) = '[{"change":"received"' OR substr(trace, 1, 22) = '[{"change":"timed_out"' OR substr(trace, 1, 20) = '[{"change":"elapsed"';
