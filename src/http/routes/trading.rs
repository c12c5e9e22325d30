//! The trading cycle's operator routes: strategies and their modes, signals, orders, closed
//! trades, positions, reconciliation and integrity violations. Changes are appended to the
//! audit log (with the operator) before they are stored; `503 AUDIT_UNAVAILABLE` and nothing
//! changes if the append fails.

use crate::core::orders::OrderState;
use crate::http::{error::ApiError, json_response, params, RequestCtx};
use crate::jobs::cycle::{self, Cx};
use crate::store::d1::Db;
use crate::store::trading::{self as store, Mode};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::Response;

/// Most characters of an operator's notes.
const MAX_NOTES: usize = 2_000;

/// An operator's live reconciliation waits while a live order changed this recently and is
/// still unsettled (one cycle period): that order may be in flight in a running cycle, whose
/// answer the reconciliation must not pre-empt.
const IN_FLIGHT_SECS: i64 = 300;

fn limit(ctx: &RequestCtx<'_>) -> Result<i64, ApiError> {
    params::limit(ctx.query("limit"), 100, 500)
}

/// `GET /admin/strategies`
pub async fn strategies(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let list: Vec<Value> = store::strategies(&db)
        .await?
        .iter()
        .map(store::Strategy::to_json)
        .collect();
    json_response(200, &json!({"strategies": list}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeBody {
    mode: String,
}

/// `POST /admin/strategies/{id}/mode {"mode": "disabled" | "paper"}`. `live` is refused: it
/// needs the two-person approval path.
pub async fn set_mode(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let body: ModeBody = ctx.json()?;
    let mode = match Mode::parse(&body.mode) {
        Some(Mode::Live) => {
            return Err(ApiError::new(
                409,
                "LIVE_REQUIRES_TWO_PERSON_APPROVAL",
                "a strategy goes live only through the two-person approval path (POST /admin/approvals, issue 7), not this route",
            )
            .with_details(json!({"mode": "live", "allowed": ["disabled", "paper"]})))
        }
        Some(m) => m,
        None => {
            return Err(ApiError::invalid_request(
                "mode must be \"disabled\" or \"paper\"",
            ))
        }
    };
    let id = ctx.param("id").unwrap_or_default();
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let current = store::strategy(&db, id).await?.ok_or_else(|| {
        ApiError::new(404, "STRATEGY_NOT_FOUND", "no such strategy").with_details(json!({"id": id}))
    })?;
    if current.mode == mode {
        return json_response(
            200,
            &json!({"strategy": current.to_json(), "changed": false}),
        );
    }
    let seq = ctx
        .audit_first(
            "STRATEGY_MODE_CHANGED",
            json!({"strategy_id": id, "from": current.mode, "to": mode}),
            "trading_change_not_audited",
        )
        .await?;
    if !store::set_mode(
        &db,
        id,
        mode,
        current.mode,
        &ctx.actor(),
        crate::clock::now(),
    )
    .await?
    {
        return Err(ApiError::new(
            409,
            "STRATEGY_CHANGED_CONCURRENTLY",
            "the strategy changed; retry",
        )
        .with_details(json!({"id": id})));
    }
    let stored = store::strategy(&db, id)
        .await?
        .ok_or_else(ApiError::internal)?;
    json_response(
        200,
        &json!({"strategy": stored.to_json(), "changed": true, "audit_seq": seq}),
    )
}

/// `GET /admin/signals?market=&limit=`
pub async fn signals(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let limit = limit(ctx)?;
    let market = ctx.query("market").filter(|m| !m.is_empty());
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let rows: Vec<Value> = store::signals(&db, market, limit)
        .await?
        .iter()
        .map(store::SignalRow::to_json)
        .collect();
    json_response(200, &json!({"signals": rows}))
}

const ORDER_STATES: [OrderState; 9] = [
    OrderState::Intent,
    OrderState::Approved,
    OrderState::Submitted,
    OrderState::Resting,
    OrderState::PartiallyFilled,
    OrderState::Filled,
    OrderState::Cancelled,
    OrderState::Rejected,
    OrderState::Unknown,
];

/// `GET /admin/orders?state=&limit=`
pub async fn orders(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let limit = limit(ctx)?;
    let state = match ctx.query("state") {
        None | Some("") => None,
        Some(s) => Some(
            ORDER_STATES
                .iter()
                .find(|o| o.as_str() == s)
                .map(|o| o.as_str())
                .ok_or_else(|| {
                    params::invalid(
                        "state",
                        "one of intent, approved, submitted, resting, partially_filled, filled, cancelled, rejected, unknown",
                    )
                })?,
        ),
    };
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let rows = store::orders(&db, state, limit).await?;
    json_response(200, &json!({"orders": rows}))
}

/// `GET /admin/trades?market=&limit=`: closed trades, newest first, with realised P&L.
pub async fn trades(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let limit = limit(ctx)?;
    let market = ctx.query("market").filter(|m| !m.is_empty());
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let rows = store::trades(&db, market, limit).await?;
    let total: i64 = rows.iter().map(|t| t.realised_pnl_micros).sum();
    let out: Vec<Value> = rows.iter().map(store::TradeRow::to_json).collect();
    json_response(
        200,
        &json!({"trades": out, "realised_pnl_usd_micros": total}),
    )
}

/// `GET /admin/positions`: the paper position book.
pub async fn positions(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let rows: Vec<Value> = store::positions(&db, Mode::Paper)
        .await?
        .iter()
        .map(store::BookPosition::to_json)
        .collect();
    json_response(200, &json!({"mode": "paper", "positions": rows}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReconcileBody {
    #[serde(default)]
    mode: Option<String>,
}

/// `POST /admin/reconcile [{"mode": "paper" | "live"}]`: reconciles now (the cycle does both
/// every run). Paper (the default) checks the paper book against its fill ledger; `live` checks
/// the live book against the venue, and is refused `409 LIVE_NOT_ACTIVE` while nothing trades
/// live (a venue read without live trading would only report failures to the breaker) and
/// `409 ORDERS_IN_FLIGHT` while an unsettled live order changed in the last five minutes (a
/// running cycle may be executing it). While trading live, a clean *paper* reconciliation does
/// not count for the breaker: HALT → RECOVERY then needs a clean live one.
pub async fn reconcile(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let body: ReconcileBody = if ctx.body.is_null() {
        ReconcileBody::default()
    } else {
        ctx.json()?
    };
    let live = match body.mode.as_deref() {
        None | Some("paper") => false,
        Some("live") => true,
        Some(_) => {
            return Err(
                ApiError::invalid_request("mode must be \"paper\" or \"live\"")
                    .with_details(json!({"field": "mode"})),
            )
        }
    };
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let run_id = format!("op-{}", crate::ids::random_hex(4));
    let cx = Cx {
        env: ctx.env,
        log: ctx.log,
        db: &db,
        run_id: &run_id,
        actor: ctx.actor(),
        now: crate::clock::now(),
    };
    let triggered_by = format!("operator:{}", ctx.actor());
    let trading_live = crate::jobs::live::is_active(&cx).await?;
    let result = if !live {
        cycle::reconcile_paper(&cx, &triggered_by, trading_live).await
    } else if trading_live {
        let since = cx.now - chrono::Duration::seconds(IN_FLIGHT_SECS);
        let in_flight: Vec<Value> = crate::store::live::unsettled_orders(&db)
            .await?
            .iter()
            .filter(|o| o.updated_at > since)
            .map(|o| json!({"client_order_id": o.client_order_id, "state": o.state.as_str()}))
            .collect();
        if !in_flight.is_empty() {
            return Err(ApiError::new(
                409,
                "ORDERS_IN_FLIGHT",
                "a live order may be in flight in a running cycle; retry in a few minutes",
            )
            .with_details(json!({"orders": in_flight, "retry_after_secs": IN_FLIGHT_SECS})));
        }
        crate::jobs::live::reconcile(&cx, &triggered_by).await
    } else {
        return Err(ApiError::new(
            409,
            "LIVE_NOT_ACTIVE",
            "nothing trades live: no live strategy, fill or open live order",
        ));
    };
    match result {
        Ok(v) => json_response(200, &json!({"reconciliation": v})),
        Err(e) => Err(match e {
            cycle::ReconcileError::Db(d) => d.into(),
            cycle::ReconcileError::Config(detail) => {
                ApiError::new(500, "CONFIG_INVALID", "reconciliation settings are invalid")
                    .with_details(json!({"detail": detail}))
            }
        }),
    }
}

/// `GET /admin/reconcile/latest[?mode=paper|live]` (paper by default)
pub async fn reconcile_latest(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let mode = match ctx.query("mode") {
        None | Some("paper") => Mode::Paper,
        Some("live") => Mode::Live,
        Some(_) => return Err(params::invalid("mode", "one of paper, live")),
    };
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    match store::latest_reconciliation(&db, mode).await? {
        Some(r) => json_response(200, &json!({"reconciliation": r.to_json()})),
        None => Err(ApiError::new(
            404,
            "RECONCILIATION_NOT_FOUND",
            "no reconciliation has run yet",
        )),
    }
}

/// `GET /admin/violations?status=open|resolved&limit=`
pub async fn violations(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let limit = limit(ctx)?;
    let status = match ctx.query("status") {
        None | Some("") => None,
        Some(s @ ("open" | "resolved")) => Some(s),
        Some(_) => return Err(params::invalid("status", "one of open, resolved")),
    };
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let rows: Vec<Value> = store::violations(&db, status, limit)
        .await?
        .iter()
        .map(store::ViolationRow::to_json)
        .collect();
    json_response(200, &json!({"violations": rows}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    notes: String,
}

/// `POST /admin/violations/{id}/resolve {"notes"}`: the operator and notes are recorded.
pub async fn resolve_violation(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let body: ResolveBody = ctx.json()?;
    let notes = body.notes.trim();
    if notes.is_empty() || notes.chars().count() > MAX_NOTES {
        return Err(ApiError::invalid_request(format!(
            "notes must be 1 to {MAX_NOTES} characters"
        )));
    }
    let id = ctx.param("id").unwrap_or_default();
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let current = store::violation(&db, id).await?.ok_or_else(|| {
        ApiError::new(404, "VIOLATION_NOT_FOUND", "no such violation")
            .with_details(json!({"id": id}))
    })?;
    if current.status != "open" {
        return Err(ApiError::new(
            409,
            "VIOLATION_NOT_OPEN",
            "the violation is already resolved",
        )
        .with_details(json!({"id": id, "resolved_by": current.resolved_by})));
    }
    let seq = ctx.audit_first("VIOLATION_RESOLVED",
        json!({"violation_id": id, "code": current.code, "subject": current.subject, "notes": notes}), "trading_change_not_audited")
    .await?;
    if !store::resolve_violation(&db, id, &ctx.actor(), notes, crate::clock::now()).await? {
        return Err(ApiError::new(
            409,
            "VIOLATION_NOT_OPEN",
            "the violation is already resolved",
        )
        .with_details(json!({"id": id})));
    }
    let stored = store::violation(&db, id)
        .await?
        .ok_or_else(ApiError::internal)?;
    json_response(
        200,
        &json!({"violation": stored.to_json(), "audit_seq": seq}),
    )
}
