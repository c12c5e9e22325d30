//! DB `runs`: one row per job run (`migrations/0001_runs.sql`), so operators can see what ran
//! and how it ended — `#[event(scheduled)]` always reports success to the runtime.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::{D1Database, Env, Result};

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    Success,
    Fail,
    Skipped,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "SUCCESS",
            RunStatus::Fail => "FAIL",
            RunStatus::Skipped => "SKIPPED",
        }
    }
}

/// A run as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    pub run_id: String,
    pub job: String,
    pub trigger: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub status: String,
    pub detail: String,
}

pub fn db(env: &Env) -> Result<D1Database> {
    env.d1("DB")
}

/// Records a finished run. A run id seen before keeps a `SUCCESS`: a re-delivered cron that
/// finds its work done (`SKIPPED`) or fails afterwards does not hide that it succeeded.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    db: &D1Database,
    run_id: &str,
    job: &str,
    trigger: &str,
    started_at: &str,
    ended_at: &str,
    status: RunStatus,
    detail: &Value,
) -> Result<()> {
    db.prepare(
        "INSERT INTO runs (run_id, job, trigger, started_at, ended_at, status, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id) DO UPDATE SET ended_at = excluded.ended_at,
             status = excluded.status, detail = excluded.detail
         WHERE runs.status <> 'SUCCESS'",
    )
    .bind(&[
        JsValue::from(run_id),
        JsValue::from(job),
        JsValue::from(trigger),
        JsValue::from(started_at),
        JsValue::from(ended_at),
        JsValue::from(status.as_str()),
        JsValue::from(detail.to_string()),
    ])?
    .run()
    .await?;
    Ok(())
}

/// The most recently started run of `job`.
pub async fn latest(db: &D1Database, job: &str) -> Result<Option<RunRow>> {
    db.prepare(
        "SELECT run_id, job, trigger, started_at, ended_at, status, detail FROM runs
         WHERE job = ? ORDER BY started_at DESC LIMIT 1",
    )
    .bind(&[JsValue::from(job)])?
    .first::<RunRow>(None)
    .await
}
