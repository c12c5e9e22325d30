-- Monitoring counters (issue 9): request counts and latency buckets per route group, venue
-- requests and errors by venue and status, operator verification outcomes. Each Worker
-- invocation adds its increments in one batch at its end; GET /admin/metrics renders them
-- together with gauges computed from state. Only ever incremented (no reset, no delete).
CREATE TABLE metric_counters (
  name TEXT NOT NULL,
  labels TEXT NOT NULL,          -- JSON object of label name -> value, keys sorted
  value INTEGER NOT NULL,
  PRIMARY KEY (name, labels)
) WITHOUT ROWID;
