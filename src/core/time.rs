//! The one text form of an instant the system stores: RFC 3339 in UTC with exactly three
//! fractional digits and a `Z` (`2026-06-11T05:15:11.123Z`). Every stored timestamp has the same
//! width, so D1 compares them correctly as text and `ORDER BY` sorts them in time order.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// `2026-06-11T05:15:11.123Z`.
pub fn format_utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Any RFC 3339 timestamp (any offset), as UTC. `None` when it does not parse.
pub fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The UTC calendar day, `2026-06-11`.
pub fn format_day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// A `YYYY-MM-DD` day. `None` for anything else (no time part, no other layout).
pub fn parse_day(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// An instant from milliseconds since the Unix epoch; `None` out of chrono's range.
pub fn from_millis(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_timestamps_have_one_width_and_sort_as_text() {
        let a = from_millis(1_781_154_911_000).unwrap();
        let b = from_millis(1_781_154_911_123).unwrap();
        assert_eq!(format_utc(a), "2026-06-11T05:15:11.000Z");
        assert_eq!(format_utc(b), "2026-06-11T05:15:11.123Z");
        assert!(format_utc(a) < format_utc(b));
        assert_eq!(parse_utc(&format_utc(b)), Some(b));
        assert_eq!(
            parse_utc("2026-06-11T07:15:11.123+02:00").map(format_utc),
            Some("2026-06-11T05:15:11.123Z".to_string())
        );
        assert_eq!(parse_utc("2026-06-11"), None);
    }

    #[test]
    fn days_are_strict() {
        assert!(parse_day("2026-07-01").is_some());
        for bad in [
            "2026-7-1",
            "2026-02-30",
            "2026-07-01T00:00:00Z",
            "",
            "tomorrow",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
        assert_eq!(format_day(from_millis(0).unwrap()), "1970-01-01");
    }
}
