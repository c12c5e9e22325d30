//! Kalshi Trade API v2: public market data (markets, one market, its order book, events) and
//! the signed portfolio routes (orders, positions, fills, settlements, balance). Bodies are the
//! recorded wire shapes (compact JSON, keys sorted as in the 2026 recordings).

pub mod auth;
pub mod trading;
pub mod universe;

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{json, Value};

use crate::fixtures::Fixtures;
use crate::http::{percent_decode, Request, Response};
use crate::paging;
use universe::{Market, Universe};

/// Path prefix of the Trade API; the Worker's `KALSHI_BASE_URL` ends with it.
pub const PREFIX: &str = "/trade-api/v2";

/// The recorded answer to `GET /markets?limit=1001` (a bare `{"msg"}` validation error).
const LIMIT_OVER_MAX_FIXTURE: &str = "kalshi/fortuna_demo_2026-06/markets__limit_over_max.json";

const MARKETS_DEFAULT_LIMIT: usize = 100;
const MARKETS_MAX_LIMIT: usize = 1000;
const EVENTS_DEFAULT_LIMIT: usize = 200;
const EVENTS_MAX_LIMIT: usize = 200;

/// Sub-resources of `/markets` that exist on the venue but are not simulated; they must not
/// be mistaken for a ticker and answered "market not found".
const UNSIMULATED_MARKET_ROUTES: &[&str] = &["trades", "candlesticks", "orderbooks"];

pub struct Kalshi {
    pub universe: Universe,
    pub auth: auth::KalshiAuth,
    pub trading: trading::Trading,
    limit_over_max_body: Vec<u8>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Kalshi {
    pub fn build(
        fixtures: &Fixtures,
        open_markets: usize,
        seed: u64,
        key: Option<auth::KeyConfig>,
    ) -> Result<Kalshi, String> {
        Ok(Kalshi {
            universe: Universe::build(fixtures, open_markets, seed)?,
            auth: auth::KalshiAuth::build(fixtures, key)?,
            trading: trading::Trading::build(fixtures)?,
            limit_over_max_body: fixtures.bytes(LIMIT_OVER_MAX_FIXTURE)?,
        })
    }

    /// A market's status and JSON as served now: a market settled through the control API is
    /// `finalized` with its result, whatever was recorded; rules replaced through the control
    /// API are served in place of the recorded ones, and so are a title or close time replaced
    /// there.
    fn view<'a>(
        &self,
        market: &'a Market,
        settled: &HashMap<String, trading::Settled>,
    ) -> (&'a str, Cow<'a, str>) {
        let (status, json) = match settled.get(&market.ticker) {
            Some(s) => (
                "finalized",
                Cow::Owned(trading::settled_market_json(&market.json, s)),
            ),
            None => (market.status.as_str(), Cow::Borrowed(market.json.as_str())),
        };
        let (status, json) = match self.trading.rules_primary(&market.ticker) {
            Some(text) => (
                status,
                Cow::Owned(trading::with_rules_primary(&json, &text)),
            ),
            None => (status, json),
        };
        match self.trading.listing(&market.ticker) {
            Some(fields) => (status, Cow::Owned(trading::with_fields(&json, &fields))),
            None => (status, json),
        }
    }

    /// The signed `/portfolio/*` routes; `None` when the path is not one.
    fn handle_portfolio(&self, req: &Request, segments: &[&str]) -> Option<Response> {
        let known = matches!(
            segments,
            ["portfolio", "orders"]
                | ["portfolio", "orders", _]
                | ["portfolio", "positions"]
                | ["portfolio", "fills"]
                | ["portfolio", "settlements"]
                | ["portfolio", "balance"]
        );
        if !known {
            return None;
        }
        if let Err(failure) = self.auth.verify(req, now_ms()) {
            return Some(self.auth.refusal(failure));
        }
        Some(match (req.method.as_str(), segments) {
            ("POST", ["portfolio", "orders"]) => {
                let ticker = serde_json::from_slice::<Value>(&req.body)
                    .ok()
                    .and_then(|v| v.get("ticker").and_then(Value::as_str).map(str::to_string));
                let market = ticker.as_deref().and_then(|t| self.universe.market(t));
                self.trading.create(req, market)
            }
            ("GET", ["portfolio", "orders"]) => self.trading.list_orders(req),
            ("GET", ["portfolio", "orders", id]) => self.trading.get_order(id),
            ("DELETE", ["portfolio", "orders", id]) => self.trading.cancel(id),
            ("GET", ["portfolio", "positions"]) => self.trading.positions(req),
            ("GET", ["portfolio", "fills"]) => self.trading.list_fills(req),
            ("GET", ["portfolio", "settlements"]) => self.trading.settlements(req),
            ("GET", ["portfolio", "balance"]) => self.trading.balance(),
            _ => error(405, "method_not_allowed", "method not allowed"),
        })
    }

    /// Answers a request under [`PREFIX`]; `None` when no simulated route matches.
    pub fn handle(&self, req: &Request) -> Option<Response> {
        let rest = req.path.strip_prefix(PREFIX)?;
        let segments: Vec<String> = rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        if segments.first() == Some(&"portfolio") {
            return self.handle_portfolio(req, &segments);
        }
        let route_exists = match segments.as_slice() {
            ["markets"] | ["events"] | ["events", _] => true,
            ["markets", t] | ["markets", t, "orderbook"] => !UNSIMULATED_MARKET_ROUTES.contains(t),
            _ => false,
        };
        if !route_exists {
            return None;
        }
        if req.method != "GET" {
            return Some(error(405, "method_not_allowed", "method not allowed"));
        }
        Some(match segments.as_slice() {
            ["markets"] => self.list_markets(req),
            ["markets", ticker] => self.get_market(ticker),
            ["markets", ticker, "orderbook"] => self.orderbook(req, ticker),
            ["events"] => self.list_events(req),
            ["events", event_ticker] => self.get_event(req, event_ticker),
            _ => return None,
        })
    }

    fn list_markets(&self, req: &Request) -> Response {
        let limit = match parse_limit(req, "GetMarkets", MARKETS_DEFAULT_LIMIT) {
            Ok(l) if l > MARKETS_MAX_LIMIT => {
                return Response::new(400, "application/json", self.limit_over_max_body.clone())
            }
            Ok(l) => l,
            Err(resp) => return resp,
        };
        let statuses = match parse_status(req, "GetMarkets", MARKET_STATUS_FILTERS) {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        let event = req.query_param("event_ticker").filter(|v| !v.is_empty());
        let series = req.query_param("series_ticker").filter(|v| !v.is_empty());
        let tickers: Option<Vec<String>> = req
            .query_param("tickers")
            .filter(|v| !v.is_empty())
            .map(|v| v.split(',').map(str::to_string).collect());
        let mve = req.query_param("mve_filter").filter(|v| !v.is_empty());
        if let Some(m) = mve.as_deref() {
            if m != "only" && m != "exclude" {
                return validation_error("GetMarkets", "MveFilter", "oneof");
            }
        }
        let settled = self.trading.settled_all();
        let selected: Vec<&Market> = self
            .universe
            .markets
            .iter()
            .filter(|m| {
                statuses
                    .map(|s| s.contains(&self.view(m, &settled).0))
                    .unwrap_or(true)
            })
            .filter(|m| {
                event
                    .as_deref()
                    .map(|e| m.event_ticker == e)
                    .unwrap_or(true)
            })
            .filter(|m| {
                series
                    .as_deref()
                    .map(|s| m.series_ticker == s)
                    .unwrap_or(true)
            })
            .filter(|m| {
                tickers
                    .as_ref()
                    .map(|t| t.contains(&m.ticker))
                    .unwrap_or(true)
            })
            .filter(|m| match mve.as_deref() {
                Some("only") => m.mve,
                Some("exclude") => !m.mve,
                _ => true,
            })
            .collect();
        // An unknown cursor silently restarts from the first page: recorded venue behaviour
        // (markets__garbage_cursor.json answered 200 with page one).
        let offset = cursor_offset(req);
        let (range, next) = paging::page(selected.len(), offset, limit);
        let mut body = String::with_capacity(range.len() * 2600 + 64);
        body.push_str("{\"cursor\":");
        body.push_str(&Value::String(next).to_string());
        body.push_str(",\"markets\":[");
        for (i, market) in selected[range].iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&self.view(market, &settled).1);
        }
        body.push_str("]}");
        Response::new(200, "application/json", body.into_bytes())
    }

    fn get_market(&self, ticker: &str) -> Response {
        match self.universe.market(ticker) {
            Some(m) => {
                let settled = self.trading.settled_all();
                Response::new(
                    200,
                    "application/json",
                    format!("{{\"market\":{}}}", self.view(m, &settled).1).into_bytes(),
                )
            }
            None => not_found(),
        }
    }

    fn orderbook(&self, req: &Request, ticker: &str) -> Response {
        let Some(market) = self.universe.market(ticker) else {
            return not_found();
        };
        let depth = match req.query_param("depth").filter(|v| !v.is_empty()) {
            None => 0,
            Some(v) => match v.parse::<usize>() {
                Ok(d) if d <= 100 => d,
                _ => return validation_error("GetMarketOrderbook", "Depth", "lte"),
            },
        };
        // A settled market has no book.
        if self.trading.settled(ticker).is_some() {
            return Response::json(
                200,
                &json!({"orderbook_fp": {"yes_dollars": [], "no_dollars": []}}),
            );
        }
        // Best bids are last; a depth keeps the best `depth` levels of each side.
        let side = |levels: &[universe::Level]| -> Value {
            let skip = if depth == 0 {
                0
            } else {
                levels.len().saturating_sub(depth)
            };
            json!(levels[skip..])
        };
        Response::json(
            200,
            &json!({"orderbook_fp": {"yes_dollars": side(&market.book.yes), "no_dollars": side(&market.book.no)}}),
        )
    }

    fn list_events(&self, req: &Request) -> Response {
        let limit = match parse_limit(req, "GetEvents", EVENTS_DEFAULT_LIMIT) {
            Ok(l) if l > EVENTS_MAX_LIMIT => return validation_error("GetEvents", "Limit", "lte"),
            Ok(l) => l,
            Err(resp) => return resp,
        };
        let statuses = match parse_status(req, "GetEvents", EVENT_STATUS_FILTERS) {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        let series = req.query_param("series_ticker").filter(|v| !v.is_empty());
        let nested = flag(req, "with_nested_markets");
        let settled = self.trading.settled_all();
        let selected: Vec<&universe::Event> = self
            .universe
            .events
            .iter()
            // GET /events excludes multivariate events (they have their own endpoint).
            .filter(|e| !e.mve)
            .filter(|e| {
                series
                    .as_deref()
                    .map(|s| e.series_ticker == s)
                    .unwrap_or(true)
            })
            .filter(|e| match statuses {
                Some(s) => e
                    .markets
                    .iter()
                    .any(|&i| s.contains(&self.view(&self.universe.markets[i], &settled).0)),
                None => true,
            })
            .collect();
        let (range, next) = paging::page(selected.len(), cursor_offset(req), limit);
        let events: Vec<Value> = selected[range]
            .iter()
            .map(|e| self.event_json(e, nested))
            .collect();
        Response::json(
            200,
            &json!({"cursor": next, "events": events, "milestones": []}),
        )
    }

    fn get_event(&self, req: &Request, event_ticker: &str) -> Response {
        let Some(event) = self.universe.event(event_ticker) else {
            return not_found();
        };
        // Default: markets beside the event; with_nested_markets=true: inside it, and the
        // top-level list empty (as recorded in events__event_ticker.json).
        let nested = flag(req, "with_nested_markets");
        let markets = if nested {
            Vec::new()
        } else {
            self.markets_of(event)
        };
        Response::json(
            200,
            &json!({"event": self.event_json(event, nested), "markets": markets}),
        )
    }

    fn event_json(&self, event: &universe::Event, nested: bool) -> Value {
        let mut body = event.body.clone();
        if nested {
            body.insert("markets".into(), Value::Array(self.markets_of(event)));
        }
        Value::Object(body)
    }

    fn markets_of(&self, event: &universe::Event) -> Vec<Value> {
        let settled = self.trading.settled_all();
        event
            .markets
            .iter()
            .map(|&i| {
                serde_json::from_str(&self.view(&self.universe.markets[i], &settled).1)
                    .expect("universe markets are serialised JSON")
            })
            .collect()
    }
}

/// `status` filter values and the market statuses each selects (the responses use the
/// lifecycle words: `status=open` returns `active` markets, `closed` returned `determined`
/// ones and `settled` `finalized` ones in the recordings).
const MARKET_STATUS_FILTERS: &[(&str, &[&str])] = &[
    ("unopened", &["initialized"]),
    ("open", &["active"]),
    ("paused", &["inactive"]),
    ("closed", &["closed", "determined", "disputed", "amended"]),
    ("settled", &["finalized"]),
];

/// Events have no `paused` filter.
const EVENT_STATUS_FILTERS: &[(&str, &[&str])] = &[
    ("unopened", &["initialized"]),
    ("open", &["active"]),
    ("closed", &["closed", "determined", "disputed", "amended"]),
    ("settled", &["finalized"]),
];

fn parse_limit(req: &Request, operation: &str, default: usize) -> Result<usize, Response> {
    match req.query_param("limit").filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => match v.parse::<i64>() {
            // limit=0 is "omitted" to the venue's validator (omitempty).
            Ok(0) => Ok(default),
            Ok(n) if n > 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            Ok(_) => Err(validation_error(operation, "Limit", "gte")),
            Err(_) => Err(Response::json(
                400,
                &json!({"msg": format!("Invalid format for parameter limit: error binding string parameter: strconv.ParseInt: parsing \"{v}\": invalid syntax")}),
            )),
        },
    }
}

fn parse_status(
    req: &Request,
    operation: &str,
    table: &'static [(&'static str, &'static [&'static str])],
) -> Result<Option<&'static [&'static str]>, Response> {
    match req.query_param("status").filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => table
            .iter()
            .find(|(name, _)| *name == v)
            .map(|(_, statuses)| Some(*statuses))
            .ok_or_else(|| validation_error(operation, "Status", "oneof")),
    }
}

fn cursor_offset(req: &Request) -> usize {
    req.query_param("cursor")
        .and_then(|c| paging::decode_cursor(&c))
        .unwrap_or(0)
}

fn flag(req: &Request, name: &str) -> bool {
    req.query_param(name)
        .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
        .unwrap_or(false)
}

/// The bare `{"msg"}` layout Kalshi uses for parameter validation failures, worded like the
/// recorded `limit=1001` answer.
fn validation_error(operation: &str, field: &str, tag: &str) -> Response {
    Response::json(
        400,
        &json!({"msg": format!("Parameter validation failed for {operation}: Key: '{operation}Params.{field}' Error:Field validation for '{field}' failed on the '{tag}' tag")}),
    )
}

/// Kalshi's nested error layout.
pub fn error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// The recorded 404 body (`cleanup__leftover_0.json`): nested layout with `service`.
fn not_found() -> Response {
    Response::json(
        404,
        &json!({"error": {"code": "not_found", "message": "not found", "service": "exchange"}}),
    )
}
