-- Evidence-first ingestion behind the compliance gate: the evidence index, compliance sources,
-- entity rules and drops, Kalshi/Polymarket market data, and run steps.
-- Units: prices *_e4 in ten-thousandths of a dollar, counts *_e2 in hundredths of a contract,
-- amounts *_micros in micro-dollars. Timestamps are RFC 3339 UTC with milliseconds
-- (2026-06-11T05:15:11.123Z), days YYYY-MM-DD; both compare correctly as text.

-- One row per distinct response body (SHA-256 of the raw bytes). The bytes are in R2_EVIDENCE at
-- r2_key = evidence/{source}/{day of first fetch}/{hash}; the row records the first fetch.
CREATE TABLE evidence (
  hash         TEXT PRIMARY KEY CHECK (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*'),
  source       TEXT NOT NULL,
  r2_key       TEXT NOT NULL UNIQUE,
  method       TEXT NOT NULL,
  endpoint     TEXT NOT NULL,          -- scheme://host/path?query, credentials redacted
  status       INTEGER NOT NULL,
  size         INTEGER NOT NULL CHECK (size >= 0),
  content_type TEXT,
  fetched_at   TEXT NOT NULL,
  run_id       TEXT
);
CREATE INDEX evidence_by_fetched ON evidence (fetched_at);
CREATE INDEX evidence_by_source_fetched ON evidence (source, fetched_at);

-- The security guide's outbound hosts. A source is contacted only while 'approved', with a ToS
-- version and a next review date not yet passed. Every source starts under review.
CREATE TABLE compliance_sources (
  name           TEXT PRIMARY KEY,
  host           TEXT NOT NULL,
  base_url_var   TEXT NOT NULL UNIQUE,
  status         TEXT NOT NULL CHECK (status IN ('approved', 'under_review', 'blocked')),
  tos_version    TEXT,
  next_review_at TEXT,
  note           TEXT NOT NULL DEFAULT '',
  updated_by     TEXT NOT NULL,
  updated_at     TEXT NOT NULL
);
INSERT INTO compliance_sources (name, host, base_url_var, status, updated_by, updated_at) VALUES
  ('kalshi', 'api.elections.kalshi.com', 'KALSHI_BASE_URL', 'under_review', 'migration:0002', '1970-01-01T00:00:00.000Z'),
  ('polymarket_gamma', 'gamma-api.polymarket.com', 'POLYMARKET_GAMMA_URL', 'under_review', 'migration:0002', '1970-01-01T00:00:00.000Z'),
  ('polymarket_clob', 'clob.polymarket.com', 'POLYMARKET_CLOB_URL', 'under_review', 'migration:0002', '1970-01-01T00:00:00.000Z'),
  ('polymarket_data', 'data-api.polymarket.com', 'POLYMARKET_DATA_URL', 'under_review', 'migration:0002', '1970-01-01T00:00:00.000Z'),
  ('anthropic', 'api.anthropic.com', 'ANTHROPIC_BASE_URL', 'under_review', 'migration:0002', '1970-01-01T00:00:00.000Z');

-- Every change of a source, with who made it (append-only).
CREATE TABLE compliance_source_changes (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  name           TEXT NOT NULL REFERENCES compliance_sources (name),
  from_status    TEXT NOT NULL,
  to_status      TEXT NOT NULL,
  tos_version    TEXT,
  next_review_at TEXT,
  note           TEXT NOT NULL,
  actor          TEXT NOT NULL,
  request_id     TEXT NOT NULL,
  at             TEXT NOT NULL
);

-- The entity rules in force, in order (position). Replaced as a whole by PUT; id is derived from
-- kind, venue and the normalised value.
CREATE TABLE compliance_rules (
  id         TEXT PRIMARY KEY,
  position   INTEGER NOT NULL UNIQUE,
  kind       TEXT NOT NULL CHECK (kind IN ('ticker', 'series', 'event_ticker', 'category', 'title_keyword')),
  venue      TEXT NOT NULL CHECK (venue IN ('kalshi', 'polymarket', 'any')),
  value      TEXT NOT NULL CHECK (length(value) BETWEEN 1 AND 200),
  reason     TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL
);

-- Every rule set that was put in force (append-only): its version hash, size and author.
CREATE TABLE compliance_rule_sets (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  version    TEXT NOT NULL,
  rules      INTEGER NOT NULL,
  actor      TEXT NOT NULL,
  request_id TEXT NOT NULL,
  at         TEXT NOT NULL
);

-- Entities dropped by a rule, one row per (response, entity, rule): the same response ingested
-- again finds its drops already recorded and does not append them to the audit log twice.
CREATE TABLE compliance_drops (
  evidence_hash TEXT NOT NULL REFERENCES evidence (hash),
  venue         TEXT NOT NULL,
  entity_kind   TEXT NOT NULL CHECK (entity_kind IN ('market', 'event')),
  entity_key    TEXT NOT NULL,
  rule_id       TEXT NOT NULL,
  rules_version TEXT NOT NULL,
  run_id        TEXT NOT NULL,
  audit_seq     INTEGER,
  dropped_at    TEXT NOT NULL,
  PRIMARY KEY (evidence_hash, venue, entity_key, rule_id)
);
CREATE INDEX compliance_drops_by_entity ON compliance_drops (venue, entity_key);

-- Kalshi events (GET /events).
CREATE TABLE kalshi_events (
  event_ticker       TEXT PRIMARY KEY,
  series_ticker      TEXT NOT NULL,
  title              TEXT NOT NULL,
  sub_title          TEXT,
  category           TEXT,
  mutually_exclusive INTEGER,
  evidence_hash      TEXT NOT NULL REFERENCES evidence (hash),
  first_seen_at      TEXT NOT NULL,
  updated_at         TEXT NOT NULL
);

-- Markets of both venues: Kalshi by ticker, Polymarket by condition id.
CREATE TABLE markets (
  venue         TEXT NOT NULL CHECK (venue IN ('kalshi', 'polymarket')),
  market_id     TEXT NOT NULL,
  event_id      TEXT,                   -- Kalshi event ticker
  series_id     TEXT,                   -- Kalshi series ticker
  slug          TEXT,                   -- Polymarket slug
  title         TEXT NOT NULL,
  category      TEXT,
  status        TEXT NOT NULL,          -- the venue's status (Kalshi enum; active/closed/... for Gamma)
  result        TEXT,                   -- Kalshi: '' unsettled, yes, no, scalar
  close_time    TEXT NOT NULL,
  rules_hash    TEXT NOT NULL,          -- venues::rules_hash of the resolution rules
  outcomes      TEXT,                   -- Polymarket: JSON [{name, price_e4, token_id}]
  evidence_hash TEXT NOT NULL REFERENCES evidence (hash),
  first_seen_at TEXT NOT NULL,
  updated_at    TEXT NOT NULL,
  PRIMARY KEY (venue, market_id)
);
CREATE INDEX markets_by_evidence ON markets (evidence_hash);
CREATE INDEX markets_by_event ON markets (venue, event_id);

-- The latest quote of each market.
CREATE TABLE market_prices (
  venue            TEXT NOT NULL,
  market_id        TEXT NOT NULL,
  yes_bid_e4       INTEGER CHECK (yes_bid_e4 BETWEEN 0 AND 10000),
  yes_ask_e4       INTEGER CHECK (yes_ask_e4 BETWEEN 0 AND 10000),
  no_bid_e4        INTEGER CHECK (no_bid_e4 BETWEEN 0 AND 10000),
  no_ask_e4        INTEGER CHECK (no_ask_e4 BETWEEN 0 AND 10000),
  last_price_e4    INTEGER CHECK (last_price_e4 BETWEEN 0 AND 10000),
  volume_e2        INTEGER,             -- Kalshi contracts traded
  volume_24h_e2    INTEGER,
  open_interest_e2 INTEGER,
  volume_micros    INTEGER,             -- Polymarket dollar volume
  liquidity_micros INTEGER,
  observed_at      TEXT NOT NULL,
  evidence_hash    TEXT NOT NULL REFERENCES evidence (hash),
  PRIMARY KEY (venue, market_id)
);

-- The latest book of each market fetched: levels [[price_e4, qty_e2], ...], best bid last.
CREATE TABLE orderbooks (
  venue           TEXT NOT NULL,
  market_id       TEXT NOT NULL,
  yes_bids        TEXT NOT NULL,
  no_bids         TEXT NOT NULL,
  best_yes_bid_e4 INTEGER,
  best_yes_ask_e4 INTEGER,
  observed_at     TEXT NOT NULL,
  evidence_hash   TEXT NOT NULL REFERENCES evidence (hash),
  PRIMARY KEY (venue, market_id)
);

-- Runs: when a cron delivery was scheduled, its liveness, attempts, and its run-audit object.
ALTER TABLE runs ADD COLUMN scheduled_at TEXT;
ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;
ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE runs ADD COLUMN audit_key TEXT;

-- One row per finished step of a run (the STEP_END lines of its run audit).
CREATE TABLE run_steps (
  run_id      TEXT NOT NULL REFERENCES runs (run_id),
  step_no     INTEGER NOT NULL,
  step        TEXT NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('SUCCESS', 'FAIL', 'SKIPPED')),
  started_at  TEXT NOT NULL,
  ended_at    TEXT NOT NULL,
  duration_ms INTEGER NOT NULL,
  counts      TEXT NOT NULL DEFAULT '{}',
  code        TEXT,
  detail      TEXT,
  stopped     TEXT,
  PRIMARY KEY (run_id, step_no)
);

-- At most one run of a job at a time: a lease with an expiry (a dead holder's lease lapses).
CREATE TABLE job_leases (
  job        TEXT PRIMARY KEY,
  run_id     TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
