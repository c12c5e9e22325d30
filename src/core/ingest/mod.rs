//! Ingestion decisions, pure: request URLs and paging ([`requests`]), retry and backoff
//! ([`backoff`]), the run's budget ([`budget`]), rows and the ≤100-parameter statements that
//! write them ([`rows`], [`batch`]), step counts, and what each source's outcome reports to the
//! circuit breaker. The job in `jobs::ingest` only fetches, stores and calls these.

pub mod backoff;
pub mod batch;
pub mod budget;
pub mod requests;
pub mod rows;

use crate::core::compliance::Source;
use backoff::RetryPolicy;
use budget::Budget;
use serde::Serialize;
use std::collections::BTreeMap;

/// What one step did, for `STEP_END` lines and the runs index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StepCounts {
    /// Pages (or single requests) completed.
    pub pages: u32,
    /// Responses received, retries included.
    pub responses: u32,
    /// Response bytes received.
    pub bytes: u64,
    /// Responses whose evidence was new.
    pub evidence_new: u32,
    /// Responses whose bytes were already stored.
    pub evidence_existing: u32,
    /// Records parsed and accepted.
    pub records: u32,
    /// Rows written (inserted or changed) in D1.
    pub rows_written: u32,
    /// Records refused by the parser, by reason code.
    pub rejected: u32,
    pub rejects: BTreeMap<String, u32>,
    /// Records dropped by compliance rules.
    pub dropped: u32,
    pub retries: u32,
    /// Requests that failed for good.
    pub failures: u32,
}

impl StepCounts {
    pub fn reject(&mut self, code: String) {
        self.rejected += 1;
        *self.rejects.entry(code).or_default() += 1;
    }
}

/// How a source fared in a run, for the circuit breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceOutcome {
    pub source: Source,
    /// `None` when every request succeeded; otherwise the failure code.
    pub failure: Option<String>,
}

/// One report to the breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerReport {
    pub success: bool,
    pub detail: String,
}

/// What a run reports to the breaker's venue-API streak, given the outcome of each source it
/// contacted (sources denied by compliance were not contacted and report nothing).
///
/// The breaker keeps one venue-API streak, and a success resets it; so if any source failed,
/// only the failures are reported (one per failed source) — a healthy Polymarket must not hide
/// a failing Kalshi run after run. Successes are reported only when every contacted source
/// succeeded.
pub fn breaker_reports(outcomes: &[SourceOutcome]) -> Vec<BreakerReport> {
    let failures: Vec<BreakerReport> = outcomes
        .iter()
        .filter_map(|o| {
            o.failure.as_ref().map(|code| BreakerReport {
                success: false,
                detail: format!("INGEST_SOURCE_FAILED: source={} code={code}", o.source),
            })
        })
        .collect();
    if !failures.is_empty() {
        return failures;
    }
    outcomes
        .iter()
        .map(|o| BreakerReport {
            success: true,
            detail: format!("INGEST_SOURCE_OK: source={}", o.source),
        })
        .collect()
}

/// The job's settings (`INGEST_*` vars), checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestConfig {
    pub budget: Budget,
    pub retry: RetryPolicy,
    pub fetch_timeout_ms: u64,
    pub kalshi_page_limit: u32,
    pub gamma_page_limit: u32,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            budget: Budget::default(),
            retry: RetryPolicy::default(),
            fetch_timeout_ms: 10_000,
            kalshi_page_limit: requests::KALSHI_MARKETS_PAGE_LIMIT,
            gamma_page_limit: 500,
        }
    }
}

/// Every setting: name, lower bound, upper bound.
pub const SETTINGS: &[(&str, u64, u64)] = &[
    ("INGEST_CPU_BUDGET_MS", 100, 300_000),
    ("INGEST_WALL_BUDGET_MS", 1_000, 900_000),
    ("INGEST_MAX_PAGES", 1, 1_000),
    ("INGEST_MAX_RETRIES", 0, 1_000),
    ("INGEST_RETRY_MAX_ATTEMPTS", 1, 10),
    ("INGEST_RETRY_BASE_MS", 0, 60_000),
    ("INGEST_RETRY_MAX_DELAY_MS", 0, 60_000),
    ("INGEST_FETCH_TIMEOUT_MS", 100, 120_000),
    ("INGEST_KALSHI_PAGE_LIMIT", 1, 1_000),
    ("INGEST_GAMMA_PAGE_LIMIT", 1, 1_000),
];

impl IngestConfig {
    /// Reads every `INGEST_*` setting through `get` (absent or empty → the default). A value
    /// that is present but not an integer within bounds is an error naming the setting: a typo
    /// must never silently become a default.
    pub fn from_settings(get: impl Fn(&str) -> Option<String>) -> Result<IngestConfig, String> {
        let mut c = IngestConfig::default();
        for (name, min, max) in SETTINGS {
            let Some(raw) = get(name).filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            let v: u64 = raw
                .trim()
                .parse()
                .map_err(|_| format!("CONFIG_INVALID: setting={name} reason=not_an_integer"))?;
            if v < *min || v > *max {
                return Err(format!(
                    "CONFIG_INVALID: setting={name} min={min} max={max}"
                ));
            }
            let v32 = v as u32;
            match *name {
                "INGEST_CPU_BUDGET_MS" => c.budget.cpu_ms = v,
                "INGEST_WALL_BUDGET_MS" => c.budget.wall_ms = v,
                "INGEST_MAX_PAGES" => c.budget.max_pages = v32,
                "INGEST_MAX_RETRIES" => c.budget.max_retries = v32,
                "INGEST_RETRY_MAX_ATTEMPTS" => c.retry.max_attempts = v32,
                "INGEST_RETRY_BASE_MS" => c.retry.base_delay_ms = v,
                "INGEST_RETRY_MAX_DELAY_MS" => c.retry.max_delay_ms = v,
                "INGEST_FETCH_TIMEOUT_MS" => c.fetch_timeout_ms = v,
                "INGEST_KALSHI_PAGE_LIMIT" => c.kalshi_page_limit = v32,
                "INGEST_GAMMA_PAGE_LIMIT" => c.gamma_page_limit = v32,
                _ => unreachable!("every setting is handled"),
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(source: Source, failure: Option<&str>) -> SourceOutcome {
        SourceOutcome {
            source,
            failure: failure.map(String::from),
        }
    }

    #[test]
    fn a_healthy_source_never_masks_a_failing_one() {
        let r = breaker_reports(&[
            outcome(Source::Kalshi, Some("HTTP_500")),
            outcome(Source::PolymarketGamma, None),
        ]);
        assert_eq!(r.len(), 1);
        assert!(!r[0].success);
        assert_eq!(
            r[0].detail,
            "INGEST_SOURCE_FAILED: source=kalshi code=HTTP_500"
        );
        let ok = breaker_reports(&[
            outcome(Source::Kalshi, None),
            outcome(Source::PolymarketGamma, None),
        ]);
        assert_eq!(ok.iter().filter(|r| r.success).count(), 2);
        let two = breaker_reports(&[
            outcome(Source::Kalshi, Some("A")),
            outcome(Source::PolymarketGamma, Some("B")),
        ]);
        assert_eq!(two.iter().filter(|r| !r.success).count(), 2);
        assert!(breaker_reports(&[]).is_empty());
    }

    #[test]
    fn settings_default_when_absent_and_refuse_typos_and_out_of_range_values() {
        let none = IngestConfig::from_settings(|_| None).unwrap();
        assert_eq!(none, IngestConfig::default());
        let set = |name: &'static str, value: &'static str| {
            IngestConfig::from_settings(move |n| (n == name).then(|| value.to_string()))
        };
        assert_eq!(set("INGEST_MAX_PAGES", "3").unwrap().budget.max_pages, 3);
        assert_eq!(
            set("INGEST_GAMMA_PAGE_LIMIT", " 100 ")
                .unwrap()
                .gamma_page_limit,
            100
        );
        assert_eq!(set("INGEST_MAX_PAGES", "").unwrap().budget.max_pages, 25);
        assert!(set("INGEST_MAX_PAGES", "3x")
            .unwrap_err()
            .contains("INGEST_MAX_PAGES"));
        assert!(set("INGEST_MAX_PAGES", "0").is_err());
        assert!(set("INGEST_KALSHI_PAGE_LIMIT", "1001").is_err());
        assert!(set("INGEST_RETRY_MAX_ATTEMPTS", "-1").is_err());
    }

    #[test]
    fn reject_counts_group_by_code() {
        let mut c = StepCounts::default();
        c.reject("MISSING_FIELD:ticker".into());
        c.reject("MISSING_FIELD:ticker".into());
        c.reject("BAD_DECIMAL:yes_bid_dollars".into());
        assert_eq!(c.rejected, 3);
        assert_eq!(c.rejects["MISSING_FIELD:ticker"], 2);
    }
}
