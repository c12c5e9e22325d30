//! Run audit: what every job run did, as JSONL lines (`RUN_START`, `STEP_START`, `STEP_END`,
//! `RUN_END`) written to R2_AUDIT at `runs/{yyyy-mm-dd}/{run_id}.jsonl` and indexed in D1.
//!
//! Run ids are deterministic for cron deliveries (job, cron expression and scheduled time), so
//! a re-delivered cron finds its own run and does not do the work twice; operator runs get a
//! fresh id.

use crate::core::time::{format_day, format_utc};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum StepStatus {
    Success,
    Fail,
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Success => "SUCCESS",
            StepStatus::Fail => "FAIL",
            StepStatus::Skipped => "SKIPPED",
        }
    }
}

/// A run's status, as the `runs` table spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunStatus {
    Running,
    Success,
    Fail,
    Skipped,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Success => "SUCCESS",
            RunStatus::Fail => "FAIL",
            RunStatus::Skipped => "SKIPPED",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        match s {
            "RUNNING" => Some(RunStatus::Running),
            "SUCCESS" => Some(RunStatus::Success),
            "FAIL" => Some(RunStatus::Fail),
            "SKIPPED" => Some(RunStatus::Skipped),
            _ => None,
        }
    }
}

/// A run fails if any step failed; a run whose every step was skipped is skipped.
pub fn run_status(steps: &[StepStatus]) -> RunStatus {
    if steps.contains(&StepStatus::Fail) {
        RunStatus::Fail
    } else if !steps.is_empty() && steps.iter().all(|s| *s == StepStatus::Skipped) {
        RunStatus::Skipped
    } else {
        RunStatus::Success
    }
}

fn compact(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The run id of a cron delivery: `{job}-{scheduled time}-{first 8 hex of SHA-256(cron)}`,
/// e.g. `ingest-20260611T051500Z-1b2c3d4e`. Every delivery of the same trigger gets the same id.
pub fn cron_run_id(job: &str, cron: &str, scheduled: DateTime<Utc>) -> String {
    let digest = Sha256::digest(cron.as_bytes());
    format!("{job}-{}-{}", compact(scheduled), hex::encode(&digest[..4]))
}

/// The run id of an operator-triggered run: `{job}-{now}-op-{nonce}`.
pub fn operator_run_id(job: &str, now: DateTime<Utc>, nonce_hex: &str) -> String {
    format!("{job}-{}-op-{nonce_hex}", compact(now))
}

/// Whether a string can be a run id of any job (route parameters): 1 to 128 characters of
/// ASCII letters, digits, `-`, `_`, `.` and `:` (the anchoring job uses `anchor:{hour}`).
pub fn is_run_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// `runs/{yyyy-mm-dd}/{run_id}.jsonl`, the day being the run's start (scheduled time for crons).
pub fn audit_key(started: DateTime<Utc>, run_id: &str) -> String {
    format!("runs/{}/{run_id}.jsonl", format_day(started))
}

/// One line of a run's audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunLine {
    RunStart {
        run_id: String,
        job: String,
        trigger: String,
        attempt: u32,
        at: String,
    },
    StepStart {
        run_id: String,
        step_no: u32,
        step: String,
        at: String,
    },
    StepEnd {
        run_id: String,
        step_no: u32,
        step: String,
        status: StepStatus,
        duration_ms: i64,
        counts: Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// Where the step stopped early, if it did (budget exhausted): reason and position.
        #[serde(skip_serializing_if = "Option::is_none")]
        stopped: Option<Value>,
        at: String,
    },
    RunEnd {
        run_id: String,
        status: RunStatus,
        duration_ms: i64,
        steps: u32,
        failed_steps: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        stopped: Option<Value>,
        at: String,
    },
}

/// One finished step, as the job reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    pub step_no: u32,
    pub step: String,
    pub status: StepStatus,
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
    pub counts: Value,
    pub code: Option<String>,
    pub detail: Option<String>,
    pub stopped: Option<Value>,
}

impl StepRecord {
    pub fn duration_ms(&self) -> i64 {
        (self.ended - self.started).num_milliseconds().max(0)
    }
}

/// The whole audit of a run, in order: `RUN_START`, then `STEP_START`/`STEP_END` per step, then
/// `RUN_END` with the status [`run_status`] derives from the steps.
pub fn run_lines(
    run_id: &str,
    job: &str,
    trigger: &str,
    attempt: u32,
    started: DateTime<Utc>,
    steps: &[StepRecord],
    ended: DateTime<Utc>,
) -> Vec<RunLine> {
    let mut lines = vec![RunLine::RunStart {
        run_id: run_id.to_string(),
        job: job.to_string(),
        trigger: trigger.to_string(),
        attempt,
        at: format_utc(started),
    }];
    for s in steps {
        lines.push(RunLine::StepStart {
            run_id: run_id.to_string(),
            step_no: s.step_no,
            step: s.step.clone(),
            at: format_utc(s.started),
        });
        lines.push(RunLine::StepEnd {
            run_id: run_id.to_string(),
            step_no: s.step_no,
            step: s.step.clone(),
            status: s.status,
            duration_ms: s.duration_ms(),
            counts: s.counts.clone(),
            code: s.code.clone(),
            detail: s.detail.clone(),
            stopped: s.stopped.clone(),
            at: format_utc(s.ended),
        });
    }
    let statuses: Vec<StepStatus> = steps.iter().map(|s| s.status).collect();
    lines.push(RunLine::RunEnd {
        run_id: run_id.to_string(),
        status: run_status(&statuses),
        duration_ms: (ended - started).num_milliseconds().max(0),
        steps: steps.len() as u32,
        failed_steps: steps
            .iter()
            .filter(|s| s.status == StepStatus::Fail)
            .map(|s| s.step.clone())
            .collect(),
        stopped: steps.iter().find_map(|s| {
            s.stopped
                .clone()
                .map(|v| serde_json::json!({"step": s.step, "at": v}))
        }),
        at: format_utc(ended),
    });
    lines
}

/// Lines as JSONL: one JSON object per line, each ending in `\n`.
pub fn render_jsonl(lines: &[RunLine]) -> String {
    let mut out = String::new();
    for line in lines {
        // Serialising these plain structs cannot fail.
        out.push_str(&serde_json::to_string(line).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// What a delivery of a cron finds when its run id already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redelivery {
    /// The run finished (any final status): do nothing.
    Finished,
    /// Another delivery is running it now: do nothing.
    InProgress,
    /// A delivery started it but went silent longer than the stale window (the isolate died):
    /// take it over and run it again; every write is idempotent.
    Stale,
}

/// Judges an existing run row: its status and last heartbeat against `now`.
pub fn judge_redelivery(
    status: &str,
    heartbeat: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    stale_after_ms: i64,
) -> Redelivery {
    match RunStatus::parse(status) {
        Some(RunStatus::Running) => match heartbeat {
            Some(h) if (now - h).num_milliseconds() < stale_after_ms => Redelivery::InProgress,
            _ => Redelivery::Stale,
        },
        // A finished run, or one whose status this code does not know: never run it twice.
        _ => Redelivery::Finished,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::time::from_millis;
    use serde_json::json;

    fn t(ms: i64) -> DateTime<Utc> {
        from_millis(ms).unwrap()
    }

    #[test]
    fn cron_run_ids_are_deterministic_per_trigger_and_time() {
        let at = t(1_781_154_900_000);
        let a = cron_run_id("ingest", "*/5 * * * *", at);
        assert_eq!(a, cron_run_id("ingest", "*/5 * * * *", at));
        assert!(a.starts_with("ingest-20260611T051500Z-"), "{a}");
        assert_ne!(a, cron_run_id("ingest", "0 * * * *", at));
        assert_ne!(
            a,
            cron_run_id("ingest", "*/5 * * * *", t(1_781_155_200_000))
        );
        assert!(is_run_id(&a));
        let op = operator_run_id("ingest", at, "0a1b2c3d");
        assert_eq!(op, "ingest-20260611T051500Z-op-0a1b2c3d");
        assert!(is_run_id(&op));
        assert!(is_run_id("anchor:493654"));
        for bad in [
            "",
            "../../etc",
            "a b",
            "x/y",
            &"x".repeat(129),
            "ingest\u{0}",
        ] {
            assert!(!is_run_id(bad), "{bad}");
        }
        assert_eq!(audit_key(at, &a), format!("runs/2026-06-11/{a}.jsonl"));
    }

    #[test]
    fn lines_frame_each_step_and_the_run_ends_with_the_derived_status() {
        let steps = vec![
            StepRecord {
                step_no: 1,
                step: "compliance".into(),
                status: StepStatus::Success,
                started: t(1_000),
                ended: t(1_010),
                counts: json!({"approved": 2}),
                code: None,
                detail: None,
                stopped: None,
            },
            StepRecord {
                step_no: 2,
                step: "kalshi_markets".into(),
                status: StepStatus::Fail,
                started: t(1_010),
                ended: t(3_010),
                counts: json!({"pages": 1}),
                code: Some("HTTP_500".into()),
                detail: Some("status=500".into()),
                stopped: None,
            },
            StepRecord {
                step_no: 3,
                step: "polymarket_markets".into(),
                status: StepStatus::Success,
                started: t(3_010),
                ended: t(4_000),
                counts: json!({}),
                code: None,
                detail: None,
                stopped: Some(json!({"reason": "BUDGET_CPU", "page": 3})),
            },
        ];
        let lines = run_lines("r1", "ingest", "*/5 * * * *", 1, t(1_000), &steps, t(4_500));
        let text = render_jsonl(&lines);
        let parsed: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let types: Vec<&str> = parsed.iter().map(|v| v["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "RUN_START",
                "STEP_START",
                "STEP_END",
                "STEP_START",
                "STEP_END",
                "STEP_START",
                "STEP_END",
                "RUN_END"
            ]
        );
        assert!(text.ends_with('\n'));
        assert_eq!(parsed[4]["status"], "FAIL");
        assert_eq!(parsed[4]["duration_ms"], 2_000);
        assert_eq!(parsed[4]["code"], "HTTP_500");
        assert!(parsed[2].get("code").is_none());
        let end = &parsed[7];
        assert_eq!(end["status"], "FAIL");
        assert_eq!(end["failed_steps"], json!(["kalshi_markets"]));
        assert_eq!(end["duration_ms"], 3_500);
        assert_eq!(end["stopped"]["step"], "polymarket_markets");
        assert_eq!(end["stopped"]["at"]["reason"], "BUDGET_CPU");
        assert_eq!(parsed[0]["at"], "1970-01-01T00:00:01.000Z");
    }

    #[test]
    fn run_status_fails_on_any_failed_step() {
        use StepStatus::*;
        assert_eq!(run_status(&[Success, Skipped]), RunStatus::Success);
        assert_eq!(run_status(&[Success, Fail, Skipped]), RunStatus::Fail);
        assert_eq!(run_status(&[Skipped, Skipped]), RunStatus::Skipped);
        assert_eq!(run_status(&[]), RunStatus::Success);
    }

    #[test]
    fn a_redelivered_cron_runs_again_only_if_the_first_delivery_went_silent() {
        let now = t(1_000_000);
        assert_eq!(
            judge_redelivery("SUCCESS", Some(t(0)), now, 60_000),
            Redelivery::Finished
        );
        assert_eq!(
            judge_redelivery("FAIL", None, now, 60_000),
            Redelivery::Finished
        );
        assert_eq!(
            judge_redelivery("WEIRD", None, now, 60_000),
            Redelivery::Finished
        );
        assert_eq!(
            judge_redelivery("RUNNING", Some(t(950_000)), now, 60_000),
            Redelivery::InProgress
        );
        assert_eq!(
            judge_redelivery("RUNNING", Some(t(940_000)), now, 60_000),
            Redelivery::Stale
        );
        assert_eq!(
            judge_redelivery("RUNNING", None, now, 60_000),
            Redelivery::Stale
        );
    }
}
