//! Evidence routes: list the index, show one entry (or its raw bytes), re-verify stored bytes
//! against their hash, and run a repair pass over blobs and rows.

use crate::core::compliance::Source;
use crate::core::evidence::EvidenceHash;
use crate::core::time::{format_utc, parse_utc};
use crate::http::{error::ApiError, json_response, RequestCtx};
use crate::store::d1::Db;
use crate::store::evidence::{EvidenceError, EvidenceStore};
use serde::Deserialize;
use serde_json::json;
use worker::Response;

/// Default and largest page of `GET /admin/evidence`.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;
/// Largest repair pass.
const MAX_REPAIR_LIMIT: u32 = 500;

impl From<EvidenceError> for ApiError {
    fn from(e: EvidenceError) -> ApiError {
        match e {
            EvidenceError::Db(db) => db.into(),
            EvidenceError::Bucket(_) => {
                ApiError::unavailable(e.code(), "the evidence bucket is unavailable")
            }
        }
    }
}

fn invalid_query(message: &str) -> ApiError {
    ApiError::new(400, "INVALID_QUERY", message)
}

/// Parses an integer query parameter within `min..=max`.
pub(super) fn query_int(
    ctx: &RequestCtx<'_>,
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ApiError> {
    match ctx.query(name) {
        None => Ok(default),
        Some(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| invalid_query(&format!("{name} must be an integer in {min}..={max}"))),
    }
}

fn hash_param(ctx: &RequestCtx<'_>) -> Result<EvidenceHash, ApiError> {
    let raw = ctx.param("hash").unwrap_or_default();
    EvidenceHash::from_hex(raw)
        .ok_or_else(|| ApiError::new(400, "INVALID_HASH", "hash must be 64 lowercase hex digits"))
}

fn not_found(hash: &EvidenceHash) -> ApiError {
    ApiError::new(
        404,
        "EVIDENCE_NOT_FOUND",
        "no evidence with this hash is indexed",
    )
    .with_details(json!({"hash": hash.to_hex()}))
}

/// `GET /admin/evidence?source=&since=&limit=`: index entries, newest first.
pub async fn list(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let source = match ctx.query("source") {
        None => None,
        Some(s) => Some(
            Source::parse(s)
                .ok_or_else(|| invalid_query("source must be a configured source name"))?,
        ),
    };
    let since = match ctx.query("since") {
        None => None,
        Some(s) => {
            Some(format_utc(parse_utc(s).ok_or_else(|| {
                invalid_query("since must be an RFC 3339 timestamp")
            })?))
        }
    };
    let limit = query_int(ctx, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)?;
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let store = EvidenceStore::open(ctx.env, &db)?;
    let rows = store
        .list(source.map(Source::as_str), since.as_deref(), limit)
        .await?;
    json_response(200, &json!({"evidence": rows, "count": rows.len()}))
}

/// `GET /admin/evidence/{hash}`: the index entry; with `?format=raw` the stored bytes, as an
/// attachment (`application/octet-stream`, never rendered by a browser).
pub async fn get(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let hash = hash_param(ctx)?;
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let store = EvidenceStore::open(ctx.env, &db)?;
    let row = store.row(&hash).await?.ok_or_else(|| not_found(&hash))?;
    match ctx.query("format") {
        None | Some("json") => json_response(200, &json!({"evidence": row})),
        Some("raw") => {
            let bytes = store.bytes(&row.r2_key).await?.ok_or_else(|| {
                ApiError::new(
                    404,
                    "EVIDENCE_MISSING",
                    "the indexed blob is not in the bucket",
                )
                .with_details(json!({"hash": row.hash, "r2_key": row.r2_key}))
            })?;
            let mut resp = Response::from_bytes(bytes).map_err(|_| ApiError::internal())?;
            let headers = resp.headers_mut();
            let _ = headers.set("content-type", "application/octet-stream");
            let _ = headers.set(
                "content-disposition",
                &format!("attachment; filename=\"{}\"", row.hash),
            );
            let _ = headers.set(
                "x-evidence-content-type",
                row.content_type.as_deref().unwrap_or(""),
            );
            Ok(resp)
        }
        Some(_) => Err(invalid_query("format must be json or raw")),
    }
}

/// `POST /admin/evidence/{hash}/verify`: re-reads the stored bytes and re-hashes them.
/// 200 `{"valid": true}`, or `{"valid": false, "code": "EVIDENCE_HASH_MISMATCH" | "EVIDENCE_MISSING"}`.
pub async fn verify(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let hash = hash_param(ctx)?;
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let store = EvidenceStore::open(ctx.env, &db)?;
    let (row, verdict) = store.verify(&hash).await?.ok_or_else(|| not_found(&hash))?;
    let mut body = json!({
        "hash": row.hash,
        "r2_key": row.r2_key,
        "valid": verdict.is_valid(),
        "indexed_size": row.size,
    });
    match verdict {
        crate::core::evidence::Verification::Match { size } => body["size"] = json!(size),
        crate::core::evidence::Verification::HashMismatch { actual, size } => {
            body["code"] = json!("EVIDENCE_HASH_MISMATCH");
            body["actual_hash"] = json!(actual.to_hex());
            body["size"] = json!(size);
        }
        crate::core::evidence::Verification::Missing => body["code"] = json!("EVIDENCE_MISSING"),
    }
    if !body["valid"].as_bool().unwrap_or(false) {
        ctx.log.error(
            "evidence_verification_failed",
            json!({"hash": hash.to_hex(), "code": body["code"]}),
        );
    }
    json_response(200, &body)
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RepairBody {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    after_hash: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    /// Also re-hash every indexed blob of the pass (reads them all).
    #[serde(default)]
    verify: bool,
}

/// `POST /admin/evidence-repair {"cursor"?, "after_hash"?, "limit"?, "verify"?}`: one repair
/// pass (see `store::evidence`); call again with `next_cursor` / `next_after_hash` until both
/// are null.
pub async fn repair(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let body: RepairBody = if ctx.body.is_null() {
        RepairBody::default()
    } else {
        ctx.json()?
    };
    let limit = body.limit.unwrap_or(200);
    if !(1..=MAX_REPAIR_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_request(format!(
            "limit must be in 1..={MAX_REPAIR_LIMIT}"
        )));
    }
    if let Some(h) = &body.after_hash {
        if EvidenceHash::from_hex(h).is_none() {
            return Err(ApiError::invalid_request(
                "after_hash must be 64 lowercase hex digits",
            ));
        }
    }
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let store = EvidenceStore::open(ctx.env, &db)?;
    let report = store
        .repair_page(body.cursor, body.after_hash, limit, body.verify)
        .await?;
    ctx.log.info(
        "evidence_repair",
        json!({"operator": ctx.actor(), "rows_added": report.rows_added,
               "hash_mismatch": report.hash_mismatch.len(), "size_mismatch": report.size_mismatch.len(),
               "rows_without_blob": report.rows_without_blob.len()}),
    );
    json_response(200, &json!(report))
}
