//! `GET /admin/whoami` and `GET /admin/status`.

use crate::http::{error::ApiError, json_response, RequestCtx};
use crate::obs::Logger;
use crate::store::d1::Db;
use serde_json::{json, Value};
use worker::{Env, Response};

pub fn whoami(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let identity = ctx
        .identity
        .as_ref()
        .ok_or_else(ApiError::unauthenticated)?;
    json_response(
        200,
        &json!({ "identity": identity, "request_id": ctx.log.request_id() }),
    )
}

async fn probe_d1(env: &Env, binding: &'static str, log: &Logger) -> Value {
    let result = async {
        Db::open(env, binding, log)?
            .first::<Value>("SELECT 1 AS ok", &[])
            .await
    }
    .await;
    match result {
        Ok(Some(_)) => json!({"reachable": true}),
        Ok(None) => json!({"reachable": false, "code": "D1_EMPTY_RESULT"}),
        Err(_) => json!({"reachable": false, "code": "D1_UNREACHABLE"}),
    }
}

async fn probe_r2(env: &Env, binding: &str) -> Value {
    let result = async { env.bucket(binding)?.head("__probe__").await }.await;
    match result {
        Ok(_) => json!({"reachable": true}),
        Err(_) => json!({"reachable": false, "code": "R2_UNREACHABLE"}),
    }
}

pub async fn status(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let env = ctx.env;
    let bindings = json!({
        "DB": probe_d1(env, "DB", ctx.log).await,
        "DB_ANCHOR": probe_d1(env, "DB_ANCHOR", ctx.log).await,
        "R2_EVIDENCE": probe_r2(env, "R2_EVIDENCE").await,
        "R2_AUDIT": probe_r2(env, "R2_AUDIT").await,
    });
    let breaker = match crate::risk_client::state(env).await {
        Ok(view) => json!({"state": view["breaker"]["state"], "since": view["breaker"]["since"]}),
        Err(e) => json!({"state": null, "code": e.code}),
    };
    json_response(
        200,
        &json!({
            "version": crate::build_info::version(),
            "bindings": bindings,
            "breaker": breaker,
            "now": crate::clock::now().to_rfc3339(),
        }),
    )
}
