//! Operator-experience routes: the OpenAPI description and the Prometheus metrics.

use crate::audit_client;
use crate::core::metrics::{self as m, Counter, Exposition};
use crate::http::{error::ApiError, openapi, RequestCtx};
use crate::risk_client;
use crate::store::{d1::Db, metrics as store};
use serde_json::Value;
use worker::{Method, Response};

/// `GET /admin/openapi.yaml`: `docs/openapi.yaml`, compiled in.
pub fn openapi(_ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let mut resp = Response::ok(openapi::DOCUMENT).map_err(|_| ApiError::internal())?;
    let _ = resp
        .headers_mut()
        .set("content-type", "application/yaml; charset=utf-8");
    Ok(resp)
}

const BREAKER_STATES: [&str; 4] = ["NORMAL", "CAUTION", "HALT", "RECOVERY"];

fn int(v: &Value) -> Option<f64> {
    v.as_i64().map(|n| n as f64)
}

fn age_seconds(rfc3339: &str, now_ms: i64) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| ((now_ms - t.timestamp_millis()).max(0) / 1000) as f64)
}

/// The governor's gauges and counters. Its counters are kept in its own storage, updated with
/// the state change they count.
async fn governor(ctx: &RequestCtx<'_>, exp: &mut Exposition, up: &mut Vec<(&str, bool)>) {
    match risk_client::state(ctx.env).await {
        Ok(view) => {
            up.push(("risk_governor", true));
            let state = view["breaker"]["state"].as_str().unwrap_or("");
            exp.family(
                "breaker_state",
                "gauge",
                "1 for the circuit breaker's current state, 0 for the others.",
            );
            for s in BREAKER_STATES {
                exp.sample("breaker_state", "", &[("state", s)], f64::from(s == state));
            }
            exp.family(
                "breaker_failure_streak",
                "gauge",
                "Consecutive failures of each source counted by the breaker.",
            );
            if let Some(streaks) = view["breaker"]["streaks"].as_object() {
                for (source, n) in streaks {
                    if let Some(n) = int(n) {
                        exp.sample("breaker_failure_streak", "", &[("source", source)], n);
                    }
                }
            }
            exp.family(
                "risk_limit_used_usd_micros",
                "gauge",
                "Use of each risk limit (largest scope), micro-dollars.",
            );
            exp.family(
                "risk_limit_allowed_usd_micros",
                "gauge",
                "What each risk limit allows now, micro-dollars.",
            );
            for u in view["utilisation"].as_array().into_iter().flatten() {
                let limit = u["limit"].as_str().unwrap_or("");
                if let Some(used) = int(&u["used"]) {
                    exp.sample("risk_limit_used_usd_micros", "", &[("limit", limit)], used);
                }
                if let Some(allowed) = int(&u["allowed"]) {
                    exp.sample(
                        "risk_limit_allowed_usd_micros",
                        "",
                        &[("limit", limit)],
                        allowed,
                    );
                }
            }
            let book = &view["book"];
            for (name, key, help) in [
                (
                    "equity_usd_micros",
                    "equity_usd_micros",
                    "Equity, micro-dollars.",
                ),
                (
                    "peak_equity_usd_micros",
                    "peak_equity_usd_micros",
                    "Peak equity, micro-dollars.",
                ),
                ("cash_usd_micros", "cash_usd_micros", "Cash, micro-dollars."),
                (
                    "open_positions",
                    "positions",
                    "Markets with an open position.",
                ),
                (
                    "open_reservations",
                    "open_reservations",
                    "Open order reservations.",
                ),
            ] {
                exp.family(name, "gauge", help);
                if let Some(v) = int(&book[key]) {
                    exp.sample(name, "", &[], v);
                }
            }
        }
        Err(_) => up.push(("risk_governor", false)),
    }
    match risk_client::counters(ctx.env).await {
        Ok(v) => {
            let counters: Vec<Counter> = v["counters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let label = c["label"].as_str().unwrap_or("");
                    let name = c["name"].as_str().unwrap_or("");
                    let labels = match name {
                        "breaker_transitions" => {
                            let (from, to) = label.split_once('>').unwrap_or(("", label));
                            m::labels(&[("from", from), ("to", to)])
                        }
                        "risk_refusals" => m::labels(&[("code", label)]),
                        "position_drift_alerts" => m::labels(&[("severity", label)]),
                        "failures_reported" => m::labels(&[("source", label)]),
                        _ => m::labels(&[]),
                    };
                    Counter::new(name, &labels, c["value"].as_i64().unwrap_or(0))
                })
                .collect();
            for (family, stored, help) in [
                (
                    "breaker_transitions_total",
                    "breaker_transitions",
                    "Circuit breaker state changes, manual or automatic.",
                ),
                (
                    "risk_refusals_total",
                    "risk_refusals",
                    "Pre-trade checks refused, by risk invariant code.",
                ),
                (
                    "position_drift_alerts_total",
                    "position_drift_alerts",
                    "Reconciliations that found position drift, by severity.",
                ),
                (
                    "reconciliation_failures_total",
                    "reconciliation_failures",
                    "Reconciliations that could not complete.",
                ),
                (
                    "critical_alerts_total",
                    "critical_alerts",
                    "Critical alerts sent to the breaker.",
                ),
                (
                    "failures_reported_total",
                    "failures_reported",
                    "Failures reported to the breaker, by source.",
                ),
            ] {
                m::counter_family(exp, family, help, stored, &counters);
            }
            up.push(("risk_governor_counters", true));
        }
        Err(_) => up.push(("risk_governor_counters", false)),
    }
}

/// The audit log's size, mirror, verification and anchors.
async fn audit(
    ctx: &RequestCtx<'_>,
    exp: &mut Exposition,
    up: &mut Vec<(&str, bool)>,
    now_ms: i64,
) {
    match audit_client::call(ctx.env, Method::Get, "/status", None).await {
        Ok(reply) if reply.status == 200 => {
            let s = reply.body;
            for (name, value, help) in [
                ("audit_events", &s["size"], "Events in the audit log."),
                (
                    "audit_mirror_lag_events",
                    &s["mirror"]["lag"],
                    "Events not yet mirrored to R2 (a gap between the log and its copy).",
                ),
                (
                    "audit_mirror_failures",
                    &s["mirror"]["failures"],
                    "Consecutive failed R2 mirror writes.",
                ),
                (
                    "audit_mirror_conflicts",
                    &s["mirror"]["conflicts"],
                    "R2 keys found holding other bytes.",
                ),
            ] {
                exp.family(name, "gauge", help);
                if let Some(v) = int(value) {
                    exp.sample(name, "", &[], v);
                }
            }
            exp.family(
                "audit_log_healthy",
                "gauge",
                "0 when the audit log reports its head and rows disagree.",
            );
            exp.sample(
                "audit_log_healthy",
                "",
                &[],
                f64::from(s["log_error"].is_null()),
            );
            exp.family("audit_last_verification_valid", "gauge", "1 if the last finished verification (kind=full: the last whole-log one) found the chain valid.");
            exp.family(
                "audit_last_verification_problems",
                "gauge",
                "Problems the last finished verification found (gaps, broken links, bad anchors).",
            );
            exp.family(
                "audit_last_verification_age_seconds",
                "gauge",
                "Age of the last finished verification.",
            );
            for (kind, r) in [
                ("full", &s["verification"]["last_full"]),
                ("any", &s["verification"]["last"]),
            ] {
                if r.is_null() {
                    continue;
                }
                if let Some(valid) = r["valid"].as_bool() {
                    exp.sample(
                        "audit_last_verification_valid",
                        "",
                        &[("kind", kind)],
                        f64::from(valid),
                    );
                }
                if let Some(p) = int(&r["problems"]) {
                    exp.sample("audit_last_verification_problems", "", &[("kind", kind)], p);
                }
                if let Some(at) = r["finished_at_ms"].as_i64() {
                    exp.sample(
                        "audit_last_verification_age_seconds",
                        "",
                        &[("kind", kind)],
                        ((now_ms - at).max(0) / 1000) as f64,
                    );
                }
            }
            up.push(("audit_log", true));
        }
        _ => up.push(("audit_log", false)),
    }
    let anchors = crate::http::routes::audit::anchor_status(ctx, now_ms).await;
    exp.family("audit_anchors", "gauge", "Signed checkpoints stored.");
    exp.family(
        "audit_anchor_age_seconds",
        "gauge",
        "Age of the latest signed checkpoint.",
    );
    if anchors.get("error").is_none() {
        if let Some(n) = int(&anchors["count"]) {
            exp.sample("audit_anchors", "", &[], n);
        }
        if let Some(age) = int(&anchors["last"]["age_s"]) {
            exp.sample("audit_anchor_age_seconds", "", &[], age);
        }
        up.push(("anchors", true));
    } else {
        up.push(("anchors", false));
    }
}

/// D1: persisted counters (requests, latency, venue calls, verifications) and job runs.
async fn d1(ctx: &RequestCtx<'_>, exp: &mut Exposition, up: &mut Vec<(&str, bool)>, now_ms: i64) {
    let db = match Db::open(ctx.env, "DB", ctx.log) {
        Ok(db) => db,
        Err(_) => {
            up.push(("d1", false));
            return;
        }
    };
    match store::all(&db).await {
        Ok(counters) => {
            m::counter_family(
                exp,
                "http_requests_total",
                "Requests served, by route group and status.",
                "http_requests_total",
                &counters,
            );
            m::latency_histogram(exp, &counters);
            m::counter_family(
                exp,
                "venue_requests_total",
                "Outbound calls, by venue and HTTP status or failure code.",
                "venue_requests_total",
                &counters,
            );
            m::counter_family(exp, "venue_errors_total", "Outbound calls that failed (status >= 400, timeout, network), by venue and status.", "venue_errors_total", &counters);
            m::counter_family(
                exp,
                "audit_verifications_total",
                "Operator verifications of the audit log, by result.",
                "audit_verifications_total",
                &counters,
            );
            m::counter_family(
                exp,
                "audit_verification_problems_total",
                "Problems operator verifications found, by code (SEQUENCE_GAP, CHAIN_BROKEN, ...).",
                "audit_verification_problems_total",
                &counters,
            );
            up.push(("counters", true));
        }
        Err(_) => up.push(("counters", false)),
    }
    let runs = store::run_counts(&db).await;
    let last = store::last_successes(&db).await;
    exp.family("job_runs", "gauge", "Recorded runs of each job, by status.");
    exp.family(
        "job_last_success_age_seconds",
        "gauge",
        "Time since each job last ended successfully.",
    );
    exp.family(
        "ingest_lag_seconds",
        "gauge",
        "Time since ingestion last ended successfully (market data age).",
    );
    match (runs, last) {
        (Ok(runs), Ok(last)) => {
            for r in runs {
                exp.sample(
                    "job_runs",
                    "",
                    &[("job", &r.job), ("status", &r.status)],
                    r.n as f64,
                );
            }
            for l in last {
                if let Some(age) = l.ended_at.as_deref().and_then(|t| age_seconds(t, now_ms)) {
                    exp.sample("job_last_success_age_seconds", "", &[("job", &l.job)], age);
                    if l.job == "ingest" {
                        exp.sample("ingest_lag_seconds", "", &[], age);
                    }
                }
            }
            up.push(("runs", true));
        }
        _ => up.push(("runs", false)),
    }
}

/// `GET /admin/metrics`: Prometheus text exposition (0.0.4). A source that cannot be read
/// shows as `paulp_metrics_source_up{source} 0` and its series are absent.
pub async fn metrics(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let now_ms = crate::clock::now_ms();
    let mut exp = Exposition::default();
    let mut up = Vec::new();
    governor(ctx, &mut exp, &mut up).await;
    audit(ctx, &mut exp, &mut up, now_ms).await;
    d1(ctx, &mut exp, &mut up, now_ms).await;
    exp.family(
        "metrics_source_up",
        "gauge",
        "1 if the source could be read for this scrape.",
    );
    for (source, ok) in up {
        exp.sample(
            "metrics_source_up",
            "",
            &[("source", source)],
            f64::from(ok),
        );
    }
    let mut resp = Response::ok(exp.render()).map_err(|_| ApiError::internal())?;
    let _ = resp
        .headers_mut()
        .set("content-type", "text/plain; version=0.0.4; charset=utf-8");
    Ok(resp)
}
