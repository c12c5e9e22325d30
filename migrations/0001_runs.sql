-- Every job run (cron delivery or operator-triggered), so operators can see what ran and how it
-- ended. A re-delivered cron reuses its run_id, so INSERT OR IGNORE keeps one row per run.
CREATE TABLE runs (
  run_id      TEXT PRIMARY KEY,
  job         TEXT NOT NULL,
  trigger     TEXT NOT NULL,           -- cron expression or 'operator:<name>'
  started_at  TEXT NOT NULL,           -- RFC 3339 UTC
  ended_at    TEXT,
  status      TEXT NOT NULL CHECK (status IN ('RUNNING', 'SUCCESS', 'FAIL', 'SKIPPED')),
  detail      TEXT NOT NULL DEFAULT '{}' -- JSON: counts, codes, where it stopped
);
CREATE INDEX runs_by_job_started ON runs (job, started_at DESC);
