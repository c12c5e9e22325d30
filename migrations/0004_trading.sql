-- The trading cycle (issue 6): strategies and their modes, signals (the forecast record the
-- profitability gate scores), orders with their lifecycle, the fill ledger, the position book,
-- closed trades with realised P&L, reconciliation results and integrity violations.
-- Units as in 0002: prices *_e4 (1e-4 $), counts *_e2 (1e-2 contract), money *_micros (1e-6 $),
-- probabilities *_ppm. Timestamps RFC 3339 UTC with milliseconds; every row the cycle writes
-- carries the cron delivery's scheduled time, so replays of simulated days are reproducible.

-- Strategies. `config` is core::strategy::StrategyConfig as JSON (min_edge_bps = MIN_EDGE,
-- kelly_fraction_bps, max_notional, max_model_spread_bps, contract_step, bucket_secs).
-- Only 'disabled' and 'paper' can be set through the API; 'live' is the two-person path.
CREATE TABLE strategies (
  id                            TEXT PRIMARY KEY,
  mode                          TEXT NOT NULL DEFAULT 'paper'
                                  CHECK (mode IN ('disabled', 'paper', 'live')),
  config                        TEXT NOT NULL,
  capital_allocation_usd_micros INTEGER NOT NULL CHECK (capital_allocation_usd_micros > 0),
  updated_by                    TEXT NOT NULL,
  created_at                    TEXT NOT NULL,
  updated_at                    TEXT NOT NULL
);
INSERT INTO strategies (id, mode, config, capital_allocation_usd_micros, updated_by, created_at, updated_at)
VALUES ('fair_value', 'paper',
  '{"strategy_id":"fair_value","min_edge_bps":200,"kelly_fraction_bps":2500,"max_notional":100000000,"max_model_spread_bps":1000,"contract_step":100,"bucket_secs":300}',
  10000000000, 'migration:0004', '1970-01-01T00:00:00.000Z', '1970-01-01T00:00:00.000Z');

-- Signals: one per (strategy, pair, market, side, time bucket); the id is the client order id
-- of the order it leads to. To score a forecast, join markets (venue 'kalshi', market_id =
-- market) for `result`. `synthetic` = 1 marks replayed (not live-observed) signals.
CREATE TABLE signals (
  id                 TEXT PRIMARY KEY,
  strategy_id        TEXT NOT NULL REFERENCES strategies (id),
  pair_id            TEXT NOT NULL,
  market             TEXT NOT NULL,
  side               TEXT NOT NULL CHECK (side IN ('yes', 'no')),
  model_prob_ppm     INTEGER NOT NULL CHECK (model_prob_ppm BETWEEN 0 AND 1000000),
  market_prob_ppm    INTEGER NOT NULL CHECK (market_prob_ppm BETWEEN 0 AND 1000000),
  edge_bps           INTEGER NOT NULL,
  kelly_fraction_bps INTEGER NOT NULL,
  qty_e2             INTEGER NOT NULL CHECK (qty_e2 > 0),
  limit_price_e4     INTEGER NOT NULL CHECK (limit_price_e4 BETWEEN 1 AND 9999),
  cost_micros        INTEGER NOT NULL,
  fee_micros         INTEGER NOT NULL,
  evidence           TEXT NOT NULL,          -- JSON array of evidence hashes (hex)
  bucket             INTEGER NOT NULL,
  mode               TEXT NOT NULL CHECK (mode IN ('paper', 'live')),
  run_id             TEXT NOT NULL,
  synthetic          INTEGER NOT NULL DEFAULT 0 CHECK (synthetic IN (0, 1)),
  created_at         TEXT NOT NULL
);
CREATE INDEX signals_by_created ON signals (created_at DESC);
CREATE INDEX signals_by_market ON signals (market);

-- Orders: the deterministic client order id is the key (a second cycle over the same bucket
-- finds its order and does nothing). `body` is core::orders::OrderRecord as JSON.
CREATE TABLE orders (
  client_order_id TEXT PRIMARY KEY,
  signal_id       TEXT REFERENCES signals (id),
  strategy_id     TEXT NOT NULL,
  mode            TEXT NOT NULL CHECK (mode IN ('paper', 'live')),
  market          TEXT NOT NULL,
  side            TEXT NOT NULL CHECK (side IN ('yes', 'no')),
  action          TEXT NOT NULL CHECK (action IN ('buy', 'sell')),
  qty_e2          INTEGER NOT NULL,
  limit_price_e4  INTEGER NOT NULL,
  filled_e2       INTEGER NOT NULL DEFAULT 0,
  fees_micros     INTEGER NOT NULL DEFAULT 0,
  state           TEXT NOT NULL CHECK (state IN ('intent', 'approved', 'submitted', 'resting',
                    'partially_filled', 'filled', 'cancelled', 'rejected', 'unknown')),
  reason          TEXT,
  venue_order_id  TEXT,
  audit_seq       INTEGER,
  body            TEXT NOT NULL,
  run_id          TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);
CREATE INDEX orders_by_created ON orders (created_at DESC);
CREATE INDEX orders_by_state ON orders (state);

-- The fill ledger (append-only). One row per venue fill id; `governor_applied` becomes 1 once
-- the risk governor has the fill (a cycle that stopped in between sends it next time).
CREATE TABLE fills (
  fill_id          TEXT PRIMARY KEY,
  client_order_id  TEXT NOT NULL REFERENCES orders (client_order_id),
  mode             TEXT NOT NULL CHECK (mode IN ('paper', 'live')),
  market           TEXT NOT NULL,
  side             TEXT NOT NULL CHECK (side IN ('yes', 'no')),
  action           TEXT NOT NULL CHECK (action IN ('buy', 'sell')),
  qty_e2           INTEGER NOT NULL CHECK (qty_e2 > 0),
  price_e4         INTEGER NOT NULL CHECK (price_e4 BETWEEN 0 AND 10000),
  fee_micros       INTEGER NOT NULL CHECK (fee_micros >= 0),
  governor_applied INTEGER NOT NULL DEFAULT 0 CHECK (governor_applied IN (0, 1)),
  synthetic        INTEGER NOT NULL DEFAULT 0 CHECK (synthetic IN (0, 1)),
  at               TEXT NOT NULL
);
CREATE INDEX fills_by_market ON fills (mode, market, at);
CREATE UNIQUE INDEX fills_by_order_and_id ON fills (client_order_id, fill_id);

-- The position book: one open position per (mode, market), written when fills land and
-- removed at settlement. Reconciliation compares it with a replay of the fill ledger.
CREATE TABLE positions (
  mode           TEXT NOT NULL CHECK (mode IN ('paper', 'live')),
  market         TEXT NOT NULL,
  side           TEXT NOT NULL CHECK (side IN ('yes', 'no')),
  qty_e2         INTEGER NOT NULL CHECK (qty_e2 > 0),
  cost_micros    INTEGER NOT NULL,
  fees_micros    INTEGER NOT NULL,
  entry_fill_ids TEXT NOT NULL,          -- JSON array
  opened_at      TEXT NOT NULL,
  updated_at     TEXT NOT NULL,
  PRIMARY KEY (mode, market)
);

-- Closed trades: realised P&L (fees included) linked to their entry fills. The id is derived
-- from the market, the exit and the entries, so closing the same lots twice is one row.
CREATE TABLE closed_trades (
  trade_id            TEXT PRIMARY KEY,
  mode                TEXT NOT NULL CHECK (mode IN ('paper', 'live')),
  market              TEXT NOT NULL,
  side                TEXT NOT NULL CHECK (side IN ('yes', 'no')),
  qty_e2              INTEGER NOT NULL,
  entry_fill_ids      TEXT NOT NULL,     -- JSON array
  entry_cost_micros   INTEGER NOT NULL,
  entry_fees_micros   INTEGER NOT NULL,
  exit_kind           TEXT NOT NULL CHECK (exit_kind IN ('fill', 'settlement')),
  exit_ref            TEXT NOT NULL,     -- the exit fill id, or the result (yes/no)
  exit_value_micros   INTEGER NOT NULL,
  exit_fees_micros    INTEGER NOT NULL,
  realised_pnl_micros INTEGER NOT NULL,
  body                TEXT NOT NULL,     -- core::settlement::ClosedTrade as JSON
  synthetic           INTEGER NOT NULL DEFAULT 0 CHECK (synthetic IN (0, 1)),
  opened_at           TEXT NOT NULL,
  closed_at           TEXT NOT NULL
);
CREATE INDEX closed_trades_by_closed ON closed_trades (closed_at DESC);

-- Reconciliation results (every cycle and POST /admin/reconcile).
CREATE TABLE reconciliations (
  id           TEXT PRIMARY KEY,
  mode         TEXT NOT NULL CHECK (mode IN ('paper', 'live')),
  triggered_by TEXT NOT NULL,
  outcome      TEXT NOT NULL CHECK (outcome IN ('clean', 'drift', 'failed')),
  severity     TEXT,
  drift_bps    INTEGER,
  report       TEXT NOT NULL,          -- JSON: findings, violations, thresholds
  audit_seq    INTEGER,
  at           TEXT NOT NULL
);
CREATE INDEX reconciliations_by_at ON reconciliations (at DESC);

-- Integrity violations (core::integrity). The id is derived from code and subject: seeing the
-- same violation again updates last_seen_at; an operator resolves it with notes.
CREATE TABLE violations (
  id            TEXT PRIMARY KEY,
  code          TEXT NOT NULL,
  subject       TEXT NOT NULL,
  market        TEXT,
  details       TEXT NOT NULL,          -- JSON object
  status        TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
  first_seen_at TEXT NOT NULL,
  last_seen_at  TEXT NOT NULL,
  resolved_by   TEXT,
  resolved_at   TEXT,
  notes         TEXT
);
CREATE INDEX violations_by_status ON violations (status, last_seen_at DESC);
