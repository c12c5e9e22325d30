//! Market pairs: an operator (or discovery) proposes a Kalshi/Polymarket pair, the LLM grades
//! its equivalence, an operator approves or rejects it. Every change is appended to the audit
//! log before it is stored (`503 AUDIT_UNAVAILABLE` and nothing changes if the append fails).
//! The markets are judged by the exact bytes ingestion stored as evidence.

use crate::anthropic_client;
use crate::audit_client::{self, AuditRecord};
use crate::core::llm::PairTexts;
use crate::core::pairs::{Pair, PairError, PairStatus, Proposer, RulesHashes};
use crate::http::{error::ApiError, json_response, params, RequestCtx};
use crate::obs::Logger;
use crate::store::d1::Db;
use crate::store::evidence::EvidenceStore;
use crate::store::pairs as store;
use crate::venues::kalshi::{parse_market_response, parse_markets_page, KalshiMarket};
use crate::venues::polymarket::{parse_gamma_market, parse_gamma_markets, GammaMarket};
use crate::venues::rules_hash;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{Env, Response};

impl From<PairError> for ApiError {
    fn from(e: PairError) -> ApiError {
        let status = match e {
            PairError::InvalidInput { .. } => 400,
            _ => 409,
        };
        let details: Map<String, Value> = e
            .details()
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v)))
            .collect();
        ApiError::new(status, e.code(), e.to_string()).with_details(Value::Object(details))
    }
}

/// Appends one record; the change must not happen if this fails.
async fn audit_first(
    env: &Env,
    log: &Logger,
    actor: String,
    kind: &str,
    payload: Value,
) -> Result<u64, ApiError> {
    let record = AuditRecord {
        actor,
        kind: kind.to_string(),
        payload,
        evidence_hash: None,
    };
    match audit_client::append(env, vec![record]).await {
        Ok(receipts) => Ok(receipts.first().map(|r| r.seq.get()).unwrap_or_default()),
        Err(e) => {
            log.error(
                "pair_change_not_audited",
                json!({"kind": kind, "detail": e.detail}),
            );
            Err(ApiError::unavailable(
                audit_client::AuditUnavailable::CODE,
                "the audit log did not confirm the append; nothing was changed",
            ))
        }
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(404, "PAIR_NOT_FOUND", "no such pair").with_details(json!({"id": id}))
}

fn market_missing(venue: &str, id: &str, why: &str) -> ApiError {
    ApiError::new(
        409,
        "PAIR_MARKET_UNAVAILABLE",
        "the market is not available from ingested evidence",
    )
    .with_details(json!({"venue": venue, "market_id": id, "reason": why}))
}

/// The evidence bytes ingestion stored for a market row.
async fn market_bytes(env: &Env, db: &Db, venue: &str, id: &str) -> Result<Vec<u8>, ApiError> {
    let row = store::market(db, venue, id)
        .await?
        .ok_or_else(|| market_missing(venue, id, "not_ingested"))?;
    let evidence = EvidenceStore::open(env, db)
        .map_err(|e| ApiError::unavailable(e.code(), "the evidence store is unavailable"))?;
    let hash = crate::core::evidence::EvidenceHash::from_hex(&row.evidence_hash)
        .ok_or_else(|| market_missing(venue, id, "evidence_hash_invalid"))?;
    let indexed = evidence
        .row(&hash)
        .await
        .map_err(|e| ApiError::unavailable(e.code(), "the evidence store is unavailable"))?
        .ok_or_else(|| market_missing(venue, id, "evidence_not_indexed"))?;
    let bytes = evidence
        .bytes(&indexed.r2_key)
        .await
        .map_err(|e| ApiError::unavailable(e.code(), "the evidence store is unavailable"))?
        .ok_or_else(|| market_missing(venue, id, "evidence_blob_missing"))?;
    // Never trust a blob that does not hash to its name.
    if crate::core::evidence::EvidenceHash::of(&bytes) != hash {
        return Err(market_missing(venue, id, "evidence_hash_mismatch"));
    }
    Ok(bytes)
}

/// Both markets as ingestion last saw them, parsed from their evidence.
pub async fn load_markets(
    env: &Env,
    db: &Db,
    kalshi_ticker: &str,
    condition_id: &str,
) -> Result<(KalshiMarket, GammaMarket), ApiError> {
    let kb = market_bytes(env, db, "kalshi", kalshi_ticker).await?;
    let kalshi = parse_markets_page(&kb)
        .ok()
        .and_then(|p| p.records.into_iter().find(|m| m.ticker == kalshi_ticker))
        .or_else(|| {
            parse_market_response(&kb)
                .ok()
                .filter(|m| m.ticker == kalshi_ticker)
        })
        .ok_or_else(|| market_missing("kalshi", kalshi_ticker, "not_in_evidence"))?;
    let pb = market_bytes(env, db, "polymarket", condition_id).await?;
    let gamma = parse_gamma_markets(&pb)
        .ok()
        .and_then(|p| {
            p.records
                .into_iter()
                .find(|m| m.condition_id == condition_id)
        })
        .or_else(|| {
            parse_gamma_market(&pb)
                .ok()
                .filter(|m| m.condition_id == condition_id)
        })
        .ok_or_else(|| market_missing("polymarket", condition_id, "not_in_evidence"))?;
    Ok((kalshi, gamma))
}

fn rules_of(k: &KalshiMarket, g: &GammaMarket) -> RulesHashes {
    RulesHashes::of(&rules_hash(k), &rules_hash(g))
}

fn pair_json(pair: &Pair) -> Value {
    let mut v = json!(pair);
    v["approval_expires_at_ms"] = json!(pair.approval_expires_at().map(|t| t.timestamp_millis()));
    v
}

/// Grades `pair` with the LLM and stores the attempt; returns the stored pair.
async fn assess(ctx: &RequestCtx<'_>, db: &Db, pair: Pair) -> Result<Pair, ApiError> {
    let (kalshi, gamma) = load_markets(
        ctx.env,
        db,
        &pair.kalshi_ticker,
        &pair.polymarket_condition_id,
    )
    .await?;
    let now = crate::clock::now();
    let rules = rules_of(&kalshi, &gamma);
    let texts = PairTexts::from_markets(&kalshi, &gamma, pair.polymarket_outcome)
        .map_err(|e| ApiError::new(400, e.code(), e.to_string()))?;
    let assessment = anthropic_client::assess_pair(ctx.env, db, ctx.log, &texts, rules, now).await;
    let next = pair.record_assessment(assessment)?;
    audit_first(
        ctx.env,
        ctx.log,
        ctx.actor(),
        "PAIR_ASSESSED",
        json!({"pair_id": next.id, "status": next.status.as_str(), "assessment": next.assessment}),
    )
    .await?;
    let at = crate::core::time::format_utc(now);
    if !store::update(db, &next, pair.status, &at).await? {
        return Err(
            ApiError::new(409, "PAIR_CHANGED_CONCURRENTLY", "the pair changed; retry")
                .with_details(json!({"id": pair.id})),
        );
    }
    Ok(next)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProposeBody {
    kalshi_ticker: String,
    polymarket_condition_id: String,
    #[serde(default)]
    polymarket_outcome: u8,
}

/// `POST /admin/pairs {"kalshi_ticker","polymarket_condition_id","polymarket_outcome"?}`:
/// proposes the pair (idempotent: the id is derived from the two markets) and assesses it.
pub async fn propose(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let body: ProposeBody = ctx.json()?;
    let now = crate::clock::now();
    let pair = Pair::propose(
        &body.kalshi_ticker,
        &body.polymarket_condition_id,
        body.polymarket_outcome,
        Proposer::Operator { actor: ctx.actor() },
        now,
    )?;
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    if let Some(existing) = store::get(&db, pair.id.as_str()).await? {
        return json_response(
            200,
            &json!({"pair": pair_json(&existing), "created": false}),
        );
    }
    // Refuse before auditing anything when a market is unknown.
    load_markets(
        ctx.env,
        &db,
        &pair.kalshi_ticker,
        &pair.polymarket_condition_id,
    )
    .await?;
    audit_first(
        ctx.env,
        ctx.log,
        ctx.actor(),
        "PAIR_PROPOSED",
        json!({"pair": pair}),
    )
    .await?;
    let at = crate::core::time::format_utc(now);
    if !store::insert(&db, &pair, &at).await? {
        let existing = store::get(&db, pair.id.as_str())
            .await?
            .ok_or_else(|| not_found(pair.id.as_str()))?;
        return json_response(
            200,
            &json!({"pair": pair_json(&existing), "created": false}),
        );
    }
    let assessed = assess(ctx, &db, pair).await?;
    json_response(201, &json!({"pair": pair_json(&assessed), "created": true}))
}

/// `GET /admin/pairs?status=&limit=`
pub async fn list(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let status = match ctx.query("status") {
        None | Some("") => None,
        Some(s) => Some(PairStatus::parse(s).ok_or_else(|| {
            params::invalid(
                "status",
                "one of proposed, not_assessed, assessed, approved, rejected",
            )
        })?),
    };
    let limit = params::limit(ctx.query("limit"), 100, 500)?;
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let pairs = store::list(&db, status, limit).await?;
    let out: Vec<Value> = pairs.iter().map(pair_json).collect();
    json_response(200, &json!({"pairs": out}))
}

async fn load(ctx: &RequestCtx<'_>, db: &Db) -> Result<Pair, ApiError> {
    let id = ctx.param("id").unwrap_or_default();
    store::get(db, id).await?.ok_or_else(|| not_found(id))
}

/// `POST /admin/pairs/{id}/assess`: asks the LLM again (after a failed attempt or a rules change).
pub async fn reassess(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let pair = load(ctx, &db).await?;
    let assessed = assess(ctx, &db, pair).await?;
    json_response(200, &json!({"pair": pair_json(&assessed)}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    #[serde(default)]
    notes: String,
}

fn review_body(ctx: &RequestCtx<'_>) -> Result<ReviewBody, ApiError> {
    if ctx.body.is_null() {
        return Ok(ReviewBody::default());
    }
    ctx.json()
}

/// `POST /admin/pairs/{id}/approve {"notes"}`: needs a tradable grade made against the rules as
/// they are now; the operator is recorded.
pub async fn approve(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let body = review_body(ctx)?;
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let pair = load(ctx, &db).await?;
    let (kalshi, gamma) = load_markets(
        ctx.env,
        &db,
        &pair.kalshi_ticker,
        &pair.polymarket_condition_id,
    )
    .await?;
    let now = crate::clock::now();
    let next = pair.approve(&ctx.actor(), &body.notes, &rules_of(&kalshi, &gamma), now)?;
    store_review(ctx, &db, &pair, next, "PAIR_APPROVED").await
}

/// `POST /admin/pairs/{id}/reject {"notes"}`
pub async fn reject(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let body = review_body(ctx)?;
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let pair = load(ctx, &db).await?;
    let next = pair.reject(&ctx.actor(), &body.notes, crate::clock::now())?;
    store_review(ctx, &db, &pair, next, "PAIR_REJECTED").await
}

async fn store_review(
    ctx: &RequestCtx<'_>,
    db: &Db,
    before: &Pair,
    next: Pair,
    kind: &str,
) -> Result<Response, ApiError> {
    let seq = audit_first(
        ctx.env,
        ctx.log,
        ctx.actor(),
        kind,
        json!({"pair_id": next.id, "from": before.status.as_str(), "to": next.status.as_str(),
               "review": if next.status == PairStatus::Rejected { json!(next.rejection) } else { json!(next.approval) }}),
    )
    .await?;
    let at = crate::core::time::format_utc(crate::clock::now());
    if !store::update(db, &next, before.status, &at).await? {
        return Err(
            ApiError::new(409, "PAIR_CHANGED_CONCURRENTLY", "the pair changed; retry")
                .with_details(json!({"id": next.id})),
        );
    }
    json_response(200, &json!({"pair": pair_json(&next), "audit_seq": seq}))
}
