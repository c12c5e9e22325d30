//! The RiskGovernor's pure core.
//!
//! - [`limits`]: typed, validated limits that only tighten without two-person approval.
//! - [`rate`]: the orders-per-minute token bucket.

pub mod limits;
pub mod rate;

pub use limits::{parse_limits, tighten_or_refuse, LimitsError, OrderRate, RiskLimits};
