-- Hourly anchors of the audit log: C2SP tlog-checkpoints signed as C2SP signed-notes (Ed25519).
-- Append-only. `hour_bucket` UNIQUE makes a second anchoring run in the same hour write nothing;
-- `prev_anchor` UNIQUE lets each anchor have one successor, so the anchors form a single chain.
-- `note` is the signed note byte for byte; every other column is an index into it.
CREATE TABLE anchors (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,   -- issue order
  hour_bucket   INTEGER NOT NULL UNIQUE,             -- floor(anchored_at_ms / 3600000), UTC
  tree_size     INTEGER NOT NULL CHECK (tree_size >= 0),
  root          TEXT NOT NULL,                       -- hex SHA-256, RFC 6962 root at tree_size
  chain_head    TEXT NOT NULL,                       -- hex, chain value after event tree_size
  prev_anchor   TEXT NOT NULL UNIQUE,                -- hex SHA-256 of the previous anchor's body
  anchor_hash   TEXT NOT NULL UNIQUE,                -- hex SHA-256 of this anchor's body
  timestamp_ms  INTEGER NOT NULL,                    -- the note's timestamp-ms line
  key_id        TEXT NOT NULL,                       -- signed-note key id, 8 hex digits
  note          TEXT NOT NULL,
  r2_key        TEXT NOT NULL                        -- its copy in R2_AUDIT
);

CREATE TRIGGER anchors_no_update BEFORE UPDATE ON anchors
BEGIN
  SELECT RAISE(ABORT, 'anchors are append-only');
END;

CREATE TRIGGER anchors_no_delete BEFORE DELETE ON anchors
BEGIN
  SELECT RAISE(ABORT, 'anchors are append-only');
END;
