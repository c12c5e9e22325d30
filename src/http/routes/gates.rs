//! The production gate's routes: run it, read the latest or one artifact, compare two.

use crate::core::gate_artifact;
use crate::http::{error::ApiError, json_response, params, RequestCtx};
use crate::jobs::gate as job;
use crate::store::d1::Db;
use crate::store::gate as store;
use serde_json::{json, Value};
use worker::Response;

fn not_found(run_id: &str) -> ApiError {
    ApiError::new(
        404,
        "GATE_ARTIFACT_NOT_FOUND",
        "no production gate artifact with that run id",
    )
    .with_details(json!({"run_id": run_id}))
}

/// `POST /admin/gates/production/run`: runs the gate now and answers with the artifact.
pub async fn run(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    if !ctx.body.is_null() && ctx.body != json!({}) {
        return Err(ApiError::invalid_request("this route takes no parameters"));
    }
    let (row, artifact) = job::run_production(
        ctx.env,
        ctx.log,
        &ctx.actor(),
        &format!("manual:{}", ctx.actor()),
    )
    .await?;
    json_response(201, &json!({"index": row.to_json(), "artifact": artifact}))
}

/// `POST /admin/gates/replay/run`: runs the gate-lift replay now (runbook §8), as the daily
/// cron does when `ENABLE_GATE_LIFT_REPLAY=1`; answers with the artifact. Off → `409
/// REPLAY_DISABLED`, nothing written.
pub async fn replay_run(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    if !ctx.body.is_null() && ctx.body != json!({}) {
        return Err(ApiError::invalid_request("this route takes no parameters"));
    }
    let ran = job::run_replay(
        ctx.env,
        ctx.log,
        &ctx.actor(),
        &format!("manual:{}", ctx.actor()),
    )
    .await?;
    let Some((row, artifact)) = ran else {
        return Err(ApiError::new(
            409,
            "REPLAY_DISABLED",
            "the gate-lift replay is off (ENABLE_GATE_LIFT_REPLAY=0)",
        ));
    };
    json_response(201, &json!({"index": row.to_json(), "artifact": artifact}))
}

async fn by_run_id(ctx: &RequestCtx<'_>, db: &Db, run_id: &str) -> Result<Value, ApiError> {
    if !gate_artifact::valid_run_id(run_id) {
        return Err(not_found(run_id));
    }
    let row = store::get(db, job::PRODUCTION, run_id)
        .await?
        .ok_or_else(|| not_found(run_id))?;
    let artifact = job::load(ctx.env, &row).await?;
    Ok(json!({"index": row.to_json(), "artifact": artifact}))
}

/// `GET /admin/gates/production`: the latest artifact, and the newest few index rows.
pub async fn latest(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let limit = params::limit(ctx.query("limit"), 10, 100)?;
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let Some(row) = store::latest(&db, job::PRODUCTION).await? else {
        return Err(ApiError::new(
            404,
            "GATE_NOT_RUN",
            "the production gate has not run yet; POST /admin/gates/production/run",
        ));
    };
    let artifact = job::load(ctx.env, &row).await?;
    let recent: Vec<Value> = store::list(&db, job::PRODUCTION, limit)
        .await?
        .iter()
        .map(|r| r.to_json())
        .collect();
    json_response(
        200,
        &json!({"index": row.to_json(), "artifact": artifact, "recent": recent}),
    )
}

/// `GET /admin/gates/production/{run_id}`
pub async fn get(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let run_id = ctx.param("run_id").unwrap_or_default();
    json_response(200, &by_run_id(ctx, &db, run_id).await?)
}

/// `GET /admin/gates/compare?a=&b=`: what changed from artifact `a` to artifact `b`.
pub async fn compare(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let a = ctx
        .query("a")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| params::invalid("a", "a run id is required"))?;
    let b = ctx
        .query("b")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| params::invalid("b", "a run id is required"))?;
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let a = by_run_id(ctx, &db, a).await?;
    let b = by_run_id(ctx, &db, b).await?;
    json_response(200, &gate_artifact::compare(&a["artifact"], &b["artifact"]))
}
