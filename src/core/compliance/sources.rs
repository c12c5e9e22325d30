//! Sources: the outbound hosts of the security guide, each with a compliance status. Only an
//! [`Admission`] (made by [`admit`]) lets the fetch layer contact a source.

use super::{check_text, ComplianceError};
use crate::core::time::parse_day;
use chrono::{Days, NaiveDate};
use serde::Deserialize;
use std::fmt;

/// The configured outbound sources, one per host of the security guide's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Kalshi,
    PolymarketGamma,
    PolymarketClob,
    PolymarketData,
    Anthropic,
}

impl Source {
    pub const ALL: [Source; 5] = [
        Source::Kalshi,
        Source::PolymarketGamma,
        Source::PolymarketClob,
        Source::PolymarketData,
        Source::Anthropic,
    ];

    /// The name used in D1, routes, evidence keys and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Kalshi => "kalshi",
            Source::PolymarketGamma => "polymarket_gamma",
            Source::PolymarketClob => "polymarket_clob",
            Source::PolymarketData => "polymarket_data",
            Source::Anthropic => "anthropic",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|src| src.as_str() == s)
    }

    /// The `[vars]` setting holding the source's base URL; the outbound port names the base a
    /// URL falls under, and the fetch layer checks it is this one.
    pub fn base_url_var(self) -> &'static str {
        match self {
            Source::Kalshi => "KALSHI_BASE_URL",
            Source::PolymarketGamma => "POLYMARKET_GAMMA_URL",
            Source::PolymarketClob => "POLYMARKET_CLOB_URL",
            Source::PolymarketData => "POLYMARKET_DATA_URL",
            Source::Anthropic => "ANTHROPIC_BASE_URL",
        }
    }

    /// The production host, as the security guide lists it.
    pub fn host(self) -> &'static str {
        match self {
            Source::Kalshi => "api.elections.kalshi.com",
            Source::PolymarketGamma => "gamma-api.polymarket.com",
            Source::PolymarketClob => "clob.polymarket.com",
            Source::PolymarketData => "data-api.polymarket.com",
            Source::Anthropic => "api.anthropic.com",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A source's compliance status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceStatus {
    Approved,
    UnderReview,
    Blocked,
}

impl SourceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceStatus::Approved => "approved",
            SourceStatus::UnderReview => "under_review",
            SourceStatus::Blocked => "blocked",
        }
    }

    pub fn parse(s: &str) -> Option<SourceStatus> {
        match s {
            "approved" => Some(SourceStatus::Approved),
            "under_review" => Some(SourceStatus::UnderReview),
            "blocked" => Some(SourceStatus::Blocked),
            _ => None,
        }
    }
}

/// A `compliance_sources` row as stored: text, not yet trusted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SourceRow {
    pub name: String,
    pub status: String,
    pub tos_version: Option<String>,
    pub next_review_at: Option<String>,
}

/// A parsed source row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    pub source: Source,
    pub status: SourceStatus,
    pub tos_version: Option<String>,
    pub next_review: Option<NaiveDate>,
}

/// Proof that a source was approved, with a current review, at the time of the check. Only
/// [`admit`] makes one; the fetch layer requires it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    source: Source,
    tos_version: String,
    next_review: NaiveDate,
}

impl Admission {
    pub fn source(&self) -> Source {
        self.source
    }

    pub fn tos_version(&self) -> &str {
        &self.tos_version
    }

    pub fn next_review(&self) -> NaiveDate {
        self.next_review
    }
}

/// Why a source may not be contacted. Every variant means "do not send a byte".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// No row for the source.
    Unknown(Source),
    UnderReview(Source),
    Blocked(Source),
    /// Approved, but the next review date has passed: treated as blocked.
    ReviewOverdue {
        source: Source,
        next_review: NaiveDate,
    },
    /// Approved without a ToS version or a review date.
    Incomplete {
        source: Source,
        missing: &'static str,
    },
    /// A stored field does not parse.
    Invalid {
        source: Source,
        field: &'static str,
    },
    /// The compliance data could not be read at all.
    Unavailable,
}

impl Denial {
    pub fn code(&self) -> &'static str {
        match self {
            Denial::Unknown(_) => "COMPLIANCE_SOURCE_UNKNOWN",
            Denial::UnderReview(_) => "COMPLIANCE_SOURCE_UNDER_REVIEW",
            Denial::Blocked(_) => "COMPLIANCE_SOURCE_BLOCKED",
            Denial::ReviewOverdue { .. } => "COMPLIANCE_SOURCE_REVIEW_OVERDUE",
            Denial::Incomplete { .. } => "COMPLIANCE_SOURCE_INCOMPLETE",
            Denial::Invalid { .. } => "COMPLIANCE_SOURCE_INVALID",
            Denial::Unavailable => "COMPLIANCE_UNAVAILABLE",
        }
    }

    /// `CODE: key=value …`
    pub fn detail(&self) -> String {
        match self {
            Denial::Unknown(s) | Denial::UnderReview(s) | Denial::Blocked(s) => {
                format!("{}: source={s}", self.code())
            }
            Denial::ReviewOverdue {
                source,
                next_review,
            } => format!("{}: source={source} next_review={next_review}", self.code()),
            Denial::Incomplete { source, missing } => {
                format!("{}: source={source} missing={missing}", self.code())
            }
            Denial::Invalid { source, field } => {
                format!("{}: source={source} field={field}", self.code())
            }
            Denial::Unavailable => format!("{}: compliance data unreadable", self.code()),
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail())
    }
}

/// Parses a stored row; a field that does not parse is a [`Denial::Invalid`].
pub fn parse_row(source: Source, row: &SourceRow) -> Result<SourceRecord, Denial> {
    let invalid = |field| Denial::Invalid { source, field };
    if row.name != source.as_str() {
        return Err(invalid("name"));
    }
    let status = SourceStatus::parse(&row.status).ok_or_else(|| invalid("status"))?;
    let next_review = match row.next_review_at.as_deref() {
        None | Some("") => None,
        Some(s) => Some(parse_day(s).ok_or_else(|| invalid("next_review_at"))?),
    };
    Ok(SourceRecord {
        source,
        status,
        tos_version: row.tos_version.clone().filter(|v| !v.trim().is_empty()),
        next_review,
    })
}

/// The gate: `source` may be contacted on `today` (UTC) only if its row (among `rows`) says
/// `approved`, names a ToS version, and its next review is today or later.
pub fn admit(rows: &[SourceRow], source: Source, today: NaiveDate) -> Result<Admission, Denial> {
    let row = rows
        .iter()
        .find(|r| r.name == source.as_str())
        .ok_or(Denial::Unknown(source))?;
    let record = parse_row(source, row)?;
    match record.status {
        SourceStatus::UnderReview => return Err(Denial::UnderReview(source)),
        SourceStatus::Blocked => return Err(Denial::Blocked(source)),
        SourceStatus::Approved => {}
    }
    let tos_version = record.tos_version.ok_or(Denial::Incomplete {
        source,
        missing: "tos_version",
    })?;
    let next_review = record.next_review.ok_or(Denial::Incomplete {
        source,
        missing: "next_review_at",
    })?;
    if next_review < today {
        return Err(Denial::ReviewOverdue {
            source,
            next_review,
        });
    }
    Ok(Admission {
        source,
        tos_version,
        next_review,
    })
}

/// Longest accepted ToS version label.
pub const MAX_TOS_VERSION_CHARS: usize = 100;
/// Longest accepted note.
pub const MAX_NOTE_CHARS: usize = 500;
/// How far ahead a review may be scheduled: a year and a day.
pub const MAX_REVIEW_HORIZON_DAYS: u64 = 366;

/// `PUT /admin/compliance/sources/{name}` body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceUpdate {
    pub status: String,
    #[serde(default)]
    pub tos_version: Option<String>,
    #[serde(default)]
    pub next_review_at: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A checked update, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSourceUpdate {
    pub source: Source,
    pub status: SourceStatus,
    pub tos_version: Option<String>,
    pub next_review: Option<NaiveDate>,
    pub note: String,
}

impl SourceUpdate {
    /// Checks the update for `name` on `today`. Approving needs a ToS version and a next-review
    /// date after today and within [`MAX_REVIEW_HORIZON_DAYS`]: an approval never lasts forever.
    pub fn validate(
        &self,
        name: &str,
        today: NaiveDate,
    ) -> Result<ValidSourceUpdate, ComplianceError> {
        let source =
            Source::parse(name).ok_or_else(|| ComplianceError::UnknownSource(name.to_string()))?;
        let status =
            SourceStatus::parse(&self.status).ok_or_else(|| ComplianceError::InvalidField {
                field: "status",
                reason: "expected approved, under_review or blocked".to_string(),
            })?;
        let tos_version = match &self.tos_version {
            None => None,
            Some(v) => Some(check_text("tos_version", v, 1, MAX_TOS_VERSION_CHARS)?),
        };
        let next_review = match &self.next_review_at {
            None => None,
            Some(s) => Some(parse_day(s).ok_or_else(|| ComplianceError::InvalidField {
                field: "next_review_at",
                reason: "expected YYYY-MM-DD".to_string(),
            })?),
        };
        let note = match &self.note {
            None => String::new(),
            Some(n) => check_text("note", n, 0, MAX_NOTE_CHARS)?,
        };
        if status == SourceStatus::Approved {
            if tos_version.is_none() {
                return Err(ComplianceError::InvalidField {
                    field: "tos_version",
                    reason: "required to approve".to_string(),
                });
            }
            let Some(review) = next_review else {
                return Err(ComplianceError::InvalidField {
                    field: "next_review_at",
                    reason: "required to approve".to_string(),
                });
            };
            let horizon = today
                .checked_add_days(Days::new(MAX_REVIEW_HORIZON_DAYS))
                .unwrap_or(today);
            if review <= today || review > horizon {
                return Err(ComplianceError::InvalidField {
                    field: "next_review_at",
                    reason: format!(
                        "must be after {today} and at most {MAX_REVIEW_HORIZON_DAYS} days ahead"
                    ),
                });
            }
        }
        Ok(ValidSourceUpdate {
            source,
            status,
            tos_version,
            next_review,
            note,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        parse_day(s).unwrap()
    }

    fn row(name: &str, status: &str, tos: Option<&str>, review: Option<&str>) -> SourceRow {
        SourceRow {
            name: name.to_string(),
            status: status.to_string(),
            tos_version: tos.map(String::from),
            next_review_at: review.map(String::from),
        }
    }

    #[test]
    fn only_an_approved_source_with_a_current_review_is_admitted() {
        let today = day("2026-06-11");
        let rows = vec![
            row("kalshi", "approved", Some("2026-01"), Some("2026-06-11")),
            row("polymarket_gamma", "under_review", None, None),
            row("polymarket_clob", "blocked", Some("v1"), Some("2027-01-01")),
            row(
                "polymarket_data",
                "approved",
                Some("v1"),
                Some("2026-06-10"),
            ),
            row("anthropic", "approved", None, Some("2027-01-01")),
        ];
        let a = admit(&rows, Source::Kalshi, today).unwrap();
        assert_eq!((a.source(), a.tos_version()), (Source::Kalshi, "2026-01"));
        let code = |s| admit(&rows, s, today).unwrap_err().code();
        assert_eq!(
            code(Source::PolymarketGamma),
            "COMPLIANCE_SOURCE_UNDER_REVIEW"
        );
        assert_eq!(code(Source::PolymarketClob), "COMPLIANCE_SOURCE_BLOCKED");
        assert_eq!(
            code(Source::PolymarketData),
            "COMPLIANCE_SOURCE_REVIEW_OVERDUE"
        );
        assert_eq!(code(Source::Anthropic), "COMPLIANCE_SOURCE_INCOMPLETE");
        assert_eq!(
            admit(&rows[1..], Source::Kalshi, today).unwrap_err(),
            Denial::Unknown(Source::Kalshi)
        );
    }

    #[test]
    fn the_review_day_itself_is_still_admitted_and_the_next_day_is_not() {
        let rows = vec![row("kalshi", "approved", Some("v"), Some("2026-06-11"))];
        assert!(admit(&rows, Source::Kalshi, day("2026-06-11")).is_ok());
        assert_eq!(
            admit(&rows, Source::Kalshi, day("2026-06-12"))
                .unwrap_err()
                .code(),
            "COMPLIANCE_SOURCE_REVIEW_OVERDUE"
        );
    }

    #[test]
    fn unparseable_stored_fields_deny_rather_than_guess() {
        let today = day("2026-06-11");
        for (r, field) in [
            (
                row("kalshi", "APPROVED", Some("v"), Some("2027-01-01")),
                "status",
            ),
            (
                row("kalshi", "approved", Some("v"), Some("next year")),
                "next_review_at",
            ),
            (row("kalshi", "", Some("v"), Some("2027-01-01")), "status"),
        ] {
            assert_eq!(
                admit(&[r], Source::Kalshi, today).unwrap_err(),
                Denial::Invalid {
                    source: Source::Kalshi,
                    field
                }
            );
        }
        // A blank ToS version is as good as none.
        let blank = row("kalshi", "approved", Some("  "), Some("2027-01-01"));
        assert_eq!(
            admit(&[blank], Source::Kalshi, today).unwrap_err().code(),
            "COMPLIANCE_SOURCE_INCOMPLETE"
        );
    }

    #[test]
    fn every_source_has_a_distinct_name_and_base_url_setting() {
        for (i, a) in Source::ALL.iter().enumerate() {
            assert_eq!(Source::parse(a.as_str()), Some(*a));
            for b in &Source::ALL[i + 1..] {
                assert_ne!(a.as_str(), b.as_str());
                assert_ne!(a.base_url_var(), b.base_url_var());
            }
            // The outbound port knows every one of them.
            assert!(
                crate::bindings::OUTBOUND_BASES.contains(&a.base_url_var()),
                "{a}"
            );
        }
        assert_eq!(Source::parse("Kalshi"), None);
    }

    fn update(status: &str, tos: Option<&str>, review: Option<&str>) -> SourceUpdate {
        SourceUpdate {
            status: status.to_string(),
            tos_version: tos.map(String::from),
            next_review_at: review.map(String::from),
            note: None,
        }
    }

    #[test]
    fn approving_needs_a_tos_version_and_a_future_review_within_a_year() {
        let today = day("2026-06-11");
        let ok = update("approved", Some(" 2026-05 "), Some("2026-12-01"))
            .validate("kalshi", today)
            .unwrap();
        assert_eq!(ok.tos_version.as_deref(), Some("2026-05"));
        assert_eq!(ok.status, SourceStatus::Approved);
        let field = |u: SourceUpdate| match u.validate("kalshi", today).unwrap_err() {
            ComplianceError::InvalidField { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(update("approved", None, Some("2026-12-01"))),
            "tos_version"
        );
        assert_eq!(field(update("approved", Some("v"), None)), "next_review_at");
        assert_eq!(
            field(update("approved", Some("v"), Some("2026-06-11"))),
            "next_review_at"
        );
        assert_eq!(
            field(update("approved", Some("v"), Some("2027-06-13"))),
            "next_review_at"
        );
        assert_eq!(
            field(update("approved", Some("v"), Some("2026/12/01"))),
            "next_review_at"
        );
        assert_eq!(
            field(update("approve", Some("v"), Some("2026-12-01"))),
            "status"
        );
        assert_eq!(
            field(update("approved", Some("a\u{7}b"), Some("2026-12-01"))),
            "tos_version"
        );
        // Review and block need nothing else.
        assert!(update("blocked", None, None)
            .validate("kalshi", today)
            .is_ok());
        assert!(update("under_review", None, None)
            .validate("anthropic", today)
            .is_ok());
        assert_eq!(
            update("blocked", None, None)
                .validate("kalshi.com", today)
                .unwrap_err()
                .code(),
            "COMPLIANCE_SOURCE_UNKNOWN"
        );
    }
}
