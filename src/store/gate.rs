//! The production gate's storage: its input read from the trading tables
//! (`migrations/0004_trading.sql`: closed trades, signals joined with the markets' results,
//! open violations, the latest reconciliation of each mode), the artifact index
//! (`gate_artifacts`, `migrations/0008_governance.sql`), the artifacts themselves in R2_AUDIT,
//! and the applied migrations of both databases (`d1_migrations`, read through the gate).

use crate::core::gate::{ClosedTradeRecord, ForecastRecord, GateInput, GateSource, OpenViolation};
use crate::core::money::Usd;
use crate::core::prob::Prob;
use crate::core::time::parse_utc;
use crate::store::d1::{Db, DbError, Param};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{Env, HttpMetadata};

/// The bucket the artifacts live in.
pub const BUCKET: &str = "R2_AUDIT";

const TRADES: &str =
    "SELECT trade_id, closed_at, realised_pnl_micros, synthetic FROM closed_trades";
const FORECASTS: &str = "SELECT s.id, s.created_at, s.model_prob_ppm, s.market_prob_ppm, s.side, \
     s.synthetic, m.result FROM signals s JOIN markets m ON m.venue = 'kalshi' \
     AND m.market_id = s.market WHERE m.result IN ('yes', 'no')";
const VIOLATIONS: &str = "SELECT id, code FROM violations WHERE status = 'open'";
const LATEST_RECONCILIATIONS: &str = "SELECT r.id, r.mode, r.outcome FROM reconciliations r \
     WHERE r.at = (SELECT MAX(x.at) FROM reconciliations x WHERE x.mode = r.mode)";
const OPEN_POSITIONS: &str = "SELECT COUNT(*) AS n FROM positions";
const MIGRATIONS: &str = "SELECT name FROM d1_migrations ORDER BY id";
const INDEX_INSERT: &str = "INSERT INTO gate_artifacts (run_id, kind, status, r2_key, sha256, \
     trigger, created_at_ms, summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const INDEX_LATEST: &str = "SELECT run_id, kind, status, r2_key, sha256, trigger, created_at_ms, \
     summary FROM gate_artifacts WHERE kind = ?1 ORDER BY created_at_ms DESC, run_id DESC LIMIT 1";
const INDEX_GET: &str = "SELECT run_id, kind, status, r2_key, sha256, trigger, created_at_ms, \
     summary FROM gate_artifacts WHERE kind = ?1 AND run_id = ?2";
const INDEX_LIST: &str = "SELECT run_id, kind, status, r2_key, sha256, trigger, created_at_ms, \
     summary FROM gate_artifacts WHERE kind = ?1 ORDER BY created_at_ms DESC, run_id DESC LIMIT ?2";

fn bad_row(what: &str, detail: impl std::fmt::Display) -> DbError {
    DbError::Failed {
        message: format!("{what}: {detail}"),
    }
}

#[derive(Deserialize)]
struct TradeRow {
    trade_id: String,
    closed_at: String,
    realised_pnl_micros: i64,
    synthetic: i64,
}

#[derive(Deserialize)]
struct ForecastRow {
    id: String,
    created_at: String,
    model_prob_ppm: i64,
    market_prob_ppm: i64,
    side: String,
    synthetic: i64,
    result: String,
}

#[derive(Deserialize)]
struct ViolationRow {
    id: String,
    code: String,
}

#[derive(Deserialize)]
struct ReconciliationRow {
    id: String,
    mode: String,
    outcome: String,
}

/// The trading history in the main database.
pub struct TradingHistory<'a> {
    pub db: &'a Db,
}

impl GateSource for TradingHistory<'_> {
    type Error = DbError;

    async fn gate_input(&self) -> Result<GateInput, DbError> {
        let trades = self
            .db
            .all::<TradeRow>(TRADES, &[])
            .await?
            .into_iter()
            .map(|r| {
                Ok(ClosedTradeRecord {
                    closed_at: parse_utc(&r.closed_at)
                        .ok_or_else(|| bad_row("closed_trades.closed_at", &r.closed_at))?,
                    trade_id: r.trade_id,
                    realised_pnl: Usd(r.realised_pnl_micros),
                    synthetic: r.synthetic != 0,
                })
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        let forecasts = self
            .db
            .all::<ForecastRow>(FORECASTS, &[])
            .await?
            .into_iter()
            .map(|r| {
                let prob = |ppm: i64| {
                    Prob::from_ppm(ppm).ok_or_else(|| bad_row("signals probability", ppm))
                };
                Ok(ForecastRecord {
                    at: parse_utc(&r.created_at)
                        .ok_or_else(|| bad_row("signals.created_at", &r.created_at))?,
                    model_prob: prob(r.model_prob_ppm)?,
                    market_prob: prob(r.market_prob_ppm)?,
                    won: r.result == r.side,
                    synthetic: r.synthetic != 0,
                    signal_id: r.id,
                })
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        let mut violations: Vec<OpenViolation> = self
            .db
            .all::<ViolationRow>(VIOLATIONS, &[])
            .await?
            .into_iter()
            .map(|r| OpenViolation {
                id: r.id,
                code: r.code,
                source: "integrity".into(),
            })
            .collect();
        // A mode whose latest reconciliation found drift is unresolved until a clean one.
        for r in self
            .db
            .all::<ReconciliationRow>(LATEST_RECONCILIATIONS, &[])
            .await?
        {
            if r.outcome == "drift" {
                violations.push(OpenViolation {
                    id: r.id,
                    code: format!("RECONCILIATION_DRIFT_{}", r.mode.to_ascii_uppercase()),
                    source: "reconciliation".into(),
                });
            }
        }
        Ok(GateInput {
            trades,
            forecasts,
            violations,
        })
    }
}

#[derive(Deserialize)]
struct CountRow {
    n: i64,
}

/// How many positions are open (both modes).
pub async fn open_positions(db: &Db) -> Result<i64, DbError> {
    Ok(db
        .first::<CountRow>(OPEN_POSITIONS, &[])
        .await?
        .map(|r| r.n)
        .unwrap_or(0))
}

#[derive(Deserialize)]
struct MigrationRow {
    name: String,
}

/// The applied migrations of `db`, oldest first.
pub async fn applied_migrations(db: &Db) -> Result<Vec<String>, DbError> {
    Ok(db
        .all::<MigrationRow>(MIGRATIONS, &[])
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect())
}

/// One indexed artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRow {
    pub run_id: String,
    pub kind: String,
    pub status: String,
    pub r2_key: String,
    pub sha256: String,
    pub trigger: String,
    pub created_at_ms: i64,
    /// JSON.
    pub summary: String,
}

impl ArtifactRow {
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "run_id": self.run_id,
            "kind": self.kind,
            "status": self.status,
            "r2_key": self.r2_key,
            "sha256": self.sha256,
            "trigger": self.trigger,
            "created_at_ms": self.created_at_ms,
            "summary": serde_json::from_str::<Value>(&self.summary).unwrap_or(Value::Null),
        })
    }
}

pub async fn index(db: &Db, row: &ArtifactRow) -> Result<(), DbError> {
    db.run(
        INDEX_INSERT,
        &[
            Param::Text(&row.run_id),
            Param::Text(&row.kind),
            Param::Text(&row.status),
            Param::Text(&row.r2_key),
            Param::Text(&row.sha256),
            Param::Text(&row.trigger),
            Param::Int(row.created_at_ms),
            Param::Text(&row.summary),
        ],
    )
    .await
    .map(|_| ())
}

pub async fn latest(db: &Db, kind: &str) -> Result<Option<ArtifactRow>, DbError> {
    db.first::<ArtifactRow>(INDEX_LATEST, &[Param::Text(kind)])
        .await
}

pub async fn get(db: &Db, kind: &str, run_id: &str) -> Result<Option<ArtifactRow>, DbError> {
    db.first::<ArtifactRow>(INDEX_GET, &[Param::Text(kind), Param::Text(run_id)])
        .await
}

pub async fn list(db: &Db, kind: &str, limit: i64) -> Result<Vec<ArtifactRow>, DbError> {
    db.all::<ArtifactRow>(INDEX_LIST, &[Param::Text(kind), Param::Int(limit)])
        .await
}

/// Writes an artifact to R2_AUDIT.
pub async fn put(env: &Env, key: &str, bytes: Vec<u8>) -> Result<(), String> {
    let bucket = env.bucket(BUCKET).map_err(|e| e.to_string())?;
    bucket
        .put(key, bytes)
        .http_metadata(HttpMetadata {
            content_type: Some("application/json".into()),
            content_language: None,
            content_disposition: None,
            content_encoding: None,
            cache_control: None,
            cache_expiry: None,
        })
        .execute()
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Reads an artifact's bytes, `None` if absent.
pub async fn get_bytes(env: &Env, key: &str) -> Result<Option<Vec<u8>>, String> {
    let bucket = env.bucket(BUCKET).map_err(|e| e.to_string())?;
    match bucket.get(key).execute().await.map_err(|e| e.to_string())? {
        None => Ok(None),
        Some(obj) => match obj.body() {
            None => Ok(None),
            Some(b) => b.bytes().await.map(Some).map_err(|e| e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_passes_the_d1_gate_with_its_parameter_count() {
        for (sql, bound) in [
            (TRADES, 0),
            (FORECASTS, 0),
            (VIOLATIONS, 0),
            (LATEST_RECONCILIATIONS, 0),
            (OPEN_POSITIONS, 0),
            (MIGRATIONS, 0),
            (INDEX_INSERT, 8),
            (INDEX_LATEST, 1),
            (INDEX_GET, 2),
            (INDEX_LIST, 2),
        ] {
            if let Err(e) = crate::core::sql_guard::check_bound(sql, bound) {
                panic!("{e}: {sql}");
            }
        }
    }
}
