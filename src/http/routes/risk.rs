//! Circuit breaker and risk routes: thin translations to `RiskGovernor` events.

use crate::core::breaker::{BreakerState, TransitionRequest};
use crate::core::risk::{parse_limits, Event, OrderIntent};
use crate::http::{error::ApiError, json_response, RequestCtx};
use crate::risk_client;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::Response;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TransitionBody {
    target_state: BreakerState,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsBody {
    /// The limits to change; fields not given keep their current value.
    limits: serde_json::Map<String, Value>,
    reason: String,
}

/// `GET /admin/circuit-breaker`
pub async fn get_breaker(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let view = risk_client::state(ctx.env).await?;
    json_response(200, &view["breaker"])
}

/// `POST /admin/circuit-breaker/transition {"targetState","reason"}`
pub async fn transition(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let body: TransitionBody = ctx.json()?;
    let event = Event::ManualTransition(TransitionRequest {
        target: body.target_state,
        reason: body.reason,
        actor: ctx.actor(),
    });
    let view = risk_client::apply(ctx.env, &ctx.actor(), &event).await?;
    json_response(200, &view["view"]["breaker"])
}

/// `GET /admin/risk`: limits and the utilisation of each.
pub async fn get_risk(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let view = risk_client::state(ctx.env).await?;
    json_response(
        200,
        &json!({
            "breaker_state": view["breaker"]["state"],
            "limits": view["limits"],
            "utilisation": view["utilisation"],
            "book": view["book"],
        }),
    )
}

/// `PUT /admin/risk/limits {"limits":{…},"reason"}`: tightening applies at once; loosening is
/// refused with `REQUIRES_TWO_PERSON_APPROVAL` and goes through `POST /admin/approvals`
/// (`risk.loosen_limits`), which executes it with `core::risk::apply_limits` once a second
/// operator approves.
pub async fn put_limits(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let body: LimitsBody = ctx.json()?;
    let view = risk_client::state(ctx.env).await?;
    // The limits the change is merged onto: the governor refuses the update if they moved
    // before it lands (409 LIMITS_CHANGED_SINCE_REQUEST; read again and retry).
    let base = parse_limits(&view["limits"].to_string()).map_err(|_| ApiError::internal())?;
    let mut merged = view["limits"].clone();
    let Some(target) = merged.as_object_mut() else {
        return Err(ApiError::internal());
    };
    for (k, v) in body.limits {
        target.insert(k, v);
    }
    let proposed = parse_limits(&merged.to_string()).map_err(|e| {
        let details: serde_json::Map<String, Value> = e
            .details()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        ApiError::new(400, e.code(), e.to_string()).with_details(Value::Object(details))
    })?;
    let event = Event::LimitsUpdate {
        proposed,
        actor: ctx.actor(),
        reason: body.reason,
        base: Some(base),
    };
    let after = risk_client::apply(ctx.env, &ctx.actor(), &event)
        .await
        .map_err(|mut e| {
            // Loosening goes through a two-person approval; say which action to request.
            if e.code == "REQUIRES_TWO_PERSON_APPROVAL" {
                if let Some(d) = e.details.as_object_mut() {
                    d.insert("approval_action".into(), json!("risk.loosen_limits"));
                    d.insert("approval_route".into(), json!("POST /admin/approvals"));
                }
            }
            e
        })?;
    json_response(200, &json!({"limits": after["view"]["limits"]}))
}

/// `POST /admin/risk/check`: an operator's dry run of an order intent through the real check.
/// An approval holds its reservation for `RISK_DRY_RUN_HOLD_SECS` (default 60 s).
pub async fn check(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let intent: OrderIntent = ctx.json()?;
    let verdict = risk_client::check(ctx.env, &ctx.actor(), &intent, true).await?;
    json_response(200, &verdict)
}

/// `GET /admin/risk/decisions?limit=`
pub async fn decisions(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let limit = match ctx.query("limit") {
        None => 50,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::new(400, "INVALID_QUERY", "limit must be an integer in 1..=1000")
            })?,
    };
    let decisions = risk_client::decisions(ctx.env, limit).await?;
    json_response(200, &decisions)
}

/// Drawdown of `equity` from `peak` in basis points, rounded down (`None` without a positive
/// peak). The same measure the drawdown limit uses: (peak − equity) / peak.
fn drawdown_bps(equity: i64, peak: Option<i64>) -> Option<i64> {
    let peak = peak.filter(|p| *p > 0)?;
    let dd = (i128::from(peak) - i128::from(equity)).max(0) * 10_000 / i128::from(peak);
    i64::try_from(dd).ok()
}

/// `GET /admin/risk/equity?limit=`: the governor's equity curve, oldest first (a point each time
/// equity moved, at most the last `limit`, default 500, up to 2000), with each point's drawdown
/// from the peak at that time.
pub async fn equity(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let limit = match ctx.query("limit") {
        None => 500,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=2000).contains(n))
            .ok_or_else(|| {
                ApiError::new(400, "INVALID_QUERY", "limit must be an integer in 1..=2000")
            })?,
    };
    let curve = risk_client::equity(ctx.env, limit).await?;
    let points: Vec<Value> = curve["points"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let equity = p["equity_usd_micros"].as_i64();
                    let peak = p["peak_equity_usd_micros"].as_i64();
                    json!({
                        "at": p["at"],
                        "equity_usd_micros": equity,
                        "peak_equity_usd_micros": peak,
                        "drawdown_bps": equity.and_then(|e| drawdown_bps(e, peak)),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json_response(200, &json!({"points": points}))
}

#[cfg(test)]
mod tests {
    use super::drawdown_bps;

    #[test]
    fn drawdown_is_basis_points_of_the_peak_rounded_down() {
        assert_eq!(drawdown_bps(10_000_000_000, Some(10_000_000_000)), Some(0));
        // $9,700 from a $10,000 peak: 3.00 %.
        assert_eq!(drawdown_bps(9_700_000_000, Some(10_000_000_000)), Some(300));
        // One micro-dollar below the peak is not yet a basis point.
        assert_eq!(drawdown_bps(9_999_999_999, Some(10_000_000_000)), Some(0));
        assert_eq!(drawdown_bps(9_999_000_000, Some(10_000_000_000)), Some(1));
        assert_eq!(drawdown_bps(9_991_000_000, Some(10_000_000_000)), Some(9));
        // Above the peak (the peak is updated after) is no drawdown.
        assert_eq!(drawdown_bps(10_100_000_000, Some(10_000_000_000)), Some(0));
        assert_eq!(drawdown_bps(1, None), None);
        assert_eq!(drawdown_bps(1, Some(0)), None);
    }
}
