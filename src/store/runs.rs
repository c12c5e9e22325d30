//! DB `runs`: one row per job run (`migrations/0001_runs.sql`, extended by `0002_ingest.sql`), so
//! operators can see what ran and how it ended — `#[event(scheduled)]` always reports success to
//! the runtime. Two ways in: [`record`] writes a finished run in one statement (anchoring, daily
//! verification); jobs with steps (ingestion) claim the run first ([`insert_run`], [`take_over`]),
//! record each step ([`record_step`], `run_steps`), hold a lease, and write their run audit to
//! R2_AUDIT at the end ([`finish_run`], [`put_audit`]).

use super::d1::{Db, DbError, Param};
use crate::core::run_audit::StepRecord;
use crate::core::time::format_utc;
use crate::store::opt_text;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{Env, Error, HttpMetadata, Result};

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

/// The R2 binding holding run audits.
pub const AUDIT_BUCKET: &str = "R2_AUDIT";

const INSERT_RUN: &str = "INSERT INTO runs (run_id, job, trigger, started_at, status, detail, \
     scheduled_at, heartbeat_at, attempt) VALUES (?1, ?2, ?3, ?4, 'RUNNING', '{}', ?5, ?4, 1) \
     ON CONFLICT (run_id) DO NOTHING";
const SELECT_RUN: &str = "SELECT run_id, job, trigger, started_at, ended_at, status, detail, \
     scheduled_at, heartbeat_at, attempt, audit_key FROM runs WHERE run_id = ?";
const TAKE_OVER: &str = "UPDATE runs SET attempt = attempt + 1, started_at = ?1, \
     heartbeat_at = ?1, detail = '{}' WHERE run_id = ?2 AND status = 'RUNNING' \
     AND attempt = ?3 AND heartbeat_at IS ?4";
const CLEAR_STEPS: &str = "DELETE FROM run_steps WHERE run_id = ?";
const UPSERT_STEP: &str = "INSERT INTO run_steps (run_id, step_no, step, status, started_at, \
     ended_at, duration_ms, counts, code, detail, stopped) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, step_no) DO UPDATE SET \
     step = excluded.step, status = excluded.status, started_at = excluded.started_at, \
     ended_at = excluded.ended_at, duration_ms = excluded.duration_ms, \
     counts = excluded.counts, code = excluded.code, detail = excluded.detail, \
     stopped = excluded.stopped";
const HEARTBEAT: &str =
    "UPDATE runs SET heartbeat_at = ? WHERE run_id = ? AND attempt = ? AND status = 'RUNNING'";
const FINISH: &str = "UPDATE runs SET status = ?, ended_at = ?, heartbeat_at = ?, detail = ?, \
     audit_key = ? WHERE run_id = ? AND attempt = ?";
const LIST: &str = "SELECT run_id, job, trigger, started_at, ended_at, status, detail, \
     scheduled_at, heartbeat_at, attempt, audit_key FROM runs \
     WHERE (?1 IS NULL OR job = ?1) ORDER BY started_at DESC, run_id LIMIT ?2";
const STEPS: &str = "SELECT step_no, step, status, started_at, ended_at, duration_ms, counts, \
     code, detail, stopped FROM run_steps WHERE run_id = ? ORDER BY step_no";
const ACQUIRE_LEASE: &str = "INSERT INTO job_leases (job, run_id, expires_at) VALUES (?1, ?2, ?3) \
     ON CONFLICT (job) DO UPDATE SET run_id = excluded.run_id, expires_at = excluded.expires_at \
     WHERE job_leases.expires_at < ?4 OR job_leases.run_id = excluded.run_id";
const RELEASE_LEASE: &str = "DELETE FROM job_leases WHERE job = ? AND run_id = ?";
const DEAD_RUNS: &str = "SELECT run_id, job, trigger, started_at, ended_at, status, detail, \
     scheduled_at, heartbeat_at, attempt, audit_key FROM runs WHERE job = ?1 \
     AND status = 'RUNNING' AND run_id <> ?2 AND heartbeat_at < ?3 \
     ORDER BY started_at, run_id LIMIT 20";
const ABANDON: &str = "UPDATE runs SET status = 'FAIL', ended_at = ?1, detail = ?2 \
     WHERE run_id = ?3 AND attempt = ?4 AND status = 'RUNNING' AND heartbeat_at IS ?5";

/// A `runs` row with every column (the run index of jobs that record steps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub job: String,
    pub trigger: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub status: String,
    pub detail: String,
    pub scheduled_at: Option<String>,
    pub heartbeat_at: Option<String>,
    pub attempt: i64,
    pub audit_key: Option<String>,
}

/// A `run_steps` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRow {
    pub step_no: i64,
    pub step: String,
    pub status: String,
    pub started_at: String,
    pub ended_at: String,
    pub duration_ms: i64,
    pub counts: String,
    pub code: Option<String>,
    pub detail: Option<String>,
    pub stopped: Option<String>,
}

/// Inserts a new RUNNING run; `false` if `run_id` already exists.
pub async fn insert_run(
    db: &Db,
    run_id: &str,
    job: &str,
    trigger: &str,
    now: DateTime<Utc>,
    scheduled: Option<DateTime<Utc>>,
) -> std::result::Result<bool, DbError> {
    let at = format_utc(now);
    let scheduled = scheduled.map(format_utc);
    let changed = db
        .run(
            INSERT_RUN,
            &[
                Param::Text(run_id),
                Param::Text(job),
                Param::Text(trigger),
                Param::Text(&at),
                scheduled.as_deref().map(Param::Text).unwrap_or(Param::Null),
            ],
        )
        .await?;
    Ok(changed > 0)
}

pub async fn run(db: &Db, run_id: &str) -> std::result::Result<Option<RunRecord>, DbError> {
    db.first::<RunRecord>(SELECT_RUN, &[Param::Text(run_id)])
        .await
}

/// A run's last heartbeat as a parameter (the compare-and-swap of [`take_over`] and [`abandon`]).
fn heartbeat(row: &RunRecord) -> Param<'_> {
    row.heartbeat_at
        .as_deref()
        .map(Param::Text)
        .unwrap_or(Param::Null)
}

/// Takes over a stale RUNNING run (compare-and-swap on its attempt and heartbeat); `true` if
/// this caller now owns it, as attempt `attempt + 1`, with its old steps cleared.
pub async fn take_over(
    db: &Db,
    row: &RunRecord,
    now: DateTime<Utc>,
) -> std::result::Result<bool, DbError> {
    let at = format_utc(now);
    let changed = db
        .run(
            TAKE_OVER,
            &[
                Param::Text(&at),
                Param::Text(&row.run_id),
                Param::Int(row.attempt),
                heartbeat(row),
            ],
        )
        .await?;
    if changed == 0 {
        return Ok(false);
    }
    db.run(CLEAR_STEPS, &[Param::Text(&row.run_id)]).await?;
    Ok(true)
}

/// Records a finished step and refreshes the run's heartbeat, atomically.
pub async fn record_step(
    db: &Db,
    run_id: &str,
    attempt: i64,
    step: &StepRecord,
    now: DateTime<Utc>,
) -> std::result::Result<(), DbError> {
    let started = format_utc(step.started);
    let ended = format_utc(step.ended);
    let counts = step.counts.to_string();
    let stopped = step.stopped.as_ref().map(|v| v.to_string());
    let at = format_utc(now);
    let statements = vec![
        db.prepare(
            UPSERT_STEP,
            &[
                Param::Text(run_id),
                Param::Int(i64::from(step.step_no)),
                Param::Text(&step.step),
                Param::Text(step.status.as_str()),
                Param::Text(&started),
                Param::Text(&ended),
                Param::Int(step.duration_ms()),
                Param::Text(&counts),
                opt_text(step.code.as_deref()),
                opt_text(step.detail.as_deref()),
                opt_text(stopped.as_deref()),
            ],
        )?,
        db.prepare(
            HEARTBEAT,
            &[Param::Text(&at), Param::Text(run_id), Param::Int(attempt)],
        )?,
    ];
    db.batch(statements).await.map(|_| ())
}

/// Marks the run finished with `status` and its summary.
#[allow(clippy::too_many_arguments)]
pub async fn finish_run(
    db: &Db,
    run_id: &str,
    attempt: i64,
    status: &str,
    detail: &serde_json::Value,
    audit_key: Option<&str>,
    now: DateTime<Utc>,
) -> std::result::Result<(), DbError> {
    let at = format_utc(now);
    let detail = detail.to_string();
    db.run(
        FINISH,
        &[
            Param::Text(status),
            Param::Text(&at),
            Param::Text(&at),
            Param::Text(&detail),
            audit_key.map(Param::Text).unwrap_or(Param::Null),
            Param::Text(run_id),
            Param::Int(attempt),
        ],
    )
    .await
    .map(|_| ())
}

pub async fn list(
    db: &Db,
    job: Option<&str>,
    limit: i64,
) -> std::result::Result<Vec<RunRecord>, DbError> {
    db.all::<RunRecord>(
        LIST,
        &[
            job.map(Param::Text).unwrap_or(Param::Null),
            Param::Int(limit),
        ],
    )
    .await
}

pub async fn steps(db: &Db, run_id: &str) -> std::result::Result<Vec<StepRow>, DbError> {
    db.all::<StepRow>(STEPS, &[Param::Text(run_id)]).await
}

/// Takes the job's lease for `run_id` until `expires`; `false` if another live run holds it.
pub async fn acquire_lease(
    db: &Db,
    job: &str,
    run_id: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> std::result::Result<bool, DbError> {
    let now = format_utc(now);
    let expires = format_utc(expires);
    let changed = db
        .run(
            ACQUIRE_LEASE,
            &[
                Param::Text(job),
                Param::Text(run_id),
                Param::Text(&expires),
                Param::Text(&now),
            ],
        )
        .await?;
    Ok(changed > 0)
}

/// The job's runs other than `except` still `RUNNING` with no heartbeat since `before` (at
/// most 20, oldest first).
pub async fn dead_runs(
    db: &Db,
    job: &str,
    except: &str,
    before: DateTime<Utc>,
) -> std::result::Result<Vec<RunRecord>, DbError> {
    let before = format_utc(before);
    db.all::<RunRecord>(
        DEAD_RUNS,
        &[Param::Text(job), Param::Text(except), Param::Text(&before)],
    )
    .await
}

/// Closes a dead run as `FAIL` with `detail` (compare-and-swap on its attempt and heartbeat,
/// so a run that came back to life is left alone); `true` if it was closed.
pub async fn abandon(
    db: &Db,
    row: &RunRecord,
    detail: &serde_json::Value,
    now: DateTime<Utc>,
) -> std::result::Result<bool, DbError> {
    let at = format_utc(now);
    let detail = detail.to_string();
    let changed = db
        .run(
            ABANDON,
            &[
                Param::Text(&at),
                Param::Text(&detail),
                Param::Text(&row.run_id),
                Param::Int(row.attempt),
                heartbeat(row),
            ],
        )
        .await?;
    Ok(changed > 0)
}

pub async fn release_lease(db: &Db, job: &str, run_id: &str) -> std::result::Result<(), DbError> {
    db.run(RELEASE_LEASE, &[Param::Text(job), Param::Text(run_id)])
        .await
        .map(|_| ())
}

/// Writes the run audit to R2_AUDIT at `key`.
pub async fn put_audit(env: &Env, key: &str, jsonl: String) -> std::result::Result<(), String> {
    let bucket = env.bucket(AUDIT_BUCKET).map_err(|e| e.to_string())?;
    bucket
        .put(key, jsonl.into_bytes())
        .http_metadata(HttpMetadata {
            content_type: Some("application/x-ndjson".into()),
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

/// Reads a run audit back, `None` if absent.
pub async fn get_audit(env: &Env, key: &str) -> std::result::Result<Option<String>, String> {
    let bucket = env.bucket(AUDIT_BUCKET).map_err(|e| e.to_string())?;
    match bucket.get(key).execute().await.map_err(|e| e.to_string())? {
        None => Ok(None),
        Some(obj) => match obj.body() {
            None => Ok(None),
            Some(b) => b.text().await.map(Some).map_err(|e| e.to_string()),
        },
    }
}

/// Records a finished cron run of `job` started at `started`, ended now. A failure to record is
/// logged, never raised: the job's own outcome is already decided and logged.
#[allow(clippy::too_many_arguments)]
pub async fn record_cron_run(
    env: &Env,
    log: &crate::obs::Logger,
    run_id: &str,
    job: &str,
    cron: &str,
    started: DateTime<Utc>,
    status: RunStatus,
    detail: &Value,
) {
    let recorded = async {
        let db = db(env)?;
        record(
            &db,
            run_id,
            job,
            &format!("cron:{cron}"),
            &started.to_rfc3339(),
            &crate::clock::now().to_rfc3339(),
            status,
            detail,
        )
        .await
    }
    .await;
    if let Err(e) = recorded {
        log.error(
            "run_record_failed",
            serde_json::json!({"job": job, "detail": e.to_string()}),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_passes_the_d1_gate_with_its_parameter_count() {
        for (sql, bound) in [
            (INSERT_RUN, 5),
            (SELECT_RUN, 1),
            (TAKE_OVER, 4),
            (CLEAR_STEPS, 1),
            (UPSERT_STEP, 11),
            (HEARTBEAT, 3),
            (FINISH, 7),
            (LIST, 2),
            (STEPS, 1),
            (ACQUIRE_LEASE, 4),
            (RELEASE_LEASE, 2),
        ] {
            if let Err(e) = crate::core::sql_guard::check_bound(sql, bound) {
                panic!("{e}: {sql}");
            }
        }
    }
}
