//! Cross-venue market pairs: a Kalshi market and the Polymarket market believed to resolve on
//! the same event, and the review that decides whether the pair may be traded.
//!
//! Lifecycle (security guide, "Market Pair Approval"):
//!
//! ```text
//! proposed ──assess──▶ assessed ──approve──▶ approved
//!    │  ▲                 │  ▲                  │
//!    │  └──(rules change)─┴──┼──────────────────┘      any state but rejected ──reject──▶ rejected
//!    └──assess (failed)──▶ not_assessed ──assess──▶ …
//! ```
//!
//! A pair is **tradable** only when all of these hold ([`Pair::tradable`]):
//! - its LLM grade is `identical` or `near_equivalent`;
//! - a human approved it (an operator with a name, never the system);
//! - the approval is younger than [`APPROVAL_TTL_DAYS`];
//! - neither market's rules hash differs from the hashes the assessment and approval were made
//!   against. Ingestion re-checks the hashes ([`Pair::observe_rules`]); a change sends the pair
//!   back to `proposed`, dropping assessment and approval, because both were judgements about
//!   texts that no longer exist.
//!
//! An LLM answer that is missing, unparseable or an error leaves the pair `not_assessed`; there
//! is no path from `not_assessed` to `approved` except a fresh, successful assessment.

pub mod discovery;

use crate::core::audit::Hash32;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// How long a human approval stays valid.
pub const APPROVAL_TTL_DAYS: i64 = 30;
/// Longest accepted operator notes.
pub const MAX_NOTES_CHARS: usize = 2_000;

/// The LLM's equivalence grade for a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Identical,
    NearEquivalent,
    SimilarButDivergent,
    NotEquivalent,
}

impl Grade {
    pub const ALL: [Grade; 4] = [
        Grade::Identical,
        Grade::NearEquivalent,
        Grade::SimilarButDivergent,
        Grade::NotEquivalent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Identical => "identical",
            Grade::NearEquivalent => "near_equivalent",
            Grade::SimilarButDivergent => "similar_but_divergent",
            Grade::NotEquivalent => "not_equivalent",
        }
    }

    /// The grade named exactly `s`; anything else is unknown (never guessed).
    pub fn parse(s: &str) -> Option<Grade> {
        Grade::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// Whether a pair with this grade may be approved and traded.
    pub fn is_tradable(self) -> bool {
        matches!(self, Grade::Identical | Grade::NearEquivalent)
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a pair is in its review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairStatus {
    Proposed,
    NotAssessed,
    Assessed,
    Approved,
    Rejected,
}

impl PairStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PairStatus::Proposed => "proposed",
            PairStatus::NotAssessed => "not_assessed",
            PairStatus::Assessed => "assessed",
            PairStatus::Approved => "approved",
            PairStatus::Rejected => "rejected",
        }
    }

    /// For `GET /admin/pairs?status=`: exactly the names above.
    pub fn parse(s: &str) -> Option<PairStatus> {
        [
            PairStatus::Proposed,
            PairStatus::NotAssessed,
            PairStatus::Assessed,
            PairStatus::Approved,
            PairStatus::Rejected,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

impl fmt::Display for PairStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pair's stable id: `pair-` and 16 hex digits of SHA-256 over the two market ids, so
/// proposing the same pair twice (an operator and discovery, or a re-run) yields the same row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PairId(pub String);

impl PairId {
    pub fn of(kalshi_ticker: &str, polymarket_condition_id: &str) -> PairId {
        let mut h = Sha256::new();
        for part in ["paulp.pair.v1", kalshi_ticker, polymarket_condition_id] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        PairId(format!("pair-{}", &hex::encode(h.finalize())[..16]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PairId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The rules hashes of both markets at one moment (see [`crate::venues::rules_hash`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesHashes {
    pub kalshi: Hash32,
    pub polymarket: Hash32,
}

impl RulesHashes {
    /// From the venue rules hashes.
    pub fn of(kalshi: &crate::venues::RulesHash, polymarket: &crate::venues::RulesHash) -> Self {
        RulesHashes {
            kalshi: Hash32::from_bytes(*kalshi.as_bytes()),
            polymarket: Hash32::from_bytes(*polymarket.as_bytes()),
        }
    }

    /// Which sides differ from `other`: `kalshi`, `polymarket` or `kalshi,polymarket`.
    fn changed_sides(&self, other: &RulesHashes) -> Option<String> {
        let mut sides = Vec::new();
        if self.kalshi != other.kalshi {
            sides.push("kalshi");
        }
        if self.polymarket != other.polymarket {
            sides.push("polymarket");
        }
        (!sides.is_empty()).then(|| sides.join(","))
    }
}

/// What an assessment attempt produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case", deny_unknown_fields)]
pub enum AssessmentOutcome {
    /// The model answered with a known grade and a rationale.
    Graded { grade: Grade, rationale: String },
    /// No usable answer: `code` says why (`LLM_…`), `detail` has key=value context.
    Failed { code: String, detail: String },
}

/// One assessment attempt with everything needed to reproduce or audit it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assessment {
    pub outcome: AssessmentOutcome,
    pub model: String,
    pub prompt_version: String,
    /// The rules texts the model was shown, by hash.
    pub rules: RulesHashes,
    /// Evidence hashes of the exact request and response bytes (stored in R2 by the caller).
    pub request_evidence: Option<Hash32>,
    pub response_evidence: Option<Hash32>,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub at: DateTime<Utc>,
}

impl Assessment {
    pub fn grade(&self) -> Option<Grade> {
        match &self.outcome {
            AssessmentOutcome::Graded { grade, .. } => Some(*grade),
            AssessmentOutcome::Failed { .. } => None,
        }
    }
}

/// An operator's decision (approval or rejection).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    pub actor: String,
    pub notes: String,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub at: DateTime<Utc>,
}

/// Who proposed a pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
pub enum Proposer {
    Operator {
        actor: String,
    },
    /// Text-similarity discovery, with the title similarity in basis points.
    Discovery {
        score_bps: u32,
    },
}

/// A market pair and its review state. Persisted as JSON; every change goes through the
/// methods below, which refuse transitions the lifecycle does not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    pub id: PairId,
    pub kalshi_ticker: String,
    pub polymarket_condition_id: String,
    /// Index of the Polymarket outcome that corresponds to Kalshi YES (0 for `Yes` in a
    /// Yes/No market; for a two-team market, the team the Kalshi market names).
    pub polymarket_outcome: u8,
    pub status: PairStatus,
    pub proposer: Proposer,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub proposed_at: DateTime<Utc>,
    /// The latest assessment attempt (graded or failed).
    pub assessment: Option<Assessment>,
    pub approval: Option<Review>,
    pub rejection: Option<Review>,
    /// Why the pair is back in review, e.g. `RULES_CHANGED: sides=kalshi`.
    pub review_reason: Option<String>,
}

/// Why a pair operation was refused; the pair is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairError {
    InvalidInput {
        field: &'static str,
        problem: &'static str,
    },
    /// The lifecycle has no such step from the current status.
    Transition {
        from: PairStatus,
        action: &'static str,
    },
    /// Approval needs a graded assessment with a tradable grade.
    NotApprovable { grade: Option<Grade> },
    /// The rules changed since the assessment; re-assess before approving.
    RulesChanged { sides: String },
}

impl PairError {
    pub fn code(&self) -> &'static str {
        match self {
            PairError::InvalidInput { .. } => "PAIR_INVALID_INPUT",
            PairError::Transition { .. } => "PAIR_TRANSITION_INVALID",
            PairError::NotApprovable { .. } => "PAIR_GRADE_NOT_APPROVABLE",
            PairError::RulesChanged { .. } => "PAIR_RULES_CHANGED",
        }
    }

    pub fn details(&self) -> Vec<(&'static str, String)> {
        match self {
            PairError::InvalidInput { field, problem } => {
                vec![
                    ("field", field.to_string()),
                    ("problem", problem.to_string()),
                ]
            }
            PairError::Transition { from, action } => {
                vec![("from", from.to_string()), ("action", action.to_string())]
            }
            PairError::NotApprovable { grade } => {
                vec![("grade", grade.map_or("none".to_string(), |g| g.to_string()))]
            }
            PairError::RulesChanged { sides } => vec![("sides", sides.clone())],
        }
    }
}

impl fmt::Display for PairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())?;
        for (i, (k, v)) in self.details().iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { ": " } else { " " })?;
        }
        Ok(())
    }
}

/// Why a pair may not be traded right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotTradable {
    NotApproved { status: PairStatus },
    GradeNotTradable { grade: Option<Grade> },
    ApprovalExpired { expired_at: DateTime<Utc> },
    RulesChanged { sides: String },
}

impl NotTradable {
    pub fn code(&self) -> &'static str {
        match self {
            NotTradable::NotApproved { .. } => "PAIR_NOT_APPROVED",
            NotTradable::GradeNotTradable { .. } => "PAIR_GRADE_NOT_TRADABLE",
            NotTradable::ApprovalExpired { .. } => "PAIR_APPROVAL_EXPIRED",
            NotTradable::RulesChanged { .. } => "PAIR_RULES_CHANGED",
        }
    }
}

impl fmt::Display for NotTradable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotTradable::NotApproved { status } => write!(f, "{}: status={status}", self.code()),
            NotTradable::GradeNotTradable { grade } => write!(
                f,
                "{}: grade={}",
                self.code(),
                grade.map_or("none".to_string(), |g| g.to_string())
            ),
            NotTradable::ApprovalExpired { expired_at } => write!(
                f,
                "{}: expired_at_ms={}",
                self.code(),
                expired_at.timestamp_millis()
            ),
            NotTradable::RulesChanged { sides } => write!(f, "{}: sides={sides}", self.code()),
        }
    }
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), PairError> {
    if value.trim().is_empty() {
        return Err(PairError::InvalidInput {
            field,
            problem: "empty",
        });
    }
    if value.chars().count() > max {
        return Err(PairError::InvalidInput {
            field,
            problem: "too_long",
        });
    }
    Ok(())
}

impl Pair {
    /// A new pair in `proposed`.
    pub fn propose(
        kalshi_ticker: &str,
        polymarket_condition_id: &str,
        polymarket_outcome: u8,
        proposer: Proposer,
        now: DateTime<Utc>,
    ) -> Result<Pair, PairError> {
        check_text("kalshi_ticker", kalshi_ticker, 200)?;
        check_text("polymarket_condition_id", polymarket_condition_id, 200)?;
        if let Proposer::Operator { actor } = &proposer {
            check_text("actor", actor, 200)?;
        }
        Ok(Pair {
            id: PairId::of(kalshi_ticker, polymarket_condition_id),
            kalshi_ticker: kalshi_ticker.to_string(),
            polymarket_condition_id: polymarket_condition_id.to_string(),
            polymarket_outcome,
            status: PairStatus::Proposed,
            proposer,
            proposed_at: now,
            assessment: None,
            approval: None,
            rejection: None,
            review_reason: None,
        })
    }

    /// Records an assessment attempt. A graded answer moves the pair to `assessed`, a failed
    /// one to `not_assessed`. Allowed from `proposed`, `not_assessed` and `assessed` (a
    /// re-assessment); an approved pair is re-assessed only after its rules change.
    pub fn record_assessment(&self, assessment: Assessment) -> Result<Pair, PairError> {
        match self.status {
            PairStatus::Proposed | PairStatus::NotAssessed | PairStatus::Assessed => {}
            from => {
                return Err(PairError::Transition {
                    from,
                    action: "assess",
                })
            }
        }
        let mut next = self.clone();
        next.status = match assessment.outcome {
            AssessmentOutcome::Graded { .. } => PairStatus::Assessed,
            AssessmentOutcome::Failed { .. } => PairStatus::NotAssessed,
        };
        next.assessment = Some(assessment);
        Ok(next)
    }

    /// An operator approves. Needs a graded, tradable assessment made against the rules as
    /// they are now (`current`). Allowed from `assessed`, and from `approved` to renew an
    /// approval (e.g. one about to expire).
    pub fn approve(
        &self,
        actor: &str,
        notes: &str,
        current: &RulesHashes,
        now: DateTime<Utc>,
    ) -> Result<Pair, PairError> {
        check_text("actor", actor, 200)?;
        if notes.chars().count() > MAX_NOTES_CHARS {
            return Err(PairError::InvalidInput {
                field: "notes",
                problem: "too_long",
            });
        }
        if !matches!(self.status, PairStatus::Assessed | PairStatus::Approved) {
            return Err(PairError::Transition {
                from: self.status,
                action: "approve",
            });
        }
        let assessment = self.assessment.as_ref();
        let grade = assessment.and_then(Assessment::grade);
        if !grade.is_some_and(Grade::is_tradable) {
            return Err(PairError::NotApprovable { grade });
        }
        if let Some(sides) = assessment.and_then(|a| a.rules.changed_sides(current)) {
            return Err(PairError::RulesChanged { sides });
        }
        let mut next = self.clone();
        next.status = PairStatus::Approved;
        next.approval = Some(Review {
            actor: actor.to_string(),
            notes: notes.to_string(),
            at: now,
        });
        next.review_reason = None;
        Ok(next)
    }

    /// An operator rejects; allowed from every status except `rejected`. Final: a rejected
    /// pair is proposed again only under a new id (a different market on either side).
    pub fn reject(&self, actor: &str, notes: &str, now: DateTime<Utc>) -> Result<Pair, PairError> {
        check_text("actor", actor, 200)?;
        if notes.chars().count() > MAX_NOTES_CHARS {
            return Err(PairError::InvalidInput {
                field: "notes",
                problem: "too_long",
            });
        }
        if self.status == PairStatus::Rejected {
            return Err(PairError::Transition {
                from: self.status,
                action: "reject",
            });
        }
        let mut next = self.clone();
        next.status = PairStatus::Rejected;
        next.approval = None;
        next.rejection = Some(Review {
            actor: actor.to_string(),
            notes: notes.to_string(),
            at: now,
        });
        Ok(next)
    }

    /// Ingestion saw the markets' rules as `current`. If they differ from what the last
    /// assessment saw, the pair goes back to `proposed` (assessment and approval dropped) and
    /// the new pair is returned; otherwise `None`. Rejected pairs stay rejected.
    pub fn observe_rules(&self, current: &RulesHashes) -> Option<Pair> {
        if self.status == PairStatus::Rejected {
            return None;
        }
        let sides = self.assessment.as_ref()?.rules.changed_sides(current)?;
        let mut next = self.clone();
        next.status = PairStatus::Proposed;
        next.assessment = None;
        next.approval = None;
        next.review_reason = Some(format!("RULES_CHANGED: sides={sides}"));
        Some(next)
    }

    /// When the current approval stops being valid.
    pub fn approval_expires_at(&self) -> Option<DateTime<Utc>> {
        self.approval
            .as_ref()
            .map(|a| a.at + TimeDelta::days(APPROVAL_TTL_DAYS))
    }

    /// Whether signals may be generated for this pair at `now`, given the markets' rules as
    /// ingestion last saw them. Every condition is checked; the first failing one is returned.
    pub fn tradable(&self, now: DateTime<Utc>, current: &RulesHashes) -> Result<(), NotTradable> {
        if self.status != PairStatus::Approved || self.approval.is_none() {
            return Err(NotTradable::NotApproved {
                status: self.status,
            });
        }
        let grade = self.assessment.as_ref().and_then(Assessment::grade);
        if !grade.is_some_and(Grade::is_tradable) {
            return Err(NotTradable::GradeNotTradable { grade });
        }
        if let Some(expires) = self.approval_expires_at() {
            if now >= expires {
                return Err(NotTradable::ApprovalExpired {
                    expired_at: expires,
                });
            }
        }
        if let Some(sides) = self
            .assessment
            .as_ref()
            .and_then(|a| a.rules.changed_sides(current))
        {
            return Err(NotTradable::RulesChanged { sides });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
