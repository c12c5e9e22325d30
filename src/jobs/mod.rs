//! What each cron does. `#[event(scheduled)]` calls [`run_scheduled`]; every job records its
//! outcome itself (log line and a `runs` row), because the runtime is always told "success".
//!
//! Jobs made of steps (ingestion) record themselves through [`Recorder`]: the run row in D1
//! (claimed by its run id, so a re-delivered cron finds it), one `run_steps` row per finished
//! step (which doubles as the heartbeat), and at the end the run-audit JSONL in R2_AUDIT
//! (`runs/{yyyy-mm-dd}/{run_id}.jsonl`).

pub mod anchor;
pub mod audit_verify;
pub mod cycle;
pub mod discovery;
pub mod fetch;
pub mod gate;
pub mod ingest;
pub mod live;

use crate::core::run_audit::{self, RunStatus, StepRecord, StepStatus};
use crate::obs::Logger;
use crate::store::d1::{Db, DbError};
use crate::store::runs;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use worker::Env;

/// The ingestion cron (every five minutes).
pub const INGEST_CRON: &str = "*/5 * * * *";

/// A run with no heartbeat (a recorded step) for this long is dead: a scheduled handler gets
/// at most 15 minutes of wall time. A re-delivery of its cron takes it over; another run of
/// its job closes it ([`abandon_dead_runs`]).
pub const STALE_AFTER_MS: i64 = 16 * 60 * 1_000;

/// Closes the job's dead runs — `RUNNING`, no heartbeat for [`STALE_AFTER_MS`] by the real
/// clock (killed or lost mid-way) — as `FAIL` with code `RUN_ABANDONED`, audited first
/// (`RUN_ABANDONED`, naming each run and the run that found it). What the dead run left half
/// done is its job's to recover (the cycle's `recover_orders`, ingestion's idempotent writes);
/// this only stops it showing as running forever. The run ids closed; `Err(code)` when the
/// runs could not be read or the log did not confirm (nothing is closed then).
pub async fn abandon_dead_runs(
    env: &Env,
    db: &Db,
    log: &Logger,
    job: &str,
    run_id: &str,
    actor: &str,
) -> Result<Vec<String>, String> {
    let now = crate::clock::now();
    let before = now - chrono::TimeDelta::milliseconds(STALE_AFTER_MS);
    let dead = runs::dead_runs(db, job, run_id, before)
        .await
        .map_err(|e| e.code().to_string())?;
    if dead.is_empty() {
        return Ok(Vec::new());
    }
    let listed: Vec<Value> = dead
        .iter()
        .map(|r| {
            json!({"run_id": r.run_id, "attempt": r.attempt, "started_at": r.started_at,
                        "heartbeat_at": r.heartbeat_at})
        })
        .collect();
    let record = crate::audit_client::AuditRecord {
        actor: actor.to_string(),
        kind: "RUN_ABANDONED".into(),
        payload: json!({"job": job, "runs": listed, "found_by": run_id,
                        "stale_after_ms": STALE_AFTER_MS}),
        evidence_hash: None,
    };
    let seq = match crate::audit_client::append(env, vec![record]).await {
        Ok(receipts) => receipts.first().map(|r| r.seq.get()).unwrap_or_default(),
        Err(e) => {
            log.error(
                "run_abandon_not_audited",
                json!({"job": job, "code": e.code(), "detail": e.detail()}),
            );
            return Err(e.code().to_string());
        }
    };
    let detail = json!({"code": "RUN_ABANDONED",
        "message": format!("no heartbeat for over {} minutes: the run was killed or lost mid-way",
                           STALE_AFTER_MS / 60_000),
        "found_by": run_id, "audit_seq": seq});
    let mut closed = Vec::new();
    for row in &dead {
        match runs::abandon(db, row, &detail, now).await {
            Ok(true) => closed.push(row.run_id.clone()),
            Ok(false) => {}
            Err(e) => {
                log.error(
                    "run_not_abandoned",
                    json!({"run_id": row.run_id, "code": e.code()}),
                );
                return Err(e.code().to_string());
            }
        }
    }
    log.warn("runs_abandoned", json!({"job": job, "runs": closed}));
    Ok(closed)
}

/// Runs the jobs of one cron delivery, scheduled at `scheduled_ms`. Never fails: `scheduled`
/// always reports success to the runtime, so outcomes live in the run records and the log.
pub async fn run_scheduled(cron: &str, scheduled_ms: i64, env: &Env, log: &Logger) {
    let scheduled = crate::core::time::from_millis(scheduled_ms).unwrap_or_else(crate::clock::now);
    if !audit_if_unguarded(cron, scheduled_ms, env, log).await {
        return;
    }
    match cron {
        anchor::CRON => anchor::run(env, log, scheduled_ms).await,
        audit_verify::CRON => {
            audit_verify::start_daily(env, log).await;
            // The production gate and the dashboard status artifact share this cron.
            gate::run_daily(env, log, cron).await;
        }
        INGEST_CRON => {
            // Ingestion fetches what the trading cycle needs (books of approved pairs, marks,
            // the held markets' results), then the cycle runs on what it stored.
            let (books, held) = cycle::watched_tickers(env, log).await;
            let mut req = ingest::IngestRequest::cron(cron, scheduled);
            let mut marks: Vec<String> = books.iter().chain(held.iter()).cloned().collect();
            marks.sort();
            marks.dedup();
            marks.truncate(ingest::MAX_REQUESTED_MARKETS);
            req.orderbook_tickers = books;
            req.mark_tickers = marks;
            req.held_tickers = held;
            match ingest::run(env, log, req).await {
                Ok(summary) => log.info(
                    "job_finished",
                    json!({"job": ingest::JOB, "run_id": summary.run_id, "status": summary.status.as_str()}),
                ),
                Err(e) => log.warn(
                    "job_not_run",
                    json!({"job": ingest::JOB, "cron": cron, "code": e.code(), "detail": e.to_string()}),
                ),
            }
            let result = cycle::run(env, log, cron, scheduled).await;
            cycle::log_summary(log, &result);
        }
        _ => log.info("scheduled", json!({"cron": cron, "jobs": []})),
    }
}

/// While `SECURITY_DB_GUARDRAILS=0`, a cron delivery is appended to the audit log
/// (`security.unguarded_job`) before its jobs run, as requests are; `false` (nothing runs) when
/// the append fails.
async fn audit_if_unguarded(cron: &str, scheduled_ms: i64, env: &Env, log: &Logger) -> bool {
    use crate::core::sql_guard::Guardrails;
    let setting = crate::bindings::var(env, crate::store::d1::GUARDRAILS_SETTING);
    if Guardrails::from_setting(setting.as_deref()) == Guardrails::On {
        return true;
    }
    let actor = format!("cron:{cron}");
    let record = crate::audit_client::AuditRecord {
        actor: actor.clone(),
        kind: "security.unguarded_job".into(),
        payload: json!({
            "cron": cron,
            "scheduled_ms": scheduled_ms,
            "actor": actor,
            "request_id": log.request_id(),
        }),
        evidence_hash: None,
    };
    match crate::audit_client::append(env, vec![record]).await {
        Ok(_) => true,
        Err(e) => {
            log.error(
                "unguarded_job_unaudited",
                json!({"cron": cron, "code": e.code()}),
            );
            false
        }
    }
}

/// One step's outcome, before timing is attached.
#[derive(Debug, Clone, PartialEq)]
pub struct StepEnd {
    pub status: StepStatus,
    pub counts: Value,
    pub code: Option<String>,
    pub detail: Option<String>,
    pub stopped: Option<Value>,
}

impl StepEnd {
    pub fn success(counts: Value) -> StepEnd {
        StepEnd {
            status: StepStatus::Success,
            counts,
            code: None,
            detail: None,
            stopped: None,
        }
    }

    pub fn fail(counts: Value, code: impl Into<String>, detail: impl Into<String>) -> StepEnd {
        StepEnd {
            status: StepStatus::Fail,
            counts,
            code: Some(code.into()),
            detail: Some(detail.into()),
            stopped: None,
        }
    }

    pub fn skipped(code: impl Into<String>, detail: impl Into<String>) -> StepEnd {
        StepEnd {
            status: StepStatus::Skipped,
            counts: json!({}),
            code: Some(code.into()),
            detail: Some(detail.into()),
            stopped: None,
        }
    }

    /// Stopped cleanly before finishing (budget): a success as far as it went, saying where.
    pub fn stopped(counts: Value, code: &str, at: Value) -> StepEnd {
        StepEnd {
            status: StepStatus::Success,
            counts,
            code: Some(code.to_string()),
            detail: Some("stopped before the listing ended; the next run starts over".into()),
            stopped: Some(json!({"reason": code, "at": at})),
        }
    }
}

/// A run in progress: its identity and finished steps.
pub struct Recorder<'a> {
    db: &'a Db,
    env: &'a Env,
    log: &'a Logger,
    pub run_id: String,
    pub job: String,
    pub trigger: String,
    pub attempt: i64,
    pub started: DateTime<Utc>,
    /// The day of the audit object: the scheduled time for crons, the start otherwise.
    audit_day: DateTime<Utc>,
    steps: Vec<StepRecord>,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: String,
    pub status: RunStatus,
    pub attempt: i64,
    pub audit_key: Option<String>,
    pub steps: Vec<StepRecord>,
}

impl RunSummary {
    pub fn to_json(&self) -> Value {
        json!({
            "run_id": self.run_id,
            "status": self.status.as_str(),
            "attempt": self.attempt,
            "audit_key": self.audit_key,
            "steps": self.steps.iter().map(|s| json!({
                "step_no": s.step_no,
                "step": s.step,
                "status": s.status.as_str(),
                "duration_ms": s.duration_ms(),
                "counts": s.counts,
                "code": s.code,
                "detail": s.detail,
                "stopped": s.stopped,
            })).collect::<Vec<_>>(),
        })
    }
}

impl<'a> Recorder<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: &'a Db,
        env: &'a Env,
        log: &'a Logger,
        run_id: String,
        job: &str,
        trigger: String,
        attempt: i64,
        started: DateTime<Utc>,
        audit_day: DateTime<Utc>,
    ) -> Recorder<'a> {
        Recorder {
            db,
            env,
            log,
            run_id,
            job: job.to_string(),
            trigger,
            attempt,
            started,
            audit_day,
            steps: Vec::new(),
        }
    }

    pub fn steps(&self) -> &[StepRecord] {
        &self.steps
    }

    /// Records a finished step that started at `started`. A failure to record is logged and
    /// the run goes on: the step is still in the final run audit.
    pub async fn record(&mut self, step: &str, started: DateTime<Utc>, end: StepEnd) {
        let ended = crate::clock::now();
        let record = StepRecord {
            step_no: self.steps.len() as u32 + 1,
            step: step.to_string(),
            status: end.status,
            started,
            ended,
            counts: end.counts,
            code: end.code,
            detail: end.detail,
            stopped: end.stopped,
        };
        self.log.info(
            "step_end",
            json!({"run_id": self.run_id, "step": record.step, "status": record.status.as_str(),
                   "code": record.code, "duration_ms": record.duration_ms()}),
        );
        if let Err(e) = runs::record_step(self.db, &self.run_id, self.attempt, &record, ended).await
        {
            self.log.error(
                "run_step_not_recorded",
                json!({"run_id": self.run_id, "code": e.code(), "detail": e.to_string()}),
            );
        }
        self.steps.push(record);
    }

    /// Writes the run audit to R2 and closes the run row.
    pub async fn finish(self) -> Result<RunSummary, DbError> {
        let ended = crate::clock::now();
        let lines = run_audit::run_lines(
            &self.run_id,
            &self.job,
            &self.trigger,
            self.attempt as u32,
            self.started,
            &self.steps,
            ended,
        );
        let statuses: Vec<StepStatus> = self.steps.iter().map(|s| s.status).collect();
        let status = run_audit::run_status(&statuses);
        let key = run_audit::audit_key(self.audit_day, &self.run_id);
        let audit_key = match runs::put_audit(self.env, &key, run_audit::render_jsonl(&lines)).await
        {
            Ok(()) => Some(key),
            Err(e) => {
                self.log.error(
                    "run_audit_not_written",
                    json!({"run_id": self.run_id, "detail": e}),
                );
                None
            }
        };
        let detail = json!({
            "steps": self.steps.len(),
            "failed_steps": self.steps.iter().filter(|s| s.status == StepStatus::Fail)
                .map(|s| json!({"step": s.step, "code": s.code})).collect::<Vec<_>>(),
            "stopped": self.steps.iter().find_map(|s| s.stopped.clone().map(|v| json!({"step": s.step, "at": v}))),
            "audit_written": audit_key.is_some(),
        });
        runs::finish_run(
            self.db,
            &self.run_id,
            self.attempt,
            status.as_str(),
            &detail,
            audit_key.as_deref(),
            ended,
        )
        .await?;
        Ok(RunSummary {
            run_id: self.run_id,
            status,
            attempt: self.attempt,
            audit_key,
            steps: self.steps,
        })
    }
}
