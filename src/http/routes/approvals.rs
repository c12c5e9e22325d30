//! Two-person approvals: `POST /admin/approvals`, `POST /admin/approvals/{id}/approve|reject`,
//! `GET /admin/approvals?status=`. The state machine is `core::approvals`; this module stores
//! it (compare-and-swap on the status), appends every step to the audit log before it counts
//! (`APPROVAL_REQUESTED`, `APPROVAL_APPROVED`, `APPROVAL_EXECUTED` / `APPROVAL_FAILED`,
//! `APPROVAL_REJECTED`, each naming the requester and the approver), and runs the action once.
//! Also `POST /admin/strategies/{id}/go-live`, which requests the `strategy.go_live` approval.

use crate::core::approvals::{
    Approval, ApprovalAction, ApprovalError, ApprovalStatus, StatusFilter, DEFAULT_TTL_SECS,
};
use crate::core::golive::{self, GoLiveFacts, GoLivePolicy};
use crate::core::money::Usd;
use crate::core::risk::parse_limits;
use crate::http::{error::ApiError, json_response, params, RequestCtx};
use crate::risk_client;
use crate::store::approvals as store;
use crate::store::d1::Db;
use crate::store::gate as gate_store;
use crate::store::golive as golive_store;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::Response;

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> ApiError {
        let details: Map<String, Value> = e
            .details()
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v)))
            .collect();
        ApiError::new(e.status(), e.code(), e.to_string()).with_details(Value::Object(details))
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(404, "APPROVAL_NOT_FOUND", "no such approval request")
        .with_details(json!({"id": id}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RequestBody {
    action: String,
    params: Value,
    #[serde(default)]
    reason: String,
    /// Lifetime of the request; default 24 h, at most 7 days.
    #[serde(default)]
    expires_in_secs: Option<i64>,
}

fn invalid_params(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "INVALID_APPROVAL", message.into()).with_details(json!({"field": "params"}))
}

/// `risk.loosen_limits` params as requested: `{"limits":{…some fields…},"reason"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoosenRequest {
    limits: Map<String, Value>,
    reason: String,
}

/// Turns the requested params of an action into the params that are fixed for approval.
///
/// `risk.loosen_limits`: the requested fields are merged into the current limits and validated;
/// the request must loosen at least one field (tightening needs no second operator: `PUT
/// /admin/risk/limits`). The fixed params are the whole limits before (`base`) and after
/// (`limits`), so the approver approves an exact change, and execution refuses if the limits
/// moved in between (`LIMITS_CHANGED_SINCE_REQUEST`).
async fn fix_params(
    ctx: &RequestCtx<'_>,
    action: ApprovalAction,
    params: Value,
) -> Result<Value, ApiError> {
    match action {
        ApprovalAction::RiskLoosenLimits => {
            let req: LoosenRequest = serde_json::from_value(params)
                .map_err(|e| invalid_params(format!("risk.loosen_limits params: {e}")))?;
            if req.reason.trim().is_empty() || req.reason.chars().count() > 300 {
                return Err(invalid_params("params.reason: 1..=300 characters"));
            }
            let view = risk_client::state(ctx.env).await?;
            let base = view["limits"].clone();
            let current = parse_limits(&base.to_string()).map_err(|_| ApiError::internal())?;
            let mut merged = base.clone();
            let Some(target) = merged.as_object_mut() else {
                return Err(ApiError::internal());
            };
            for (k, v) in req.limits {
                target.insert(k, v);
            }
            let proposed = parse_limits(&merged.to_string()).map_err(|e| {
                let details: Map<String, Value> = e
                    .details()
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                ApiError::new(400, e.code(), e.to_string()).with_details(Value::Object(details))
            })?;
            let loosened = current.loosened_fields(&proposed);
            if loosened.is_empty() {
                return Err(ApiError::new(
                    400,
                    "APPROVAL_NOT_REQUIRED",
                    "these limits loosen nothing; tighten with PUT /admin/risk/limits",
                ));
            }
            Ok(json!({
                "base": base,
                "limits": serde_json::to_value(&proposed).map_err(|_| ApiError::internal())?,
                "loosened": loosened,
                "reason": req.reason.trim(),
            }))
        }
        ApprovalAction::StrategyGoLive
        | ApprovalAction::StrategyIncreaseCapital
        | ApprovalAction::StrategyExecutionLive => fix_strategy_params(ctx, action, params).await,
    }
}

/// Strategy action params as requested: `{"strategy_id", "capital_allocation_usd_micros"?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrategyRequest {
    strategy_id: String,
    #[serde(default)]
    capital_allocation_usd_micros: Option<i64>,
}

/// Checks a strategy action against the strategy as it is now and fixes what it started from
/// (`from`: mode and allocation), so execution refuses if the strategy changed in between.
/// Go-live and live execution need a strategy that is not live; go-live and a capital increase
/// need a positive allocation, an increase one above the current.
async fn fix_strategy_params(
    ctx: &RequestCtx<'_>,
    action: ApprovalAction,
    params: Value,
) -> Result<Value, ApiError> {
    let req: StrategyRequest = serde_json::from_value(params)
        .map_err(|e| invalid_params(format!("{} params: {e}", action.as_str())))?;
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let current = golive_store::strategy(&db, &req.strategy_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(404, "STRATEGY_NOT_FOUND", "no such strategy")
                .with_details(json!({"strategy_id": req.strategy_id}))
        })?;
    let capital = match (action, req.capital_allocation_usd_micros) {
        (ApprovalAction::StrategyExecutionLive, None) => current.capital_allocation_usd_micros,
        (ApprovalAction::StrategyExecutionLive, Some(_)) => {
            return Err(invalid_params(
                "strategy.execution_live keeps the allocation; use strategy.increase_capital",
            ))
        }
        (_, None) => return Err(invalid_params("capital_allocation_usd_micros is required")),
        (_, Some(c)) if c <= 0 => {
            return Err(invalid_params(
                "capital_allocation_usd_micros must be positive",
            ))
        }
        (_, Some(c)) if c > crate::store::d1::MAX_SAFE_INTEGER => {
            return Err(invalid_params(format!(
                "capital_allocation_usd_micros must be at most {} (2^53 - 1 micro-dollars)",
                crate::store::d1::MAX_SAFE_INTEGER
            )))
        }
        (_, Some(c)) => c,
    };
    let live = current.mode == "live";
    match action {
        ApprovalAction::StrategyGoLive | ApprovalAction::StrategyExecutionLive if live => {
            return Err(
                ApiError::new(409, "STRATEGY_ALREADY_LIVE", "the strategy is live")
                    .with_details(json!({"strategy_id": current.id})),
            )
        }
        ApprovalAction::StrategyIncreaseCapital
            if capital <= current.capital_allocation_usd_micros =>
        {
            return Err(ApiError::new(
                400,
                "APPROVAL_NOT_REQUIRED",
                "not an increase; lowering the allocation needs no second operator",
            )
            .with_details(json!({"current": current.capital_allocation_usd_micros})))
        }
        _ => {}
    }
    Ok(json!({
        "strategy_id": current.id,
        "capital_allocation_usd_micros": capital,
        "from": {"mode": current.mode, "capital_allocation_usd_micros": current.capital_allocation_usd_micros},
    }))
}

/// `POST /admin/strategies/{id}/go-live {"capitalAllocationUsd"}`: requests the go-live
/// approval (`strategy.go_live`); a second operator's approval makes the strategy live if the
/// go-live preconditions hold then. The allocation is dollars as a string (`"2500.00"`) or an
/// integer; a float is refused (money is fixed-point).
pub async fn go_live(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct GoLiveBody {
        capital_allocation_usd: Value,
        #[serde(default)]
        reason: String,
        #[serde(default)]
        expires_in_secs: Option<i64>,
    }
    let body: GoLiveBody = ctx.json()?;
    let usd = match &body.capital_allocation_usd {
        Value::String(s) => Usd::parse_dollars(s).ok(),
        Value::Number(n) => n.as_i64().and_then(Usd::from_dollars),
        _ => None,
    }
    .filter(|u| u.micros() > 0)
    .ok_or_else(|| {
        ApiError::new(
            400,
            "INVALID_APPROVAL",
            "capitalAllocationUsd must be positive dollars: \"2500.00\" or 2500",
        )
        .with_details(json!({"field": "capitalAllocationUsd"}))
    })?;
    let id = ctx.param("id").unwrap_or_default();
    let params = fix_strategy_params(
        ctx,
        ApprovalAction::StrategyGoLive,
        json!({"strategy_id": id, "capital_allocation_usd_micros": usd.micros()}),
    )
    .await?;
    request(
        ctx,
        ApprovalAction::StrategyGoLive,
        params,
        &body.reason,
        body.expires_in_secs,
    )
    .await
}

/// What go-live depends on, as found now.
async fn golive_facts(ctx: &RequestCtx<'_>, db: &Db) -> GoLiveFacts {
    let latest_gate = match gate_store::latest(db, crate::jobs::gate::PRODUCTION).await {
        Ok(row) => row.map(|r| (r.status, r.created_at_ms)),
        Err(_) => None,
    };
    let audit = crate::jobs::gate::audit_status(ctx.env).await;
    let last_full_verification = audit
        .pointer("/verification/last_full")
        .filter(|v| v.is_object())
        .and_then(|v| Some((v["valid"].as_bool()?, v["finished_at_ms"].as_i64()?)));
    let breaker = risk_client::state(ctx.env)
        .await
        .ok()
        .and_then(|v| v["breaker"]["state"].as_str().map(str::to_string));
    GoLiveFacts {
        latest_gate,
        last_full_verification,
        breaker,
        kalshi_credentials: crate::kalshi_client::credentials_present(ctx.env).configured(),
        // The security guide's go-live checklist (GET /admin/preflight): go-live refuses while it
        // fails.
        preflight_passed: Some(crate::checklist::evaluate(ctx.env, ctx.log).await.pass),
    }
}

/// Executes a strategy action: preconditions first (go-live and live execution), then the
/// compare-and-swap on the strategy as it was at the request.
async fn execute_strategy(ctx: &RequestCtx<'_>, a: &Approval) -> Result<Value, Value> {
    let params = a.params_value();
    let approver = a.decided_by.clone().unwrap_or_default();
    let db = Db::open(ctx.env, "DB", ctx.log).map_err(|e| json!({"reasons": [e.code()]}))?;
    let id = params["strategy_id"].as_str().unwrap_or_default();
    let capital = params["capital_allocation_usd_micros"]
        .as_i64()
        .unwrap_or(0);
    let current = golive_store::strategy(&db, id)
        .await
        .map_err(|e| json!({"reasons": [e.code()]}))?
        .ok_or_else(|| json!({"reasons": ["STRATEGY_NOT_FOUND"]}))?;
    let from = &params["from"];
    if json!(current.mode) != from["mode"]
        || json!(current.capital_allocation_usd_micros) != from["capital_allocation_usd_micros"]
    {
        return Err(json!({
            "reasons": ["STRATEGY_CHANGED_SINCE_REQUEST"],
            "current": {"mode": current.mode, "capital_allocation_usd_micros": current.capital_allocation_usd_micros},
        }));
    }
    let now = crate::core::time::format_utc(crate::clock::now());
    let goes_live = a.action != ApprovalAction::StrategyIncreaseCapital;
    if goes_live {
        let policy = GoLivePolicy::from_var(
            crate::bindings::var(ctx.env, "GO_LIVE_MAX_GATE_AGE_H").as_deref(),
        )
        .map_err(|e| json!({"reasons": ["GO_LIVE_CONFIG_INVALID"], "detail": e}))?;
        let facts = golive_facts(ctx, &db).await;
        let unmet = golive::unmet(&facts, &policy, crate::clock::now_ms());
        if !unmet.is_empty() {
            return Err(json!({"reasons": unmet, "facts": facts}));
        }
        let done = golive_store::go_live(&db, &current, capital, &approver, &now)
            .await
            .map_err(|e| json!({"reasons": [e.code()]}))?;
        if !done {
            return Err(json!({"reasons": ["STRATEGY_CHANGED_SINCE_REQUEST"]}));
        }
        return Ok(
            json!({"strategy_id": id, "mode": "live", "capital_allocation_usd_micros": capital, "facts": facts}),
        );
    }
    let done = golive_store::set_capital(&db, &current, capital, &approver, &now)
        .await
        .map_err(|e| json!({"reasons": [e.code()]}))?;
    if !done {
        return Err(json!({"reasons": ["STRATEGY_CHANGED_SINCE_REQUEST"]}));
    }
    Ok(json!({"strategy_id": id, "capital_allocation_usd_micros": capital}))
}

/// `POST /admin/approvals {"action","params","reason"?,"expiresInSecs"?}`
pub async fn create(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let body: RequestBody = ctx.json()?;
    let action = ApprovalAction::parse(&body.action).ok_or_else(|| {
        ApiError::new(400, "INVALID_APPROVAL", "unknown action").with_details(json!({
            "field": "action",
            "allowed": ApprovalAction::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        }))
    })?;
    let params = fix_params(ctx, action, body.params).await?;
    request(ctx, action, params, &body.reason, body.expires_in_secs).await
}

/// Creates, audits and stores a pending request for `action` with its fixed `params`.
pub async fn request(
    ctx: &RequestCtx<'_>,
    action: ApprovalAction,
    params: Value,
    reason: &str,
    expires_in_secs: Option<i64>,
) -> Result<Response, ApiError> {
    let now = crate::clock::now_ms();
    let approval = Approval::request(
        crate::ids::random_hex(16),
        action,
        &params,
        &ctx.actor(),
        reason,
        now,
        expires_in_secs.unwrap_or(DEFAULT_TTL_SECS),
    )?;
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    ctx.audit_first(
        "APPROVAL_REQUESTED",
        json!({"approval": approval.audit_payload(), "params": approval.params_value()}),
        "approval_step_not_audited",
    )
    .await?;
    store::insert(&db, &approval).await?;
    json_response(201, &json!({"approval": approval.view(now)}))
}

/// `GET /admin/approvals?status=&limit=`
pub async fn list(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let filter = match ctx.query("status") {
        None | Some("") => None,
        Some(s) => Some(StatusFilter::parse(s).ok_or_else(|| {
            params::invalid(
                "status",
                "one of pending, expired, executing, executed, failed, rejected",
            )
        })?),
    };
    let limit = params::limit(ctx.query("limit"), 100, 500)?;
    let now = crate::clock::now_ms();
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let rows = store::list(&db, filter, now, limit).await?;
    let out: Vec<Value> = rows.iter().map(|a| a.view(now)).collect();
    json_response(200, &json!({"approvals": out}))
}

/// `GET /admin/approvals/{id}`
pub async fn get(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let id = ctx.param("id").unwrap_or_default();
    let a = store::get(&db, id).await?.ok_or_else(|| not_found(id))?;
    json_response(200, &json!({"approval": a.view(crate::clock::now_ms())}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    #[serde(default)]
    reason: String,
}

fn decision_body(ctx: &RequestCtx<'_>) -> Result<DecisionBody, ApiError> {
    if ctx.body.is_null() {
        return Ok(DecisionBody::default());
    }
    ctx.json()
}

/// The answer when a compare-and-swap lost: someone decided first.
async fn lost_race(db: &Db, id: &str) -> ApiError {
    let status = match store::get(db, id).await {
        Ok(Some(a)) => a.status,
        _ => ApprovalStatus::Executing,
    };
    ApprovalError::AlreadyDecided { status }.into()
}

/// `POST /admin/approvals/{id}/approve`: a second operator approves; the action runs once, now.
pub async fn approve(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    decision_body(ctx)?;
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let id = ctx.param("id").unwrap_or_default();
    let pending = store::get(&db, id).await?.ok_or_else(|| not_found(id))?;
    let now = crate::clock::now_ms();
    let claimed = pending.approve(&ctx.actor(), now)?;
    // Claim it: only one approver gets past this line.
    if !store::update(&db, &claimed, ApprovalStatus::Pending, now).await? {
        return Err(lost_race(&db, id).await);
    }
    let audited = ctx
        .audit_first(
            "APPROVAL_APPROVED",
            json!({"approval": claimed.audit_payload(), "params": claimed.params_value()}),
            "approval_step_not_audited",
        )
        .await;
    if let Err(e) = audited {
        // Nothing happened: give the request back.
        let _ = store::update(&db, &claimed.unclaim(), ApprovalStatus::Executing, now).await;
        return Err(e);
    }
    let outcome = execute(ctx, &claimed).await;
    let finished = claimed.finish(outcome);
    let kind = if finished.status == ApprovalStatus::Executed {
        "APPROVAL_EXECUTED"
    } else {
        "APPROVAL_FAILED"
    };
    // The action already happened (or refused) and audited itself; the outcome record is
    // best-effort after it, and its absence is logged.
    let _ = ctx
        .audit_first(
            kind,
            json!({"approval": finished.audit_payload(), "result": finished.result}),
            "approval_step_not_audited",
        )
        .await;
    let done_at = crate::clock::now_ms();
    if !store::update(&db, &finished, ApprovalStatus::Executing, done_at).await? {
        ctx.log.error(
            "approval_outcome_not_stored",
            json!({"id": finished.id, "status": finished.status.as_str()}),
        );
        return Err(ApiError::internal());
    }
    if finished.status == ApprovalStatus::Executed {
        json_response(200, &json!({"approval": finished.view(done_at)}))
    } else {
        Err(ApiError::new(
            409,
            "APPROVAL_ACTION_FAILED",
            "the approved action was refused; nothing changed",
        )
        .with_details(json!({"approval": finished.view(done_at)})))
    }
}

/// `POST /admin/approvals/{id}/reject {"reason"?}`: the requester withdraws or anyone refuses.
pub async fn reject(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let body = decision_body(ctx)?;
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let id = ctx.param("id").unwrap_or_default();
    let pending = store::get(&db, id).await?.ok_or_else(|| not_found(id))?;
    let now = crate::clock::now_ms();
    let rejected = pending.reject(&ctx.actor(), &body.reason, now)?;
    ctx.audit_first(
        "APPROVAL_REJECTED",
        json!({"approval": rejected.audit_payload(), "reason": body.reason}),
        "approval_step_not_audited",
    )
    .await?;
    if !store::update(&db, &rejected, ApprovalStatus::Pending, now).await? {
        return Err(lost_race(&db, id).await);
    }
    json_response(200, &json!({"approval": rejected.view(now)}))
}

/// Runs an approved action: `Ok(result)` when it happened, `Err(reasons)` when it was refused
/// and nothing changed.
async fn execute(ctx: &RequestCtx<'_>, a: &Approval) -> Result<Value, Value> {
    let params = a.params_value();
    let approver = a.decided_by.clone().unwrap_or_default();
    match a.action {
        ApprovalAction::RiskLoosenLimits => {
            let current = match risk_client::state(ctx.env).await {
                Ok(v) => v["limits"].clone(),
                Err(e) => return Err(json!({"reasons": [e.code]})),
            };
            if current != params["base"] {
                return Err(json!({
                    "reasons": ["LIMITS_CHANGED_SINCE_REQUEST"],
                    "current": current,
                }));
            }
            let reason: String = format!(
                "approval {} requested by {}: {}",
                a.id,
                a.requested_by,
                params["reason"].as_str().unwrap_or_default()
            )
            .chars()
            .take(500)
            .collect();
            // The governor compares its limits with `base` again in the same step as the
            // change: a tightening landing after the read above is never undone.
            match risk_client::apply_approved_limits(
                ctx.env,
                &approver,
                &params["base"],
                &params["limits"],
                &reason,
            )
            .await
            {
                Ok(after) => Ok(json!({"limits": after["view"]["limits"]})),
                Err(e) => Err(json!({"reasons": [e.code], "message": e.message})),
            }
        }
        ApprovalAction::StrategyGoLive
        | ApprovalAction::StrategyIncreaseCapital
        | ApprovalAction::StrategyExecutionLive => execute_strategy(ctx, a).await,
    }
}
