//! Kalshi market records (`GET /markets`, `GET /markets/{ticker}`, markets nested in events).
//!
//! Required fields, and why a market without them is refused:
//! - `ticker`, `event_ticker` (non-empty): identity; every stored row, order and audit event keys
//!   on them, and the event links a market to its series for compliance rules.
//! - `status` (a known value): whether the market may be traded at all; an unknown status is
//!   refused rather than guessed.
//! - `result` (`""`, `yes`, `no`, `scalar`): settlement state; P&L and reconciliation depend on it.
//! - `close_time`: the end of trading; risk and pairing need the horizon.
//! - `yes_bid` and `yes_ask` (`*_dollars`, or the transitional cents): the two-sided YES quote is
//!   what mark-to-market and signals use; the NO side is derivable (`no_bid = 1 − yes_ask`).
//! - `rules_primary`, `rules_secondary` (may be empty strings, must be present): the texts the
//!   rules hash is taken over; an absent text cannot be told from an empty one.
//!
//! Everything else is optional; an optional field that is present but malformed still refuses
//! the record (a bad value is never silently dropped).

use crate::core::money::{MoneyError, Price, Qty, Usd};
use crate::venues::json::{self, Object};
use crate::venues::{parse_records, BodyError, PageParse, RejectReason, RulesText};
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

/// A market's lifecycle state, exactly the values of the v2 OpenAPI `Market.status` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarketStatus {
    Initialized,
    Inactive,
    Active,
    Closed,
    Determined,
    Disputed,
    Amended,
    Finalized,
}

impl MarketStatus {
    pub fn parse(s: &str) -> Option<MarketStatus> {
        Some(match s {
            "initialized" => MarketStatus::Initialized,
            "inactive" => MarketStatus::Inactive,
            "active" => MarketStatus::Active,
            "closed" => MarketStatus::Closed,
            "determined" => MarketStatus::Determined,
            "disputed" => MarketStatus::Disputed,
            "amended" => MarketStatus::Amended,
            "finalized" => MarketStatus::Finalized,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MarketStatus::Initialized => "initialized",
            MarketStatus::Inactive => "inactive",
            MarketStatus::Active => "active",
            MarketStatus::Closed => "closed",
            MarketStatus::Determined => "determined",
            MarketStatus::Disputed => "disputed",
            MarketStatus::Amended => "amended",
            MarketStatus::Finalized => "finalized",
        }
    }
}

/// Settlement outcome: `""` on the wire means not yet determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarketResult {
    Unsettled,
    Yes,
    No,
    Scalar,
}

impl MarketResult {
    pub fn parse(s: &str) -> Option<MarketResult> {
        Some(match s {
            "" => MarketResult::Unsettled,
            "yes" => MarketResult::Yes,
            "no" => MarketResult::No,
            "scalar" => MarketResult::Scalar,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarketType {
    Binary,
    Scalar,
}

/// One Kalshi market as parsed from the wire. Prices in 1e-4 dollars, counts in 1e-2 contracts,
/// dollar amounts in micro-dollars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KalshiMarket {
    pub ticker: String,
    pub event_ticker: String,
    /// Present only if the venue includes it (market objects usually do not; events do).
    pub series_ticker: Option<String>,
    pub market_type: Option<MarketType>,
    pub title: Option<String>,
    pub subtitle: Option<String>,
    pub yes_sub_title: Option<String>,
    pub no_sub_title: Option<String>,
    /// `None` when absent or `""`.
    pub category: Option<String>,
    pub status: MarketStatus,
    pub result: MarketResult,
    pub rules_primary: String,
    pub rules_secondary: String,
    pub open_time: Option<DateTime<Utc>>,
    pub close_time: DateTime<Utc>,
    pub expected_expiration_time: Option<DateTime<Utc>>,
    pub expiration_time: Option<DateTime<Utc>>,
    pub latest_expiration_time: Option<DateTime<Utc>>,
    pub yes_bid: Price,
    pub yes_ask: Price,
    pub no_bid: Option<Price>,
    pub no_ask: Option<Price>,
    pub last_price: Option<Price>,
    /// The YES side's settlement value, filled after determination.
    pub settlement_value: Option<Price>,
    pub volume: Option<Qty>,
    pub volume_24h: Option<Qty>,
    pub open_interest: Option<Qty>,
    /// Deprecated by the venue (now always `"0.0000"`), kept for older recordings.
    pub liquidity: Option<Usd>,
    /// What one contract pays at settlement (expected to be $1 for binary markets).
    pub notional_value: Option<Usd>,
}

impl RulesText for KalshiMarket {
    fn venue(&self) -> &'static str {
        "kalshi"
    }

    fn rules_parts(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("rules_primary", self.rules_primary.as_str()),
            ("rules_secondary", self.rules_secondary.as_str()),
        ]
    }
}

/// Parses a `GET /markets` body `{"markets":[…],"cursor":"…"}`. Refused whole if it is not JSON
/// or has no `markets` array; otherwise each market is kept or rejected on its own.
pub fn parse_markets_page(body: &[u8]) -> Result<PageParse<KalshiMarket>, BodyError> {
    let env = json::parse_envelope(body)?;
    let items = json::envelope_array(&env, "markets")?;
    let cursor = json::envelope_cursor(&env, "cursor")?;
    let (records, rejects) = parse_market_list(&items);
    Ok(PageParse {
        records,
        rejects,
        cursor,
    })
}

/// Parses a `GET /markets/{ticker}` body `{"market":{…}}`; a refused market refuses the body.
pub fn parse_market_response(body: &[u8]) -> Result<KalshiMarket, BodyError> {
    let env = json::parse_envelope(body)?;
    let raw = env.get("market").ok_or(BodyError::MissingField("market"))?;
    let obj = Object::parse(raw)?;
    Ok(parse_market(&obj)?)
}

pub(crate) fn parse_market_list(
    items: &[&RawValue],
) -> (Vec<KalshiMarket>, Vec<crate::venues::Reject>) {
    parse_records(items, &["ticker"], parse_market)
}

pub(crate) fn parse_market(m: &Object<'_>) -> Result<KalshiMarket, RejectReason> {
    let ticker = m.required_id("ticker")?;
    let event_ticker = m.required_id("event_ticker")?;
    let status_text = m.required_string("status")?;
    let status = MarketStatus::parse(&status_text).ok_or(RejectReason::UnknownEnum {
        field: "status",
        value: status_text,
    })?;
    let result_text = m.required_string("result")?;
    let result = MarketResult::parse(&result_text).ok_or(RejectReason::UnknownEnum {
        field: "result",
        value: result_text,
    })?;
    let close_time = m.required_timestamp("close_time")?;
    let yes_bid = price(m, "yes_bid_dollars", "yes_bid")?
        .ok_or(RejectReason::MissingField("yes_bid_dollars"))?;
    let yes_ask = price(m, "yes_ask_dollars", "yes_ask")?
        .ok_or(RejectReason::MissingField("yes_ask_dollars"))?;
    let rules_primary = m.required_string("rules_primary")?;
    let rules_secondary = m.required_string("rules_secondary")?;

    let market_type = match m.string("market_type")? {
        None => None,
        Some(t) => Some(match t.as_str() {
            "binary" => MarketType::Binary,
            "scalar" => MarketType::Scalar,
            _ => {
                return Err(RejectReason::UnknownEnum {
                    field: "market_type",
                    value: t,
                })
            }
        }),
    };

    Ok(KalshiMarket {
        ticker,
        event_ticker,
        series_ticker: m.non_empty_string("series_ticker")?,
        market_type,
        title: m.string("title")?,
        subtitle: m.string("subtitle")?,
        yes_sub_title: m.string("yes_sub_title")?,
        no_sub_title: m.string("no_sub_title")?,
        category: m.non_empty_string("category")?,
        status,
        result,
        rules_primary,
        rules_secondary,
        open_time: m.timestamp("open_time")?,
        close_time,
        expected_expiration_time: m.timestamp("expected_expiration_time")?,
        expiration_time: m.timestamp("expiration_time")?,
        latest_expiration_time: m.timestamp("latest_expiration_time")?,
        yes_bid,
        yes_ask,
        no_bid: price(m, "no_bid_dollars", "no_bid")?,
        no_ask: price(m, "no_ask_dollars", "no_ask")?,
        last_price: price(m, "last_price_dollars", "last_price")?,
        settlement_value: price(m, "settlement_value_dollars", "settlement_value")?,
        volume: count(m, "volume_fp", "volume")?,
        volume_24h: count(m, "volume_24h_fp", "volume_24h")?,
        open_interest: count(m, "open_interest_fp", "open_interest")?,
        liquidity: dollars(m, "liquidity_dollars", "liquidity")?,
        notional_value: dollars(m, "notional_value_dollars", "notional_value")?,
    })
}

/// A price from its `*_dollars` string, else from the transitional integer cents.
fn price(
    m: &Object<'_>,
    dollars_field: &'static str,
    cents_field: &'static str,
) -> Result<Option<Price>, RejectReason> {
    if let Some(text) = m.string(dollars_field)? {
        return Price::parse_dollars(&text)
            .map(Some)
            .map_err(|error| RejectReason::BadDecimal {
                field: dollars_field,
                error,
            });
    }
    match m.integer(cents_field)? {
        None => Ok(None),
        Some(cents) => Price::from_cents(cents)
            .map(Some)
            .ok_or(RejectReason::BadDecimal {
                field: cents_field,
                error: MoneyError::OutOfRange(cents.to_string()),
            }),
    }
}

/// A non-negative contract count from its `*_fp` string, else from the transitional integer.
fn count(
    m: &Object<'_>,
    fp_field: &'static str,
    int_field: &'static str,
) -> Result<Option<Qty>, RejectReason> {
    if let Some(text) = m.string(fp_field)? {
        let qty = Qty::parse_fp(&text).map_err(|error| RejectReason::BadDecimal {
            field: fp_field,
            error,
        })?;
        if qty.units() < 0 {
            return Err(RejectReason::BadDecimal {
                field: fp_field,
                error: MoneyError::OutOfRange(text),
            });
        }
        return Ok(Some(qty));
    }
    match m.integer(int_field)? {
        None => Ok(None),
        Some(n) => Qty::contracts(n)
            .filter(|q| q.units() >= 0)
            .map(Some)
            .ok_or(RejectReason::BadDecimal {
                field: int_field,
                error: MoneyError::OutOfRange(n.to_string()),
            }),
    }
}

/// A non-negative dollar amount from its `*_dollars` string, else from integer cents.
fn dollars(
    m: &Object<'_>,
    dollars_field: &'static str,
    cents_field: &'static str,
) -> Result<Option<Usd>, RejectReason> {
    let bad = |field, error| RejectReason::BadDecimal { field, error };
    let amount = if let Some(text) = m.string(dollars_field)? {
        let usd = Usd::parse_dollars(&text).map_err(|e| bad(dollars_field, e))?;
        (usd, dollars_field, text)
    } else if let Some(cents) = m.integer(cents_field)? {
        let usd = Usd::from_cents(cents)
            .ok_or_else(|| bad(cents_field, MoneyError::Overflow(cents.to_string())))?;
        (usd, cents_field, cents.to_string())
    } else {
        return Ok(None);
    };
    let (usd, field, text) = amount;
    if usd.micros() < 0 {
        return Err(bad(field, MoneyError::OutOfRange(text)));
    }
    Ok(Some(usd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venues::rules_hash;

    /// A current-shape market (fixed-point strings only), as in the 2026 recordings.
    fn market_json(overrides: &[(&str, Option<&str>)]) -> String {
        let mut fields: Vec<(String, String)> = vec![
            ("ticker", r#""KXTEST-26JAN01-A""#),
            ("event_ticker", r#""KXTEST-26JAN01""#),
            ("market_type", r#""binary""#),
            ("title", r#""Test market""#),
            ("yes_sub_title", r#""A""#),
            ("no_sub_title", r#""A""#),
            ("status", r#""active""#),
            ("result", r#""""#),
            ("open_time", r#""2026-01-01T00:00:00Z""#),
            ("close_time", r#""2026-01-02T00:00:00Z""#),
            ("yes_bid_dollars", r#""0.5200""#),
            ("yes_ask_dollars", r#""0.5300""#),
            ("no_bid_dollars", r#""0.4700""#),
            ("no_ask_dollars", r#""0.4800""#),
            ("last_price_dollars", r#""0.5250""#),
            ("volume_fp", r#""1234.56""#),
            ("volume_24h_fp", r#""10.00""#),
            ("open_interest_fp", r#""99.50""#),
            ("liquidity_dollars", r#""0.0000""#),
            ("rules_primary", r#""If A, then Yes.""#),
            ("rules_secondary", r#""""#),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (key, value) in overrides {
            fields.retain(|(k, _)| k != key);
            if let Some(v) = value {
                fields.push((key.to_string(), v.to_string()));
            }
        }
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
        format!("{{{}}}", body.join(","))
    }

    fn page(markets: &[String]) -> Vec<u8> {
        format!(r#"{{"markets":[{}],"cursor":"abc"}}"#, markets.join(",")).into_bytes()
    }

    #[test]
    fn a_current_shape_market_parses_to_exact_integers() {
        let p = parse_markets_page(&page(&[market_json(&[])])).unwrap();
        assert!(p.rejects.is_empty(), "{:?}", p.rejects);
        assert_eq!(p.cursor.as_deref(), Some("abc"));
        let m = &p.records[0];
        assert_eq!(m.ticker, "KXTEST-26JAN01-A");
        assert_eq!(m.status, MarketStatus::Active);
        assert_eq!(m.result, MarketResult::Unsettled);
        assert_eq!(m.yes_bid.units(), 5200);
        assert_eq!(m.yes_ask.units(), 5300);
        assert_eq!(m.last_price.map(Price::units), Some(5250));
        assert_eq!(m.volume, Some(Qty(123_456)));
        assert_eq!(m.open_interest, Some(Qty(9_950)));
        assert_eq!(m.liquidity, Some(Usd::ZERO));
        assert_eq!(m.close_time.to_rfc3339(), "2026-01-02T00:00:00+00:00");
        assert_eq!(m.category, None);
    }

    #[test]
    fn a_record_missing_a_required_field_is_rejected_and_the_rest_kept() {
        let body = page(&[
            market_json(&[("ticker", Some(r#""KX-1""#))]),
            market_json(&[("ticker", None)]),
            market_json(&[("ticker", Some(r#""KX-3""#)), ("close_time", None)]),
            market_json(&[("ticker", Some(r#""KX-4""#)), ("yes_ask_dollars", None)]),
            market_json(&[("ticker", Some(r#""""#))]),
            market_json(&[("ticker", Some(r#""KX-6""#))]),
        ]);
        let p = parse_markets_page(&body).unwrap();
        let kept: Vec<&str> = p.records.iter().map(|m| m.ticker.as_str()).collect();
        assert_eq!(kept, ["KX-1", "KX-6"]);
        let rejects: Vec<(usize, Option<&str>, String)> = p
            .rejects
            .iter()
            .map(|r| (r.index, r.key.as_deref(), r.code()))
            .collect();
        assert_eq!(
            rejects,
            [
                (1, None, "MISSING_FIELD:ticker".to_string()),
                (2, Some("KX-3"), "MISSING_FIELD:close_time".to_string()),
                (3, Some("KX-4"), "MISSING_FIELD:yes_ask_dollars".to_string()),
                (4, None, "MISSING_FIELD:ticker".to_string()),
            ]
        );
    }

    #[test]
    fn too_precise_or_out_of_range_prices_are_rejected_not_rounded() {
        let body = page(&[
            market_json(&[("yes_bid_dollars", Some(r#""0.52005""#))]),
            market_json(&[("yes_ask_dollars", Some(r#""1.0100""#))]),
            market_json(&[("no_bid_dollars", Some(r#""0.5.1""#))]),
            market_json(&[("volume_fp", Some(r#""1.005""#))]),
            market_json(&[("open_interest_fp", Some(r#""-1.00""#))]),
            market_json(&[("yes_bid_dollars", Some("0.52"))]),
            // Trailing zeros beyond four decimals carry no precision and are accepted.
            market_json(&[("yes_bid_dollars", Some(r#""0.520000""#))]),
        ]);
        let p = parse_markets_page(&body).unwrap();
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.records[0].yes_bid.units(), 5200);
        let codes: Vec<String> = p.rejects.iter().map(|r| r.code()).collect();
        assert_eq!(
            codes,
            [
                "BAD_DECIMAL:yes_bid_dollars",
                "BAD_DECIMAL:yes_ask_dollars",
                "BAD_DECIMAL:no_bid_dollars",
                "BAD_DECIMAL:volume_fp",
                "BAD_DECIMAL:open_interest_fp",
                "WRONG_TYPE:yes_bid_dollars",
            ]
        );
        assert!(p.rejects[0].detail().contains("DECIMAL_TOO_PRECISE"));
        assert!(p.rejects[1].detail().contains("DECIMAL_OUT_OF_RANGE"));
        assert!(p.rejects[2].detail().contains("DECIMAL_MALFORMED"));
    }

    #[test]
    fn transitional_cent_fields_are_used_only_when_the_dollar_strings_are_absent() {
        let only_cents = market_json(&[
            ("yes_bid_dollars", None),
            ("yes_ask_dollars", None),
            ("no_bid_dollars", None),
            ("no_ask_dollars", None),
            ("last_price_dollars", None),
            ("volume_fp", None),
            ("volume_24h_fp", None),
            ("open_interest_fp", None),
            ("liquidity_dollars", None),
            ("yes_bid", Some("41")),
            ("yes_ask", Some("43")),
            ("no_bid", Some("57")),
            ("no_ask", Some("59")),
            ("last_price", Some("42")),
            ("volume", Some("1200")),
            ("volume_24h", Some("7")),
            ("open_interest", Some("300")),
            ("liquidity", Some("123456")),
        ]);
        // Both present: the string wins even though the truncated cents differ (sub-penny tick).
        let both = market_json(&[
            ("yes_bid", Some("52")),
            ("yes_bid_dollars", Some(r#""0.5250""#)),
        ]);
        let p = parse_markets_page(&page(&[only_cents, both])).unwrap();
        assert!(p.rejects.is_empty(), "{:?}", p.rejects);
        let m = &p.records[0];
        assert_eq!(
            (
                m.yes_bid.units(),
                m.yes_ask.units(),
                m.last_price.map(Price::units)
            ),
            (4100, 4300, Some(4200))
        );
        assert_eq!(m.no_bid.map(Price::units), Some(5700));
        assert_eq!(m.volume, Some(Qty(120_000)));
        assert_eq!(m.volume_24h, Some(Qty(700)));
        assert_eq!(m.open_interest, Some(Qty(30_000)));
        assert_eq!(m.liquidity, Some(Usd(1_234_560_000)));
        assert_eq!(p.records[1].yes_bid.units(), 5250);

        let bad_cents = market_json(&[("yes_bid_dollars", None), ("yes_bid", Some("101"))]);
        let float_cents = market_json(&[("yes_bid_dollars", None), ("yes_bid", Some("41.5"))]);
        let p = parse_markets_page(&page(&[bad_cents, float_cents])).unwrap();
        let codes: Vec<String> = p.rejects.iter().map(|r| r.code()).collect();
        assert_eq!(codes, ["BAD_DECIMAL:yes_bid", "WRONG_TYPE:yes_bid"]);
    }

    #[test]
    fn optional_fields_may_be_absent_but_never_malformed() {
        let sparse = market_json(&[
            ("no_bid_dollars", None),
            ("no_ask_dollars", None),
            ("last_price_dollars", None),
            ("volume_fp", None),
            ("volume_24h_fp", None),
            ("open_interest_fp", None),
            ("liquidity_dollars", None),
            ("open_time", None),
            ("title", None),
            ("market_type", None),
        ]);
        let bad_time = market_json(&[("open_time", Some(r#""yesterday""#))]);
        let p = parse_markets_page(&page(&[sparse, bad_time])).unwrap();
        assert_eq!(p.records.len(), 1);
        let m = &p.records[0];
        assert_eq!(
            (m.no_bid, m.volume, m.liquidity, m.open_time),
            (None, None, None, None)
        );
        assert_eq!(p.rejects[0].code(), "BAD_TIMESTAMP:open_time");
    }

    #[test]
    fn unknown_status_result_or_type_is_refused() {
        let p = parse_markets_page(&page(&[
            market_json(&[("status", Some(r#""open""#))]),
            market_json(&[("result", Some(r#""void""#))]),
            market_json(&[("market_type", Some(r#""perpetual""#))]),
            market_json(&[
                ("status", Some(r#""finalized""#)),
                ("result", Some(r#""no""#)),
            ]),
        ]))
        .unwrap();
        let codes: Vec<String> = p.rejects.iter().map(|r| r.code()).collect();
        assert_eq!(
            codes,
            [
                "UNKNOWN_ENUM:status",
                "UNKNOWN_ENUM:result",
                "UNKNOWN_ENUM:market_type"
            ]
        );
        assert_eq!(p.records[0].status, MarketStatus::Finalized);
        assert_eq!(p.records[0].result, MarketResult::No);
    }

    #[test]
    fn non_objects_and_duplicate_keys_are_rejected_per_record() {
        let dup = r#"{"ticker":"KX-D","ticker":"KX-E"}"#.to_string();
        let body = page(&[market_json(&[]), "42".to_string(), dup]);
        let p = parse_markets_page(&body).unwrap();
        assert_eq!(p.records.len(), 1);
        let codes: Vec<String> = p.rejects.iter().map(|r| r.code()).collect();
        assert_eq!(codes, ["NOT_AN_OBJECT", "DUPLICATE_KEY"]);
    }

    #[test]
    fn a_page_without_a_markets_array_or_valid_json_is_refused_whole() {
        let code = |b: &[u8]| parse_markets_page(b).unwrap_err().code();
        assert_eq!(code(br#"{"cursor":""}"#), "BODY_MISSING_FIELD:markets");
        assert_eq!(code(br#"{"markets":null}"#), "BODY_MISSING_FIELD:markets");
        assert_eq!(code(br#"{"markets":{}}"#), "BODY_WRONG_TYPE:markets");
        assert_eq!(code(br#"[]"#), "BODY_WRONG_TYPE:(body)");
        assert_eq!(code(br#"{"markets":[{"ticker":"A"}"#), "BODY_INVALID_JSON");
        assert_eq!(code(b""), "BODY_INVALID_JSON");
        assert_eq!(
            code(br#"{"markets":[],"cursor":5}"#),
            "BODY_WRONG_TYPE:cursor"
        );
        let empty = parse_markets_page(br#"{"markets":[],"cursor":""}"#).unwrap();
        assert_eq!((empty.records.len(), empty.cursor), (0, None));
    }

    #[test]
    fn a_single_market_body_is_refused_when_its_market_is() {
        let ok = format!(r#"{{"market":{}}}"#, market_json(&[]));
        assert_eq!(
            parse_market_response(ok.as_bytes()).unwrap().ticker,
            "KXTEST-26JAN01-A"
        );
        let bad = format!(r#"{{"market":{}}}"#, market_json(&[("status", None)]));
        assert_eq!(
            parse_market_response(bad.as_bytes()).unwrap_err().code(),
            "MISSING_FIELD:status"
        );
        assert_eq!(
            parse_market_response(br#"{"markets":[]}"#)
                .unwrap_err()
                .code(),
            "BODY_MISSING_FIELD:market"
        );
    }

    #[test]
    fn rules_hash_covers_both_rules_texts() {
        let parse = |o: &[(&str, Option<&str>)]| {
            let body = format!(r#"{{"market":{}}}"#, market_json(o));
            parse_market_response(body.as_bytes()).unwrap()
        };
        let base = rules_hash(&parse(&[]));
        assert_eq!(
            base,
            rules_hash(&parse(&[("yes_bid_dollars", Some(r#""0.1""#))]))
        );
        assert_ne!(
            base,
            rules_hash(&parse(&[("rules_secondary", Some(r#""x""#))]))
        );
        assert_ne!(
            base,
            rules_hash(&parse(&[("rules_primary", Some(r#""If A, then Yes. ""#))]))
        );
    }
}
