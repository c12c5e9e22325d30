//! The data-ingestion compliance gate, fail-closed.
//!
//! Two questions, both answered by pure functions of explicit inputs:
//!
//! - **May this source be contacted at all?** [`sources::admit`] turns the stored row of a source
//!   into an [`Admission`] only if it is `approved`, names a ToS version and has a next-review
//!   date that has not passed. Anything else — no row, another status, an overdue review, a field
//!   that does not parse — is a [`Denial`] with a stable code. The fetch layer takes an
//!   `&Admission`, so code that skipped the check does not compile.
//! - **May this entity be kept?** [`rules::RuleSet::check`] matches a market or event against the
//!   operator's entity rules (blocked tickers, series, event tickers, categories, title keywords);
//!   a match means the entity is dropped (and the drop audited by the caller). A rule set that
//!   cannot be read is an error, never an empty set.

pub mod rules;
pub mod sources;

pub use rules::{
    rules_version, validate_rules, Entity, EntityKind, Rule, RuleInput, RuleKind, RuleRow, RuleSet,
    RuleVenue, MAX_RULES,
};
pub use sources::{
    admit, Admission, Denial, Source, SourceRecord, SourceRow, SourceStatus, SourceUpdate,
    ValidSourceUpdate,
};

use std::fmt;

/// The two venues whose entities the rules speak about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Venue {
    Kalshi,
    Polymarket,
}

impl Venue {
    pub fn as_str(self) -> &'static str {
        match self {
            Venue::Kalshi => "kalshi",
            Venue::Polymarket => "polymarket",
        }
    }

    pub fn parse(s: &str) -> Option<Venue> {
        match s {
            "kalshi" => Some(Venue::Kalshi),
            "polymarket" => Some(Venue::Polymarket),
            _ => None,
        }
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an operator's compliance change, or the stored compliance data, was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComplianceError {
    /// `{name}` is not one of the configured sources.
    UnknownSource(String),
    /// A request field is out of bounds or malformed.
    InvalidField { field: &'static str, reason: String },
    /// Two rules say the same thing.
    DuplicateRule { kind: RuleKind, value: String },
    /// More than [`MAX_RULES`] rules.
    TooManyRules { count: usize },
    /// A stored rule row does not parse (unknown kind, empty value, …): the whole set is unusable.
    StoredRuleInvalid { id: String, reason: String },
}

impl ComplianceError {
    pub fn code(&self) -> &'static str {
        match self {
            ComplianceError::UnknownSource(_) => "COMPLIANCE_SOURCE_UNKNOWN",
            ComplianceError::InvalidField { .. } => "INVALID_REQUEST",
            ComplianceError::DuplicateRule { .. } => "COMPLIANCE_RULE_DUPLICATE",
            ComplianceError::TooManyRules { .. } => "COMPLIANCE_TOO_MANY_RULES",
            ComplianceError::StoredRuleInvalid { .. } => "COMPLIANCE_RULES_INVALID",
        }
    }

    /// Key=value context for the error envelope and logs.
    pub fn details(&self) -> Vec<(&'static str, String)> {
        match self {
            ComplianceError::UnknownSource(name) => vec![("source", name.clone())],
            ComplianceError::InvalidField { field, reason } => {
                vec![("field", field.to_string()), ("reason", reason.clone())]
            }
            ComplianceError::DuplicateRule { kind, value } => {
                vec![
                    ("kind", kind.as_str().to_string()),
                    ("value", value.clone()),
                ]
            }
            ComplianceError::TooManyRules { count } => {
                vec![("count", count.to_string()), ("max", MAX_RULES.to_string())]
            }
            ComplianceError::StoredRuleInvalid { id, reason } => {
                vec![("rule_id", id.clone()), ("reason", reason.clone())]
            }
        }
    }
}

impl fmt::Display for ComplianceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())?;
        for (i, (k, v)) in self.details().iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { ": " } else { " " })?;
        }
        Ok(())
    }
}

/// Checks operator-supplied free text: trimmed length within `min..=max` characters and no
/// control characters (they would corrupt logs and JSONL lines).
pub(crate) fn check_text(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<String, ComplianceError> {
    let trimmed = value.trim();
    let chars = trimmed.chars().count();
    if chars < min || chars > max {
        return Err(ComplianceError::InvalidField {
            field,
            reason: format!("length {chars} outside {min}..={max}"),
        });
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ComplianceError::InvalidField {
            field,
            reason: "control characters are not allowed".to_string(),
        });
    }
    Ok(trimmed.to_string())
}
