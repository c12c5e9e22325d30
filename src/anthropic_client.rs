//! The LLM client: the one module that reads `ANTHROPIC_API_KEY`. It asks the Anthropic
//! Messages API for a pair-equivalence grade and stores the exact request and response bytes as
//! evidence before the answer is parsed. Any failure — no key, source not admitted, network,
//! timeout, evidence not stored, an unparseable answer — comes back as a failed assessment with a
//! stable `LLM_…` code, which leaves the pair `not_assessed`; nothing here can approve a pair.

use crate::core::audit::Hash32;
use crate::core::compliance::{self, Source};
use crate::core::evidence::{redact_endpoint, EvidenceHash, EvidenceMeta};
use crate::core::llm::{self, PairTexts, ANTHROPIC_VERSION, PAIR_PROMPT_VERSION};
use crate::core::pairs::{Assessment, AssessmentOutcome, RulesHashes};
use crate::obs::Logger;
use crate::outbound::Outbound;
use crate::store::d1::Db;
use crate::store::evidence::EvidenceStore;
use chrono::{DateTime, Utc};
use serde_json::json;
use worker::{Env, Headers, Method};

/// Model used when `ANTHROPIC_MODEL` is not set.
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";
/// How long one Messages call may take.
pub const TIMEOUT_MS: u64 = 60_000;

fn failed(code: &str, detail: String) -> AssessmentOutcome {
    AssessmentOutcome::Failed {
        code: code.to_string(),
        detail,
    }
}

fn hash32(h: &EvidenceHash) -> Hash32 {
    Hash32::from_bytes(*h.as_bytes())
}

/// Asks for a grade of `texts` (whose rules hashes are `rules`) and returns the assessment
/// attempt, graded or failed, with the evidence hashes of what was sent and received.
pub async fn assess_pair(
    env: &Env,
    db: &Db,
    log: &Logger,
    texts: &PairTexts,
    rules: RulesHashes,
    now: DateTime<Utc>,
) -> Assessment {
    let model = crate::bindings::var(env, "ANTHROPIC_MODEL")
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_MODEL.to_string());
    let mut assessment = Assessment {
        outcome: failed("LLM_NOT_CALLED", String::new()),
        model: model.clone(),
        prompt_version: PAIR_PROMPT_VERSION.to_string(),
        rules,
        request_evidence: None,
        response_evidence: None,
        at: now,
    };
    assessment.outcome = call(env, db, log, texts, &model, now, &mut assessment).await;
    if let AssessmentOutcome::Failed { code, detail } = &assessment.outcome {
        log.warn(
            "pair_assessment_failed",
            json!({"kalshi_ticker": texts.kalshi_ticker, "condition_id": texts.condition_id,
                   "code": code, "detail": detail}),
        );
    }
    assessment
}

async fn call(
    env: &Env,
    db: &Db,
    log: &Logger,
    texts: &PairTexts,
    model: &str,
    now: DateTime<Utc>,
    assessment: &mut Assessment,
) -> AssessmentOutcome {
    // The LLM host is a data source like any venue: it must be admitted by compliance.
    let rows = match crate::store::compliance::source_rows(db).await {
        Ok(r) => r,
        Err(e) => return failed("LLM_COMPLIANCE_UNREADABLE", format!("detail={e}")),
    };
    if let Err(d) = compliance::admit(&rows, Source::Anthropic, now.date_naive()) {
        return failed("LLM_SOURCE_NOT_ADMITTED", format!("denial={}", d.code()));
    }
    let key = match env.secret("ANTHROPIC_API_KEY") {
        Ok(k) if !k.to_string().is_empty() => k.to_string(),
        _ => return failed("LLM_KEY_MISSING", "secret=ANTHROPIC_API_KEY".to_string()),
    };
    let body = match llm::request_body(model, texts) {
        Ok(b) => b,
        Err(e) => return failed(e.code(), e.to_string()),
    };
    let base = crate::bindings::var(env, "ANTHROPIC_BASE_URL").unwrap_or_default();
    let url = format!("{}/v1/messages", base.trim_end_matches('/'));
    let evidence = match EvidenceStore::open(env, db) {
        Ok(s) => s,
        Err(e) => return failed("LLM_EVIDENCE_UNAVAILABLE", format!("code={}", e.code())),
    };
    let meta = |status: u16, size: usize, content_type: Option<String>| EvidenceMeta {
        source: Source::Anthropic,
        method: "POST".to_string(),
        endpoint: redact_endpoint(&url),
        status,
        size: size as u64,
        content_type,
        fetched_at: crate::clock::now(),
        run_id: None,
    };
    // The request is evidence too (status 0: it is what we sent, not an answer).
    match evidence
        .put(&meta(0, body.len(), Some("application/json".into())), &body)
        .await
    {
        Ok((h, _)) => assessment.request_evidence = Some(hash32(&h)),
        Err(e) => return failed("LLM_EVIDENCE_UNAVAILABLE", format!("code={}", e.code())),
    }
    let outbound = match Outbound::from_env(env, &[]) {
        Ok(o) => o,
        Err(e) => return failed("LLM_OUTBOUND_REFUSED", format!("code={}", e.code())),
    };
    let headers = Headers::new();
    for (k, v) in [
        ("x-api-key", key.as_str()),
        ("anthropic-version", ANTHROPIC_VERSION),
        ("content-type", "application/json"),
    ] {
        if headers.set(k, v).is_err() {
            return failed("LLM_REQUEST_INVALID", format!("header={k}"));
        }
    }
    let resp = match outbound
        .fetch(Method::Post, &url, headers, Some(body), TIMEOUT_MS)
        .await
    {
        Ok(r) => r,
        Err(e) => return failed("LLM_UNREACHABLE", format!("code={}", e.code())),
    };
    match evidence
        .put(
            &meta(resp.status, resp.body.len(), resp.content_type.clone()),
            &resp.body,
        )
        .await
    {
        Ok((h, _)) => assessment.response_evidence = Some(hash32(&h)),
        Err(e) => return failed("LLM_EVIDENCE_UNAVAILABLE", format!("code={}", e.code())),
    }
    log.info(
        "llm_answer",
        json!({"status": resp.status, "bytes": resp.body.len(), "model": model}),
    );
    llm::parse_response(resp.status, &resp.body)
}
