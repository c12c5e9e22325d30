//! `GET /admin/preflight` (the go-live checklist) and `POST /admin/d1/query` (read-only
//! operator SQL through the D1 gate).

use crate::audit_client::{self, AuditRecord};
use crate::core::sql_guard::MAX_STATEMENT_BYTES;
use crate::http::{error::ApiError, json_response, RequestCtx};
use crate::store::d1::{Db, DbError, Param};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use worker::Response;

/// Rows returned by one operator query at most; more are cut off and `truncated` says so.
pub const MAX_QUERY_ROWS: usize = 1_000;

/// The checklist, always `200`: `pass` says whether go-live may proceed.
pub async fn preflight(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let checklist = crate::checklist::evaluate(ctx.env, ctx.log).await;
    let body = serde_json::to_value(&checklist).map_err(|_| ApiError::internal())?;
    json_response(200, &body)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryRequest {
    db: String,
    sql: String,
    #[serde(default)]
    params: Vec<Value>,
}

fn binding(name: &str) -> Result<&'static str, ApiError> {
    match name {
        "DB" => Ok("DB"),
        "DB_ANCHOR" => Ok("DB_ANCHOR"),
        _ => Err(ApiError::invalid_request(
            "db must be \"DB\" or \"DB_ANCHOR\"",
        )),
    }
}

fn param(index: usize, v: &Value) -> Result<Param<'_>, ApiError> {
    let bad = |why: &str| ApiError::invalid_request(format!("params[{index}] {why}"));
    Ok(match v {
        Value::Null => Param::Null,
        Value::Bool(b) => Param::Bool(*b),
        Value::String(s) => Param::Text(s),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Param::Int(i),
            (None, Some(f)) if n.is_f64() => Param::Real(f),
            _ => return Err(bad("is out of range")),
        },
        Value::Array(_) | Value::Object(_) => {
            return Err(bad("must be null, a boolean, a number or a string"))
        }
    })
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Appends the operator's query (or its refusal) before anything runs; on failure nothing runs.
async fn audit(ctx: &RequestCtx<'_>, kind: &str, payload: Value) -> Result<(), ApiError> {
    let record = AuditRecord {
        actor: ctx.actor(),
        kind: kind.to_string(),
        payload,
        evidence_hash: None,
    };
    audit_client::append(ctx.env, vec![record])
        .await
        .map(|_| ())
        .map_err(|e| {
            ApiError::unavailable(
                e.code().to_string(),
                "the audit log could not record the query; nothing was run",
            )
        })
}

/// `POST /admin/d1/query {"db","sql","params"?}`: one SELECT with bound parameters. Refused
/// forms answer `400 DB_STATEMENT_FORBIDDEN` with the rule, writes `400 DB_QUERY_READ_ONLY`;
/// each query and each refusal is appended to the audit log first (`d1.query`,
/// `d1.query_refused`), with the statement text, its SHA-256 and the number of parameters
/// (their values are not recorded).
pub async fn d1_query(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let req: QueryRequest = ctx.json()?;
    let binding = binding(&req.db)?;
    if req.sql.len() > MAX_STATEMENT_BYTES {
        return Err(ApiError::invalid_request(format!(
            "sql is longer than {MAX_STATEMENT_BYTES} bytes"
        )));
    }
    let params = req
        .params
        .iter()
        .enumerate()
        .map(|(i, v)| param(i, v))
        .collect::<Result<Vec<_>, _>>()?;
    let recorded = json!({
        "db": binding,
        "sql": req.sql,
        "sql_sha256": sha256_hex(&req.sql),
        "params": params.len(),
        "request_id": ctx.log.request_id(),
    });
    // Check before recording, so the record says whether it ran.
    let verdict = crate::core::sql_guard::check_bound(&req.sql, params.len());
    let refusal = match &verdict {
        Err(e) => Some(json!({"code": e.code(), "reason": e.reason()})),
        Ok(c) if c.kind != crate::core::sql_guard::StatementKind::Select => {
            Some(json!({"code": "DB_QUERY_READ_ONLY", "kind": c.kind.as_str()}))
        }
        Ok(_) => None,
    };
    if let Some(refusal) = refusal {
        let mut payload = recorded;
        payload["refusal"] = refusal;
        audit(ctx, "d1.query_refused", payload).await?;
    } else {
        audit(ctx, "d1.query", recorded).await?;
    }
    let db = Db::open(ctx.env, binding, ctx.log)?;
    let rows = db
        .operator_select(&req.sql, &params)
        .await
        .map_err(|e| match e {
            DbError::Forbidden(g) => {
                ApiError::new(400, g.code(), "statement refused by the D1 guardrails")
                    .with_details(json!({ "reason": g.reason() }))
            }
            other => other.into(),
        })?;
    let truncated = rows.len() > MAX_QUERY_ROWS;
    let rows: Vec<Value> = rows.into_iter().take(MAX_QUERY_ROWS).collect();
    json_response(
        200,
        &json!({
            "db": binding,
            "count": rows.len(),
            "truncated": truncated,
            "rows": rows,
        }),
    )
}
