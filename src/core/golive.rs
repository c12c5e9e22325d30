//! Go-live preconditions (issue 7): a strategy becomes live, at the moment a second operator
//! approves, only if every one of these holds then; otherwise the approval fails with every
//! reason and nothing changes.
//!
//! - the latest production gate artifact says `PASS` and is younger than `max_gate_age_ms`
//!   (`GO_LIVE_MAX_GATE_AGE_H`, default 24 h) — `INCONCLUSIVE` never lets go-live through;
//! - a full audit verification passed within `max_verification_age_ms` (2 h);
//! - the circuit breaker is `NORMAL`;
//! - the Kalshi credentials are configured;
//! - the security preflight checklist passes.

use serde::Serialize;

/// Default `GO_LIVE_MAX_GATE_AGE_H`.
pub const DEFAULT_MAX_GATE_AGE_H: i64 = 24;
/// How recent the last passing full audit verification must be.
pub const MAX_VERIFICATION_AGE_MS: i64 = 2 * 3600 * 1000;

/// What the Worker found, at approval time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoLiveFacts {
    /// Status and creation time of the latest production gate artifact, if any.
    pub latest_gate: Option<(String, i64)>,
    /// Validity and finish time of the last full audit verification, if any.
    pub last_full_verification: Option<(bool, i64)>,
    /// The breaker state (`NORMAL`, …), `None` when the governor could not be asked.
    pub breaker: Option<String>,
    pub kalshi_credentials: bool,
    /// The preflight's verdict; `None` when it could not be run.
    pub preflight_passed: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoLivePolicy {
    pub max_gate_age_ms: i64,
    pub max_verification_age_ms: i64,
}

impl Default for GoLivePolicy {
    fn default() -> Self {
        GoLivePolicy {
            max_gate_age_ms: DEFAULT_MAX_GATE_AGE_H * 3600 * 1000,
            max_verification_age_ms: MAX_VERIFICATION_AGE_MS,
        }
    }
}

impl GoLivePolicy {
    /// From `GO_LIVE_MAX_GATE_AGE_H` (unset: 24; must be 1..=168).
    pub fn from_var(max_gate_age_h: Option<&str>) -> Result<GoLivePolicy, String> {
        let h = match max_gate_age_h.map(str::trim).filter(|s| !s.is_empty()) {
            None => DEFAULT_MAX_GATE_AGE_H,
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|h| (1..=168).contains(h))
                .ok_or_else(|| format!("GO_LIVE_MAX_GATE_AGE_H must be 1..=168, got {s:?}"))?,
        };
        Ok(GoLivePolicy {
            max_gate_age_ms: h * 3600 * 1000,
            ..GoLivePolicy::default()
        })
    }
}

/// Every unmet precondition, as reason codes; empty when go-live may proceed.
pub fn unmet(facts: &GoLiveFacts, policy: &GoLivePolicy, now_ms: i64) -> Vec<&'static str> {
    let mut reasons = Vec::new();
    match &facts.latest_gate {
        None => reasons.push("GO_LIVE_GATE_NOT_RUN"),
        Some((status, at)) => {
            if status != "PASS" {
                reasons.push("GO_LIVE_GATE_NOT_PASS");
            }
            if now_ms - at >= policy.max_gate_age_ms {
                reasons.push("GO_LIVE_GATE_STALE");
            }
        }
    }
    match facts.last_full_verification {
        None => reasons.push("GO_LIVE_AUDIT_NOT_VERIFIED"),
        Some((false, _)) => reasons.push("GO_LIVE_AUDIT_VERIFICATION_FAILED"),
        Some((true, at)) if now_ms - at >= policy.max_verification_age_ms => {
            reasons.push("GO_LIVE_AUDIT_VERIFICATION_STALE")
        }
        Some(_) => {}
    }
    match facts.breaker.as_deref() {
        Some("NORMAL") => {}
        Some(_) => reasons.push("GO_LIVE_BREAKER_NOT_NORMAL"),
        None => reasons.push("GO_LIVE_BREAKER_UNKNOWN"),
    }
    if !facts.kalshi_credentials {
        reasons.push("GO_LIVE_KALSHI_CREDENTIALS_MISSING");
    }
    match facts.preflight_passed {
        Some(true) => {}
        Some(false) => reasons.push("GO_LIVE_PREFLIGHT_FAILED"),
        None => reasons.push("GO_LIVE_PREFLIGHT_UNAVAILABLE"),
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600_000;
    const H: i64 = 3_600_000;

    fn ready() -> GoLiveFacts {
        GoLiveFacts {
            latest_gate: Some(("PASS".into(), NOW - H)),
            last_full_verification: Some((true, NOW - H)),
            breaker: Some("NORMAL".into()),
            kalshi_credentials: true,
            preflight_passed: Some(true),
        }
    }

    fn check(f: &GoLiveFacts) -> Vec<&'static str> {
        unmet(f, &GoLivePolicy::default(), NOW)
    }

    #[test]
    fn everything_in_place_lets_go_live_through() {
        assert!(check(&ready()).is_empty());
    }

    #[test]
    fn the_gate_must_pass_and_be_younger_than_24h() {
        for status in ["FAIL", "INCONCLUSIVE"] {
            let f = GoLiveFacts {
                latest_gate: Some((status.into(), NOW - H)),
                ..ready()
            };
            assert_eq!(check(&f), vec!["GO_LIVE_GATE_NOT_PASS"]);
        }
        let just = GoLiveFacts {
            latest_gate: Some(("PASS".into(), NOW - 24 * H + 1)),
            ..ready()
        };
        assert!(check(&just).is_empty());
        let stale = GoLiveFacts {
            latest_gate: Some(("PASS".into(), NOW - 24 * H)),
            ..ready()
        };
        assert_eq!(check(&stale), vec!["GO_LIVE_GATE_STALE"]);
        let none = GoLiveFacts {
            latest_gate: None,
            ..ready()
        };
        assert_eq!(check(&none), vec!["GO_LIVE_GATE_NOT_RUN"]);
        let p = GoLivePolicy::from_var(Some("2")).unwrap();
        assert!(unmet(&ready(), &p, NOW + H - 1).is_empty());
        assert!(unmet(&ready(), &p, NOW + H).contains(&"GO_LIVE_GATE_STALE"));
        assert!(GoLivePolicy::from_var(Some("0")).is_err());
        assert!(GoLivePolicy::from_var(Some("x")).is_err());
    }

    #[test]
    fn the_audit_verification_must_have_passed_within_2h() {
        let f = |v| GoLiveFacts {
            last_full_verification: v,
            ..ready()
        };
        assert!(check(&f(Some((true, NOW - 2 * H + 1)))).is_empty());
        assert_eq!(
            check(&f(Some((true, NOW - 2 * H)))),
            vec!["GO_LIVE_AUDIT_VERIFICATION_STALE"]
        );
        assert_eq!(
            check(&f(Some((false, NOW)))),
            vec!["GO_LIVE_AUDIT_VERIFICATION_FAILED"]
        );
        assert_eq!(check(&f(None)), vec!["GO_LIVE_AUDIT_NOT_VERIFIED"]);
    }

    #[test]
    fn breaker_credentials_and_preflight_each_block_and_all_reasons_are_given() {
        let f = GoLiveFacts {
            latest_gate: Some(("INCONCLUSIVE".into(), NOW)),
            last_full_verification: None,
            breaker: Some("CAUTION".into()),
            kalshi_credentials: false,
            preflight_passed: Some(false),
        };
        assert_eq!(
            check(&f),
            vec![
                "GO_LIVE_GATE_NOT_PASS",
                "GO_LIVE_AUDIT_NOT_VERIFIED",
                "GO_LIVE_BREAKER_NOT_NORMAL",
                "GO_LIVE_KALSHI_CREDENTIALS_MISSING",
                "GO_LIVE_PREFLIGHT_FAILED"
            ]
        );
        let unknown = GoLiveFacts {
            breaker: None,
            preflight_passed: None,
            ..ready()
        };
        assert_eq!(
            check(&unknown),
            vec!["GO_LIVE_BREAKER_UNKNOWN", "GO_LIVE_PREFLIGHT_UNAVAILABLE"]
        );
    }
}
