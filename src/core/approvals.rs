//! Two-person approvals (security guide, "Two-Person Approval"): the pure state machine.
//!
//! An operator requests an action with its parameters; the parameters are fixed at that moment
//! as canonical JSON (RFC 8785, integers only: see [`crate::core::audit::canonical`]) and their
//! SHA-256. A *different* operator approves before the request expires; the approval is then
//! claimed (`pending → executing`, compare-and-swap on the stored status so two approvers cannot
//! both win), the action runs once, and the request ends `executed` or `failed` with the
//! action's result. The requester, or anyone else, may reject a pending request instead.
//!
//! ```text
//!   pending ──approve (other operator, before expiry)──▶ executing ──▶ executed | failed
//!      │                                                    │
//!      └──reject (before expiry)──▶ rejected                └─(audit refused)─▶ pending
//! ```
//!
//! A pending request past its expiry is reported as `expired`; it can be neither approved
//! nor rejected (both answer `APPROVAL_EXPIRED`), only requested again.

use crate::core::audit::{canonical::to_canonical_string, Hash32};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Default lifetime of a request: 24 hours.
pub const DEFAULT_TTL_SECS: i64 = 24 * 3600;
/// Longest lifetime a requester may ask for: 7 days.
pub const MAX_TTL_SECS: i64 = 7 * 24 * 3600;
/// Longest parameters document, in canonical bytes.
pub const MAX_PARAMS_BYTES: usize = 8 * 1024;

/// The actions that need two operators. Tightening a limit and going back to paper or disabled
/// stay single-operator and never come here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApprovalAction {
    /// Any loosening of a risk limit (`PUT /admin/risk/limits` refuses those).
    #[serde(rename = "risk.loosen_limits")]
    RiskLoosenLimits,
    /// `POST /admin/strategies/{id}/go-live`.
    #[serde(rename = "strategy.go_live")]
    StrategyGoLive,
    /// Raising a strategy's capital allocation.
    #[serde(rename = "strategy.increase_capital")]
    StrategyIncreaseCapital,
    /// Switching a strategy's execution policy to live.
    #[serde(rename = "strategy.execution_live")]
    StrategyExecutionLive,
}

impl ApprovalAction {
    pub const ALL: [ApprovalAction; 4] = [
        ApprovalAction::RiskLoosenLimits,
        ApprovalAction::StrategyGoLive,
        ApprovalAction::StrategyIncreaseCapital,
        ApprovalAction::StrategyExecutionLive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalAction::RiskLoosenLimits => "risk.loosen_limits",
            ApprovalAction::StrategyGoLive => "strategy.go_live",
            ApprovalAction::StrategyIncreaseCapital => "strategy.increase_capital",
            ApprovalAction::StrategyExecutionLive => "strategy.execution_live",
        }
    }

    pub fn parse(s: &str) -> Option<ApprovalAction> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Where a request stands, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    /// Approved and claimed by one approver; the action is running.
    Executing,
    Executed,
    /// Approved, but the action refused (preconditions, validation): nothing changed.
    Failed,
    Rejected,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Executing => "executing",
            ApprovalStatus::Executed => "executed",
            ApprovalStatus::Failed => "failed",
            ApprovalStatus::Rejected => "rejected",
        }
    }
}

/// A status filter of `GET /admin/approvals?status=`: a stored status, or `expired`
/// (pending past its expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Stored(ApprovalStatus),
    /// Pending and not expired.
    Open,
    Expired,
}

impl StatusFilter {
    pub fn parse(s: &str) -> Option<StatusFilter> {
        Some(match s {
            "pending" => StatusFilter::Open,
            "expired" => StatusFilter::Expired,
            "executing" => StatusFilter::Stored(ApprovalStatus::Executing),
            "executed" => StatusFilter::Stored(ApprovalStatus::Executed),
            "failed" => StatusFilter::Stored(ApprovalStatus::Failed),
            "rejected" => StatusFilter::Stored(ApprovalStatus::Rejected),
            _ => return None,
        })
    }
}

/// One request and its whole history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    pub id: String,
    pub action: ApprovalAction,
    /// The parameters, in canonical JSON.
    pub params: String,
    /// SHA-256 of `params`, hex.
    pub params_hash: String,
    pub status: ApprovalStatus,
    pub requested_by: String,
    pub requested_at_ms: i64,
    pub expires_at_ms: i64,
    pub reason: String,
    pub decided_by: Option<String>,
    pub decided_at_ms: Option<i64>,
    /// The action's outcome (`executed`/`failed`) or the rejection's reason.
    pub result: Option<Value>,
}

/// Why a request or decision was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalError {
    /// Bad request content: unknown action, params not canonicalisable, bad ttl, …
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The requester tried to approve their own request.
    SelfApproval { requested_by: String },
    /// Past its expiry.
    Expired { expires_at_ms: i64 },
    /// Already decided (or being executed): approving twice is refused.
    AlreadyDecided { status: ApprovalStatus },
}

impl ApprovalError {
    pub fn code(&self) -> &'static str {
        match self {
            ApprovalError::Invalid { .. } => "INVALID_APPROVAL",
            ApprovalError::SelfApproval { .. } => "SELF_APPROVAL",
            ApprovalError::Expired { .. } => "APPROVAL_EXPIRED",
            ApprovalError::AlreadyDecided { .. } => "APPROVAL_ALREADY_DECIDED",
        }
    }

    /// The HTTP status the error maps to.
    pub fn status(&self) -> u16 {
        match self {
            ApprovalError::Invalid { .. } => 400,
            ApprovalError::SelfApproval { .. } => 403,
            ApprovalError::Expired { .. } | ApprovalError::AlreadyDecided { .. } => 409,
        }
    }

    pub fn details(&self) -> Vec<(&'static str, String)> {
        match self {
            ApprovalError::Invalid { field, message } => {
                vec![("field", field.to_string()), ("message", message.clone())]
            }
            ApprovalError::SelfApproval { requested_by } => {
                vec![("requested_by", requested_by.clone())]
            }
            ApprovalError::Expired { expires_at_ms } => {
                vec![("expires_at_ms", expires_at_ms.to_string())]
            }
            ApprovalError::AlreadyDecided { status } => {
                vec![("status", status.as_str().to_string())]
            }
        }
    }
}

impl fmt::Display for ApprovalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())?;
        for (i, (k, v)) in self.details().iter().enumerate() {
            let sep = if i == 0 { ": " } else { " " };
            write!(f, "{sep}{k}={v}")?;
        }
        Ok(())
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> ApprovalError {
    ApprovalError::Invalid {
        field,
        message: message.into(),
    }
}

/// Longest reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// The canonical form of `params` and its SHA-256 (hex). Params must be a JSON object whose
/// numbers are integers (money is fixed-point; a float is refused, not rounded).
pub fn canonical_params(params: &Value) -> Result<(String, String), ApprovalError> {
    if !params.is_object() {
        return Err(invalid("params", "params must be a JSON object"));
    }
    let canonical =
        to_canonical_string(params).map_err(|e| invalid("params", e.code().to_string()))?;
    if canonical.len() > MAX_PARAMS_BYTES {
        return Err(invalid(
            "params",
            format!("params exceed {MAX_PARAMS_BYTES} bytes"),
        ));
    }
    let hash = Hash32::sha256(&[canonical.as_bytes()]).to_hex();
    Ok((canonical, hash))
}

impl Approval {
    /// A new pending request by `requested_by` at `now_ms`, expiring `ttl_secs` later.
    pub fn request(
        id: String,
        action: ApprovalAction,
        params: &Value,
        requested_by: &str,
        reason: &str,
        now_ms: i64,
        ttl_secs: i64,
    ) -> Result<Approval, ApprovalError> {
        if !(1..=MAX_TTL_SECS).contains(&ttl_secs) {
            return Err(invalid(
                "expiresInSecs",
                format!("must be 1..={MAX_TTL_SECS}"),
            ));
        }
        if requested_by.trim().is_empty() {
            return Err(invalid("requested_by", "no identity"));
        }
        let reason = reason.trim();
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(invalid(
                "reason",
                format!("at most {MAX_REASON_CHARS} characters"),
            ));
        }
        let (params, params_hash) = canonical_params(params)?;
        Ok(Approval {
            id,
            action,
            params,
            params_hash,
            status: ApprovalStatus::Pending,
            requested_by: requested_by.to_string(),
            requested_at_ms: now_ms,
            expires_at_ms: now_ms + ttl_secs * 1000,
            reason: reason.to_string(),
            decided_by: None,
            decided_at_ms: None,
            result: None,
        })
    }

    /// The parameters as a JSON value.
    pub fn params_value(&self) -> Value {
        serde_json::from_str(&self.params).unwrap_or(Value::Null)
    }

    /// Pending past the expiry.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.status == ApprovalStatus::Pending && now_ms >= self.expires_at_ms
    }

    /// The status to show: `expired` for a pending request past its expiry.
    pub fn effective_status(&self, now_ms: i64) -> &'static str {
        if self.is_expired(now_ms) {
            "expired"
        } else {
            self.status.as_str()
        }
    }

    fn decidable(&self, now_ms: i64) -> Result<(), ApprovalError> {
        if self.status != ApprovalStatus::Pending {
            return Err(ApprovalError::AlreadyDecided {
                status: self.status,
            });
        }
        if self.is_expired(now_ms) {
            return Err(ApprovalError::Expired {
                expires_at_ms: self.expires_at_ms,
            });
        }
        Ok(())
    }

    /// The claim of an approval by `approver`: the request moves to `executing`. The caller
    /// stores it with a compare-and-swap on `pending` and runs the action only if that won.
    pub fn approve(&self, approver: &str, now_ms: i64) -> Result<Approval, ApprovalError> {
        self.decidable(now_ms)?;
        if approver.trim().is_empty() {
            return Err(invalid("approver", "no identity"));
        }
        // Operator names are unique ignoring ASCII case (core::auth refuses two names that
        // differ only in case), so compare the same way.
        if approver.eq_ignore_ascii_case(&self.requested_by) {
            return Err(ApprovalError::SelfApproval {
                requested_by: self.requested_by.clone(),
            });
        }
        Ok(Approval {
            status: ApprovalStatus::Executing,
            decided_by: Some(approver.to_string()),
            decided_at_ms: Some(now_ms),
            ..self.clone()
        })
    }

    /// Back to pending: the claim's audit record could not be written, so nothing happened.
    pub fn unclaim(&self) -> Approval {
        Approval {
            status: ApprovalStatus::Pending,
            decided_by: None,
            decided_at_ms: None,
            ..self.clone()
        }
    }

    /// The end of an executing request: `Ok` result → `executed`, `Err` → `failed`.
    pub fn finish(&self, outcome: Result<Value, Value>) -> Approval {
        let (status, result) = match outcome {
            Ok(v) => (ApprovalStatus::Executed, v),
            Err(v) => (ApprovalStatus::Failed, v),
        };
        Approval {
            status,
            result: Some(result),
            ..self.clone()
        }
    }

    /// A rejection by `actor` (the requester withdrawing, or another operator refusing).
    pub fn reject(
        &self,
        actor: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Approval, ApprovalError> {
        self.decidable(now_ms)?;
        if actor.trim().is_empty() {
            return Err(invalid("actor", "no identity"));
        }
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(invalid("reason", format!("at most {MAX_REASON_CHARS}")));
        }
        Ok(Approval {
            status: ApprovalStatus::Rejected,
            decided_by: Some(actor.to_string()),
            decided_at_ms: Some(now_ms),
            result: Some(serde_json::json!({ "reason": reason })),
            ..self.clone()
        })
    }

    /// The view for API answers.
    pub fn view(&self, now_ms: i64) -> Value {
        serde_json::json!({
            "id": self.id,
            "action": self.action.as_str(),
            "params": self.params_value(),
            "params_canonical": self.params,
            "params_hash": self.params_hash,
            "status": self.effective_status(now_ms),
            "requested_by": self.requested_by,
            "requested_at_ms": self.requested_at_ms,
            "expires_at_ms": self.expires_at_ms,
            "reason": self.reason,
            "decided_by": self.decided_by,
            "decided_at_ms": self.decided_at_ms,
            "result": self.result,
        })
    }

    /// The audit payload naming both identities (`approved_by` once decided).
    pub fn audit_payload(&self) -> Value {
        serde_json::json!({
            "approval_id": self.id,
            "action": self.action.as_str(),
            "params_hash": self.params_hash,
            "status": self.status.as_str(),
            "requested_by": self.requested_by,
            "approved_by": self.decided_by,
            "expires_at_ms": self.expires_at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: i64 = 1_767_225_600_000;

    fn pending() -> Approval {
        Approval::request(
            "a1".into(),
            ApprovalAction::RiskLoosenLimits,
            &json!({"limits": {"max_position_size_bps": 600}, "reason": "x"}),
            "alice",
            "more room",
            T,
            DEFAULT_TTL_SECS,
        )
        .unwrap()
    }

    #[test]
    fn params_are_canonical_and_hashed_so_key_order_does_not_matter() {
        let a = canonical_params(&json!({"b": 1, "a": {"d": 2, "c": "x"}})).unwrap();
        let b = canonical_params(&json!({"a": {"c": "x", "d": 2}, "b": 1})).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.0, r#"{"a":{"c":"x","d":2},"b":1}"#);
        assert_eq!(a.1.len(), 64);
        let other = canonical_params(&json!({"b": 2, "a": {"c": "x", "d": 2}})).unwrap();
        assert_ne!(a.1, other.1);
    }

    #[test]
    fn floats_and_non_objects_are_refused_as_params() {
        for bad in [json!({"usd": 1.5}), json!([1]), json!("x"), json!(null)] {
            let e = canonical_params(&bad).unwrap_err();
            assert_eq!(e.code(), "INVALID_APPROVAL", "{bad}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn a_request_expires_after_its_ttl_default_a_day() {
        let a = pending();
        assert_eq!(a.expires_at_ms, T + 86_400_000);
        assert_eq!(a.status, ApprovalStatus::Pending);
        assert_eq!(a.effective_status(T + 86_399_999), "pending");
        assert_eq!(a.effective_status(T + 86_400_000), "expired");
        for ttl in [0, -1, MAX_TTL_SECS + 1] {
            let e = Approval::request(
                "x".into(),
                ApprovalAction::StrategyGoLive,
                &json!({}),
                "alice",
                "r",
                T,
                ttl,
            )
            .unwrap_err();
            assert_eq!(e.code(), "INVALID_APPROVAL");
        }
    }

    #[test]
    fn the_requester_cannot_approve_even_in_another_case() {
        let a = pending();
        for who in ["alice", "ALICE", "Alice"] {
            let e = a.approve(who, T + 1).unwrap_err();
            assert_eq!(e.code(), "SELF_APPROVAL");
            assert_eq!(e.status(), 403);
        }
    }

    #[test]
    fn another_operator_claims_it_once_before_expiry() {
        let a = pending();
        let claimed = a.approve("bob", T + 5).unwrap();
        assert_eq!(claimed.status, ApprovalStatus::Executing);
        assert_eq!(claimed.decided_by.as_deref(), Some("bob"));
        assert_eq!(claimed.params, a.params, "params cannot change");
        let p = claimed.audit_payload();
        assert_eq!(
            (p["requested_by"].clone(), p["approved_by"].clone()),
            (json!("alice"), json!("bob"))
        );
        // A second approval, by anyone, is refused.
        let e = claimed.approve("carol", T + 6).unwrap_err();
        assert_eq!(e.code(), "APPROVAL_ALREADY_DECIDED");
        assert_eq!(e.status(), 409);
        let done = claimed.finish(Ok(json!({"ok": true})));
        assert_eq!(done.status, ApprovalStatus::Executed);
        assert_eq!(done.approve("carol", T + 7).unwrap_err().status(), 409);
        let failed = claimed.finish(Err(json!({"reasons": ["GATE_NOT_PASS"]})));
        assert_eq!(failed.status, ApprovalStatus::Failed);
        assert_eq!(
            failed.approve("carol", T + 7).unwrap_err().code(),
            "APPROVAL_ALREADY_DECIDED"
        );
        assert_eq!(claimed.unclaim(), a);
    }

    #[test]
    fn an_expired_request_is_neither_approved_nor_rejected() {
        let a = pending();
        let at = a.expires_at_ms;
        assert_eq!(
            a.approve("bob", at - 1).unwrap().status,
            ApprovalStatus::Executing
        );
        let e = a.approve("bob", at).unwrap_err();
        assert_eq!((e.code(), e.status()), ("APPROVAL_EXPIRED", 409));
        assert_eq!(
            a.reject("bob", "no", at).unwrap_err().code(),
            "APPROVAL_EXPIRED"
        );
    }

    #[test]
    fn a_rejection_is_final() {
        let a = pending();
        let r = a.reject("alice", "withdrawn", T + 1).unwrap();
        assert_eq!(r.status, ApprovalStatus::Rejected);
        assert_eq!(
            r.approve("bob", T + 2).unwrap_err().code(),
            "APPROVAL_ALREADY_DECIDED"
        );
        assert_eq!(r.reject("bob", "", T + 2).unwrap_err().status(), 409);
    }

    #[test]
    fn actions_and_filters_parse_from_their_names() {
        for a in ApprovalAction::ALL {
            assert_eq!(ApprovalAction::parse(a.as_str()), Some(a));
            assert_eq!(serde_json::to_value(a).unwrap(), json!(a.as_str()));
        }
        assert_eq!(ApprovalAction::parse("risk.tighten_limits"), None);
        assert_eq!(StatusFilter::parse("pending"), Some(StatusFilter::Open));
        assert_eq!(StatusFilter::parse("expired"), Some(StatusFilter::Expired));
        assert_eq!(StatusFilter::parse("bogus"), None);
    }

    #[test]
    fn a_stored_approval_round_trips() {
        let a = pending().approve("bob", T + 1).unwrap();
        let back: Approval = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }
}
