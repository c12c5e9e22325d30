//! The RiskGovernor's pure core: limits, the exposure book, the pre-trade check and the one
//! entry point [`apply`] that the Durable Object shell calls.
//!
//! - [`limits`]: typed, validated limits that only tighten without two-person approval.
//! - [`book`]: positions, reservations of open orders, cash, marks, market metadata, baselines.
//! - [`rate`]: the orders-per-minute token bucket.
//! - [`check`]: the verdict types and the check-and-reserve step.
//! - [`governor`]: the persisted state, events, effects and audit records.

pub mod book;
pub mod check;
pub mod governor;
pub mod limits;
pub mod rate;

pub use book::{
    Action, Book, FillReport, Mark, MarketId, MarketMeta, OrderEffect, Position, Reservation, Side,
};
pub use check::{
    Approved, IntentKind, OrderIntent, Refusal, RefusalCode, RefusalReason, Utilisation, Verdict,
};
pub use governor::{
    apply, apply_limits, check, AuditRecord, DriftSeverity, Effect, Event, GovernorError,
    GovernorState, ReconciliationOutcome,
};
pub use limits::{parse_limits, tighten_or_refuse, LimitsError, OrderRate, RiskLimits};

#[cfg(test)]
mod bench;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
