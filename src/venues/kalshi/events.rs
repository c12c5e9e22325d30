//! Kalshi events (`GET /events`, `GET /events/multivariate`, `GET /events/{event_ticker}`).
//!
//! Required: `event_ticker` (identity), `series_ticker` (market objects rarely carry their series,
//! so this is the link compliance rules on series depend on — without it a blocked series could
//! slip through), and `title` (title-keyword rules read it; may be empty, must be present).

use super::markets::{parse_market_list, KalshiMarket};
use crate::venues::json::{self, Object};
use crate::venues::{parse_records, BodyError, PageParse, Reject, RejectReason};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KalshiEvent {
    pub event_ticker: String,
    pub series_ticker: String,
    pub title: String,
    pub sub_title: Option<String>,
    /// Deprecated by the venue in favour of the series category; `None` when absent or `""`.
    pub category: Option<String>,
    pub mutually_exclusive: Option<bool>,
    pub strike_date: Option<DateTime<Utc>>,
    /// `None` when absent or `""`.
    pub strike_period: Option<String>,
}

/// `GET /events/{event_ticker}`: the event and its markets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KalshiEventDetail {
    pub event: KalshiEvent,
    pub markets: Vec<KalshiMarket>,
    /// Markets of this event refused on their own (indexes into the array they came from).
    pub market_rejects: Vec<Reject>,
}

/// Parses `{"events":[…],"cursor":"…"}`; refused whole without an `events` array. Markets nested
/// in events (`with_nested_markets=true`) are not read here; use [`parse_event_response`].
pub fn parse_events_page(body: &[u8]) -> Result<PageParse<KalshiEvent>, BodyError> {
    let env = json::parse_envelope(body)?;
    let items = json::envelope_array(&env, "events")?;
    let cursor = json::envelope_cursor(&env, "cursor")?;
    let (records, rejects) = parse_records(&items, &["event_ticker"], parse_event);
    Ok(PageParse {
        records,
        rejects,
        cursor,
    })
}

/// Parses `{"event":{…},"markets":[…]}`. The venue fills either the top-level `markets`
/// (deprecated) or `event.markets` (with `with_nested_markets=true`) with the same list; the
/// top-level one is used when non-empty, else the nested one. A refused event refuses the body.
pub fn parse_event_response(body: &[u8]) -> Result<KalshiEventDetail, BodyError> {
    let env = json::parse_envelope(body)?;
    let raw = env.get("event").ok_or(BodyError::MissingField("event"))?;
    let event_obj = Object::parse(raw)?;
    let event = parse_event(&event_obj)?;

    let top = optional_array(&env, "markets")?;
    let nested = optional_array(&event_obj, "markets")?;
    let items = if top.is_empty() { nested } else { top };
    let (markets, market_rejects) = parse_market_list(&items);
    Ok(KalshiEventDetail {
        event,
        markets,
        market_rejects,
    })
}

fn optional_array<'a>(
    obj: &Object<'a>,
    field: &'static str,
) -> Result<Vec<&'a serde_json::value::RawValue>, BodyError> {
    match obj.get(field) {
        None => Ok(Vec::new()),
        Some(raw) => json::array_items(raw).ok_or(BodyError::WrongType {
            field,
            expected: "array",
        }),
    }
}

fn parse_event(e: &Object<'_>) -> Result<KalshiEvent, RejectReason> {
    Ok(KalshiEvent {
        event_ticker: e.required_id("event_ticker")?,
        series_ticker: e.required_id("series_ticker")?,
        title: e.required_string("title")?,
        sub_title: e.string("sub_title")?,
        category: e.non_empty_string("category")?,
        mutually_exclusive: e.bool("mutually_exclusive")?,
        strike_date: e.timestamp("strike_date")?,
        strike_period: e.non_empty_string("strike_period")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_missing_their_series_are_rejected_and_the_rest_kept() {
        let body = br#"{"events":[
            {"event_ticker":"KXA-1","series_ticker":"KXA","title":"A","category":""},
            {"event_ticker":"KXB-1","title":"B"},
            {"event_ticker":"KXC-1","series_ticker":"KXC","title":"C","mutually_exclusive":"yes"}
        ],"cursor":""}"#;
        let p = parse_events_page(body).unwrap();
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.records[0].category, None);
        assert_eq!(p.cursor, None);
        let rejects: Vec<(usize, Option<&str>, String)> = p
            .rejects
            .iter()
            .map(|r| (r.index, r.key.as_deref(), r.code()))
            .collect();
        assert_eq!(
            rejects,
            [
                (1, Some("KXB-1"), "MISSING_FIELD:series_ticker".to_string()),
                (
                    2,
                    Some("KXC-1"),
                    "WRONG_TYPE:mutually_exclusive".to_string()
                ),
            ]
        );
        assert_eq!(
            parse_events_page(br#"{"markets":[]}"#).unwrap_err().code(),
            "BODY_MISSING_FIELD:events"
        );
    }

    #[test]
    fn event_detail_uses_nested_markets_when_the_top_level_list_is_empty() {
        let body = br#"{"event":{"event_ticker":"KXA-1","series_ticker":"KXA","title":"A",
            "markets":[{"ticker":"KXA-1-X"}]},"markets":[]}"#;
        let d = parse_event_response(body).unwrap();
        assert_eq!(d.event.series_ticker, "KXA");
        assert!(d.markets.is_empty());
        assert_eq!(d.market_rejects.len(), 1);
        assert_eq!(d.market_rejects[0].key.as_deref(), Some("KXA-1-X"));
        assert_eq!(d.market_rejects[0].code(), "MISSING_FIELD:event_ticker");
    }
}
