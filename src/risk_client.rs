//! The Worker's port to the `RiskGovernor` Durable Object. Every pre-trade check, breaker
//! transition, failure report and book update goes through here. An unreachable governor is a
//! refusal (`RISK_GOVERNOR_UNAVAILABLE`), never an approval.

use crate::core::breaker::FailureSource;
use crate::core::risk::{Event, OrderIntent};
use crate::http::error::ApiError;
use crate::obs::Logger;
use serde_json::{json, Value};
use worker::{Env, Method, Request, RequestInit};

fn unavailable() -> ApiError {
    ApiError::unavailable(
        "RISK_GOVERNOR_UNAVAILABLE",
        "the risk governor could not be reached; nothing was approved",
    )
}

/// Calls the governor; a non-2xx answer comes back as the envelope it sent.
async fn call(
    env: &Env,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, ApiError> {
    let namespace = env
        .durable_object("RISK_GOVERNOR")
        .map_err(|_| unavailable())?;
    let stub = namespace
        .id_from_name("governor")
        .and_then(|id| id.get_stub())
        .map_err(|_| unavailable())?;
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(b) = body {
        init.with_body(Some(b.to_string().into()));
    }
    let req = Request::new_with_init(&format!("https://governor{path}"), &init)
        .map_err(|_| unavailable())?;
    let mut resp = stub
        .fetch_with_request(req)
        .await
        .map_err(|_| unavailable())?;
    let status = resp.status_code();
    let value: Value = resp.json().await.map_err(|_| unavailable())?;
    if (200..300).contains(&status) {
        return Ok(value);
    }
    let err = &value["error"];
    match err["code"].as_str() {
        Some(code) => {
            Err(
                ApiError::new(status, code, err["message"].as_str().unwrap_or("refused"))
                    .with_details(err["details"].clone()),
            )
        }
        None => Err(unavailable()),
    }
}

/// Applies one event as `actor`; returns the governor's view after it.
pub async fn apply(env: &Env, actor: &str, event: &Event) -> Result<Value, ApiError> {
    call(
        env,
        Method::Post,
        "/event",
        Some(json!({"actor": actor, "event": event})),
    )
    .await
}

/// Applies limits a two-person approval executed (`core::risk::apply_limits`: loosening
/// allowed); `actor` is the approver, `reason` names the approval and its requester.
pub async fn apply_approved_limits(
    env: &Env,
    actor: &str,
    base: &Value,
    limits: &Value,
    reason: &str,
) -> Result<Value, ApiError> {
    call(
        env,
        Method::Post,
        "/limits/approved",
        Some(json!({"actor": actor, "base": base, "limits": limits, "reason": reason})),
    )
    .await
}

/// The pre-trade check (and reservation, if approved). `dry_run` holds an operator's
/// reservation only briefly.
pub async fn check(
    env: &Env,
    actor: &str,
    intent: &OrderIntent,
    dry_run: bool,
) -> Result<Value, ApiError> {
    call(
        env,
        Method::Post,
        "/check",
        Some(json!({"actor": actor, "intent": intent, "dry_run": dry_run})),
    )
    .await
}

/// The governor's current view: breaker, limits, utilisation, book summary.
pub async fn state(env: &Env) -> Result<Value, ApiError> {
    call(env, Method::Get, "/state", None).await
}

/// Recent verdicts, newest first.
pub async fn decisions(env: &Env, limit: i64) -> Result<Value, ApiError> {
    call(env, Method::Get, &format!("/decisions?limit={limit}"), None).await
}

/// Counters the governor keeps for monitoring: `{"counters":[{"name","label","value"}]}`.
pub async fn counters(env: &Env) -> Result<Value, ApiError> {
    call(env, Method::Get, "/counters", None).await
}

/// The equity curve, oldest first: `{"points":[{"at","equity_usd_micros","peak_equity_usd_micros"}]}`.
pub async fn equity(env: &Env, limit: i64) -> Result<Value, ApiError> {
    call(env, Method::Get, &format!("/equity?limit={limit}"), None).await
}

/// Reports the outcome of one operation of `source` (a venue call, an execution, …): a success
/// ends its failure streak, a failure counts toward CAUTION/HALT. Never fails the caller; a
/// governor that cannot be told is logged (and refuses checks on its own).
pub async fn report_outcome(
    env: &Env,
    log: &Logger,
    source: FailureSource,
    ok: bool,
    detail: &str,
) {
    let event = if ok {
        Event::SuccessReported { source }
    } else {
        Event::FailureReported {
            source,
            detail: detail.chars().take(200).collect(),
        }
    };
    if let Err(e) = apply(env, "system", &event).await {
        log.error(
            "risk_report_failed",
            json!({"code": e.code, "source": source.as_str(), "ok": ok}),
        );
    }
}
