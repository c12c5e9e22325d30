//! Polymarket Gamma market data: `GET /markets` (a JSON array), `GET /markets/{id}` (one object),
//! `GET /events` (an array of events with their markets nested) and `GET /events/{id}`.
//!
//! Gamma quirks handled here:
//! - `outcomes`, `outcomePrices` and `clobTokenIds` are JSON arrays encoded inside strings; they
//!   are decoded (a plain JSON array is accepted too) and zipped into [`GammaOutcome`]s, which
//!   requires equal lengths.
//! - Prices arrive as strings (`"0.535"`) or JSON numbers (`bestBid: 0.52`); both are read from
//!   their literal text into [`Price`] (1e-4 dollars per share paying $1). A price with more than
//!   4 significant decimals is refused (`BAD_DECIMAL:<field>`, cause `DECIMAL_TOO_PRECISE`), never
//!   rounded: CLOB ticks are at most 4 decimals, so such a price is either an AMM-era value or
//!   float noise, and neither is a price we can trade against.
//! - `volume`/`liquidity` are strings and `volumeNum`/`liquidityNum` numbers, both carrying float
//!   noise far below a micro-dollar (`"832995.125818007"`). They become [`Usd`] micro-dollars with
//!   the digits beyond the sixth decimal dropped (toward zero). This truncation is deliberate and
//!   limited to these statistics, which rank and filter markets and are never paid or settled.
//!   The string form is preferred; the number is used only when the string is absent.
//!
//! Required fields, and why a market without them is refused:
//! - `conditionId` (non-empty): the market's identity on-chain and on the CLOB.
//! - `question`, `description` (may be empty, must be present): what is being predicted and the
//!   resolution rules, which the rules hash for pair approval is taken over.
//! - `outcomes`, `outcomePrices` (same non-zero length): without prices there is nothing to pair.
//! - `endDate`: the resolution horizon that pairing and risk depend on.
//! - `active`, `closed`: whether the market trades; guessing either could trade a dead market.

use crate::core::money::{parse_decimal, MoneyError, Price, Usd};
use crate::venues::json::{self, Kind, Object};
use crate::venues::{parse_records, BodyError, PageParse, Reject, RejectReason, RulesText};
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

/// Fields tried, in order, to name a rejected Gamma record.
const KEY_FIELDS: &[&str] = &["conditionId", "slug", "id"];

/// One outcome of a Gamma market with its last price and CLOB token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GammaOutcome {
    pub name: String,
    pub price: Price,
    /// `None` only when the market has no `clobTokenIds` at all.
    pub token_id: Option<String>,
}

/// One Gamma market. Prices in 1e-4 dollars, volumes in micro-dollars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GammaMarket {
    pub id: Option<String>,
    pub condition_id: String,
    pub question: String,
    pub slug: Option<String>,
    /// The resolution rules text.
    pub description: String,
    pub resolution_source: Option<String>,
    pub category: Option<String>,
    pub outcomes: Vec<GammaOutcome>,
    pub end_date: DateTime<Utc>,
    pub active: bool,
    pub closed: bool,
    pub archived: Option<bool>,
    /// Best bid / ask / last trade of the first outcome's token.
    pub best_bid: Option<Price>,
    pub best_ask: Option<Price>,
    pub last_trade_price: Option<Price>,
    pub volume: Option<Usd>,
    pub liquidity: Option<Usd>,
}

impl RulesText for GammaMarket {
    fn venue(&self) -> &'static str {
        "polymarket"
    }

    /// `description` then `resolutionSource` (absent = empty).
    fn rules_parts(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("description", self.description.as_str()),
            (
                "resolutionSource",
                self.resolution_source.as_deref().unwrap_or(""),
            ),
        ]
    }
}

/// A Gamma event with its nested markets, each kept or rejected on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GammaEvent {
    pub id: String,
    pub slug: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub end_date: Option<DateTime<Utc>>,
    pub active: Option<bool>,
    pub closed: Option<bool>,
    pub markets: Vec<GammaMarket>,
    pub market_rejects: Vec<Reject>,
}

/// Parses a Gamma `/markets` body: a JSON array of markets. Gamma pages by `offset`, so the
/// result never has a cursor.
pub fn parse_gamma_markets(body: &[u8]) -> Result<PageParse<GammaMarket>, BodyError> {
    let items = json::parse_array_body(body)?;
    let (records, rejects) = parse_records(&items, KEY_FIELDS, parse_market);
    Ok(PageParse {
        records,
        rejects,
        cursor: None,
    })
}

/// Parses a Gamma `/markets/{id}` body: one market object; a refused market refuses the body.
pub fn parse_gamma_market(body: &[u8]) -> Result<GammaMarket, BodyError> {
    let obj = json::parse_envelope(body)?;
    Ok(parse_market(&obj)?)
}

/// Parses a Gamma `/events` body: a JSON array of events with nested `markets`.
pub fn parse_gamma_events(body: &[u8]) -> Result<PageParse<GammaEvent>, BodyError> {
    let items = json::parse_array_body(body)?;
    let (records, rejects) = parse_records(&items, &["slug", "id"], parse_event);
    Ok(PageParse {
        records,
        rejects,
        cursor: None,
    })
}

/// Parses a Gamma `/events/{id}` body: one event object.
pub fn parse_gamma_event(body: &[u8]) -> Result<GammaEvent, BodyError> {
    let obj = json::parse_envelope(body)?;
    Ok(parse_event(&obj)?)
}

fn parse_event(e: &Object<'_>) -> Result<GammaEvent, RejectReason> {
    let id = e.required_id("id")?;
    let items = match e.get("markets") {
        None => Vec::new(),
        Some(raw) => json::array_items(raw).ok_or(RejectReason::WrongType {
            field: "markets",
            expected: "array",
        })?,
    };
    let (markets, market_rejects) = parse_records(&items, KEY_FIELDS, parse_market);
    Ok(GammaEvent {
        id,
        slug: e.non_empty_string("slug")?,
        title: e.string("title")?,
        description: e.string("description")?,
        end_date: e.timestamp("endDate")?,
        active: e.bool("active")?,
        closed: e.bool("closed")?,
        markets,
        market_rejects,
    })
}

fn parse_market(m: &Object<'_>) -> Result<GammaMarket, RejectReason> {
    let condition_id = m.required_id("conditionId")?;
    let question = m.required_string("question")?;
    let description = m.required_string("description")?;
    let outcomes = outcomes(m)?;
    let end_date = m.required_timestamp("endDate")?;
    let active = m.required_bool("active")?;
    let closed = m.required_bool("closed")?;
    Ok(GammaMarket {
        id: m.non_empty_string("id")?,
        condition_id,
        question,
        slug: m.non_empty_string("slug")?,
        description,
        resolution_source: m.non_empty_string("resolutionSource")?,
        category: m.non_empty_string("category")?,
        outcomes,
        end_date,
        active,
        closed,
        archived: m.bool("archived")?,
        best_bid: price(m, "bestBid")?,
        best_ask: price(m, "bestAsk")?,
        last_trade_price: price(m, "lastTradePrice")?,
        volume: usd_statistic(m, "volume", "volumeNum")?,
        liquidity: usd_statistic(m, "liquidity", "liquidityNum")?,
    })
}

fn outcomes(m: &Object<'_>) -> Result<Vec<GammaOutcome>, RejectReason> {
    let names = encoded_array(m, "outcomes")?.ok_or(RejectReason::MissingField("outcomes"))?;
    let prices =
        encoded_array(m, "outcomePrices")?.ok_or(RejectReason::MissingField("outcomePrices"))?;
    let tokens = encoded_array(m, "clobTokenIds")?;
    if names.is_empty() {
        return Err(RejectReason::Inconsistent {
            field: "outcomes",
            detail: "no outcomes".to_string(),
        });
    }
    let mismatch = |field, len: usize| RejectReason::Inconsistent {
        field,
        detail: format!("len={len} outcomes={}", names.len()),
    };
    if prices.len() != names.len() {
        return Err(mismatch("outcomePrices", prices.len()));
    }
    if let Some(t) = &tokens {
        if t.len() != names.len() {
            return Err(mismatch("clobTokenIds", t.len()));
        }
    }
    let element_error = |field, i: usize, what: &str| RejectReason::BadEncodedJson {
        field,
        error: format!("element {i} is not {what}"),
    };
    let mut out = Vec::with_capacity(names.len());
    for (i, (name_raw, price_raw)) in names.iter().zip(&prices).enumerate() {
        let name = json::decode_string(name_raw)
            .ok_or_else(|| element_error("outcomes", i, "a string"))?;
        let text = json::decimal_text_of(price_raw)
            .ok_or_else(|| element_error("outcomePrices", i, "a decimal"))?;
        let price = Price::parse_dollars(&text).map_err(|error| RejectReason::BadDecimal {
            field: "outcomePrices",
            error,
        })?;
        let token_id = match &tokens {
            None => None,
            Some(t) => Some(
                json::decode_string(&t[i])
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| element_error("clobTokenIds", i, "a non-empty string"))?,
            ),
        };
        out.push(GammaOutcome {
            name,
            price,
            token_id,
        });
    }
    Ok(out)
}

/// The elements of a field holding a JSON array encoded in a string (or, tolerated, a plain
/// array); `None` when absent or `null`.
fn encoded_array(
    m: &Object<'_>,
    field: &'static str,
) -> Result<Option<Vec<Box<RawValue>>>, RejectReason> {
    let Some(raw) = m.get(field) else {
        return Ok(None);
    };
    let decoded = match json::kind(raw) {
        Kind::String => json::decode_string(raw).ok_or(RejectReason::WrongType {
            field,
            expected: "string",
        })?,
        Kind::Array => raw.get().to_string(),
        _ => {
            return Err(RejectReason::WrongType {
                field,
                expected: "JSON array encoded in a string",
            })
        }
    };
    serde_json::from_str::<Vec<Box<RawValue>>>(&decoded)
        .map(Some)
        .map_err(|e| RejectReason::BadEncodedJson {
            field,
            error: e.to_string(),
        })
}

fn price(m: &Object<'_>, field: &'static str) -> Result<Option<Price>, RejectReason> {
    match m.decimal_text(field)? {
        None => Ok(None),
        Some(text) => Price::parse_dollars(&text)
            .map(Some)
            .map_err(|error| RejectReason::BadDecimal { field, error }),
    }
}

/// A non-negative dollar statistic truncated to micro-dollars (see the module documentation),
/// from the string field if present, else from the number field.
fn usd_statistic(
    m: &Object<'_>,
    string_field: &'static str,
    number_field: &'static str,
) -> Result<Option<Usd>, RejectReason> {
    let (field, text) = match m.decimal_text(string_field)? {
        Some(text) => (string_field, text),
        None => match m.decimal_text(number_field)? {
            Some(text) => (number_field, text),
            None => return Ok(None),
        },
    };
    truncate_to_micros(&text)
        .map(Some)
        .map_err(|error| RejectReason::BadDecimal { field, error })
}

/// Parses a non-negative plain decimal, dropping digits beyond the sixth decimal.
fn truncate_to_micros(text: &str) -> Result<Usd, MoneyError> {
    let kept = match text.split_once('.') {
        Some((int, frac)) if frac.len() > 6 => {
            if !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(MoneyError::Malformed(text.to_string()));
            }
            format!("{int}.{}", &frac[..6])
        }
        _ => text.to_string(),
    };
    let micros = parse_decimal(&kept, 6).map_err(|e| match e {
        MoneyError::Malformed(_) => MoneyError::Malformed(text.to_string()),
        other => other,
    })?;
    if micros < 0 {
        return Err(MoneyError::OutOfRange(text.to_string()));
    }
    Ok(Usd(micros))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venues::rules_hash;

    fn market_json(overrides: &[(&str, Option<&str>)]) -> String {
        let mut fields: Vec<(String, String)> = [
            ("id", r#""540817""#),
            ("conditionId", r#""0xabc1""#),
            ("question", r#""Will it rain?""#),
            ("slug", r#""will-it-rain""#),
            ("description", r#""Resolves Yes if it rains.""#),
            ("resolutionSource", r#""""#),
            ("outcomes", r#""[\"Yes\", \"No\"]""#),
            ("outcomePrices", r#""[\"0.535\", \"0.465\"]""#),
            ("clobTokenIds", r#""[\"111\", \"222\"]""#),
            ("endDate", r#""2026-07-31T12:00:00Z""#),
            ("active", "true"),
            ("closed", "false"),
            ("archived", "false"),
            ("bestBid", "0.53"),
            ("bestAsk", "0.54"),
            ("lastTradePrice", "0.535"),
            ("volume", r#""832995.125818007""#),
            ("volumeNum", "832995.125818007"),
            ("liquidity", r#""13563.9726""#),
            ("liquidityNum", "13563.9726"),
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

    fn list(markets: &[String]) -> Vec<u8> {
        format!("[{}]", markets.join(",")).into_bytes()
    }

    fn price(units: i64) -> Price {
        Price::new(units).unwrap()
    }

    #[test]
    fn string_encoded_arrays_are_decoded_and_zipped() {
        let p = parse_gamma_markets(&list(&[market_json(&[])])).unwrap();
        assert!(p.rejects.is_empty(), "{:?}", p.rejects);
        let m = &p.records[0];
        assert_eq!(
            m.outcomes,
            [
                GammaOutcome {
                    name: "Yes".into(),
                    price: price(5350),
                    token_id: Some("111".into())
                },
                GammaOutcome {
                    name: "No".into(),
                    price: price(4650),
                    token_id: Some("222".into())
                },
            ]
        );
        assert_eq!(
            (m.best_bid, m.best_ask, m.last_trade_price),
            (Some(price(5300)), Some(price(5400)), Some(price(5350)))
        );
        assert_eq!(m.volume, Some(Usd(832_995_125_818)));
        assert_eq!(m.liquidity, Some(Usd(13_563_972_600)));
        assert_eq!(m.resolution_source, None);
        assert_eq!(p.cursor, None);
    }

    #[test]
    fn volume_falls_back_to_the_number_and_truncates_below_a_micro_dollar() {
        let m = parse_gamma_market(
            market_json(&[("volume", None), ("volumeNum", Some("95910.06507599966"))]).as_bytes(),
        )
        .unwrap();
        assert_eq!(m.volume, Some(Usd(95_910_065_075)));
        assert_eq!(truncate_to_micros("4.6"), Ok(Usd(4_600_000)));
        assert_eq!(truncate_to_micros("0"), Ok(Usd(0)));
        assert!(matches!(
            truncate_to_micros("1.2345678x"),
            Err(MoneyError::Malformed(_))
        ));
        assert!(matches!(
            truncate_to_micros("1e21"),
            Err(MoneyError::Malformed(_))
        ));
        assert!(matches!(
            truncate_to_micros("-1.0"),
            Err(MoneyError::OutOfRange(_))
        ));
    }

    #[test]
    fn missing_or_inconsistent_fields_reject_only_their_market() {
        let p = parse_gamma_markets(&list(&[
            market_json(&[("conditionId", None)]),
            market_json(&[("outcomePrices", Some(r#""[\"0.5\"]""#))]),
            market_json(&[("outcomes", Some(r#""[\"Yes\", \"No\"""#))]),
            market_json(&[("clobTokenIds", Some(r#""[\"111\"]""#))]),
            market_json(&[("endDate", None)]),
            market_json(&[("closed", Some(r#""false""#))]),
            market_json(&[("description", None)]),
            market_json(&[]),
        ]))
        .unwrap();
        assert_eq!(p.records.len(), 1);
        let rejects: Vec<(usize, Option<&str>, String)> = p
            .rejects
            .iter()
            .map(|r| (r.index, r.key.as_deref(), r.code()))
            .collect();
        assert_eq!(
            rejects,
            [
                (
                    0,
                    Some("will-it-rain"),
                    "MISSING_FIELD:conditionId".to_string()
                ),
                (1, Some("0xabc1"), "INCONSISTENT:outcomePrices".to_string()),
                (2, Some("0xabc1"), "BAD_ENCODED_JSON:outcomes".to_string()),
                (3, Some("0xabc1"), "INCONSISTENT:clobTokenIds".to_string()),
                (4, Some("0xabc1"), "MISSING_FIELD:endDate".to_string()),
                (5, Some("0xabc1"), "WRONG_TYPE:closed".to_string()),
                (6, Some("0xabc1"), "MISSING_FIELD:description".to_string()),
            ]
        );
    }

    #[test]
    fn prices_beyond_four_decimals_are_refused() {
        let p = parse_gamma_markets(&list(&[
            market_json(&[("outcomePrices", Some(r#""[\"0.58433\", \"0.41567\"]""#))]),
            market_json(&[("bestBid", Some("0.30000000000000004"))]),
            market_json(&[("bestAsk", Some("1.01"))]),
            // Numbers inside the encoded array and a plain (not string-encoded) array are read too.
            market_json(&[("outcomePrices", Some(r#"["0.5", 0.5]"#))]),
        ]))
        .unwrap();
        let codes: Vec<String> = p.rejects.iter().map(|r| r.code()).collect();
        assert_eq!(
            codes,
            [
                "BAD_DECIMAL:outcomePrices",
                "BAD_DECIMAL:bestBid",
                "BAD_DECIMAL:bestAsk"
            ]
        );
        assert!(p.rejects[0].detail().contains("DECIMAL_TOO_PRECISE"));
        assert_eq!(p.records[0].outcomes[1].price, price(5000));
    }

    #[test]
    fn a_body_that_is_not_an_array_is_refused_whole() {
        let code = |b: &[u8]| parse_gamma_markets(b).unwrap_err().code();
        assert_eq!(code(br#"{"data":[]}"#), "BODY_WRONG_TYPE:(body)");
        assert_eq!(code(b"[{"), "BODY_INVALID_JSON");
        assert_eq!(
            parse_gamma_market(b"[]").unwrap_err().code(),
            "BODY_WRONG_TYPE:(body)"
        );
    }

    #[test]
    fn events_keep_their_good_markets_and_count_the_bad_ones() {
        let body = format!(
            r#"[{{"id":"30829","slug":"e","title":"E","markets":[{},{}]}}]"#,
            market_json(&[]),
            market_json(&[("outcomes", None)])
        );
        let p = parse_gamma_events(body.as_bytes()).unwrap();
        assert!(p.rejects.is_empty());
        let e = &p.records[0];
        assert_eq!((e.markets.len(), e.market_rejects.len()), (1, 1));
        assert_eq!(e.market_rejects[0].code(), "MISSING_FIELD:outcomes");
    }

    #[test]
    fn rules_hash_covers_description_and_resolution_source() {
        let parse =
            |o: &[(&str, Option<&str>)]| parse_gamma_market(market_json(o).as_bytes()).unwrap();
        let base = rules_hash(&parse(&[]));
        assert_eq!(base, rules_hash(&parse(&[("bestBid", Some("0.1"))])));
        assert_eq!(base, rules_hash(&parse(&[("resolutionSource", None)])));
        assert_ne!(
            base,
            rules_hash(&parse(&[("resolutionSource", Some(r#""https://x""#))]))
        );
        assert_ne!(
            base,
            rules_hash(&parse(&[(
                "description",
                Some(r#""Resolves Yes if it snows.""#)
            )]))
        );
    }
}
