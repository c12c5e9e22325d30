//! The Polymarket universe: recorded Gamma markets plus synthetic copies of the open ones
//! (new ids, condition ids, token ids, slugs and prices) up to the requested number of open
//! markets, and a CLOB book for every outcome token of an open market.

use std::collections::HashMap;

use serde_json::{Number, Value};

use crate::decimal::{format_trimmed, ONE_DOLLAR, PRICE_SCALE};
use crate::fixtures::{str_field, Fixtures};
use crate::rng::Rng;
use crate::template::JsonTemplate;

/// Gamma `/markets` list recorded as a bare array.
const GAMMA_LIST: &str = "polymarket/drmanhattan_2026-06/gamma_markets_list.json";
/// Gamma market objects recorded one per file.
const GAMMA_SINGLES: &[&str] = &[
    "polymarket/nautilus/crates_test_data/gamma_market.json",
    "polymarket/nautilus/crates_test_data/gamma_market_closed_binary_accepting_false.json",
    "polymarket/nautilus/crates_test_data/gamma_market_closed_binary_accepting_true.json",
    "polymarket/nautilus/crates_test_data/gamma_market_closed_nonbinary_legacy.json",
    "polymarket/nautilus/crates_test_data/gamma_market_closed_zero_zero_legacy.json",
    "polymarket/nautilus/crates_test_data/gamma_market_sports_market_map_handicap.json",
    "polymarket/nautilus/crates_test_data/gamma_market_sports_market_money_line.json",
];
/// A recorded CLOB `GET /book` body.
const CLOB_BOOK: &str = "polymarket/nautilus/py_http_responses/book.json";

/// Synthetic market ids start here, far above the recorded ones.
const SYNTHETIC_ID_BASE: u64 = 9_000_000;
const SALT_MARKET: u64 = 0x504f_4c59_4d4b_5400; // "POLYMKT"
const SALT_BOOK: u64 = 0x504f_4c59_424f_4f4b; // "POLYBOOK"

#[derive(Debug, Clone)]
pub struct GammaMarket {
    pub id: String,
    pub closed: bool,
    pub active: bool,
    pub recorded: bool,
    /// The compact wire JSON of the market object.
    pub json: String,
}

/// One side of a CLOB book level: price and size as the CLOB prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClobLevel {
    pub price: String,
    pub size: String,
}

/// A CLOB `/book` body. Bids ascend and asks descend, so the best of each is last, as in
/// the recording.
#[derive(Debug, Clone)]
pub struct ClobBook {
    pub market: String,
    pub asset_id: String,
    pub bids: Vec<ClobLevel>,
    pub asks: Vec<ClobLevel>,
    pub hash: String,
    pub timestamp: String,
}

impl ClobBook {
    /// The body, keys in the recorded order.
    pub fn to_json(&self) -> String {
        let levels = |side: &[ClobLevel]| -> String {
            let items: Vec<String> = side
                .iter()
                .map(|l| {
                    format!(
                        "{{\"price\":{},\"size\":{}}}",
                        Value::String(l.price.clone()),
                        Value::String(l.size.clone())
                    )
                })
                .collect();
            format!("[{}]", items.join(","))
        };
        format!(
            "{{\"market\":{},\"asset_id\":{},\"bids\":{},\"asks\":{},\"hash\":{},\"timestamp\":{}}}",
            Value::String(self.market.clone()),
            Value::String(self.asset_id.clone()),
            levels(&self.bids),
            levels(&self.asks),
            Value::String(self.hash.clone()),
            Value::String(self.timestamp.clone()),
        )
    }
}

#[derive(Debug)]
pub struct Universe {
    pub markets: Vec<GammaMarket>,
    books: HashMap<String, ClobBook>,
}

impl Universe {
    /// The CLOB book of `token_id`, if that token has an order book.
    pub fn book(&self, token_id: &str) -> Option<&ClobBook> {
        self.books.get(token_id)
    }

    /// Loads the recordings and builds a universe with exactly `open_markets` markets that
    /// have `closed: false`, plus every recorded closed market.
    pub fn build(fixtures: &Fixtures, open_markets: usize, seed: u64) -> Result<Universe, String> {
        let mut recorded: Vec<Value> = fixtures.array(GAMMA_LIST, None)?;
        for file in GAMMA_SINGLES {
            recorded.push(fixtures.object(file, None)?);
        }
        let mut seen = std::collections::HashSet::new();
        recorded.retain(|m| seen.insert(m["id"].as_str().unwrap_or_default().to_string()));

        let open: Vec<&Value> = recorded.iter().filter(|m| !is_closed(m)).collect();
        if open.is_empty() {
            return Err("no recorded open Gamma market to build the universe from".into());
        }
        let mut kept_open = 0usize;
        let mut markets = Vec::new();
        let mut books = HashMap::new();
        let recorded_book = load_recorded_book(fixtures)?;
        books.insert(recorded_book.asset_id.clone(), recorded_book);
        for m in &recorded {
            let closed = is_closed(m);
            if !closed {
                if kept_open == open_markets {
                    continue;
                }
                kept_open += 1;
                let mut rng = Rng::for_item(seed, SALT_BOOK, markets.len() as u64);
                for book in books_for(&Quote::of(m)?, &mut rng) {
                    books.insert(book.asset_id.clone(), book);
                }
            }
            markets.push(GammaMarket {
                id: str_field(m, "id")?.to_string(),
                closed,
                active: m["active"].as_bool().unwrap_or(false),
                recorded: true,
                json: m.to_string(),
            });
        }
        let missing = open_markets.saturating_sub(open.len());
        let templates = if missing > 0 {
            open.iter()
                .map(|m| Template::of(m))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        for i in 0..missing {
            let template = &templates[i % templates.len()];
            let mut rng = Rng::for_item(seed, SALT_MARKET, i as u64);
            let (market, quote) = template.synthesize(i as u64, &mut rng);
            let mut rng = Rng::for_item(seed, SALT_BOOK, markets.len() as u64);
            for book in books_for(&quote, &mut rng) {
                books.insert(book.asset_id.clone(), book);
            }
            markets.push(market);
        }
        Ok(Universe { markets, books })
    }
}

fn is_closed(market: &Value) -> bool {
    market["closed"].as_bool().unwrap_or(false)
}

/// A JSON number for a price at scale 4 (e.g. `5200` → `0.52`).
fn price_number(units: i64) -> Value {
    Number::from_f64(units as f64 / ONE_DOLLAR as f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// A price field of a recorded market, at scale 4.
fn price_field(market: &Value, field: &str) -> Option<i64> {
    let number = market.get(field)?.as_f64()?;
    Some((number * ONE_DOLLAR as f64).round() as i64)
}

fn tick(market: &Value) -> i64 {
    price_field(market, "orderPriceMinTickSize")
        .filter(|&t| t > 0 && ONE_DOLLAR % t == 0)
        .unwrap_or(100)
}

/// What a CLOB book is built from: the first outcome's best bid and ask.
struct Quote {
    condition_id: String,
    tokens: Vec<String>,
    best_bid: Option<i64>,
    best_ask: Option<i64>,
    tick: i64,
}

impl Quote {
    fn of(market: &Value) -> Result<Quote, String> {
        let tokens: Vec<String> = match market["clobTokenIds"].as_str() {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| format!("market {}: clobTokenIds: {e}", market["id"]))?,
            None => Vec::new(),
        };
        Ok(Quote {
            condition_id: str_field(market, "conditionId")?.to_string(),
            tokens,
            best_bid: price_field(market, "bestBid"),
            best_ask: price_field(market, "bestAsk"),
            tick: tick(market),
        })
    }
}

/// Fields that differ between a synthetic copy and its recorded template, in the order
/// [`Template::synthesize`] supplies them.
const SYNTHETIC_FIELDS: &[&str] = &[
    "id",
    "slug",
    "conditionId",
    "questionID",
    "clobTokenIds",
    "outcomePrices",
    "bestBid",
    "bestAsk",
    "spread",
    "lastTradePrice",
    "volume",
    "volumeNum",
    "volumeClob",
    "liquidity",
    "liquidityNum",
    "liquidityClob",
];

/// A recorded open market to copy.
struct Template {
    slug: String,
    active: bool,
    tick: i64,
    json: JsonTemplate,
}

impl Template {
    fn of(market: &Value) -> Result<Template, String> {
        Ok(Template {
            slug: str_field(market, "slug")?.to_string(),
            active: market["active"].as_bool().unwrap_or(false),
            tick: tick(market),
            json: JsonTemplate::new(market, SYNTHETIC_FIELDS)?,
        })
    }

    /// Copy number `i`: new ids, tokens and slug, and a fresh quote.
    fn synthesize(&self, i: u64, rng: &mut Rng) -> (GammaMarket, Quote) {
        let step = self.tick;
        let ticks = ONE_DOLLAR / step;
        let bid = rng.range(1, ticks - 2) * step;
        let ask = bid + rng.range(1, 3.min(ticks - 1 - bid / step)) * step;
        // outcomePrices are the midpoint, which may fall between ticks ("0.505").
        let mid = (bid + ask) / 2;
        let last = rng.range(bid / step, ask / step) * step;
        // Volume and liquidity in micro-dollars, printed with up to 6 decimals.
        let volume = format_trimmed(rng.range(0, 5_000_000_000_000), 6);
        let liquidity = format_trimmed(rng.range(0, 200_000_000_000), 6);
        let tokens = vec![rng.decimal_digits(77), rng.decimal_digits(77)];
        let id = (SYNTHETIC_ID_BASE + i).to_string();
        let condition_id = format!("0x{}", rng.hex(64));
        let values = [
            Value::String(id.clone()),
            Value::String(format!("{}-sim-{i}", self.slug)),
            Value::String(condition_id.clone()),
            Value::String(format!("0x{}", rng.hex(64))),
            Value::String(format!("[\"{}\", \"{}\"]", tokens[0], tokens[1])),
            Value::String(format!(
                "[\"{}\", \"{}\"]",
                format_trimmed(mid, PRICE_SCALE),
                format_trimmed(ONE_DOLLAR - mid, PRICE_SCALE)
            )),
            price_number(bid),
            price_number(ask),
            price_number(ask - bid),
            price_number(last),
            Value::String(volume.clone()),
            decimal_number(&volume),
            decimal_number(&volume),
            Value::String(liquidity.clone()),
            decimal_number(&liquidity),
            decimal_number(&liquidity),
        ];
        let market = GammaMarket {
            id,
            closed: false,
            active: self.active,
            recorded: false,
            json: self.json.render(&values),
        };
        let quote = Quote {
            condition_id,
            tokens,
            best_bid: Some(bid),
            best_ask: Some(ask),
            tick: step,
        };
        (market, quote)
    }
}

/// The JSON number with the same digits as a plain decimal string (always valid here: the
/// strings come from [`format_trimmed`]).
fn decimal_number(text: &str) -> Value {
    serde_json::from_str::<Number>(text)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Books for both outcome tokens, consistent with `bestBid`/`bestAsk` of the first outcome:
/// the second outcome's bid is `1 − bestAsk` and its ask `1 − bestBid`.
fn books_for(quote: &Quote, rng: &mut Rng) -> Vec<ClobBook> {
    let (Some(bid), Some(ask)) = (quote.best_bid, quote.best_ask) else {
        return Vec::new();
    };
    if quote.tokens.len() != 2 {
        return Vec::new();
    }
    let step = quote.tick;
    let quotes = [(bid, ask), (ONE_DOLLAR - ask, ONE_DOLLAR - bid)];
    let mut books = Vec::new();
    for (token, (best_bid, best_ask)) in quote.tokens.iter().zip(quotes) {
        let mut side = |best: i64, direction: i64| -> Vec<ClobLevel> {
            let mut levels = Vec::new();
            let mut price = best;
            for _ in 0..rng.range(1, 5) {
                if price <= 0 || price >= ONE_DOLLAR {
                    break;
                }
                levels.push(ClobLevel {
                    price: format_trimmed(price, PRICE_SCALE),
                    size: format_trimmed(rng.range(10, 500_000), 2),
                });
                price += direction * step * rng.range(1, 3);
            }
            levels.reverse();
            levels
        };
        let bids = side(best_bid, -1);
        let asks = side(best_ask, 1);
        books.push(ClobBook {
            market: quote.condition_id.clone(),
            asset_id: token.clone(),
            bids,
            asks,
            hash: rng.hex(40),
            // Fixed, so repeated fetches return identical bytes.
            timestamp: "1781159354508".to_string(),
        });
    }
    books
}

fn load_recorded_book(fixtures: &Fixtures) -> Result<ClobBook, String> {
    let v = fixtures.object(CLOB_BOOK, None)?;
    let levels = |key: &str| -> Result<Vec<ClobLevel>, String> {
        v[key]
            .as_array()
            .ok_or_else(|| format!("fixture {CLOB_BOOK}: no {key}"))?
            .iter()
            .map(|l| {
                Ok(ClobLevel {
                    price: str_field(l, "price")?.to_string(),
                    size: str_field(l, "size")?.to_string(),
                })
            })
            .collect()
    };
    Ok(ClobBook {
        market: str_field(&v, "market")?.to_string(),
        asset_id: str_field(&v, "asset_id")?.to_string(),
        bids: levels("bids")?,
        asks: levels("asks")?,
        hash: str_field(&v, "hash")?.to_string(),
        timestamp: str_field(&v, "timestamp")?.to_string(),
    })
}
