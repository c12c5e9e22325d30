//! `POST /admin/ingest/run` (an operator-triggered ingestion run, answered when it ends) and the
//! run index: `GET /admin/runs`, `GET /admin/runs/{id}` (with `?format=jsonl`, the run audit).

use super::evidence::query_int;
use crate::core::run_audit;
use crate::http::{error::ApiError, json_response, RequestCtx};
use crate::jobs::ingest::{self, IngestError, IngestRequest, Trigger, MAX_REQUESTED_MARKETS};
use crate::store::d1::Db;
use crate::store::runs;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::Response;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunBody {
    /// Kalshi tickers whose order books to fetch.
    #[serde(default)]
    orderbooks: Vec<String>,
    /// Kalshi tickers to mark for the risk governor.
    #[serde(default)]
    mark: Vec<String>,
}

fn check_tickers(field: &str, tickers: &[String]) -> Result<(), ApiError> {
    if tickers.len() > MAX_REQUESTED_MARKETS {
        return Err(ApiError::invalid_request(format!(
            "{field}: at most {MAX_REQUESTED_MARKETS} tickers"
        )));
    }
    for t in tickers {
        let ok = (1..=100).contains(&t.len())
            && t.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"-._".contains(&b));
        if !ok {
            return Err(ApiError::invalid_request(format!(
                "{field}: {t:?} is not a Kalshi ticker"
            )));
        }
    }
    Ok(())
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> ApiError {
        match &e {
            IngestError::AlreadyRunning { run_id } => {
                ApiError::new(409, e.code(), "another ingestion run is in progress")
                    .with_details(json!({"run_id": run_id}))
            }
            IngestError::AlreadyRecorded { run_id, status } => {
                ApiError::new(409, e.code(), "this run was already recorded")
                    .with_details(json!({"run_id": run_id, "status": status}))
            }
            IngestError::Db(db) => db.clone().into(),
        }
    }
}

/// `POST /admin/ingest/run {"orderbooks"?: [ticker…], "mark"?: [ticker…]}`
pub async fn run(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let body: RunBody = if ctx.body.is_null() {
        RunBody::default()
    } else {
        ctx.json()?
    };
    check_tickers("orderbooks", &body.orderbooks)?;
    check_tickers("mark", &body.mark)?;
    let req = IngestRequest {
        trigger: Trigger::Operator { actor: ctx.actor() },
        orderbook_tickers: body.orderbooks,
        mark_tickers: body.mark,
        held_tickers: Vec::new(),
    };
    let summary = ingest::run(ctx.env, ctx.log, req).await?;
    json_response(200, &summary.to_json())
}

fn parse_json_text(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or(Value::String(s.to_string()))
}

fn run_json(row: &runs::RunRecord) -> Value {
    let mut v = json!(row);
    v["detail"] = parse_json_text(&row.detail);
    v
}

/// `GET /admin/runs?job=&limit=`: newest first.
pub async fn list(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let limit = query_int(ctx, "limit", 50, 1, 500)?;
    let job = ctx.query("job");
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let rows = runs::list(&db, job, limit).await?;
    let out: Vec<Value> = rows.iter().map(run_json).collect();
    json_response(200, &json!({"runs": out}))
}

/// `GET /admin/runs/{id}`: the run and its steps; `?format=jsonl` returns its run audit.
pub async fn get(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let id = ctx.param("id").unwrap_or_default();
    if !run_audit::is_run_id(id) {
        return Err(ApiError::new(400, "INVALID_RUN_ID", "not a run id"));
    }
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let row = runs::run(&db, id).await?.ok_or_else(|| {
        ApiError::new(404, "RUN_NOT_FOUND", "no such run").with_details(json!({"run_id": id}))
    })?;
    match ctx.query("format") {
        None | Some("json") => {
            let steps: Vec<Value> = runs::steps(&db, id)
                .await?
                .into_iter()
                .map(|s| {
                    let mut v = json!(s);
                    v["counts"] = parse_json_text(&s.counts);
                    if let Some(stopped) = &s.stopped {
                        v["stopped"] = parse_json_text(stopped);
                    }
                    v
                })
                .collect();
            json_response(200, &json!({"run": run_json(&row), "steps": steps}))
        }
        Some("jsonl") => {
            let key = row.audit_key.clone().ok_or_else(|| {
                ApiError::new(
                    404,
                    "RUN_AUDIT_NOT_WRITTEN",
                    "the run has no run audit (yet)",
                )
            })?;
            let text = runs::get_audit(ctx.env, &key)
                .await
                .map_err(|_| {
                    ApiError::unavailable("R2_UNAVAILABLE", "the audit bucket is unavailable")
                })?
                .ok_or_else(|| {
                    ApiError::new(404, "RUN_AUDIT_MISSING", "the run audit object is missing")
                })?;
            let mut resp = Response::ok(text).map_err(|_| ApiError::internal())?;
            let _ = resp
                .headers_mut()
                .set("content-type", "application/x-ndjson");
            Ok(resp)
        }
        Some(_) => Err(ApiError::new(
            400,
            "INVALID_QUERY",
            "format must be json or jsonl",
        )),
    }
}
