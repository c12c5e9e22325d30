-- Market pairs (a Kalshi market and a Polymarket market that resolve the same way) and their
-- review state. The whole lifecycle (`core::pairs::Pair`) is stored as canonical JSON in `body`;
-- `status` and the market ids are copied out for listing and lookups.
CREATE TABLE market_pairs (
  id                      TEXT PRIMARY KEY,
  kalshi_ticker           TEXT NOT NULL,
  polymarket_condition_id TEXT NOT NULL,
  status                  TEXT NOT NULL CHECK (status IN
                            ('proposed', 'not_assessed', 'assessed', 'approved', 'rejected')),
  body                    TEXT NOT NULL,
  created_at              TEXT NOT NULL,
  updated_at              TEXT NOT NULL,
  UNIQUE (kalshi_ticker, polymarket_condition_id)
);
CREATE INDEX market_pairs_by_status ON market_pairs (status, updated_at DESC);
