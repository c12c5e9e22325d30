//! The RiskGovernor's decision logic: one state, one entry point.
//!
//! [`apply`]`(state, event, now) -> (state, effects)` is everything the Durable Object needs. It
//! loads the state, calls `apply`, appends every [`Effect::Audit`] record to the audit log, and
//! only then persists the new state and acts on verdicts (write-ahead). If an append fails it
//! keeps the old state and reports `FailureReported { source: audit }`.
//!
//! Before every event the UTC day is rolled and the token bucket refilled; after it the equity
//! baselines are tracked and the loss limits watched: when the daily loss or the drawdown
//! *reaches* its limit the breaker escalates to HALT. That escalation fires on the event that
//! crosses the limit, not again on every later event, so an operator's recovery is not undone
//! by the same old loss; new exposure stays refused by the pre-trade check while the loss is
//! beyond the limit.

use super::book::{Book, BookError, FillReport, MarketId, MarketMeta, OrderEffect};
use super::check::{
    check_and_reserve, utilisation, OrderIntent, RefusalReason, Utilisation, Verdict,
};
use super::limits::{self, LimitsError, RiskLimits};
use super::rate::TokenBucket;
use crate::core::breaker::{
    validate_actor, validate_reason, Breaker, BreakerConfig, BreakerError, BreakerState,
    FailureSource, TransitionCause, TransitionRecord, TransitionRequest, MAX_REASON_CHARS,
};
use crate::core::money::{Price, Usd};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How bad a reconciliation's drift is, as judged by the reconciler's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftSeverity {
    Caution,
    Halt,
}

/// What a reconciliation run found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReconciliationOutcome {
    /// Book and venue agree: resets the reconciliation streak and enables HALT → RECOVERY.
    Clean,
    /// They disagree: counts as a reconciliation failure and escalates to `severity`.
    Drift {
        severity: DriftSeverity,
        detail: String,
    },
    /// The run could not complete (a venue read failed): a reconciliation failure, never
    /// "no positions".
    Failed { detail: String },
}

impl ReconciliationOutcome {
    /// How a stored reconciliation names itself: `clean | drift | failed`, and for drift the
    /// breaker state it escalates to (`CAUTION | HALT`).
    pub fn labels(&self) -> (&'static str, Option<&'static str>) {
        match self {
            ReconciliationOutcome::Clean => ("clean", None),
            ReconciliationOutcome::Drift { severity, .. } => (
                "drift",
                Some(match severity {
                    DriftSeverity::Caution => "CAUTION",
                    DriftSeverity::Halt => "HALT",
                }),
            ),
            ReconciliationOutcome::Failed { .. } => ("failed", None),
        }
    }
}

/// Everything that can happen to the governor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// An operator asks for a breaker state.
    ManualTransition(TransitionRequest),
    /// A part of the system failed once.
    FailureReported {
        source: FailureSource,
        detail: String,
    },
    /// A part of the system succeeded: ends its failure streak.
    SuccessReported { source: FailureSource },
    /// Something another part judged critical: straight to HALT.
    CriticalAlert { reason: String },
    /// What is known about a market (category, correlation group, settlement time).
    MarketInfo { market: MarketId, meta: MarketMeta },
    /// A YES price for a market, observed at `observed_at`. Creates the market's entry if
    /// needed, so mark only markets that are held or about to be checked (the state stays
    /// small); settlement removes the entry.
    Mark {
        market: MarketId,
        yes: Price,
        #[serde(with = "chrono::serde::ts_milliseconds")]
        observed_at: DateTime<Utc>,
    },
    /// The authoritative cash balance (paper starting capital, venue balance).
    CashBalance { cash: Usd },
    /// An execution fill.
    Fill(FillReport),
    /// The venue confirmed an order is no longer open (cancelled, expired, rejected): releases
    /// what remains of its reservation.
    Cancel { client_order_id: String },
    /// A market settled: a YES contract is worth `yes_value` (1.0000 YES won, 0 NO won).
    Settlement { market: MarketId, yes_value: Price },
    /// A reconciliation run finished.
    Reconciliation { outcome: ReconciliationOutcome },
    /// An operator's limits update; applied only if it tightens or keeps every limit. With
    /// `base` (the limits the operator's change was merged onto), refused with
    /// `LIMITS_CHANGED_SINCE_REQUEST` unless those are still the limits in force: a whole
    /// document merged onto limits that moved since (a two-person loosening in between) would
    /// silently undo that move.
    LimitsUpdate {
        proposed: RiskLimits,
        actor: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base: Option<RiskLimits>,
    },
    /// A pre-trade check of an order intent, reserving its exposure if approved.
    Check(OrderIntent),
}

/// A record the Durable Object appends to the audit log before persisting the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuditRecord {
    /// A manual transition (or recorded same-state no-op).
    BreakerTransition(TransitionRecord),
    /// An automatic escalation.
    BreakerEscalation(TransitionRecord),
    BreakerTransitionRefused {
        from: BreakerState,
        requested: BreakerState,
        actor: String,
        reason: String,
        code: String,
        #[serde(with = "chrono::serde::ts_milliseconds")]
        at: DateTime<Utc>,
    },
    OrderApproved {
        intent: OrderIntent,
        /// `None` for a cancel.
        effect: Option<OrderEffect>,
        reserved: Usd,
        breaker: BreakerState,
        #[serde(with = "chrono::serde::ts_milliseconds")]
        at: DateTime<Utc>,
    },
    OrderRefused {
        intent: OrderIntent,
        reasons: Vec<RefusalReason>,
        breaker: BreakerState,
        #[serde(with = "chrono::serde::ts_milliseconds")]
        at: DateTime<Utc>,
    },
    LimitsChanged {
        before: RiskLimits,
        after: RiskLimits,
        changed: Vec<String>,
        actor: String,
        reason: String,
        /// Whether this came through the two-person approval path (loosening allowed).
        two_person_approved: bool,
        #[serde(with = "chrono::serde::ts_milliseconds")]
        at: DateTime<Utc>,
    },
    LimitsChangeRefused {
        proposed: RiskLimits,
        code: String,
        details: Vec<(String, String)>,
        actor: String,
        #[serde(with = "chrono::serde::ts_milliseconds")]
        at: DateTime<Utc>,
    },
    /// A fill that did not match what the book reserved; applied anyway.
    BookAnomaly {
        code: String,
        fill_id: String,
        client_order_id: String,
        market: MarketId,
        #[serde(with = "chrono::serde::ts_milliseconds")]
        at: DateTime<Utc>,
    },
}

impl AuditRecord {
    /// The audit event type, as serialised in `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            AuditRecord::BreakerTransition(_) => "breaker_transition",
            AuditRecord::BreakerEscalation(_) => "breaker_escalation",
            AuditRecord::BreakerTransitionRefused { .. } => "breaker_transition_refused",
            AuditRecord::OrderApproved { .. } => "order_approved",
            AuditRecord::OrderRefused { .. } => "order_refused",
            AuditRecord::LimitsChanged { .. } => "limits_changed",
            AuditRecord::LimitsChangeRefused { .. } => "limits_change_refused",
            AuditRecord::BookAnomaly { .. } => "book_anomaly",
        }
    }
}

/// What an event asks of the outside world.
#[derive(Debug)]
pub enum Effect {
    /// Append to the audit log before persisting the new state.
    Audit(AuditRecord),
    /// The outcome of a `Check`. An approval's exposure is already reserved in the new state.
    Verdict(Verdict),
    /// The event was refused; the state is unchanged apart from the day roll and bucket refill.
    /// For manual transitions and limit updates this is the 4xx answer.
    Rejected(GovernorError),
    /// P&L realised by a fill that closed contracts or by a settlement, fees included.
    Realised { market: MarketId, pnl: Usd },
}

/// Why an event was refused, with a stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GovernorError {
    Breaker(BreakerError),
    Limits(LimitsError),
    Book(BookError),
    /// Persisted state that does not parse or does not validate.
    CorruptState {
        message: String,
    },
}

impl GovernorError {
    pub fn code(&self) -> &'static str {
        match self {
            GovernorError::Breaker(e) => e.code(),
            GovernorError::Limits(e) => e.code(),
            GovernorError::Book(e) => e.code(),
            GovernorError::CorruptState { .. } => "GOVERNOR_STATE_CORRUPT",
        }
    }

    pub fn details(&self) -> Vec<(String, String)> {
        match self {
            GovernorError::Breaker(e) => e.details(),
            GovernorError::Limits(e) => e.details(),
            GovernorError::Book(e) => e.details(),
            GovernorError::CorruptState { message } => {
                vec![("message".to_string(), message.clone())]
            }
        }
    }
}

impl fmt::Display for GovernorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())?;
        for (i, (k, v)) in self.details().iter().enumerate() {
            let sep = if i == 0 { ": " } else { " " };
            write!(f, "{sep}{k}={v}")?;
        }
        Ok(())
    }
}

/// Everything the RiskGovernor persists: breaker, limits, book and order-rate bucket. Integers
/// only (micro-dollars, price and quantity units, millisecond timestamps); unknown fields are
/// refused on load. Changed only through [`apply`] and [`apply_limits`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernorState {
    breaker: Breaker,
    limits: RiskLimits,
    book: Book,
    bucket: TokenBucket,
}

impl GovernorState {
    /// A governor in NORMAL with an empty book: it refuses all new exposure until it knows cash,
    /// marks and markets.
    pub fn new(
        config: BreakerConfig,
        limits: RiskLimits,
        now: DateTime<Utc>,
    ) -> Result<GovernorState, GovernorError> {
        let breaker = Breaker::new(config, now).map_err(GovernorError::Breaker)?;
        limits.validate().map_err(GovernorError::Limits)?;
        let bucket = TokenBucket::full(&limits.order_rate, now);
        Ok(GovernorState {
            breaker,
            limits,
            book: Book::default(),
            bucket,
        })
    }

    /// Loads persisted state, refusing anything that does not parse or validate.
    pub fn from_json(json: &str) -> Result<GovernorState, GovernorError> {
        let state: GovernorState =
            serde_json::from_str(json).map_err(|e| GovernorError::CorruptState {
                message: e.to_string(),
            })?;
        let corrupt = |e: &dyn fmt::Display| GovernorError::CorruptState {
            message: e.to_string(),
        };
        state.breaker.config().validate().map_err(|e| corrupt(&e))?;
        state.limits.validate().map_err(|e| corrupt(&e))?;
        Ok(state)
    }

    /// The JSON the Durable Object persists.
    pub fn to_json(&self) -> Result<String, GovernorError> {
        serde_json::to_string(self).map_err(|e| GovernorError::CorruptState {
            message: e.to_string(),
        })
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }
    pub fn limits(&self) -> &RiskLimits {
        &self.limits
    }
    pub fn book(&self) -> &Book {
        &self.book
    }
    pub fn bucket(&self) -> &TokenBucket {
        &self.bucket
    }

    /// Current use of every limit, at the breaker's current scale.
    pub fn utilisation(&self) -> Vec<Utilisation> {
        utilisation(self.breaker.state(), &self.limits, &self.book)
    }

    fn loss_limits_reached(&self) -> (bool, bool) {
        (
            self.book.daily_loss_reached(self.limits.max_daily_loss_bps),
            self.book.drawdown_reached(self.limits.max_drawdown_bps),
        )
    }
}

/// The single entry point: applies `event` at `now` and returns the new state and its effects.
/// Pure: same inputs, same outputs.
pub fn apply(
    state: GovernorState,
    event: Event,
    now: DateTime<Utc>,
) -> (GovernorState, Vec<Effect>) {
    let (state, fx, ()) = run(state, now, |s, fx| on_event(s, event, now, fx));
    (state, fx)
}

/// The pre-trade check with its verdict typed: exactly what [`apply`] does with
/// [`Event::Check`], the verdict handed back apart from the audit records (append those before
/// persisting the state, as with `apply`).
pub fn check(
    state: GovernorState,
    intent: OrderIntent,
    now: DateTime<Utc>,
) -> (GovernorState, Verdict, Vec<AuditRecord>) {
    let (state, fx, verdict) = run(state, now, |s, fx| on_check(s, intent, now, fx));
    let audit = fx
        .into_iter()
        .filter_map(|e| match e {
            Effect::Audit(a) => Some(a),
            _ => None,
        })
        .collect();
    (state, verdict, audit)
}

/// Replaces the limits with any valid `proposed`, looser or not, provided the limits in force
/// are still `base`, the limits the change was requested (and approved) against. Only for the
/// two-person approval path; everything else goes through [`Event::LimitsUpdate`], which
/// refuses loosening with `REQUIRES_TWO_PERSON_APPROVAL`.
///
/// `proposed` is a whole limits document, so applying it over limits that moved since the
/// request (a tightening in between) would silently undo that move: refused with
/// `LIMITS_CHANGED_SINCE_REQUEST`, nothing changed. The comparison happens here, in the same
/// step as the change, so no update can land between them.
pub fn apply_limits(
    state: GovernorState,
    base: &RiskLimits,
    proposed: RiskLimits,
    actor: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> (GovernorState, Vec<Effect>) {
    let (state, fx, ()) = run(state, now, |s, fx| {
        let unchanged = if s.limits == *base {
            Ok(())
        } else {
            Err(GovernorError::Limits(LimitsError::ChangedSinceRequest {
                changed: base.changed_fields(&s.limits),
            }))
        };
        let result = validate_reason(reason)
            .and_then(|_| validate_actor(actor))
            .map_err(GovernorError::Breaker)
            .and(unchanged)
            .and_then(|_| limits::apply_limits(proposed.clone()).map_err(GovernorError::Limits));
        let who = (actor.to_string(), reason.to_string());
        change_limits(s, proposed, result, who, true, now, fx);
    });
    (state, fx)
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_REASON_CHARS).collect()
}

/// Housekeeping around every event: roll the UTC day and refill the bucket before; track the
/// baselines and escalate on a newly reached loss limit after.
fn run<T>(
    mut s: GovernorState,
    now: DateTime<Utc>,
    body: impl FnOnce(&mut GovernorState, &mut Vec<Effect>) -> T,
) -> (GovernorState, Vec<Effect>, T) {
    let mut fx = Vec::new();
    s.book.roll_day(now);
    s.bucket.refill(&s.limits.order_rate, now);
    let before = s.loss_limits_reached();

    let out = body(&mut s, &mut fx);

    s.book.track_baselines();
    let (daily, drawdown) = s.loss_limits_reached();
    if daily && !before.0 {
        let reason = format!(
            "daily loss reached {} bps of day-start equity",
            s.limits.max_daily_loss_bps
        );
        escalate(&mut s, TransitionCause::DailyLoss, &reason, now, &mut fx);
    }
    if drawdown && !before.1 {
        let reason = format!(
            "drawdown reached {} bps of peak equity",
            s.limits.max_drawdown_bps
        );
        escalate(&mut s, TransitionCause::Drawdown, &reason, now, &mut fx);
    }
    (s, fx, out)
}

fn escalate(
    s: &mut GovernorState,
    cause: TransitionCause,
    reason: &str,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    if let Some(record) = s.breaker.escalate(BreakerState::Halt, cause, reason, now) {
        fx.push(Effect::Audit(AuditRecord::BreakerEscalation(record)));
    }
}

fn on_event(s: &mut GovernorState, event: Event, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
    let book_result = |fx: &mut Vec<Effect>, r: Result<(), BookError>| {
        if let Err(e) = r {
            fx.push(Effect::Rejected(GovernorError::Book(e)));
        }
    };
    match event {
        Event::ManualTransition(request) => {
            let from = s.breaker.state();
            match s.breaker.request(&request, now) {
                Ok(record) => fx.push(Effect::Audit(AuditRecord::BreakerTransition(record))),
                Err(e) => {
                    fx.push(Effect::Audit(AuditRecord::BreakerTransitionRefused {
                        from,
                        requested: request.target,
                        actor: clip(&request.actor),
                        reason: clip(&request.reason),
                        code: e.code().to_string(),
                        at: now,
                    }));
                    fx.push(Effect::Rejected(GovernorError::Breaker(e)));
                }
            }
        }
        Event::FailureReported { source, detail } => {
            if let Some(record) = s.breaker.record_failure(source, &detail, now) {
                fx.push(Effect::Audit(AuditRecord::BreakerEscalation(record)));
            }
        }
        Event::SuccessReported { source } => s.breaker.record_success(source),
        Event::CriticalAlert { reason } => {
            escalate(s, TransitionCause::CriticalAlert, &reason, now, fx);
        }
        Event::MarketInfo { market, meta } => {
            book_result(fx, s.book.set_market_meta(&market, meta));
        }
        Event::Mark {
            market,
            yes,
            observed_at,
        } => book_result(fx, s.book.record_mark(&market, yes, observed_at, now)),
        Event::CashBalance { cash } => book_result(fx, s.book.set_cash(cash)),
        Event::Fill(fill) => match s.book.fill(&fill) {
            Ok(outcome) => {
                if let Some(anomaly) = outcome.anomaly {
                    fx.push(Effect::Audit(AuditRecord::BookAnomaly {
                        code: anomaly.code().to_string(),
                        fill_id: fill.fill_id.clone(),
                        client_order_id: fill.client_order_id.clone(),
                        market: fill.market.clone(),
                        at: now,
                    }));
                }
                if let Some(pnl) = outcome.realised {
                    fx.push(Effect::Realised {
                        market: fill.market,
                        pnl,
                    });
                }
            }
            Err(e) => fx.push(Effect::Rejected(GovernorError::Book(e))),
        },
        Event::Cancel { client_order_id } => {
            book_result(fx, s.book.release(&client_order_id).map(|_| ()));
        }
        Event::Settlement { market, yes_value } => match s.book.settle(&market, yes_value) {
            Ok(settled) => {
                if let Some(pnl) = settled.realised {
                    fx.push(Effect::Realised { market, pnl });
                }
            }
            Err(e) => fx.push(Effect::Rejected(GovernorError::Book(e))),
        },
        Event::Reconciliation { outcome } => match outcome {
            ReconciliationOutcome::Clean => {
                s.breaker.record_clean_reconciliation(now);
                s.breaker.record_success(FailureSource::Reconciliation);
            }
            ReconciliationOutcome::Drift { severity, detail } => {
                if let Some(record) =
                    s.breaker
                        .record_failure(FailureSource::Reconciliation, &detail, now)
                {
                    fx.push(Effect::Audit(AuditRecord::BreakerEscalation(record)));
                }
                let target = match severity {
                    DriftSeverity::Caution => BreakerState::Caution,
                    DriftSeverity::Halt => BreakerState::Halt,
                };
                let reason = format!("reconciliation drift: {detail}");
                if let Some(record) =
                    s.breaker
                        .escalate(target, TransitionCause::ReconciliationDrift, &reason, now)
                {
                    fx.push(Effect::Audit(AuditRecord::BreakerEscalation(record)));
                }
            }
            ReconciliationOutcome::Failed { detail } => {
                let detail = format!("reconciliation failed: {detail}");
                if let Some(record) =
                    s.breaker
                        .record_failure(FailureSource::Reconciliation, &detail, now)
                {
                    fx.push(Effect::Audit(AuditRecord::BreakerEscalation(record)));
                }
            }
        },
        Event::LimitsUpdate {
            proposed,
            actor,
            reason,
            base,
        } => {
            let unchanged = match &base {
                Some(base) if *base != s.limits => {
                    Err(GovernorError::Limits(LimitsError::ChangedSinceRequest {
                        changed: base.changed_fields(&s.limits),
                    }))
                }
                _ => Ok(()),
            };
            let result = validate_reason(&reason)
                .and_then(|_| validate_actor(&actor))
                .map_err(GovernorError::Breaker)
                .and(unchanged)
                .and_then(|_| {
                    limits::tighten_or_refuse(&s.limits, proposed.clone())
                        .map_err(GovernorError::Limits)
                });
            change_limits(s, proposed, result, (actor, reason), false, now, fx);
        }
        Event::Check(intent) => {
            let verdict = on_check(s, intent, now, fx);
            fx.push(Effect::Verdict(verdict));
        }
    }
}

/// Checks and reserves, and records the decision for the audit log.
fn on_check(
    s: &mut GovernorState,
    intent: OrderIntent,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) -> Verdict {
    let breaker = s.breaker.state();
    let audit_intent = intent.clone();
    let verdict = check_and_reserve(breaker, &s.limits, &mut s.book, &mut s.bucket, intent, now);
    let record = match &verdict {
        Verdict::Approved(a) => AuditRecord::OrderApproved {
            intent: audit_intent,
            effect: a.effect(),
            reserved: a.reserved(),
            breaker,
            at: now,
        },
        Verdict::Refused(r) => AuditRecord::OrderRefused {
            intent: audit_intent,
            reasons: r.reasons.clone(),
            breaker,
            at: now,
        },
    };
    fx.push(Effect::Audit(record));
    verdict
}

fn change_limits(
    s: &mut GovernorState,
    proposed: RiskLimits,
    result: Result<RiskLimits, GovernorError>,
    (actor, reason): (String, String),
    two_person_approved: bool,
    now: DateTime<Utc>,
    fx: &mut Vec<Effect>,
) {
    match result {
        Ok(after) => {
            let before = std::mem::replace(&mut s.limits, after.clone());
            // A smaller bucket takes effect at once.
            s.bucket.refill(&s.limits.order_rate, now);
            fx.push(Effect::Audit(AuditRecord::LimitsChanged {
                changed: before.changed_fields(&after),
                before,
                after,
                actor,
                reason,
                two_person_approved,
                at: now,
            }));
        }
        Err(e) => {
            fx.push(Effect::Audit(AuditRecord::LimitsChangeRefused {
                proposed,
                code: e.code().to_string(),
                details: e.details(),
                actor: clip(&actor),
                at: now,
            }));
            fx.push(Effect::Rejected(e));
        }
    }
}

#[cfg(test)]
mod outcome_label_tests {
    use super::*;

    #[test]
    fn stored_reconciliations_name_their_outcome_and_escalation() {
        assert_eq!(ReconciliationOutcome::Clean.labels(), ("clean", None));
        let drift = |severity| ReconciliationOutcome::Drift {
            severity,
            detail: String::new(),
        };
        assert_eq!(
            drift(DriftSeverity::Caution).labels(),
            ("drift", Some("CAUTION"))
        );
        assert_eq!(drift(DriftSeverity::Halt).labels(), ("drift", Some("HALT")));
        let failed = ReconciliationOutcome::Failed {
            detail: "venue down".into(),
        };
        assert_eq!(failed.labels(), ("failed", None));
    }
}
