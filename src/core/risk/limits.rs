//! Risk limits: a typed, validated configuration that only ever tightens without approval.
//!
//! Percent limits are integer basis points of equity (500 bps = 5%); money is [`Usd`]
//! micro-dollars; times are whole seconds. Unknown fields are refused, missing fields are
//! refused (there are no silent defaults in an update), and every value is range-checked.

use crate::core::money::Usd;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Basis points in 100%.
pub const BPS_SCALE: i64 = 10_000;
/// Largest accepted per-order notional: $1,000,000,000.
pub const MAX_ORDER_NOTIONAL_CAP: Usd = Usd(1_000_000_000_000_000);
/// Largest accepted minimum time to settlement: 366 days.
pub const MAX_SETTLEMENT_WINDOW_SECS: i64 = 366 * 86_400;
/// Largest accepted price staleness: one day. Older prices are not prices.
pub const MAX_STALENESS_CAP_SECS: i64 = 86_400;
/// Largest accepted token-bucket capacity.
pub const MAX_BUCKET_CAPACITY: i64 = 10_000;
/// Largest accepted refill: 1,000 orders a second.
pub const MAX_REFILL_PER_MINUTE: i64 = 60_000;

/// The orders-per-minute token bucket: up to `capacity` orders at once, refilled continuously at
/// `refill_per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRate {
    pub capacity: i64,
    pub refill_per_minute: i64,
}

/// Every limit the pre-trade check enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskLimits {
    /// One side of one market (held + reserved), as bps of equity.
    pub max_position_size_bps: i64,
    /// One market, both sides (held + reserved), as bps of equity.
    pub max_concentration_bps: i64,
    /// All markets of one correlation group (held + reserved), as bps of equity.
    pub max_market_exposure_bps: i64,
    /// All markets of one category (held + reserved), as bps of equity.
    pub max_category_exposure_bps: i64,
    /// Loss since the UTC day's starting equity, as bps of that equity.
    pub max_daily_loss_bps: i64,
    /// Fall from peak equity, as bps of the peak.
    pub max_drawdown_bps: i64,
    /// Worst-case cost of one order.
    pub max_order_notional: Usd,
    /// An order's market must settle at least this long after the order.
    pub min_time_to_settlement_secs: i64,
    /// The market's last price mark may be at most this old.
    pub max_price_staleness_secs: i64,
    pub order_rate: OrderRate,
}

impl Default for RiskLimits {
    /// The security guide's defaults (5%, 10%, 15%, 30%, 3%, 10%) and ours for the rest: $100 per
    /// order, one hour to settlement, prices at most ten minutes (two ingestion cycles) old, ten
    /// orders a minute.
    fn default() -> Self {
        RiskLimits {
            max_position_size_bps: 500,
            max_concentration_bps: 1_000,
            max_market_exposure_bps: 1_500,
            max_category_exposure_bps: 3_000,
            max_daily_loss_bps: 300,
            max_drawdown_bps: 1_000,
            max_order_notional: Usd(100_000_000),
            min_time_to_settlement_secs: 3_600,
            max_price_staleness_secs: 600,
            order_rate: OrderRate {
                capacity: 10,
                refill_per_minute: 10,
            },
        }
    }
}

/// Which way a limit tightens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tighter {
    Lower,
    Higher,
}

/// One limit as a name, a value, its accepted range and its tightening direction.
struct Field {
    name: &'static str,
    value: i64,
    min: i64,
    max: i64,
    percent: bool,
    tighter: Tighter,
}

impl RiskLimits {
    fn fields(&self) -> [Field; 11] {
        let bps = |name, value, min| Field {
            name,
            value,
            min,
            max: BPS_SCALE,
            percent: true,
            tighter: Tighter::Lower,
        };
        [
            bps("max_position_size_bps", self.max_position_size_bps, 0),
            bps("max_concentration_bps", self.max_concentration_bps, 0),
            bps("max_market_exposure_bps", self.max_market_exposure_bps, 0),
            bps(
                "max_category_exposure_bps",
                self.max_category_exposure_bps,
                0,
            ),
            // A zero loss or drawdown limit would halt on every event: nonsense, not tight.
            bps("max_daily_loss_bps", self.max_daily_loss_bps, 1),
            bps("max_drawdown_bps", self.max_drawdown_bps, 1),
            Field {
                name: "max_order_notional",
                value: self.max_order_notional.micros(),
                min: 0,
                max: MAX_ORDER_NOTIONAL_CAP.micros(),
                percent: false,
                tighter: Tighter::Lower,
            },
            Field {
                name: "min_time_to_settlement_secs",
                value: self.min_time_to_settlement_secs,
                min: 0,
                max: MAX_SETTLEMENT_WINDOW_SECS,
                percent: false,
                tighter: Tighter::Higher,
            },
            Field {
                name: "max_price_staleness_secs",
                value: self.max_price_staleness_secs,
                min: 0,
                max: MAX_STALENESS_CAP_SECS,
                percent: false,
                tighter: Tighter::Lower,
            },
            Field {
                name: "order_rate.capacity",
                value: self.order_rate.capacity,
                min: 0,
                max: MAX_BUCKET_CAPACITY,
                percent: false,
                tighter: Tighter::Lower,
            },
            Field {
                name: "order_rate.refill_per_minute",
                value: self.order_rate.refill_per_minute,
                min: 0,
                max: MAX_REFILL_PER_MINUTE,
                percent: false,
                tighter: Tighter::Lower,
            },
        ]
    }

    /// Checks every field; reports all problems at once.
    pub fn validate(&self) -> Result<(), LimitsError> {
        let problems: Vec<LimitProblem> = self
            .fields()
            .iter()
            .filter_map(|f| {
                let problem = if f.value < 0 {
                    "negative"
                } else if f.value < f.min {
                    "must_be_positive"
                } else if f.value > f.max && f.percent {
                    "above_100_percent"
                } else if f.value > f.max {
                    "too_large"
                } else {
                    return None;
                };
                Some(LimitProblem {
                    field: f.name.to_string(),
                    problem: problem.to_string(),
                    value: f.value,
                })
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(LimitsError::Invalid { problems })
        }
    }

    /// Names of the fields whose values differ between `self` and `other`.
    pub fn changed_fields(&self, other: &RiskLimits) -> Vec<String> {
        self.fields()
            .iter()
            .zip(other.fields().iter())
            .filter(|(a, b)| a.value != b.value)
            .map(|(a, _)| a.name.to_string())
            .collect()
    }

    /// Names of the fields `proposed` loosens relative to `self`.
    pub fn loosened_fields(&self, proposed: &RiskLimits) -> Vec<String> {
        self.fields()
            .iter()
            .zip(proposed.fields().iter())
            .filter(|(cur, new)| match cur.tighter {
                Tighter::Lower => new.value > cur.value,
                Tighter::Higher => new.value < cur.value,
            })
            .map(|(cur, _)| cur.name.to_string())
            .collect()
    }
}

/// Parses an update body (JSON) and validates it. Unknown fields, missing fields, wrong types,
/// fractions and non-numbers are `INVALID_LIMITS`; so are out-of-range values.
pub fn parse_limits(json: &str) -> Result<RiskLimits, LimitsError> {
    let limits: RiskLimits = serde_json::from_str(json).map_err(|e| LimitsError::Malformed {
        message: e.to_string(),
    })?;
    limits.validate()?;
    Ok(limits)
}

/// Accepts `proposed` if it is valid and no field is looser than in `current` (equal counts as
/// tight); otherwise refuses with `REQUIRES_TWO_PERSON_APPROVAL` naming every loosened field.
pub fn tighten_or_refuse(
    current: &RiskLimits,
    proposed: RiskLimits,
) -> Result<RiskLimits, LimitsError> {
    proposed.validate()?;
    let loosened = current.loosened_fields(&proposed);
    if loosened.is_empty() {
        Ok(proposed)
    } else {
        Err(LimitsError::RequiresTwoPersonApproval { loosened })
    }
}

/// Accepts any valid `proposed`, looser or not. Only for the two-person approval path.
pub fn apply_limits(proposed: RiskLimits) -> Result<RiskLimits, LimitsError> {
    proposed.validate()?;
    Ok(proposed)
}

/// One out-of-range field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitProblem {
    pub field: String,
    /// `negative`, `must_be_positive`, `above_100_percent` or `too_large`.
    pub problem: String,
    pub value: i64,
}

/// Why a limits update was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitsError {
    /// Not a well-formed limits document (unknown or missing field, wrong type).
    Malformed { message: String },
    /// Well-formed, but some values are out of range.
    Invalid { problems: Vec<LimitProblem> },
    /// Valid, but loosens these fields; needs the two-person approval path.
    RequiresTwoPersonApproval { loosened: Vec<String> },
    /// An approved change was fixed against limits that are no longer in force (these
    /// fields moved since the request): applying its whole limits would undo that change.
    ChangedSinceRequest { changed: Vec<String> },
}

impl LimitsError {
    pub fn code(&self) -> &'static str {
        match self {
            LimitsError::Malformed { .. } | LimitsError::Invalid { .. } => "INVALID_LIMITS",
            LimitsError::RequiresTwoPersonApproval { .. } => "REQUIRES_TWO_PERSON_APPROVAL",
            LimitsError::ChangedSinceRequest { .. } => "LIMITS_CHANGED_SINCE_REQUEST",
        }
    }

    /// Key=value context for the error envelope and the audit record.
    pub fn details(&self) -> Vec<(String, String)> {
        match self {
            LimitsError::Malformed { message } => vec![("message".to_string(), message.clone())],
            LimitsError::Invalid { problems } => problems
                .iter()
                .map(|p| (p.field.clone(), format!("{}({})", p.problem, p.value)))
                .collect(),
            LimitsError::RequiresTwoPersonApproval { loosened } => {
                vec![("loosened".to_string(), loosened.join(","))]
            }
            LimitsError::ChangedSinceRequest { changed } => {
                vec![("changed".to_string(), changed.join(","))]
            }
        }
    }
}

impl fmt::Display for LimitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())?;
        for (i, (k, v)) in self.details().iter().enumerate() {
            let sep = if i == 0 { ": " } else { " " };
            write!(f, "{sep}{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_security_guide_limits_and_valid() {
        let d = RiskLimits::default();
        assert_eq!(
            (
                d.max_position_size_bps,
                d.max_concentration_bps,
                d.max_market_exposure_bps,
                d.max_category_exposure_bps,
                d.max_daily_loss_bps,
                d.max_drawdown_bps
            ),
            (500, 1_000, 1_500, 3_000, 300, 1_000)
        );
        assert!(d.validate().is_ok());
    }

    #[test]
    fn negative_above_100_percent_and_absurd_values_are_refused_with_their_fields() {
        let bad = RiskLimits {
            max_position_size_bps: -1,
            max_category_exposure_bps: 10_001,
            max_daily_loss_bps: 0,
            max_price_staleness_secs: MAX_STALENESS_CAP_SECS + 1,
            ..RiskLimits::default()
        };
        let err = bad.validate().unwrap_err();
        assert_eq!(err.code(), "INVALID_LIMITS");
        let LimitsError::Invalid { problems } = err else {
            panic!("expected Invalid")
        };
        let got: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.field.as_str(), p.problem.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("max_position_size_bps", "negative"),
                ("max_category_exposure_bps", "above_100_percent"),
                ("max_daily_loss_bps", "must_be_positive"),
                ("max_price_staleness_secs", "too_large"),
            ]
        );
        // 100% exactly is a valid (if loose) limit.
        let full = RiskLimits {
            max_category_exposure_bps: 10_000,
            ..RiskLimits::default()
        };
        assert!(full.validate().is_ok());
    }

    #[test]
    fn unknown_missing_and_non_integer_fields_are_refused_when_parsing() {
        let good = serde_json::to_value(RiskLimits::default()).unwrap();
        assert_eq!(parse_limits(&good.to_string()), Ok(RiskLimits::default()));

        let mut unknown = good.clone();
        unknown["max_leverage"] = 2.into();
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove("max_drawdown_bps");
        let mut fraction = good.clone();
        fraction["max_drawdown_bps"] = serde_json::json!(99.5);
        let mut nested_unknown = good.clone();
        nested_unknown["order_rate"]["burst"] = 1.into();
        for doc in [unknown, missing, fraction, nested_unknown] {
            let err = parse_limits(&doc.to_string()).unwrap_err();
            assert!(matches!(err, LimitsError::Malformed { .. }), "{doc}");
            assert_eq!(err.code(), "INVALID_LIMITS");
        }
        // JSON has no NaN; a string in its place is a type error.
        let nan = good.to_string().replace("1000,", "\"NaN\",");
        assert!(parse_limits(&nan).is_err());
    }

    #[test]
    fn tightening_or_keeping_every_limit_is_accepted() {
        let current = RiskLimits::default();
        assert_eq!(
            tighten_or_refuse(&current, current.clone()),
            Ok(current.clone())
        );
        let tighter = RiskLimits {
            max_position_size_bps: 400,
            max_order_notional: Usd(50_000_000),
            min_time_to_settlement_secs: 7_200,
            order_rate: OrderRate {
                capacity: 5,
                refill_per_minute: 5,
            },
            ..current.clone()
        };
        assert_eq!(
            tighten_or_refuse(&current, tighter.clone()),
            Ok(tighter.clone())
        );
        assert_eq!(
            current.changed_fields(&tighter),
            vec![
                "max_position_size_bps",
                "max_order_notional",
                "min_time_to_settlement_secs",
                "order_rate.capacity",
                "order_rate.refill_per_minute"
            ]
        );
    }

    #[test]
    fn loosening_any_limit_requires_two_person_approval_and_names_the_fields() {
        let current = RiskLimits::default();
        let mixed = RiskLimits {
            max_position_size_bps: 400,     // tighter
            max_drawdown_bps: 1_001,        // looser
            min_time_to_settlement_secs: 0, // looser: a shorter window admits more
            ..current.clone()
        };
        let err = tighten_or_refuse(&current, mixed.clone()).unwrap_err();
        assert_eq!(err.code(), "REQUIRES_TWO_PERSON_APPROVAL");
        assert_eq!(
            err,
            LimitsError::RequiresTwoPersonApproval {
                loosened: vec![
                    "max_drawdown_bps".to_string(),
                    "min_time_to_settlement_secs".to_string()
                ]
            }
        );
        assert_eq!(
            err.to_string(),
            "REQUIRES_TWO_PERSON_APPROVAL: loosened=max_drawdown_bps,min_time_to_settlement_secs"
        );
        // The approval path takes it as long as it is valid.
        assert_eq!(apply_limits(mixed.clone()), Ok(mixed));
        // An invalid proposal is INVALID_LIMITS, never an approval request.
        let invalid = RiskLimits {
            max_drawdown_bps: -5,
            ..current.clone()
        };
        assert_eq!(
            tighten_or_refuse(&current, invalid.clone())
                .unwrap_err()
                .code(),
            "INVALID_LIMITS"
        );
        assert_eq!(apply_limits(invalid).unwrap_err().code(), "INVALID_LIMITS");
    }
}
