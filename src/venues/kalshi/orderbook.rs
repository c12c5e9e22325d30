//! Kalshi order books (`GET /markets/{ticker}/orderbook`).
//!
//! Kalshi lists only bids on each side, ascending by price, best bid last; a YES ask is
//! `1 − best NO bid` and a NO ask is `1 − best YES bid`. Two wire shapes are read:
//! - current: `{"orderbook_fp":{"yes_dollars":[["0.7800","45938.68"],…],"no_dollars":[…]}}`;
//! - transitional (Jan 2026): `{"orderbook":{"yes":[[78,45938],…],"no":…,"yes_dollars":…,
//!   "no_dollars":…}}`, where each side is taken from `*_dollars` when present, else from the
//!   integer-cent list.
//!
//! Counts in a dollar-priced level may be fixed-point strings or whole-contract integers (both
//! are exact); in a cent-priced level they must be integers.
//!
//! A side that is absent or `null` is empty. A book with a malformed level, a non-positive size,
//! prices that are not strictly ascending, or crossed sides (best YES bid + best NO bid > $1) is
//! refused whole: a corrupt book must not feed a price to the risk governor.

use crate::core::money::{MoneyError, Price, Qty, PRICE_SCALE};
use crate::venues::json::{self, Kind, Object};
use crate::venues::{BodyError, RejectReason};
use serde_json::value::RawValue;

/// One price level: a bid of `qty` contracts at `price`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub price: Price,
    pub qty: Qty,
}

/// Bids on both sides, each ascending by price (best bid last), as the venue lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Orderbook {
    pub yes_bids: Vec<Level>,
    pub no_bids: Vec<Level>,
}

impl Orderbook {
    pub fn best_yes_bid(&self) -> Option<Level> {
        self.yes_bids.last().copied()
    }

    pub fn best_no_bid(&self) -> Option<Level> {
        self.no_bids.last().copied()
    }

    /// The cheapest YES on offer: `1 − best NO bid`, for that bid's size.
    pub fn best_yes_ask(&self) -> Option<Level> {
        self.best_no_bid().map(complement)
    }

    /// The cheapest NO on offer: `1 − best YES bid`, for that bid's size.
    pub fn best_no_ask(&self) -> Option<Level> {
        self.best_yes_bid().map(complement)
    }

    pub fn is_empty(&self) -> bool {
        self.yes_bids.is_empty() && self.no_bids.is_empty()
    }
}

fn complement(level: Level) -> Level {
    Level {
        price: level.price.complement(),
        qty: level.qty,
    }
}

/// Parses an order-book body in either the current or the transitional shape.
pub fn parse_orderbook_response(body: &[u8]) -> Result<Orderbook, BodyError> {
    let env = json::parse_envelope(body)?;
    let book = if let Some(raw) = env.get("orderbook_fp") {
        let fp = Object::parse(raw)?;
        Orderbook {
            yes_bids: side(&fp, "yes_dollars", Units::Dollars)?,
            no_bids: side(&fp, "no_dollars", Units::Dollars)?,
        }
    } else if let Some(raw) = env.get("orderbook") {
        let legacy = Object::parse(raw)?;
        let pick = |dollars: &'static str, cents: &'static str| {
            if legacy.has(dollars) {
                side(&legacy, dollars, Units::Dollars)
            } else {
                side(&legacy, cents, Units::Cents)
            }
        };
        Orderbook {
            yes_bids: pick("yes_dollars", "yes")?,
            no_bids: pick("no_dollars", "no")?,
        }
    } else {
        return Err(BodyError::MissingField("orderbook_fp"));
    };
    if let (Some(yes), Some(no)) = (book.best_yes_bid(), book.best_no_bid()) {
        if yes.price.units() + no.price.units() > PRICE_SCALE {
            return Err(BodyError::Record(RejectReason::Inconsistent {
                field: "orderbook",
                detail: format!(
                    "crossed best_yes_bid={} best_no_bid={}",
                    yes.price, no.price
                ),
            }));
        }
    }
    Ok(book)
}

#[derive(Clone, Copy)]
enum Units {
    /// `["0.7800", "45938.68"]`: dollar string, count as fp string or whole-contract integer.
    Dollars,
    /// `[78, 45938]`: integer cents, whole-contract integer.
    Cents,
}

fn side(obj: &Object<'_>, field: &'static str, units: Units) -> Result<Vec<Level>, RejectReason> {
    let Some(raw) = obj.get(field) else {
        return Ok(Vec::new());
    };
    let items = json::array_items(raw).ok_or(RejectReason::WrongType {
        field,
        expected: "array of [price, count]",
    })?;
    let mut levels: Vec<Level> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let level = level(item, field, units, i)?;
        if let Some(prev) = levels.last() {
            if level.price <= prev.price {
                return Err(RejectReason::Inconsistent {
                    field,
                    detail: format!("level={i} price={} not above {}", level.price, prev.price),
                });
            }
        }
        levels.push(level);
    }
    Ok(levels)
}

fn level(
    raw: &RawValue,
    field: &'static str,
    units: Units,
    i: usize,
) -> Result<Level, RejectReason> {
    let shape = || RejectReason::WrongType {
        field,
        expected: "[price, count] pair",
    };
    let pair = json::array_items(raw).ok_or_else(shape)?;
    let [price_raw, count_raw] = pair.as_slice() else {
        return Err(shape());
    };
    let bad = |error| RejectReason::BadDecimal { field, error };
    let price = match units {
        Units::Dollars => {
            let text = json::decode_string(price_raw).ok_or_else(shape)?;
            Price::parse_dollars(&text).map_err(bad)?
        }
        Units::Cents => {
            let cents: i64 = serde_json::from_str(price_raw.get()).map_err(|_| shape())?;
            Price::from_cents(cents)
                .ok_or_else(|| bad(MoneyError::OutOfRange(cents.to_string())))?
        }
    };
    let qty = match json::kind(count_raw) {
        Kind::String if matches!(units, Units::Dollars) => {
            let text = json::decode_string(count_raw).ok_or_else(shape)?;
            Qty::parse_fp(&text).map_err(bad)?
        }
        Kind::Number => {
            let n: i64 = serde_json::from_str(count_raw.get()).map_err(|_| shape())?;
            Qty::contracts(n).ok_or_else(|| bad(MoneyError::Overflow(n.to_string())))?
        }
        _ => return Err(shape()),
    };
    if qty.units() <= 0 {
        return Err(RejectReason::Inconsistent {
            field,
            detail: format!("level={i} count={qty} not positive"),
        });
    }
    Ok(Level { price, qty })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(units: i64) -> Price {
        Price::new(units).unwrap()
    }

    #[test]
    fn best_prices_come_from_the_last_level_and_asks_from_the_other_side() {
        let book = parse_orderbook_response(
            br#"{"orderbook_fp":{"yes_dollars":[["0.7800","10.00"],["0.8000","16529.55"]],
                 "no_dollars":[["0.1700","1.00"],["0.1900","375864.43"]]}}"#,
        )
        .unwrap();
        assert_eq!(
            book.best_yes_bid(),
            Some(Level {
                price: p(8000),
                qty: Qty(1_652_955)
            })
        );
        assert_eq!(
            book.best_yes_ask(),
            Some(Level {
                price: p(8100),
                qty: Qty(37_586_443)
            })
        );
        assert_eq!(book.best_no_ask().map(|l| l.price), Some(p(2000)));
    }

    #[test]
    fn one_side_may_be_empty_absent_or_null() {
        for body in [
            &br#"{"orderbook_fp":{"yes_dollars":[["0.4700","3.00"]],"no_dollars":[]}}"#[..],
            br#"{"orderbook_fp":{"yes_dollars":[["0.4700","3.00"]]}}"#,
            br#"{"orderbook_fp":{"yes_dollars":[["0.4700","3.00"]],"no_dollars":null}}"#,
        ] {
            let book = parse_orderbook_response(body).unwrap();
            assert_eq!(book.best_yes_bid().map(|l| l.price), Some(p(4700)));
            assert_eq!(book.best_no_bid(), None);
            assert_eq!(
                book.best_yes_ask(),
                None,
                "no NO bids means nothing to buy YES from"
            );
            assert_eq!(book.best_no_ask().map(|l| l.price), Some(p(5300)));
        }
        let empty = parse_orderbook_response(br#"{"orderbook_fp":{}}"#).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn transitional_books_prefer_dollar_levels_and_fall_back_to_cents() {
        let book = parse_orderbook_response(
            br#"{"orderbook":{"yes":[[41,5],[42,7]],"yes_dollars":[["0.4150",5],["0.4200","7.50"]],
                 "no":[[55,2]],"no_dollars":null}}"#,
        )
        .unwrap();
        assert_eq!(
            book.yes_bids,
            [
                Level {
                    price: p(4150),
                    qty: Qty(500)
                },
                Level {
                    price: p(4200),
                    qty: Qty(750)
                }
            ]
        );
        assert_eq!(
            book.no_bids,
            [Level {
                price: p(5500),
                qty: Qty(200)
            }]
        );
        let nulls = br#"{"orderbook":{"no":null,"no_dollars":null,"yes":null,"yes_dollars":null}}"#;
        assert!(parse_orderbook_response(nulls).unwrap().is_empty());
    }

    #[test]
    fn corrupt_books_are_refused_whole() {
        let code = |b: &[u8]| parse_orderbook_response(b).unwrap_err().code();
        assert_eq!(
            code(br#"{"orderbook_fp":{"yes_dollars":[["0.5000","1.00"],["0.4900","1.00"]]}}"#),
            "INCONSISTENT:yes_dollars"
        );
        assert_eq!(
            code(br#"{"orderbook_fp":{"yes_dollars":[["0.5000","0.00"]]}}"#),
            "INCONSISTENT:yes_dollars"
        );
        assert_eq!(
            code(br#"{"orderbook_fp":{"no_dollars":[["0.50001","1.00"]]}}"#),
            "BAD_DECIMAL:no_dollars"
        );
        assert_eq!(
            code(br#"{"orderbook_fp":{"no_dollars":[["0.5000"]]}}"#),
            "WRONG_TYPE:no_dollars"
        );
        assert_eq!(
            code(br#"{"orderbook_fp":{"no_dollars":[[0.5, "1.00"]]}}"#),
            "WRONG_TYPE:no_dollars"
        );
        assert_eq!(
            code(br#"{"orderbook_fp":{"yes_dollars":[["0.6000","1.00"]],"no_dollars":[["0.4100","1.00"]]}}"#),
            "INCONSISTENT:orderbook"
        );
        assert_eq!(code(br#"{"market":{}}"#), "BODY_MISSING_FIELD:orderbook_fp");
        assert_eq!(code(br#"{"orderbook_fp":"#), "BODY_INVALID_JSON");
    }
}
