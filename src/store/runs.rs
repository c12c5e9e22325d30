//! DB `runs`: one row per job run (`migrations/0001_runs.sql`), so operators can see what ran
//! and how it ended — `#[event(scheduled)]` always reports success to the runtime.

use super::d1::{Db, DbError, Param};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{Env, Error, Result};

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

fn err(e: DbError) -> Error {
    Error::RustError(e.code().to_string())
}

/// The main database behind the D1 statement gate.
pub fn db(env: &Env) -> Result<Db> {
    let log = crate::obs::Logger::new("store.runs", crate::secrets_redactor(env));
    Db::open(env, "DB", &log).map_err(err)
}

/// Records a finished run. A run id seen before keeps a `SUCCESS`: a re-delivered cron that
/// finds its work done (`SKIPPED`) or fails afterwards does not hide that it succeeded.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    db: &Db,
    run_id: &str,
    job: &str,
    trigger: &str,
    started_at: &str,
    ended_at: &str,
    status: RunStatus,
    detail: &Value,
) -> Result<()> {
    let detail = detail.to_string();
    db.run(
        "INSERT INTO runs (run_id, job, trigger, started_at, ended_at, status, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id) DO UPDATE SET ended_at = excluded.ended_at,
             status = excluded.status, detail = excluded.detail
         WHERE runs.status <> 'SUCCESS'",
        &[
            Param::Text(run_id),
            Param::Text(job),
            Param::Text(trigger),
            Param::Text(started_at),
            Param::Text(ended_at),
            Param::Text(status.as_str()),
            Param::Text(&detail),
        ],
    )
    .await
    .map_err(err)?;
    Ok(())
}

/// The most recently started run of `job`.
pub async fn latest(db: &Db, job: &str) -> Result<Option<RunRow>> {
    db.first::<RunRow>(
        "SELECT run_id, job, trigger, started_at, ended_at, status, detail FROM runs
         WHERE job = ? ORDER BY started_at DESC LIMIT 1",
        &[Param::Text(job)],
    )
    .await
    .map_err(err)
}
