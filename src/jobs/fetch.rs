//! Evidence-first fetching: a request to an admitted source, through the outbound port, with a
//! timeout and capped exponential backoff; every response — success or error — is stored as
//! evidence before anyone may look inside it. Only a 2xx body whose evidence is stored comes
//! back as [`Fetched::Body`]; everything else is a failure with a stable code.

use crate::core::compliance::Admission;
use crate::core::evidence::{EvidenceHash, EvidenceMeta};
use crate::core::ingest::backoff::{classify_status, Next, RetryPolicy, StatusClass};
use crate::core::ingest::budget::{Budget, CostModel, Meter, COST_MODEL};
use crate::core::ingest::StepCounts;
use crate::obs::Logger;
use crate::outbound::{FetchError, Outbound};
use crate::store::evidence::{EvidenceStore, Stored};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::time::Duration;
use worker::{Delay, Headers, Method};

/// The outcome of one logical request (all its attempts).
#[derive(Debug)]
pub enum Fetched {
    /// A 2xx body, already stored as evidence `hash`.
    Body {
        bytes: Vec<u8>,
        hash: EvidenceHash,
        at: DateTime<Utc>,
    },
    /// No usable body. `evidence` names the last stored response, if any.
    Failed {
        code: String,
        detail: String,
        evidence: Option<EvidenceHash>,
    },
}

/// Everything a request needs, for one run.
pub struct Fetcher<'a> {
    pub outbound: &'a Outbound,
    pub evidence: &'a EvidenceStore<'a>,
    pub log: &'a Logger,
    pub run_id: &'a str,
    pub retry: RetryPolicy,
    pub budget: Budget,
    pub timeout_ms: u64,
    pub meter: Meter,
    pub cost: CostModel,
}

impl<'a> Fetcher<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        outbound: &'a Outbound,
        evidence: &'a EvidenceStore<'a>,
        log: &'a Logger,
        run_id: &'a str,
        retry: RetryPolicy,
        budget: Budget,
        timeout_ms: u64,
        started_ms: i64,
    ) -> Fetcher<'a> {
        Fetcher {
            outbound,
            evidence,
            log,
            run_id,
            retry,
            budget,
            timeout_ms,
            meter: Meter::new(started_ms),
            cost: COST_MODEL,
        }
    }

    fn failed(code: impl Into<String>, detail: String, evidence: Option<EvidenceHash>) -> Fetched {
        Fetched::Failed {
            code: code.into(),
            detail,
            evidence,
        }
    }

    /// `GET url` from the admitted source. The URL must fall under that source's own base URL:
    /// an admission for Polymarket never lets a request reach Kalshi.
    pub async fn get(
        &mut self,
        admission: &Admission,
        url: &str,
        counts: &mut StepCounts,
    ) -> Fetched {
        let source = admission.source();
        match self.outbound.base_of(url) {
            Ok(base) if base == source.base_url_var() => {}
            Ok(base) => {
                return Self::failed(
                    "OUTBOUND_SOURCE_MISMATCH",
                    format!("source={source} base={base}"),
                    None,
                )
            }
            Err(e) => return Self::failed(e.code(), format!("source={source}"), None),
        }
        let mut attempts = 0u32;
        let mut last_evidence = None;
        loop {
            attempts += 1;
            let headers = Headers::new();
            let _ = headers.set("accept", "application/json");
            let result = self
                .outbound
                .fetch(Method::Get, url, headers, None, self.timeout_ms)
                .await;
            let at = crate::clock::now();
            let (retry_after, failure) = match result {
                Err(FetchError::Refused(e)) => {
                    return Self::failed(e.code(), format!("source={source}"), None)
                }
                Err(e) => (
                    None,
                    (
                        e.code().to_string(),
                        format!("source={source} attempts={attempts}"),
                    ),
                ),
                Ok(raw) => {
                    counts.responses += 1;
                    counts.bytes += raw.body.len() as u64;
                    let meta = EvidenceMeta::new(
                        source,
                        "GET",
                        url,
                        raw.status,
                        raw.body.len() as u64,
                        raw.content_type.as_deref(),
                        at,
                        Some(self.run_id),
                    );
                    // Evidence first: if the bytes cannot be kept, they are not used.
                    let hash = match self.evidence.put(&meta, &raw.body).await {
                        Ok((hash, stored)) => {
                            if stored.is_new() {
                                counts.evidence_new += 1;
                            } else {
                                counts.evidence_existing += 1;
                            }
                            if matches!(stored, Stored::RepairedBlob | Stored::RepairedRow) {
                                self.log.warn(
                                    "evidence_repaired",
                                    json!({"hash": hash.to_hex(), "repair": format!("{stored:?}")}),
                                );
                            }
                            hash
                        }
                        Err(e) => {
                            self.log.error(
                                "evidence_store_failed",
                                json!({"source": source.as_str(), "code": e.code(), "detail": e.to_string()}),
                            );
                            return Self::failed(
                                "EVIDENCE_STORE_FAILED",
                                format!("source={source} cause={}", e.code()),
                                None,
                            );
                        }
                    };
                    last_evidence = Some(hash);
                    match classify_status(raw.status) {
                        StatusClass::Success => {
                            return Fetched::Body {
                                bytes: raw.body,
                                hash,
                                at,
                            }
                        }
                        StatusClass::Fatal => {
                            self.meter.charge_bytes(&self.cost, raw.body.len());
                            return Self::failed(
                                format!("HTTP_{}", raw.status),
                                format!("source={source} status={} evidence={hash}", raw.status),
                                Some(hash),
                            );
                        }
                        StatusClass::Retryable => {
                            self.meter.charge_bytes(&self.cost, raw.body.len());
                            (
                                raw.retry_after,
                                (
                                    format!("HTTP_{}", raw.status),
                                    format!(
                                        "source={source} status={} attempts={attempts} evidence={hash}",
                                        raw.status
                                    ),
                                ),
                            )
                        }
                    }
                }
            };
            let retries_left = self.meter.retries_left(&self.budget);
            match self
                .retry
                .next(attempts, retry_after.as_deref(), retries_left)
            {
                Next::GiveUp => return Self::failed(failure.0, failure.1, last_evidence),
                Next::Retry { delay_ms } => {
                    counts.retries += 1;
                    self.meter.retries += 1;
                    self.log.warn(
                        "ingest_retry",
                        json!({"source": source.as_str(), "code": failure.0, "attempt": attempts, "delay_ms": delay_ms}),
                    );
                    if delay_ms > 0 {
                        Delay::from(Duration::from_millis(delay_ms)).await;
                    }
                }
            }
        }
    }
}
