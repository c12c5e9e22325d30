//! The go-live checklist as the Worker sees it: gathers the [`Facts`] of
//! [`core::checklist`](crate::core::checklist) from the environment, D1, the two Durable Objects
//! and R2, and evaluates them. `GET /admin/preflight` shows the result; go-live must call
//! [`evaluate`] and refuse while [`Checklist::pass`] is false.
//!
//! Where each fact comes from:
//! - secret presence: [`crate::secret_presence`] (names and booleans only);
//! - operators and Access: [`crate::http::auth::posture`];
//! - plain settings: [`crate::bindings::plain_settings`] (secret names skipped);
//! - anchoring: the latest row of `anchors` (DB_ANCHOR) and the `AuditLog` object's last full
//!   verification;
//! - reconciliation: the latest row of `reconciliations` for the mode in force;
//! - breaker: the `RiskGovernor`'s kept transitions (the last 50);
//! - security preflight: the R2_AUDIT object [`LATEST_REPORT_KEY`], which
//!   `scripts/upload-preflight-report.sh` (run by `deploy.sh`) writes next to the
//!   timestamped copy of each report.

use crate::audit_client;
use crate::core::breaker::BreakerState;
use crate::core::checklist::{
    self, AnchoringFacts, Checklist, Fact, Facts, ReconciliationFacts, TransitionFact,
};
use crate::obs::Logger;
use crate::store::d1::Db;
use crate::store::{anchors, audit_r2};
use serde_json::{json, Value};
use worker::{Env, Method};

/// Where the latest security preflight report is kept in R2_AUDIT.
pub const LATEST_REPORT_KEY: &str = "security/preflight/latest.json";

async fn anchoring(env: &Env) -> Fact<AnchoringFacts> {
    let db = anchors::db(env).map_err(|_| "AUDIT_ANCHORS_UNAVAILABLE".to_string())?;
    let latest = anchors::latest(&db)
        .await
        .map_err(|_| "AUDIT_ANCHORS_UNAVAILABLE".to_string())?;
    let status = audit_client::call(env, Method::Get, "/status", None)
        .await
        .map_err(|e| e.code().to_string())?;
    if status.status != 200 {
        return Err(status
            .error()
            .map(|(c, _)| c.to_string())
            .unwrap_or_else(|| audit_client::AuditUnavailable::CODE.to_string()));
    }
    let full = &status.body["verification"]["last_full"];
    let last_full_verification = if full.is_null() {
        None
    } else {
        Some((
            full["valid"].as_bool().unwrap_or(false),
            full["finished_at_ms"]
                .as_i64()
                .ok_or_else(|| "AUDIT_STATUS_MALFORMED".to_string())?,
        ))
    };
    Ok(AnchoringFacts {
        latest_anchor_ms: latest.map(|a| a.timestamp_ms),
        last_full_verification,
    })
}

/// The latest reconciliation of the mode in force (`EXECUTION_MODE`: paper unless "live"), as
/// `GET /admin/reconcile/latest` shows it: clean only if its outcome is `clean`.
async fn reconciliation(env: &Env, log: &Logger) -> Fact<Option<ReconciliationFacts>> {
    use crate::store::trading::{self, Mode};
    let mode = match crate::bindings::var(env, "EXECUTION_MODE").as_deref() {
        Some("live") => Mode::Live,
        _ => Mode::Paper,
    };
    let db = Db::open(env, "DB", log).map_err(|e| e.code().to_string())?;
    let Some(row) = trading::latest_reconciliation(&db, mode)
        .await
        .map_err(|e| e.code().to_string())?
    else {
        return Ok(None);
    };
    let at = crate::core::time::parse_utc(&row.at)
        .ok_or_else(|| "RECONCILIATION_MALFORMED".to_string())?;
    Ok(Some(ReconciliationFacts {
        at_ms: at.timestamp_millis(),
        clean: row.outcome == "clean",
    }))
}

fn transitions(state: &Value) -> Fact<Vec<TransitionFact>> {
    let list = state["breaker"]["transitions"]
        .as_array()
        .ok_or_else(|| "RISK_STATE_MALFORMED".to_string())?;
    list.iter()
        .map(|t| {
            let state = |v: &Value| serde_json::from_value::<BreakerState>(v.clone()).ok();
            match (state(&t["from"]), state(&t["to"]), t["at"].as_i64()) {
                (Some(from), Some(to), Some(at_ms)) => Ok(TransitionFact { from, to, at_ms }),
                _ => Err("RISK_STATE_MALFORMED".to_string()),
            }
        })
        .collect()
}

async fn security_report(env: &Env) -> Fact<Option<Vec<u8>>> {
    let bucket = env
        .bucket(audit_r2::BUCKET)
        .map_err(|_| "R2_AUDIT_UNAVAILABLE".to_string())?;
    audit_r2::get(&bucket, LATEST_REPORT_KEY)
        .await
        .map_err(|_| "R2_AUDIT_UNAVAILABLE".to_string())
}

/// Gathers every fact and evaluates the checklist. Never fails: a fact that cannot be read
/// fails its item.
pub async fn evaluate(env: &Env, log: &Logger) -> Checklist {
    let breaker_transitions = match crate::risk_client::state(env).await {
        Ok(state) => transitions(&state),
        Err(e) => Err(e.code.to_string()),
    };
    let facts = Facts {
        now_ms: crate::clock::now_ms(),
        secrets: crate::secret_presence(env),
        secret_alternatives: crate::SECRET_ALTERNATIVES
            .iter()
            .map(|g| g.iter().map(|n| n.to_string()).collect())
            .collect(),
        auth: crate::http::auth::posture(env),
        settings: crate::bindings::plain_settings(env),
        anchoring: anchoring(env).await,
        reconciliation: reconciliation(env, log).await,
        breaker_transitions,
        security_report: security_report(env).await,
    };
    let result = checklist::evaluate(&facts);
    log.info(
        "golive_checklist",
        json!({
            "pass": result.pass,
            "failing": result.failing().map(|i| i.id).collect::<Vec<_>>(),
        }),
    );
    result
}
