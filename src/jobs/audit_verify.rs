//! Daily verification (cron `30 0 * * *`): starts a whole-log verification of the R2 mirror
//! that the `AuditLog` object drives page by page from its alarm, so a log of any size fits the
//! per-invocation limits. One run per UTC day (the run id is the date); its result shows in
//! `GET /admin/audit/status` as the last full verification.

use crate::audit_client;
use crate::obs::Logger;
use crate::store::runs::{self, RunStatus};
use serde_json::json;
use worker::{Env, Method};

/// The cron expression this job runs on.
pub const CRON: &str = "30 0 * * *";

/// The job's name in the `runs` table.
pub const JOB: &str = "audit_verify_daily";

/// The run id of a day's verification.
pub fn daily_run_id(date: chrono::NaiveDate) -> String {
    format!("verify-daily-{}", date.format("%Y-%m-%d"))
}

/// Starts today's verification (a no-op if it was started already) and records the start.
pub async fn start_daily(env: &Env, log: &Logger) {
    let started = crate::clock::now();
    let id = daily_run_id(started.date_naive());
    let reply = audit_client::call(
        env,
        Method::Post,
        "/verify/scheduled",
        Some(&json!({"id": id, "trigger": format!("cron:{CRON}")})),
    )
    .await;
    let (status, detail) = match reply {
        Ok(r) if r.status == 202 || r.status == 200 => {
            log.info(
                "audit_verify_scheduled",
                json!({"run_id": id, "reply": r.body}),
            );
            let started = r.body["started"].as_bool().unwrap_or(false);
            let status = if started {
                RunStatus::Success
            } else {
                RunStatus::Skipped
            };
            (status, json!({"run_id": id, "started": started}))
        }
        Ok(r) => {
            let code = r.error().map(|(c, _)| c.to_string()).unwrap_or_default();
            log.error(
                "audit_verify_schedule_failed",
                json!({"run_id": id, "code": code}),
            );
            (RunStatus::Fail, json!({"run_id": id, "code": code}))
        }
        Err(e) => {
            log.error(
                "audit_verify_schedule_failed",
                json!({"run_id": id, "code": e.code()}),
            );
            (RunStatus::Fail, json!({"run_id": id, "code": e.code()}))
        }
    };
    runs::record_cron_run(env, log, &id, JOB, CRON, started, status, &detail).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_run_id_per_utc_day() {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 4, 26).unwrap();
        assert_eq!(daily_run_id(d), "verify-daily-2026-04-26");
    }
}
