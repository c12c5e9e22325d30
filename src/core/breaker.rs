//! The circuit breaker: `NORMAL → CAUTION → HALT → RECOVERY`.
//!
//! Pure: every function takes the time as `now`; nothing reads a clock. Nothing here ever leaves
//! HALT on its own — the only way out is a manual HALT → RECOVERY backed by a clean reconciliation
//! (the reference implementation recovered by itself after 60 minutes).
//!
//! Two kinds of move exist:
//! - [`transition`]: a manual request by an operator, checked against the allowed-transition table.
//! - Escalation ([`Breaker::escalate`], [`Breaker::record_failure`]): automatic, and only ever to a
//!   strictly more restrictive state (by [`BreakerState::rank`]), so it never lowers the state.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;

/// Longest accepted transition reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest accepted actor name, in characters.
pub const MAX_ACTOR_CHARS: usize = 200;
/// How many transitions the breaker keeps.
pub const HISTORY_LEN: usize = 50;
/// The actor recorded on automatic escalations.
pub const SYSTEM_ACTOR: &str = "system";

/// The four breaker states, serialised as `NORMAL`, `CAUTION`, `HALT`, `RECOVERY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum BreakerState {
    Normal,
    Caution,
    Halt,
    Recovery,
}

impl BreakerState {
    pub const ALL: [BreakerState; 4] = [
        BreakerState::Normal,
        BreakerState::Caution,
        BreakerState::Halt,
        BreakerState::Recovery,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Normal => "NORMAL",
            BreakerState::Caution => "CAUTION",
            BreakerState::Halt => "HALT",
            BreakerState::Recovery => "RECOVERY",
        }
    }

    /// How restrictive the state is: NORMAL 0, CAUTION and RECOVERY 1 (both halve size limits and
    /// refuse go-live), HALT 2. Escalation only ever moves to a strictly higher rank.
    pub fn rank(self) -> u8 {
        match self {
            BreakerState::Normal => 0,
            BreakerState::Caution | BreakerState::Recovery => 1,
            BreakerState::Halt => 2,
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a strategy may go live in this state: only NORMAL.
pub fn admits_go_live(state: BreakerState) -> bool {
    state == BreakerState::Normal
}

/// Whether orders that add exposure may pass at all: everything but HALT. (Cancels and
/// exposure-reducing orders pass in every state.)
pub fn admits_new_exposure(state: BreakerState) -> bool {
    state != BreakerState::Halt
}

/// The divisor applied to every size limit for new exposure: 1 in NORMAL, 2 in CAUTION and
/// RECOVERY, `None` in HALT, where no new exposure is admitted at all.
pub fn size_limit_divisor(state: BreakerState) -> Option<i64> {
    match state {
        BreakerState::Normal => Some(1),
        BreakerState::Caution | BreakerState::Recovery => Some(2),
        BreakerState::Halt => None,
    }
}

/// The manual-transition table. Any state may go to HALT; same-state requests are handled
/// before this table is consulted.
fn allowed(from: BreakerState, to: BreakerState) -> bool {
    use BreakerState::*;
    matches!(
        (from, to),
        (_, Halt)
            | (Normal, Caution)
            | (Caution, Normal)
            | (Halt, Recovery)
            | (Recovery, Normal)
            | (Recovery, Caution)
    )
}

/// The parts of the system that report failures; each keeps its own consecutive-failure streak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureSource {
    VenueApi,
    Execution,
    Reconciliation,
    Audit,
    DataStaleness,
}

impl FailureSource {
    pub const ALL: [FailureSource; 5] = [
        FailureSource::VenueApi,
        FailureSource::Execution,
        FailureSource::Reconciliation,
        FailureSource::Audit,
        FailureSource::DataStaleness,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureSource::VenueApi => "venue_api",
            FailureSource::Execution => "execution",
            FailureSource::Reconciliation => "reconciliation",
            FailureSource::Audit => "audit",
            FailureSource::DataStaleness => "data_staleness",
        }
    }
}

impl fmt::Display for FailureSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Consecutive failures per source since that source's last success.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureStreaks {
    pub venue_api: u32,
    pub execution: u32,
    pub reconciliation: u32,
    pub audit: u32,
    pub data_staleness: u32,
}

impl FailureStreaks {
    pub fn get(&self, source: FailureSource) -> u32 {
        match source {
            FailureSource::VenueApi => self.venue_api,
            FailureSource::Execution => self.execution,
            FailureSource::Reconciliation => self.reconciliation,
            FailureSource::Audit => self.audit,
            FailureSource::DataStaleness => self.data_staleness,
        }
    }

    fn slot(&mut self, source: FailureSource) -> &mut u32 {
        match source {
            FailureSource::VenueApi => &mut self.venue_api,
            FailureSource::Execution => &mut self.execution,
            FailureSource::Reconciliation => &mut self.reconciliation,
            FailureSource::Audit => &mut self.audit,
            FailureSource::DataStaleness => &mut self.data_staleness,
        }
    }
}

/// Escalation thresholds and the recovery window (`CAUTION_AFTER_FAILURES`,
/// `HALT_AFTER_FAILURES`, `RECOVERY_MAX_RECON_AGE_MIN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures of one source that move the breaker to CAUTION.
    pub caution_after: u32,
    /// Consecutive failures of one source that move the breaker to HALT.
    pub halt_after: u32,
    /// How recent a clean reconciliation must be for HALT → RECOVERY, in minutes.
    pub recovery_max_recon_age_min: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            caution_after: 3,
            halt_after: 5,
            recovery_max_recon_age_min: 15,
        }
    }
}

/// Most failures a streak threshold may ask for; beyond this the breaker would be decorative.
pub const MAX_FAILURE_THRESHOLD: u32 = 1_000;
/// Longest recovery window, in minutes (one day).
pub const MAX_RECOVERY_RECON_AGE_MIN: u32 = 1_440;

impl BreakerConfig {
    /// Accepts `1 ≤ caution_after ≤ halt_after ≤ 1000` and a recovery window of 1..=1440 minutes.
    pub fn validate(&self) -> Result<(), BreakerError> {
        let invalid = |field: &'static str, value: u32| {
            Err(BreakerError::InvalidConfig {
                field,
                value: i64::from(value),
            })
        };
        if self.caution_after == 0 || self.caution_after > MAX_FAILURE_THRESHOLD {
            return invalid("caution_after", self.caution_after);
        }
        if self.halt_after < self.caution_after || self.halt_after > MAX_FAILURE_THRESHOLD {
            return invalid("halt_after", self.halt_after);
        }
        if self.recovery_max_recon_age_min == 0
            || self.recovery_max_recon_age_min > MAX_RECOVERY_RECON_AGE_MIN
        {
            return invalid(
                "recovery_max_recon_age_min",
                self.recovery_max_recon_age_min,
            );
        }
        Ok(())
    }

    pub fn recovery_max_recon_age(&self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.recovery_max_recon_age_min))
    }
}

/// A manual transition request from an authenticated operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub target: BreakerState,
    pub reason: String,
    pub actor: String,
}

/// What a manual transition is judged against besides the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionContext {
    /// When the current state was entered.
    pub state_since: DateTime<Utc>,
    /// The last reconciliation that found no drift, if any.
    pub last_clean_reconciliation_at: Option<DateTime<Utc>>,
    /// How old that reconciliation may be for HALT → RECOVERY.
    pub recovery_max_recon_age: TimeDelta,
}

/// Why the breaker moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransitionCause {
    /// An operator asked for it.
    Manual,
    /// A source failed `streak` times in a row.
    FailureStreak { source: FailureSource, streak: u32 },
    /// Another part raised a critical alert.
    CriticalAlert,
    /// The day's loss reached the daily-loss limit.
    DailyLoss,
    /// The drawdown from peak equity reached the drawdown limit.
    Drawdown,
    /// Reconciliation found drift severe enough to escalate on its own.
    ReconciliationDrift,
}

/// One breaker move (or recorded no-op), kept in the history and appended to the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionRecord {
    pub from: BreakerState,
    pub to: BreakerState,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub at: DateTime<Utc>,
    pub actor: String,
    pub reason: String,
    pub cause: TransitionCause,
}

impl TransitionRecord {
    /// A same-state request: recorded, changes nothing.
    pub fn is_no_op(&self) -> bool {
        self.from == self.to
    }
}

/// Why a breaker request or configuration was refused. Every variant has a stable [`code`].
///
/// [`code`]: BreakerError::code
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakerError {
    /// Reason empty (after trimming) or longer than [`MAX_REASON_CHARS`].
    InvalidReason { chars: usize },
    /// Actor empty (after trimming) or longer than [`MAX_ACTOR_CHARS`].
    InvalidActor { chars: usize },
    /// Not in the transition table.
    InvalidTransition {
        from: BreakerState,
        to: BreakerState,
    },
    /// HALT → RECOVERY without a clean reconciliation since the halt and within the window.
    RecoveryRequiresCleanReconciliation {
        halted_since: DateTime<Utc>,
        last_clean_reconciliation_at: Option<DateTime<Utc>>,
        max_age: TimeDelta,
    },
    /// A breaker threshold out of range.
    InvalidConfig { field: &'static str, value: i64 },
}

impl BreakerError {
    pub fn code(&self) -> &'static str {
        match self {
            BreakerError::InvalidReason { .. } => "INVALID_REASON",
            BreakerError::InvalidActor { .. } => "INVALID_ACTOR",
            BreakerError::InvalidTransition { .. } => "INVALID_TRANSITION",
            BreakerError::RecoveryRequiresCleanReconciliation { .. } => {
                "RECOVERY_REQUIRES_CLEAN_RECONCILIATION"
            }
            BreakerError::InvalidConfig { .. } => "INVALID_BREAKER_CONFIG",
        }
    }

    /// Key=value context for the error envelope and the audit record.
    pub fn details(&self) -> Vec<(String, String)> {
        let kv = |k: &str, v: String| (k.to_string(), v);
        match self {
            BreakerError::InvalidReason { chars } => vec![
                kv("chars", chars.to_string()),
                kv("max_chars", MAX_REASON_CHARS.to_string()),
            ],
            BreakerError::InvalidActor { chars } => vec![
                kv("chars", chars.to_string()),
                kv("max_chars", MAX_ACTOR_CHARS.to_string()),
            ],
            BreakerError::InvalidTransition { from, to } => {
                vec![kv("from", from.to_string()), kv("to", to.to_string())]
            }
            BreakerError::RecoveryRequiresCleanReconciliation {
                halted_since,
                last_clean_reconciliation_at,
                max_age,
            } => vec![
                kv(
                    "halted_since_ms",
                    halted_since.timestamp_millis().to_string(),
                ),
                kv(
                    "last_clean_reconciliation_ms",
                    last_clean_reconciliation_at
                        .map(|t| t.timestamp_millis().to_string())
                        .unwrap_or_else(|| "none".to_string()),
                ),
                kv("max_age_secs", max_age.num_seconds().to_string()),
            ],
            BreakerError::InvalidConfig { field, value } => {
                vec![
                    kv("field", field.to_string()),
                    kv("value", value.to_string()),
                ]
            }
        }
    }
}

impl fmt::Display for BreakerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())?;
        for (i, (k, v)) in self.details().iter().enumerate() {
            let sep = if i == 0 { ": " } else { " " };
            write!(f, "{sep}{k}={v}")?;
        }
        Ok(())
    }
}

/// Checks a free-text reason: non-blank and at most [`MAX_REASON_CHARS`] characters.
pub fn validate_reason(reason: &str) -> Result<(), BreakerError> {
    let chars = reason.chars().count();
    if reason.trim().is_empty() || chars > MAX_REASON_CHARS {
        return Err(BreakerError::InvalidReason { chars });
    }
    Ok(())
}

/// Checks an actor name: non-blank and at most [`MAX_ACTOR_CHARS`] characters.
pub fn validate_actor(actor: &str) -> Result<(), BreakerError> {
    let chars = actor.chars().count();
    if actor.trim().is_empty() || chars > MAX_ACTOR_CHARS {
        return Err(BreakerError::InvalidActor { chars });
    }
    Ok(())
}

/// Judges a manual transition from `state`.
///
/// Allowed: NORMAL→CAUTION|HALT, CAUTION→NORMAL|HALT, HALT→RECOVERY, RECOVERY→NORMAL|CAUTION|HALT,
/// and any state → HALT. A request for the current state is a no-op that is still recorded.
/// HALT → RECOVERY additionally needs a clean reconciliation taken at or after the moment HALT
/// was entered and at most `recovery_max_recon_age` old (age 0 ≤ age ≤ max; equality passes).
/// The reason is checked first, then the actor, then the table.
pub fn transition(
    state: BreakerState,
    request: &TransitionRequest,
    context: &TransitionContext,
    now: DateTime<Utc>,
) -> Result<(BreakerState, TransitionRecord), BreakerError> {
    validate_reason(&request.reason)?;
    validate_actor(&request.actor)?;
    let target = request.target;
    if target != state && !allowed(state, target) {
        return Err(BreakerError::InvalidTransition {
            from: state,
            to: target,
        });
    }
    if state == BreakerState::Halt && target == BreakerState::Recovery {
        let clean = context.last_clean_reconciliation_at.is_some_and(|at| {
            let age = now - at;
            at >= context.state_since
                && age >= TimeDelta::zero()
                && age <= context.recovery_max_recon_age
        });
        if !clean {
            return Err(BreakerError::RecoveryRequiresCleanReconciliation {
                halted_since: context.state_since,
                last_clean_reconciliation_at: context.last_clean_reconciliation_at,
                max_age: context.recovery_max_recon_age,
            });
        }
    }
    let record = TransitionRecord {
        from: state,
        to: target,
        at: now,
        actor: request.actor.clone(),
        reason: request.reason.clone(),
        cause: TransitionCause::Manual,
    };
    Ok((target, record))
}

/// The breaker as the RiskGovernor persists it: state, who put it there and why, failure
/// streaks, the last clean reconciliation, and the last [`HISTORY_LEN`] transitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breaker {
    state: BreakerState,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    since: DateTime<Utc>,
    reason: String,
    actor: String,
    streaks: FailureStreaks,
    #[serde(
        with = "chrono::serde::ts_milliseconds_option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    last_clean_reconciliation_at: Option<DateTime<Utc>>,
    history: VecDeque<TransitionRecord>,
    config: BreakerConfig,
}

impl Breaker {
    /// A breaker in NORMAL. New exposure still needs a known equity, so a fresh governor refuses
    /// everything until the book is fed.
    pub fn new(config: BreakerConfig, now: DateTime<Utc>) -> Result<Breaker, BreakerError> {
        config.validate()?;
        Ok(Breaker {
            state: BreakerState::Normal,
            since: now,
            reason: "initialised".to_string(),
            actor: SYSTEM_ACTOR.to_string(),
            streaks: FailureStreaks::default(),
            last_clean_reconciliation_at: None,
            history: VecDeque::new(),
            config,
        })
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }
    /// When the current state was entered.
    pub fn since(&self) -> DateTime<Utc> {
        self.since
    }
    pub fn reason(&self) -> &str {
        &self.reason
    }
    pub fn actor(&self) -> &str {
        &self.actor
    }
    pub fn streaks(&self) -> &FailureStreaks {
        &self.streaks
    }
    pub fn last_clean_reconciliation_at(&self) -> Option<DateTime<Utc>> {
        self.last_clean_reconciliation_at
    }
    /// Oldest first, at most [`HISTORY_LEN`].
    pub fn history(&self) -> impl Iterator<Item = &TransitionRecord> {
        self.history.iter()
    }
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The context [`transition`] needs, taken from this breaker.
    pub fn context(&self) -> TransitionContext {
        TransitionContext {
            state_since: self.since,
            last_clean_reconciliation_at: self.last_clean_reconciliation_at,
            recovery_max_recon_age: self.config.recovery_max_recon_age(),
        }
    }

    /// Applies a manual request; on error nothing changes.
    pub(in crate::core) fn request(
        &mut self,
        request: &TransitionRequest,
        now: DateTime<Utc>,
    ) -> Result<TransitionRecord, BreakerError> {
        let (next, record) = transition(self.state, request, &self.context(), now)?;
        if next != self.state {
            self.enter(next, &record);
        }
        self.remember(record.clone());
        Ok(record)
    }

    /// Moves to `target` if it is strictly more restrictive than the current state; otherwise
    /// does nothing and returns `None`. This is the only automatic move, so escalation never
    /// lowers the state.
    pub(in crate::core) fn escalate(
        &mut self,
        target: BreakerState,
        cause: TransitionCause,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Option<TransitionRecord> {
        if target.rank() <= self.state.rank() {
            return None;
        }
        let record = TransitionRecord {
            from: self.state,
            to: target,
            at: now,
            actor: SYSTEM_ACTOR.to_string(),
            reason: clip(reason),
            cause,
        };
        self.enter(target, &record);
        self.remember(record.clone());
        Some(record)
    }

    /// Counts one failure of `source`; at `halt_after` in a row escalates to HALT, at
    /// `caution_after` to CAUTION.
    pub(in crate::core) fn record_failure(
        &mut self,
        source: FailureSource,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Option<TransitionRecord> {
        let slot = self.streaks.slot(source);
        *slot = slot.saturating_add(1);
        let streak = *slot;
        let target = if streak >= self.config.halt_after {
            BreakerState::Halt
        } else if streak >= self.config.caution_after {
            BreakerState::Caution
        } else {
            return None;
        };
        let reason = format!("{source}: {streak} consecutive failures; last: {detail}");
        self.escalate(
            target,
            TransitionCause::FailureStreak { source, streak },
            &reason,
            now,
        )
    }

    /// A success of `source` ends its streak. It never lowers the state.
    pub(in crate::core) fn record_success(&mut self, source: FailureSource) {
        *self.streaks.slot(source) = 0;
    }

    /// Remembers a reconciliation that found no drift.
    pub(in crate::core) fn record_clean_reconciliation(&mut self, now: DateTime<Utc>) {
        self.last_clean_reconciliation_at = Some(now);
    }

    fn enter(&mut self, state: BreakerState, record: &TransitionRecord) {
        self.state = state;
        self.since = record.at;
        self.reason = record.reason.clone();
        self.actor = record.actor.clone();
    }

    fn remember(&mut self, record: TransitionRecord) {
        self.history.push_back(record);
        while self.history.len() > HISTORY_LEN {
            self.history.pop_front();
        }
    }
}

/// Automatic reasons are built from other parts' text; clip rather than refuse, because a HALT
/// must never fail on its wording.
fn clip(reason: &str) -> String {
    let reason = if reason.trim().is_empty() {
        "(no reason given)"
    } else {
        reason
    };
    reason.chars().take(MAX_REASON_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use BreakerState::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_767_225_600_000 + ms).unwrap()
    }

    fn req(target: BreakerState) -> TransitionRequest {
        TransitionRequest {
            target,
            reason: "operator decision".to_string(),
            actor: "ops@example.com".to_string(),
        }
    }

    fn ctx_with_recon(recon: Option<DateTime<Utc>>) -> TransitionContext {
        TransitionContext {
            state_since: t(0),
            last_clean_reconciliation_at: recon,
            recovery_max_recon_age: TimeDelta::minutes(15),
        }
    }

    #[test]
    fn manual_transition_matrix_is_exactly_the_issue_table() {
        // (from, to, allowed) — every one of the 16 pairs.
        let table = [
            (Normal, Normal, true),
            (Normal, Caution, true),
            (Normal, Halt, true),
            (Normal, Recovery, false),
            (Caution, Normal, true),
            (Caution, Caution, true),
            (Caution, Halt, true),
            (Caution, Recovery, false),
            (Halt, Normal, false),
            (Halt, Caution, false),
            (Halt, Halt, true),
            (Halt, Recovery, true),
            (Recovery, Normal, true),
            (Recovery, Caution, true),
            (Recovery, Halt, true),
            (Recovery, Recovery, true),
        ];
        assert_eq!(table.len(), 16);
        // A fresh clean reconciliation, so HALT → RECOVERY is judged on the table alone.
        let ctx = ctx_with_recon(Some(t(1_000)));
        for (from, to, ok) in table {
            let got = transition(from, &req(to), &ctx, t(2_000));
            match (ok, got) {
                (true, Ok((next, record))) => {
                    assert_eq!(next, to, "{from}->{to}");
                    assert_eq!((record.from, record.to), (from, to));
                    assert_eq!(record.cause, TransitionCause::Manual);
                    assert_eq!(record.is_no_op(), from == to);
                }
                (false, Err(e)) => {
                    assert_eq!(e.code(), "INVALID_TRANSITION", "{from}->{to}");
                    assert_eq!(e, BreakerError::InvalidTransition { from, to });
                }
                (ok, got) => panic!("{from}->{to}: expected allowed={ok}, got {got:?}"),
            }
        }
    }

    #[test]
    fn halt_to_recovery_requires_a_clean_reconciliation_within_the_window() {
        let halt_since = t(0);
        let now = t(20 * 60_000);
        let judge = |recon: Option<DateTime<Utc>>| {
            let ctx = TransitionContext {
                state_since: halt_since,
                last_clean_reconciliation_at: recon,
                recovery_max_recon_age: TimeDelta::minutes(15),
            };
            transition(Halt, &req(Recovery), &ctx, now)
        };
        let code = |r: Result<_, BreakerError>| r.err().map(|e| e.code());
        assert_eq!(
            code(judge(None)),
            Some("RECOVERY_REQUIRES_CLEAN_RECONCILIATION")
        );
        // Exactly 15 minutes old: allowed. One millisecond older: refused.
        assert!(judge(Some(t(5 * 60_000))).is_ok());
        assert_eq!(
            code(judge(Some(t(5 * 60_000 - 1)))),
            Some("RECOVERY_REQUIRES_CLEAN_RECONCILIATION")
        );
        // A reconciliation from before the halt proves nothing about what halted us.
        let ctx = TransitionContext {
            state_since: t(10 * 60_000),
            last_clean_reconciliation_at: Some(t(9 * 60_000)),
            recovery_max_recon_age: TimeDelta::minutes(15),
        };
        assert!(transition(Halt, &req(Recovery), &ctx, now).is_err());
        // A reconciliation stamped in the future is not trusted either.
        assert!(judge(Some(t(21 * 60_000))).is_err());
    }

    #[test]
    fn reason_is_required_and_at_most_500_characters() {
        let ctx = ctx_with_recon(None);
        let with_reason = |reason: String| TransitionRequest {
            target: Halt,
            reason,
            actor: "ops".to_string(),
        };
        for bad in [String::new(), "   ".to_string(), "é".repeat(501)] {
            let err = transition(Normal, &with_reason(bad), &ctx, t(0)).unwrap_err();
            assert_eq!(err.code(), "INVALID_REASON");
        }
        // 500 multi-byte characters are 1000 bytes and still fine: the limit counts characters.
        assert!(transition(Normal, &with_reason("é".repeat(500)), &ctx, t(0)).is_ok());
        let no_actor = TransitionRequest {
            actor: " ".to_string(),
            ..req(Halt)
        };
        assert_eq!(
            transition(Normal, &no_actor, &ctx, t(0))
                .unwrap_err()
                .code(),
            "INVALID_ACTOR"
        );
    }

    #[test]
    fn same_state_request_is_recorded_but_keeps_since() {
        let mut b = Breaker::new(BreakerConfig::default(), t(0)).unwrap();
        let record = b.request(&req(Normal), t(5)).unwrap();
        assert!(record.is_no_op());
        assert_eq!(b.state(), Normal);
        assert_eq!(b.since(), t(0));
        assert_eq!(b.history().count(), 1);
    }

    #[test]
    fn failure_streaks_escalate_at_the_configured_counts_and_success_resets_only_that_source() {
        let mut b = Breaker::new(BreakerConfig::default(), t(0)).unwrap();
        assert!(b
            .record_failure(FailureSource::VenueApi, "500", t(1))
            .is_none());
        assert!(b
            .record_failure(FailureSource::VenueApi, "500", t(2))
            .is_none());
        // Another source's failures and success do not touch the venue streak.
        b.record_failure(FailureSource::Audit, "append failed", t(2));
        b.record_success(FailureSource::Audit);
        assert_eq!(b.streaks().audit, 0);
        let caution = b
            .record_failure(FailureSource::VenueApi, "500", t(3))
            .unwrap();
        assert_eq!((caution.from, caution.to), (Normal, Caution));
        assert_eq!(
            caution.cause,
            TransitionCause::FailureStreak {
                source: FailureSource::VenueApi,
                streak: 3
            }
        );
        assert_eq!(caution.actor, SYSTEM_ACTOR);
        assert!(b
            .record_failure(FailureSource::VenueApi, "500", t(4))
            .is_none());
        let halt = b
            .record_failure(FailureSource::VenueApi, "500", t(5))
            .unwrap();
        assert_eq!((halt.from, halt.to), (Caution, Halt));
        // A success ends the streak but never lowers the state.
        b.record_success(FailureSource::VenueApi);
        assert_eq!(b.streaks().venue_api, 0);
        assert_eq!(b.state(), Halt);
    }

    #[test]
    fn escalation_never_lowers_or_moves_sideways() {
        let mut b = Breaker::new(BreakerConfig::default(), t(0)).unwrap();
        b.request(&req(Halt), t(1)).unwrap();
        assert!(b
            .escalate(Caution, TransitionCause::CriticalAlert, "x", t(2))
            .is_none());
        b.record_clean_reconciliation(t(3));
        b.request(&req(Recovery), t(4)).unwrap();
        // RECOVERY and CAUTION have the same rank: a caution-level escalation is not a move.
        assert!(b
            .escalate(Caution, TransitionCause::ReconciliationDrift, "x", t(5))
            .is_none());
        assert_eq!(b.state(), Recovery);
        let halt = b
            .escalate(Halt, TransitionCause::CriticalAlert, "", t(6))
            .unwrap();
        assert_eq!(halt.reason, "(no reason given)");
    }

    #[test]
    fn no_timer_leaves_halt() {
        let mut b = Breaker::new(BreakerConfig::default(), t(0)).unwrap();
        b.request(&req(Halt), t(1)).unwrap();
        // Nothing but a manual request moves the state; a week of successes does not.
        for source in FailureSource::ALL {
            b.record_success(source);
        }
        assert_eq!(b.state(), Halt);
        let err = b.request(&req(Recovery), t(7 * 86_400_000)).unwrap_err();
        assert_eq!(err.code(), "RECOVERY_REQUIRES_CLEAN_RECONCILIATION");
    }

    #[test]
    fn history_keeps_the_last_fifty_transitions() {
        let mut b = Breaker::new(BreakerConfig::default(), t(0)).unwrap();
        for i in 0..60 {
            let target = if i % 2 == 0 { Caution } else { Normal };
            b.request(&req(target), t(i)).unwrap();
        }
        assert_eq!(b.history().count(), HISTORY_LEN);
        assert_eq!(b.history().next().unwrap().at, t(10));
    }

    #[test]
    fn config_rejects_nonsense_thresholds() {
        let ok = BreakerConfig::default();
        assert!(ok.validate().is_ok());
        for bad in [
            BreakerConfig {
                caution_after: 0,
                ..ok
            },
            BreakerConfig {
                halt_after: 2,
                ..ok
            },
            BreakerConfig {
                recovery_max_recon_age_min: 0,
                ..ok
            },
        ] {
            assert_eq!(bad.validate().unwrap_err().code(), "INVALID_BREAKER_CONFIG");
        }
    }

    #[test]
    fn states_serialise_as_upper_case_names() {
        let json = serde_json::to_string(&BreakerState::ALL).unwrap();
        assert_eq!(json, r#"["NORMAL","CAUTION","HALT","RECOVERY"]"#);
        assert!(serde_json::from_str::<BreakerState>(r#""halt""#).is_err());
    }

    #[test]
    fn only_normal_admits_go_live_and_only_halt_refuses_new_exposure() {
        assert!(admits_go_live(Normal));
        assert!(!admits_go_live(Caution));
        assert!(!admits_go_live(Recovery));
        assert!(!admits_go_live(Halt));
        assert_eq!(size_limit_divisor(Normal), Some(1));
        assert_eq!(size_limit_divisor(Caution), Some(2));
        assert_eq!(size_limit_divisor(Recovery), Some(2));
        assert_eq!(size_limit_divisor(Halt), None);
        assert!(!admits_new_exposure(Halt));
    }
}
