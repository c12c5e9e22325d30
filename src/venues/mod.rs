//! Venue wire formats: pure parsers from response bytes to typed records.
//!
//! Nothing here performs I/O or imports `worker`; the caller hands over the exact bytes it has
//! already stored as evidence. Parsing follows one policy everywhere:
//!
//! - A body that is not JSON, or lacks the envelope the endpoint promises (`markets`, `events`,
//!   `market`, `orderbook_fp`, …), is refused whole with a [`BodyError`].
//! - Inside a list, a record that cannot be trusted (a required field missing, a decimal that
//!   needs rounding, an unknown enum value, a duplicated key) is refused on its own with a
//!   [`Reject`] carrying a stable code; the other records of the page are kept.
//! - Money and counts never pass through `f64`: decimals are read from their JSON text, strings or
//!   numbers alike, into the fixed-point types of [`crate::core::money`].

pub mod kalshi;
pub mod polymarket;

mod json;
mod rules;

#[cfg(test)]
mod fixture_tests;

pub use rules::{rules_hash, RulesHash, RulesText, RULES_HASH_VERSION};

use crate::core::money::MoneyError;
use std::fmt;

/// Why one record could not be accepted. [`RejectReason::code`] is stable and safe to count by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// The record is not a JSON object.
    NotAnObject,
    /// The same key appears twice in the record; which one is meant is ambiguous.
    DuplicateKey(String),
    /// A required field is absent or `null`.
    MissingField(&'static str),
    /// A field has the wrong JSON type.
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    /// A decimal field is malformed, too precise for its unit, out of range or too large.
    BadDecimal {
        field: &'static str,
        error: MoneyError,
    },
    /// A timestamp field is not RFC 3339.
    BadTimestamp { field: &'static str, value: String },
    /// An enum field carries a value this code does not know; unknown never means "fine".
    UnknownEnum { field: &'static str, value: String },
    /// A field that should hold JSON encoded in a string does not decode.
    BadEncodedJson { field: &'static str, error: String },
    /// Fields disagree with each other or with the shape the venue promises.
    Inconsistent { field: &'static str, detail: String },
}

impl RejectReason {
    /// `KIND:field` (or `KIND` when no field applies), e.g. `MISSING_FIELD:ticker`.
    pub fn code(&self) -> String {
        match self {
            RejectReason::NotAnObject => "NOT_AN_OBJECT".to_string(),
            RejectReason::DuplicateKey(_) => "DUPLICATE_KEY".to_string(),
            RejectReason::MissingField(f) => format!("MISSING_FIELD:{f}"),
            RejectReason::WrongType { field, .. } => format!("WRONG_TYPE:{field}"),
            RejectReason::BadDecimal { field, .. } => format!("BAD_DECIMAL:{field}"),
            RejectReason::BadTimestamp { field, .. } => format!("BAD_TIMESTAMP:{field}"),
            RejectReason::UnknownEnum { field, .. } => format!("UNKNOWN_ENUM:{field}"),
            RejectReason::BadEncodedJson { field, .. } => format!("BAD_ENCODED_JSON:{field}"),
            RejectReason::Inconsistent { field, .. } => format!("INCONSISTENT:{field}"),
        }
    }

    /// Human-readable context (`key=value` style) for logs and the reject table.
    pub fn detail(&self) -> String {
        match self {
            RejectReason::NotAnObject => "record is not a JSON object".to_string(),
            RejectReason::DuplicateKey(k) => format!("key={k:?}"),
            RejectReason::MissingField(f) => format!("field={f} absent or null"),
            RejectReason::WrongType { field, expected } => {
                format!("field={field} expected={expected}")
            }
            RejectReason::BadDecimal { field, error } => {
                format!("field={field} cause={} {error}", error.code())
            }
            RejectReason::BadTimestamp { field, value } => format!("field={field} value={value:?}"),
            RejectReason::UnknownEnum { field, value } => format!("field={field} value={value:?}"),
            RejectReason::BadEncodedJson { field, error } => format!("field={field} error={error}"),
            RejectReason::Inconsistent { field, detail } => format!("field={field} {detail}"),
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.detail())
    }
}

/// One refused record of a list body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Position of the record in the body's array (0-based).
    pub index: usize,
    /// The record's identity when it could be read: a Kalshi ticker / event ticker, a Polymarket
    /// condition id (else slug, else id).
    pub key: Option<String>,
    pub reason: RejectReason,
}

impl Reject {
    pub fn code(&self) -> String {
        self.reason.code()
    }

    pub fn detail(&self) -> String {
        self.reason.detail()
    }
}

/// The result of parsing one list body: the records that passed, the ones refused, and the
/// cursor for the next page (`None` when the venue signals the last page with `""`, `null` or no
/// cursor at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageParse<T> {
    pub records: Vec<T>,
    pub rejects: Vec<Reject>,
    pub cursor: Option<String>,
}

/// Why a whole body was refused: nothing from it may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Not valid JSON (truncated, garbage, not UTF-8).
    InvalidJson(String),
    /// The envelope field the endpoint promises is absent or `null`.
    MissingField(&'static str),
    /// The envelope field has the wrong JSON type (or the body itself does).
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    /// The same key appears twice in the envelope object.
    DuplicateKey(String),
    /// The body holds a single record (one market, one book, one error) and it was refused.
    Record(RejectReason),
}

impl BodyError {
    /// Stable code: `BODY_INVALID_JSON`, `BODY_MISSING_FIELD:markets`, `BODY_WRONG_TYPE:markets`,
    /// `BODY_DUPLICATE_KEY`, or the record's own [`RejectReason::code`].
    pub fn code(&self) -> String {
        match self {
            BodyError::InvalidJson(_) => "BODY_INVALID_JSON".to_string(),
            BodyError::MissingField(f) => format!("BODY_MISSING_FIELD:{f}"),
            BodyError::WrongType { field, .. } => format!("BODY_WRONG_TYPE:{field}"),
            BodyError::DuplicateKey(_) => "BODY_DUPLICATE_KEY".to_string(),
            BodyError::Record(r) => r.code(),
        }
    }

    pub fn detail(&self) -> String {
        match self {
            BodyError::InvalidJson(e) => format!("error={e}"),
            BodyError::MissingField(f) => format!("field={f} absent or null"),
            BodyError::WrongType { field, expected } => {
                format!("field={field} expected={expected}")
            }
            BodyError::DuplicateKey(k) => format!("key={k:?}"),
            BodyError::Record(r) => r.detail(),
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.detail())
    }
}

impl From<RejectReason> for BodyError {
    fn from(r: RejectReason) -> Self {
        BodyError::Record(r)
    }
}

/// Parses each element of a list body on its own: an element that fails becomes a [`Reject`]
/// (keyed by the first non-empty string among `key_fields`) and the others are kept, in order.
pub(crate) fn parse_records<'a, T>(
    items: &[&'a serde_json::value::RawValue],
    key_fields: &[&'static str],
    parse: impl Fn(&json::Object<'a>) -> Result<T, RejectReason>,
) -> (Vec<T>, Vec<Reject>) {
    let mut records = Vec::with_capacity(items.len());
    let mut rejects = Vec::new();
    for (index, raw) in items.iter().enumerate() {
        let obj = match json::Object::parse(raw) {
            Ok(obj) => obj,
            Err(reason) => {
                rejects.push(Reject {
                    index,
                    key: None,
                    reason,
                });
                continue;
            }
        };
        match parse(&obj) {
            Ok(record) => records.push(record),
            Err(reason) => {
                let key = key_fields
                    .iter()
                    .find_map(|f| obj.non_empty_string(f).ok().flatten());
                rejects.push(Reject { index, key, reason });
            }
        }
    }
    (records, rejects)
}
