-- Governance (issue 7): two-person approvals and the production gate's artifact index.
--
-- An approval is stored whole as the JSON of `core::approvals::Approval` in `body`; `status`,
-- the expiry and the requester are copied out for listing. Every decision is a compare-and-swap
-- on `status` (`UPDATE … WHERE id = ? AND status = ?`), so two approvers cannot both execute.
CREATE TABLE approvals (
  id              TEXT PRIMARY KEY,
  action          TEXT NOT NULL,
  params_hash     TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN
                    ('pending', 'executing', 'executed', 'failed', 'rejected')),
  requested_by    TEXT NOT NULL,
  requested_at_ms INTEGER NOT NULL,
  expires_at_ms   INTEGER NOT NULL,
  body            TEXT NOT NULL,
  updated_at_ms   INTEGER NOT NULL
);
CREATE INDEX approvals_by_status ON approvals (status, requested_at_ms DESC);

-- One row per gate artifact written to R2_AUDIT (`gates/production_gate_{run_id}.json`,
-- `gates/gate_lift_replay_{run_id}.json`, `status/dashboard_status_{run_id}.json`).
CREATE TABLE gate_artifacts (
  run_id        TEXT NOT NULL,
  kind          TEXT NOT NULL CHECK (kind IN ('production_gate', 'gate_lift_replay', 'dashboard_status')),
  status        TEXT NOT NULL,
  r2_key        TEXT NOT NULL,
  sha256        TEXT NOT NULL,
  trigger       TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  summary       TEXT NOT NULL,
  PRIMARY KEY (kind, run_id)
);
CREATE INDEX gate_artifacts_latest ON gate_artifacts (kind, created_at_ms DESC);
