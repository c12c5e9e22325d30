//! The audit log over HTTP. Public: `GET /audit/checkpoint` (the latest signed anchor, for
//! outside watchers) and `GET /audit/checkpoint/key` (the key to check it with). Admin:
//! status, verification, proofs, events, and operator notes.

use crate::audit_client::{self, AuditRecord, Reply};
use crate::http::error::ApiError;
use crate::http::{json_response, params, RequestCtx};
use crate::jobs::anchor;
use crate::store::{anchors, runs};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Method, Response};

/// Longest operator note, in characters (Unicode scalar values, which is what the document's
/// JSON Schema `maxLength` counts; at most 4,096 bytes of UTF-8).
pub const MAX_NOTE_CHARS: usize = 1_024;

/// Most notes one request appends.
pub const MAX_NOTES: usize = 100;

fn unavailable(e: audit_client::AuditUnavailable) -> ApiError {
    ApiError::unavailable(e.code().to_string(), "the audit log is unavailable")
        .with_details(json!({ "reason": e.detail() }))
}

/// The object's reply as our response: its JSON on success, its envelope (with its status)
/// on a refusal, `503` when it failed inside.
fn relay(reply: Reply, ok: u16) -> Result<Response, ApiError> {
    if reply.status == ok {
        return json_response(ok, &reply.body);
    }
    match reply.error() {
        Some((code, message)) if reply.status < 500 => {
            Err(ApiError::new(reply.status, code, message)
                .with_details(reply.body["error"]["details"].clone()))
        }
        Some((code, _)) => Err(ApiError::unavailable(code, "the audit log is unavailable")),
        None => Err(ApiError::unavailable(
            "AUDIT_UNAVAILABLE",
            "the audit log is unavailable",
        )),
    }
}

async fn get_from_log(ctx: &RequestCtx<'_>, path: &str) -> Result<Response, ApiError> {
    let reply = audit_client::call(ctx.env, Method::Get, path, None)
        .await
        .map_err(unavailable)?;
    relay(reply, 200)
}

/// `GET /audit/checkpoint`: the latest signed checkpoint, as `text/plain`.
pub async fn checkpoint(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let unreachable = |_| ApiError::unavailable("AUDIT_ANCHORS_UNAVAILABLE", "anchors unavailable");
    let db = anchors::db(ctx.env).map_err(unreachable)?;
    let latest = anchors::latest(&db).await.map_err(unreachable)?;
    let Some(row) = latest else {
        return Err(ApiError::new(
            404,
            "AUDIT_NO_CHECKPOINT",
            "no checkpoint has been anchored yet",
        ));
    };
    let mut response = Response::ok(row.note).map_err(|_| ApiError::internal())?;
    let _ = response
        .headers_mut()
        .set("content-type", "text/plain; charset=utf-8");
    Ok(response)
}

/// `GET /audit/checkpoint/key`: the verifier key string and key id of the anchors.
pub fn checkpoint_key(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    match anchor::public_key(ctx.env) {
        Ok(key) => json_response(200, &key),
        Err(problem) => Err(ApiError::unavailable(problem.code(), problem.message())),
    }
}

/// `GET /admin/audit/status`.
pub async fn status(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let log = match audit_client::call(ctx.env, Method::Get, "/status", None).await {
        Ok(reply) if reply.status == 200 => reply.body,
        Ok(reply) => json!({
            "error": reply.error().map(|(c, _)| c.to_string()).unwrap_or_else(|| "AUDIT_UNAVAILABLE".into())
        }),
        Err(e) => json!({ "error": e.code() }),
    };
    let now_ms = crate::clock::now_ms();
    let anchoring = anchor_status(ctx, now_ms).await;
    let key = match anchor::public_key(ctx.env) {
        Ok(key) => {
            let retired = anchor::key_history(ctx.env).await.unwrap_or_default();
            json!({
                "configured": true,
                "key_id": key["key_id"],
                "origin": key["origin"],
                "rotating_from": key["previous"]["key_id"],
                "retired": retired,
            })
        }
        Err(problem) => json!({"configured": false, "code": problem.code()}),
    };
    let mut body = log;
    if let Value::Object(map) = &mut body {
        map.insert("anchors".into(), anchoring);
        map.insert("signing_key".into(), key);
        map.insert("now_ms".into(), json!(now_ms));
    }
    json_response(200, &body)
}

pub(crate) async fn anchor_status(ctx: &RequestCtx<'_>, now_ms: i64) -> Value {
    let anchors_part = async {
        let db = anchors::db(ctx.env)?;
        let latest = anchors::latest(&db).await?;
        let count = anchors::count(&db).await?;
        Ok::<_, worker::Error>((latest, count))
    }
    .await;
    let last_run = async {
        let db = runs::db(ctx.env)?;
        runs::latest(&db, anchor::JOB).await
    }
    .await;
    let mut out = match anchors_part {
        Ok((latest, count)) => json!({
            "count": count,
            "last": latest.map(|a| json!({
                "tree_size": a.tree_size,
                "root": a.root,
                "chain_head": a.chain_head,
                "timestamp_ms": a.timestamp_ms,
                "age_s": (now_ms - a.timestamp_ms).max(0) / 1000,
                "key_id": a.key_id,
                "r2_key": a.r2_key,
            })),
        }),
        Err(_) => json!({ "error": "AUDIT_ANCHORS_UNAVAILABLE" }),
    };
    out["last_run"] = match last_run {
        Ok(Some(run)) => json!({
            "run_id": run.run_id,
            "status": run.status,
            "started_at": run.started_at,
            "ended_at": run.ended_at,
            "detail": serde_json::from_str::<Value>(&run.detail).unwrap_or(Value::Null),
        }),
        Ok(None) => Value::Null,
        Err(_) => json!({ "error": "RUNS_UNAVAILABLE" }),
    };
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    #[serde(default)]
    from: Option<u64>,
    #[serde(default)]
    to: Option<u64>,
    #[serde(default)]
    cursor: Option<String>,
}

/// `POST /admin/audit/verify {"from"?, "to"?, "cursor"?}`: verifies a bounded budget of
/// events; answers with the report when done, else with a `cursor` to continue.
pub async fn verify(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let request: VerifyRequest = if ctx.body.is_null() {
        VerifyRequest {
            from: None,
            to: None,
            cursor: None,
        }
    } else {
        ctx.json()?
    };
    for (name, value) in [("from", request.from), ("to", request.to)] {
        if value.is_some_and(|v| v > params::MAX_SAFE) {
            return Err(params::invalid(name, "out of range"));
        }
    }
    if request.from == Some(0) {
        return Err(params::invalid("from", "must be at least 1"));
    }
    let body = json!({
        "from": request.from,
        "to": request.to,
        "cursor": request.cursor,
        "trigger": format!("operator:{}", ctx.actor()),
    });
    let reply = audit_client::call(ctx.env, Method::Post, "/verify", Some(&body))
        .await
        .map_err(unavailable)?;
    if reply.status == 200 {
        count_verification(&reply.body);
    }
    relay(reply, 200)
}

/// Monitoring: a finished operator verification by result, and each problem by code.
fn count_verification(report: &Value) {
    let Some(valid) = report["valid"].as_bool() else {
        return; // not finished yet: a cursor to continue with
    };
    let result = if valid { "valid" } else { "invalid" };
    crate::metrics::count("audit_verifications_total", &[("result", result)]);
    for problem in report["problems"].as_array().into_iter().flatten() {
        if let Some(code) = problem["code"].as_str() {
            crate::metrics::count("audit_verification_problems_total", &[("code", code)]);
        }
    }
}

/// `GET /admin/audit/proof/{seq}?size=`: inclusion proof of event `seq` in the tree of `size`
/// events (default: the current size).
pub async fn proof(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let seq = params::u64_at_least("seq", ctx.param("seq"), 1)?
        .ok_or_else(|| params::invalid("seq", "required"))?;
    let mut path = format!("/proof?seq={seq}");
    if let Some(size) = params::u64_param("size", ctx.query("size"))? {
        path.push_str(&format!("&size={size}"));
    }
    get_from_log(ctx, &path).await
}

/// `GET /admin/audit/consistency?from=&to=`: consistency proof between two tree sizes
/// (`to` defaults to the current size).
pub async fn consistency(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let from = params::u64_at_least("from", ctx.query("from"), 1)?
        .ok_or_else(|| params::invalid("from", "required"))?;
    let mut path = format!("/consistency?from={from}");
    if let Some(to) = params::u64_param("to", ctx.query("to"))? {
        path.push_str(&format!("&to={to}"));
    }
    get_from_log(ctx, &path).await
}

/// `GET /admin/audit/events?from=&limit=`: events with their hashes, canonical JSON verbatim.
pub async fn events(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let from = params::u64_at_least("from", ctx.query("from"), 1)?.unwrap_or(1);
    let limit = params::u64_at_least("limit", ctx.query("limit"), 1)?.unwrap_or(100);
    if limit > 1_000 {
        return Err(params::invalid("limit", "at most 1000"));
    }
    get_from_log(ctx, &format!("/events?from={from}&limit={limit}")).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotesRequest {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    notes: Option<Vec<String>>,
}

/// The texts of a notes request: exactly one of `text` or `notes` (1–100 of them), each
/// 1–1024 characters and not blank.
fn note_texts(request: NotesRequest) -> Result<Vec<String>, ApiError> {
    let texts = match (request.text, request.notes) {
        (Some(text), None) => vec![text],
        (None, Some(notes)) if !notes.is_empty() && notes.len() <= MAX_NOTES => notes,
        (None, Some(_)) => {
            return Err(ApiError::invalid_request(format!(
                "notes must hold 1 to {MAX_NOTES} texts"
            )))
        }
        _ => {
            return Err(ApiError::invalid_request(
                "give exactly one of \"text\" or \"notes\"",
            ))
        }
    };
    for text in &texts {
        if text.trim().is_empty() || text.chars().count() > MAX_NOTE_CHARS {
            return Err(ApiError::invalid_request(format!(
                "a note must be 1 to {MAX_NOTE_CHARS} characters and not blank"
            )));
        }
    }
    Ok(texts)
}

/// `POST /admin/audit/notes {"text"}` or `{"notes": [..]}`: appends operator notes (kind
/// `OPERATOR_NOTE`) — several notes in one request get consecutive sequence numbers.
pub async fn notes(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let texts = note_texts(ctx.json()?)?;
    let actor = ctx.actor();
    let records = texts
        .into_iter()
        .map(|text| AuditRecord {
            actor: actor.clone(),
            kind: "OPERATOR_NOTE".into(),
            payload: json!({ "text": text }),
            evidence_hash: None,
        })
        .collect();
    let receipts = audit_client::append(ctx.env, records)
        .await
        .map_err(unavailable)?;
    json_response(201, &json!({ "receipts": receipts }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: Option<&str>, notes: Option<Vec<&str>>) -> NotesRequest {
        NotesRequest {
            text: text.map(String::from),
            notes: notes.map(|n| n.into_iter().map(String::from).collect()),
        }
    }

    #[test]
    fn notes_take_one_text_or_a_bounded_list_of_non_blank_texts() {
        assert_eq!(note_texts(req(Some("x"), None)).unwrap(), vec!["x"]);
        assert_eq!(
            note_texts(req(None, Some(vec!["a", "b"]))).unwrap().len(),
            2
        );
        // The bound counts characters, not bytes: 1,024 four-byte characters fit, 1,025 ASCII
        // characters do not.
        let widest = "🦀".repeat(MAX_NOTE_CHARS);
        assert_eq!(widest.len(), 4 * MAX_NOTE_CHARS);
        assert_eq!(note_texts(req(Some(&widest), None)).unwrap(), vec![widest]);
        let too_long = "x".repeat(MAX_NOTE_CHARS + 1);
        let many = vec!["n"; MAX_NOTES + 1];
        for bad in [
            req(None, None),
            req(Some("a"), Some(vec!["b"])),
            req(Some("  "), None),
            req(Some(&too_long), None),
            req(None, Some(vec![])),
            req(None, Some(many)),
            req(None, Some(vec!["ok", ""])),
        ] {
            let e = note_texts(bad).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (400, "INVALID_REQUEST"));
        }
    }

    #[test]
    fn refusals_from_the_log_keep_their_status_and_code_and_failures_are_503() {
        let refusal = Reply {
            status: 400,
            body: json!({"error": {"code": "AUDIT_PROOF_RANGE_INVALID", "message": "m", "details": {"x": 1}}}),
        };
        let e = relay(refusal, 200).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (400, "AUDIT_PROOF_RANGE_INVALID")
        );
        assert_eq!(e.details["x"], 1);
        let broken = Reply {
            status: 503,
            body: json!({"error": {"code": "AUDIT_LOG_CORRUPT", "message": "m", "details": {}}}),
        };
        let e = relay(broken, 200).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (503, "AUDIT_LOG_CORRUPT"));
        let garbage = Reply {
            status: 500,
            body: json!("x"),
        };
        assert_eq!(relay(garbage, 200).unwrap_err().code, "AUDIT_UNAVAILABLE");
    }
}
