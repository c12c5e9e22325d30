//! Kalshi orders and portfolio: `POST/GET /portfolio/orders`, `GET/DELETE
//! /portfolio/orders/{id}`, `GET /portfolio/positions`, `/portfolio/fills`,
//! `/portfolio/settlements`, `/portfolio/balance`, in the recorded wire shapes.
//!
//! Matching: an order takes liquidity from the served book as a taker — buying YES takes the
//! YES asks (`1 − NO bid`), best first, while the ask is at or below the limit; buying NO takes
//! `1 − YES bid`; selling hits the side's bids at or above the limit. Each level taken is one
//! fill at that level's price, paying the taker fee `0.07 × contracts × P × (1 − P)` rounded up
//! to the cent (the rule the Worker's paper execution uses; the live venue rounds to the
//! centicent, see `fills__after_taker.json`). What does not cross rests (good-till-canceled)
//! or is cancelled (immediate-or-cancel; fill-or-kill when it cannot fill in full). Resting
//! orders never fill later: there are no other traders. Fills do not deplete the served book,
//! so every order sees the same book the Worker ingested.
//!
//! Positions net the two sides as Kalshi does (`position_fp` positive = YES, negative = NO):
//! acquiring the side opposite to the one held closes pairs that pay $1 each.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::{json, Map, Value};

use crate::decimal::{format_fixed, parse_fixed, COUNT_SCALE, ONE_DOLLAR, PRICE_SCALE};
use crate::fixtures::Fixtures;
use crate::http::Request;
use crate::http::Response;
use crate::paging;

use super::universe::Market;

/// Starting cash: $10,000 in micro-dollars.
pub const DEFAULT_BALANCE_MICROS: i64 = 10_000_000_000;
const USER_ID: &str = "00000000-0000-4000-8000-00000000517e";
const DIR: &str = "kalshi/fortuna_demo_2026-06/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Yes,
    No,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Yes => "yes",
            Side::No => "no",
        }
    }
    fn other(self) -> Side {
        match self {
            Side::Yes => Side::No,
            Side::No => Side::Yes,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Buy,
    Sell,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Buy => "buy",
            Action::Sell => "sell",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tif {
    Gtc,
    Ioc,
    Fok,
}

/// The leg an order acquires: `buy S @ p` → `S @ p`; `sell S @ p` → `other(S) @ 1 − p`.
fn leg(side: Side, action: Action, price: i64) -> (Side, i64) {
    match action {
        Action::Buy => (side, price),
        Action::Sell => (side.other(), ONE_DOLLAR - price),
    }
}

/// Taker fee in micro-dollars: `ceil(7·q·p·(1−p) / 10¹⁰)` cents (q in hundredths, p at scale 4).
pub fn taker_fee_micros(price: i64, qty: i64) -> i64 {
    let num = 7 * i128::from(qty) * i128::from(price) * i128::from(ONE_DOLLAR - price);
    let cents = (num + 9_999_999_999) / 10_000_000_000;
    (cents as i64) * 10_000
}

#[derive(Debug, Clone)]
struct Order {
    order_id: String,
    client_order_id: String,
    ticker: String,
    side: Side,
    action: Action,
    /// Limit price of `side`.
    price: i64,
    initial: i64,
    filled: i64,
    remaining: i64,
    status: &'static str,
    taker_fees: i64,
    taker_cost: i64,
    created_ms: i64,
    updated_ms: i64,
    stp: Option<String>,
}

#[derive(Debug, Clone)]
struct Fill {
    fill_id: String,
    order_id: String,
    ticker: String,
    side: Side,
    action: Action,
    qty: i64,
    /// Price of `side`.
    price: i64,
    fee: i64,
    ts_ms: i64,
}

#[derive(Debug, Clone, Default)]
struct Position {
    event_ticker: String,
    /// Signed hundredths: YES positive.
    position: i64,
    /// Cost of the open contracts (micro-dollars).
    cost: i64,
    total_traded: i64,
    fees: i64,
    realized: i64,
    updated_ms: i64,
}

#[derive(Debug, Clone)]
struct Settlement {
    ticker: String,
    event_ticker: String,
    result: String,
    yes_count: i64,
    no_count: i64,
    yes_cost: i64,
    no_cost: i64,
    revenue_cents: i64,
    fees: i64,
    ts_ms: i64,
}

/// A market settled through the control API.
#[derive(Debug, Clone)]
pub struct Settled {
    pub result: String,
    pub ts_ms: i64,
}

struct State {
    cash: i64,
    orders: Vec<Order>,
    by_client: HashMap<String, usize>,
    by_id: HashMap<String, usize>,
    fills: Vec<Fill>,
    positions: BTreeMap<String, Position>,
    settlements: Vec<Settlement>,
    settled: HashMap<String, Settled>,
    /// `rules_primary` texts replaced through the control API, by ticker.
    rules_primary: HashMap<String, String>,
    /// `title` / `close_time` replaced through the control API, by ticker.
    listing: HashMap<String, Map<String, Value>>,
    /// Orders whose fills are left out of their create response (the venue still books them).
    drop_fills: u64,
    dropped: u64,
    seq: u64,
}

impl State {
    fn new(cash: i64) -> State {
        State {
            cash,
            orders: Vec::new(),
            by_client: HashMap::new(),
            by_id: HashMap::new(),
            fills: Vec::new(),
            positions: BTreeMap::new(),
            settlements: Vec::new(),
            settled: HashMap::new(),
            rules_primary: HashMap::new(),
            listing: HashMap::new(),
            drop_fills: 0,
            dropped: 0,
            seq: 0,
        }
    }

    fn next_id(&mut self, kind: u16) -> String {
        self.seq += 1;
        format!("{:08x}-{kind:04x}-4000-8000-{:012x}", self.seq, self.seq)
    }
}

/// Recorded bodies the order routes answer with.
struct Bodies {
    duplicate: Vec<u8>,
    not_found: Vec<u8>,
    insufficient_balance: Vec<u8>,
    invalid_price: Vec<u8>,
    post_only_cross: Vec<u8>,
}

pub struct Trading {
    state: Mutex<State>,
    bodies: Bodies,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn rfc3339(ms: i64) -> String {
    // Civil date from days since the epoch (Howard Hinnant's algorithm), to avoid a clock crate.
    let secs = ms.div_euclid(1000);
    let micros = ms.rem_euclid(1000) * 1000;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

fn price_str(p: i64) -> String {
    format_fixed(p, PRICE_SCALE)
}
fn count_str(c: i64) -> String {
    format_fixed(c, COUNT_SCALE)
}
fn dollars6(micros: i64) -> String {
    format_fixed(micros, 6)
}
fn dollars4(micros: i64) -> String {
    // Truncated to the centicent, as the venue's balance strings are.
    format_fixed(micros / 100, 4)
}

fn nested(status: u16, code: &str, message: &str, details: Option<&str>) -> Response {
    let mut error = json!({"code": code, "message": message, "service": "exchange"});
    if let Some(d) = details {
        error["details"] = json!(d);
        error.as_object_mut().map(|o| o.remove("service"));
    }
    Response::json(status, &json!({ "error": error }))
}

/// The flat `{"code","message","details"}` layout the venue uses for undecodable bodies.
fn bad_request(details: &str) -> Response {
    Response::json(
        400,
        &json!({"code": "bad_request", "message": "bad request", "details": details}),
    )
}

fn validation(operation: &str, field: &str, tag: &str) -> Response {
    Response::json(
        400,
        &json!({"msg": format!("Parameter validation failed for {operation}: Key: '{operation}Params.{field}' Error:Field validation for '{field}' failed on the '{tag}' tag")}),
    )
}

/// What a create request asked for.
struct NewOrder {
    ticker: String,
    client_order_id: String,
    side: Side,
    action: Action,
    count: i64,
    price: i64,
    tif: Tif,
    post_only: bool,
    reduce_only: bool,
    stp: Option<String>,
}

fn parse_new_order(body: &[u8], invalid_price: &[u8]) -> Result<NewOrder, Response> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad_request(&format!("invalid character in request body: {e}")))?;
    let Value::Object(o) = value else {
        return Err(bad_request(
            "json: cannot unmarshal non-object into Go value of type CreateOrderRequest",
        ));
    };
    let string = |k: &str| -> Result<Option<String>, Response> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad_request(&format!(
                "json: cannot unmarshal non-string into Go struct field CreateOrderRequest.{k} of type string"
            ))),
        }
    };
    let int = |k: &str| -> Result<Option<i64>, Response> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                bad_request(&format!("json: cannot unmarshal number into Go struct field CreateOrderRequest.{k} of type int"))
            }),
            Some(_) => Err(bad_request(&format!(
                "json: cannot unmarshal string into Go struct field CreateOrderRequest.{k} of type int"
            ))),
        }
    };
    let flag = |k: &str| -> Result<bool, Response> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(bad_request(&format!(
                "json: cannot unmarshal into Go struct field CreateOrderRequest.{k} of type bool"
            ))),
        }
    };
    let ticker = string("ticker")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| validation("CreateOrder", "Ticker", "required"))?;
    let side = match string("side")?.as_deref() {
        Some("yes") => Side::Yes,
        Some("no") => Side::No,
        _ => return Err(validation("CreateOrder", "Side", "oneof")),
    };
    let action = match string("action")?.as_deref() {
        Some("buy") => Action::Buy,
        Some("sell") => Action::Sell,
        _ => return Err(validation("CreateOrder", "Action", "oneof")),
    };
    if let Some(t) = string("type")? {
        if t != "limit" {
            return Err(nested(
                400,
                "invalid_order",
                "invalid order",
                Some("only limit orders are simulated"),
            ));
        }
    }
    let count_fp = string("count_fp")?
        .map(|s| parse_fixed(&s, COUNT_SCALE).ok_or_else(|| bad_request("invalid count_fp")))
        .transpose()?;
    let count_int = int("count")?.map(|c| c * 100);
    let count = match (count_fp, count_int) {
        (Some(a), Some(b)) if a != b => {
            return Err(nested(
                400,
                "invalid_order",
                "invalid order",
                Some("count and count_fp disagree"),
            ))
        }
        (Some(c), _) | (None, Some(c)) => c,
        (None, None) => return Err(validation("CreateOrder", "Count", "required")),
    };
    if count <= 0 {
        return Err(validation("CreateOrder", "Count", "gte"));
    }
    let dollars = |k: &str| -> Result<Option<i64>, Response> {
        string(k)?
            .map(|s| {
                parse_fixed(&s, PRICE_SCALE).ok_or_else(|| bad_request(&format!("invalid {k}")))
            })
            .transpose()
    };
    let yes = match (dollars("yes_price_dollars")?, int("yes_price")?) {
        (Some(p), _) => Some(p),
        (None, Some(c)) => Some(c * 100),
        _ => None,
    };
    let no = match (dollars("no_price_dollars")?, int("no_price")?) {
        (Some(p), _) => Some(p),
        (None, Some(c)) => Some(c * 100),
        _ => None,
    };
    // The order's price is that of its own side; a price given for the other side is converted.
    let price = match (side, yes, no) {
        (_, Some(_), Some(_)) => {
            return Err(nested(
                400,
                "invalid_order",
                "invalid order",
                Some("give one of yes_price or no_price"),
            ))
        }
        (Side::Yes, Some(p), None) | (Side::No, None, Some(p)) => p,
        (Side::Yes, None, Some(p)) | (Side::No, Some(p), None) => ONE_DOLLAR - p,
        (_, None, None) => return Err(validation("CreateOrder", "YesPrice", "required_without")),
    };
    let tif = match string("time_in_force")?.as_deref() {
        None | Some("good_till_canceled") => Tif::Gtc,
        Some("immediate_or_cancel") => Tif::Ioc,
        Some("fill_or_kill") => Tif::Fok,
        Some(_) => return Err(validation("CreateOrder", "TimeInForce", "oneof")),
    };
    if price <= 0 || price >= ONE_DOLLAR {
        return Err(Response::new(
            400,
            "application/json",
            invalid_price.to_vec(),
        ));
    }
    Ok(NewOrder {
        ticker,
        client_order_id: string("client_order_id")?.unwrap_or_default(),
        side,
        action,
        count,
        price,
        tif,
        post_only: flag("post_only")?,
        reduce_only: flag("reduce_only")?,
        stp: string("self_trade_prevention_type")?,
    })
}

/// The levels an order can take, best first: (price of the order's side, count).
fn takeable(market: &Market, side: Side, action: Action) -> Vec<(i64, i64)> {
    let parse = |levels: &[[String; 2]]| -> Vec<(i64, i64)> {
        levels
            .iter()
            .filter_map(|[p, c]| Some((parse_fixed(p, PRICE_SCALE)?, parse_fixed(c, COUNT_SCALE)?)))
            .collect()
    };
    let (bids, complement) = match (side, action) {
        (Side::Yes, Action::Buy) => (parse(&market.book.no), true),
        (Side::No, Action::Buy) => (parse(&market.book.yes), true),
        (Side::Yes, Action::Sell) => (parse(&market.book.yes), false),
        (Side::No, Action::Sell) => (parse(&market.book.no), false),
    };
    bids.into_iter()
        .rev()
        .map(|(p, c)| (if complement { ONE_DOLLAR - p } else { p }, c))
        .collect()
}

impl Trading {
    pub fn build(fixtures: &Fixtures) -> Result<Trading, String> {
        let read = |name: &str| fixtures.bytes(&format!("{DIR}{name}"));
        Ok(Trading {
            state: Mutex::new(State::new(DEFAULT_BALANCE_MICROS)),
            bodies: Bodies {
                duplicate: read("orders__duplicate_client_order_id.json")?,
                not_found: read("orders__cancel_unknown_id.json")?,
                insufficient_balance: read("orders__insufficient_balance.json")?,
                invalid_price: read("orders__invalid_price_structure.json")?,
                post_only_cross: read("orders__post_only_cross.json")?,
            },
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("trading state lock")
    }

    /// Forgets every order, fill, position and settlement and restores the starting cash.
    pub fn reset(&self) {
        *self.lock() = State::new(DEFAULT_BALANCE_MICROS);
    }

    /// Replaces a market's `rules_primary` as served from now on (a venue editing its rules).
    pub fn set_rules_primary(&self, ticker: &str, text: &str) {
        self.lock()
            .rules_primary
            .insert(ticker.to_string(), text.to_string());
    }

    /// Replaces fields of a market's listing (`title`, `close_time`) as served from now on.
    pub fn set_listing(&self, ticker: &str, fields: Map<String, Value>) {
        self.lock()
            .listing
            .entry(ticker.to_string())
            .or_default()
            .extend(fields);
    }

    /// The replaced listing fields of `ticker`, if any.
    pub fn listing(&self, ticker: &str) -> Option<Map<String, Value>> {
        self.lock().listing.get(ticker).cloned()
    }

    /// The replaced `rules_primary` of `ticker`, if any.
    pub fn rules_primary(&self, ticker: &str) -> Option<String> {
        self.lock().rules_primary.get(ticker).cloned()
    }

    pub fn set_balance(&self, micros: i64) {
        self.lock().cash = micros;
    }

    /// The next `n` orders that fill leave their fills out of the create response.
    pub fn set_drop_fills(&self, n: u64) {
        self.lock().drop_fills = n;
    }

    pub fn settled(&self, ticker: &str) -> Option<Settled> {
        self.lock().settled.get(ticker).cloned()
    }

    pub fn settled_all(&self) -> HashMap<String, Settled> {
        self.lock().settled.clone()
    }

    pub fn summary(&self) -> Value {
        let s = self.lock();
        json!({
            "balance_dollars": dollars6(s.cash),
            "orders": s.orders.len(),
            "fills": s.fills.len(),
            "positions": s.positions.iter().filter(|(_, p)| p.position != 0).count(),
            "settlements": s.settlements.len(),
            "settled_markets": s.settled.len(),
            "drop_fills_remaining": s.drop_fills,
            "dropped_fill_orders": s.dropped,
        })
    }

    fn order_json(o: &Order, reported_filled: Option<i64>) -> Value {
        let filled = reported_filled.unwrap_or(o.filled);
        let (status, remaining) = match reported_filled {
            // A dropped-fill acknowledgement: what the order would look like had nothing filled.
            Some(0) if o.filled > 0 => (
                if o.status == "resting" {
                    "resting"
                } else {
                    "canceled"
                },
                if o.status == "resting" { o.initial } else { 0 },
            ),
            _ => (o.status, o.remaining),
        };
        let (leg_side, _) = leg(o.side, o.action, o.price);
        let yes_price = match o.side {
            Side::Yes => o.price,
            Side::No => ONE_DOLLAR - o.price,
        };
        let mut v = json!({
            "action": o.action.as_str(),
            "book_side": if leg_side == Side::Yes { "bid" } else { "ask" },
            "client_order_id": o.client_order_id,
            "created_time": rfc3339(o.created_ms),
            "fill_count_fp": count_str(filled),
            "initial_count_fp": count_str(o.initial),
            "last_update_time": rfc3339(o.updated_ms),
            "maker_fees_dollars": dollars6(0),
            "maker_fill_cost_dollars": dollars6(0),
            "no_price_dollars": price_str(ONE_DOLLAR - yes_price),
            "order_id": o.order_id,
            "outcome_side": leg_side.as_str(),
            "remaining_count_fp": count_str(remaining),
            "side": o.side.as_str(),
            "status": status,
            "subaccount_number": 0,
            "taker_fees_dollars": dollars6(if reported_filled == Some(0) { 0 } else { o.taker_fees }),
            "taker_fill_cost_dollars": dollars6(if reported_filled == Some(0) { 0 } else { o.taker_cost }),
            "ticker": o.ticker,
            "type": "limit",
            "user_id": USER_ID,
            "yes_price_dollars": price_str(yes_price),
        });
        if let Some(stp) = &o.stp {
            v["self_trade_prevention_type"] = json!(stp);
        }
        v
    }

    fn fill_json(f: &Fill) -> Value {
        let (leg_side, _) = leg(f.side, f.action, f.price);
        let yes = match f.side {
            Side::Yes => f.price,
            Side::No => ONE_DOLLAR - f.price,
        };
        json!({
            "action": f.action.as_str(),
            "book_side": if leg_side == Side::Yes { "bid" } else { "ask" },
            "count_fp": count_str(f.qty),
            "created_time": rfc3339(f.ts_ms),
            "fee_cost": dollars6(f.fee),
            "fill_id": f.fill_id,
            "is_taker": true,
            "market_ticker": f.ticker,
            "no_price_dollars": price_str(ONE_DOLLAR - yes),
            "order_id": f.order_id,
            "outcome_side": leg_side.as_str(),
            "side": f.side.as_str(),
            "subaccount_number": 0,
            "ticker": f.ticker,
            "trade_id": f.fill_id,
            "ts": f.ts_ms / 1000,
            "yes_price_dollars": price_str(yes),
        })
    }

    /// `POST /portfolio/orders`.
    pub fn create(&self, req: &Request, market: Option<&Market>) -> Response {
        let new = match parse_new_order(&req.body, &self.bodies.invalid_price) {
            Ok(n) => n,
            Err(resp) => return resp,
        };
        let Some(market) = market.filter(|m| m.ticker == new.ticker) else {
            return Response::new(404, "application/json", self.bodies.not_found.clone());
        };
        let mut s = self.lock();
        if !new.client_order_id.is_empty() && s.by_client.contains_key(&new.client_order_id) {
            return Response::new(409, "application/json", self.bodies.duplicate.clone());
        }
        if market.status != "active" || s.settled.contains_key(&market.ticker) {
            return nested(400, "market_closed", "market closed", None);
        }
        let levels = takeable(market, new.side, new.action);
        let crosses = |p: i64| match new.action {
            Action::Buy => p <= new.price,
            Action::Sell => p >= new.price,
        };
        if new.post_only && levels.first().is_some_and(|(p, _)| crosses(*p)) {
            return Response::new(400, "application/json", self.bodies.post_only_cross.clone());
        }
        let mut want = new.count;
        let held = s.positions.get(&new.ticker).map_or(0, |p| p.position);
        if new.reduce_only {
            let (leg_side, _) = leg(new.side, new.action, new.price);
            let reducible = match leg_side {
                Side::Yes if held < 0 => -held,
                Side::No if held > 0 => held,
                _ => 0,
            };
            want = want.min(reducible);
            if want == 0 {
                return nested(
                    400,
                    "invalid_order",
                    "invalid order",
                    Some("reduce only order would increase position"),
                );
            }
        }
        // Plan the fills.
        let mut plan: Vec<(i64, i64, i64)> = Vec::new(); // (price, qty, fee)
        let mut left = want;
        for (price, qty) in levels {
            if left == 0 || !crosses(price) {
                break;
            }
            let take = left.min(qty);
            plan.push((price, take, taker_fee_micros(price, take)));
            left -= take;
        }
        if new.tif == Tif::Fok && left > 0 {
            plan.clear();
        }
        // Cash check: what the fills cost, less the $1 pairs they close.
        let mut cash = s.cash;
        let mut pos = held;
        for (price, qty, fee) in &plan {
            let (leg_side, leg_price) = leg(new.side, new.action, *price);
            cash -= leg_price * qty + fee;
            let delta = if leg_side == Side::Yes { *qty } else { -qty };
            let closed = if pos.signum() != 0 && pos.signum() != delta.signum() {
                pos.abs().min(qty.abs())
            } else {
                0
            };
            cash += closed * ONE_DOLLAR;
            pos += delta;
        }
        if cash < 0 {
            return Response::new(
                400,
                "application/json",
                self.bodies.insufficient_balance.clone(),
            );
        }

        let now = now_ms();
        let order_id = s.next_id(0x0a);
        let filled: i64 = plan.iter().map(|(_, q, _)| q).sum();
        let remaining = match new.tif {
            Tif::Gtc => new.count - filled,
            Tif::Ioc | Tif::Fok => 0,
        };
        let status = if filled == new.count {
            "executed"
        } else if new.tif == Tif::Gtc {
            "resting"
        } else {
            "canceled"
        };
        let mut order = Order {
            order_id: order_id.clone(),
            client_order_id: new.client_order_id.clone(),
            ticker: new.ticker.clone(),
            side: new.side,
            action: new.action,
            price: new.price,
            initial: new.count,
            filled,
            remaining,
            status,
            taker_fees: 0,
            taker_cost: 0,
            created_ms: now,
            updated_ms: now,
            stp: new.stp.clone(),
        };
        for (price, qty, fee) in plan {
            let fill_id = s.next_id(0x0f);
            order.taker_fees += fee;
            order.taker_cost += price * qty;
            apply_fill(
                &mut s,
                &market.event_ticker,
                &new.ticker,
                new.side,
                new.action,
                price,
                qty,
                fee,
                now,
            );
            s.fills.push(Fill {
                fill_id,
                order_id: order_id.clone(),
                ticker: new.ticker.clone(),
                side: new.side,
                action: new.action,
                qty,
                price,
                fee,
                ts_ms: now,
            });
        }
        let drop = filled > 0 && s.drop_fills > 0;
        if drop {
            s.drop_fills -= 1;
            s.dropped += 1;
        }
        let body = json!({"order": Self::order_json(&order, drop.then_some(0))});
        let index = s.orders.len();
        if !order.client_order_id.is_empty() {
            s.by_client.insert(order.client_order_id.clone(), index);
        }
        s.by_id.insert(order_id, index);
        s.orders.push(order);
        Response::json(201, &body)
    }

    /// `GET /portfolio/orders/{id}`.
    pub fn get_order(&self, order_id: &str) -> Response {
        let s = self.lock();
        match s.by_id.get(order_id) {
            Some(&i) => {
                Response::json(200, &json!({"order": Self::order_json(&s.orders[i], None)}))
            }
            None => Response::new(404, "application/json", self.bodies.not_found.clone()),
        }
    }

    /// `DELETE /portfolio/orders/{id}`: only a resting order can be cancelled; anything else
    /// (unknown, executed, already cancelled) is the recorded 404.
    pub fn cancel(&self, order_id: &str) -> Response {
        let mut s = self.lock();
        let Some(&i) = s.by_id.get(order_id) else {
            return Response::new(404, "application/json", self.bodies.not_found.clone());
        };
        let o = &mut s.orders[i];
        if o.status != "resting" {
            return Response::new(404, "application/json", self.bodies.not_found.clone());
        }
        let reduced = o.remaining;
        o.remaining = 0;
        o.status = "canceled";
        o.updated_ms = now_ms();
        let body = json!({"order": Self::order_json(o, None), "reduced_by_fp": count_str(reduced)});
        Response::json(200, &body)
    }

    /// `GET /portfolio/orders`, newest first.
    pub fn list_orders(&self, req: &Request) -> Response {
        let limit = match limit(req, "GetOrders", 100, 1000) {
            Ok(l) => l,
            Err(r) => return r,
        };
        let status = req.query_param("status").filter(|v| !v.is_empty());
        if let Some(st) = status.as_deref() {
            if !["resting", "canceled", "executed"].contains(&st) {
                return validation("GetOrders", "Status", "oneof");
            }
        }
        let ticker = req.query_param("ticker").filter(|v| !v.is_empty());
        let s = self.lock();
        let selected: Vec<&Order> = s
            .orders
            .iter()
            .rev()
            .filter(|o| ticker.as_deref().is_none_or(|t| o.ticker == t))
            .filter(|o| status.as_deref().is_none_or(|st| o.status == st))
            .collect();
        let (range, next) = paging::page(selected.len(), offset(req), limit);
        let orders: Vec<Value> = selected[range]
            .iter()
            .map(|o| Self::order_json(o, None))
            .collect();
        Response::json(200, &json!({"cursor": next, "orders": orders}))
    }

    /// `GET /portfolio/fills`, newest first; `limit` at most 200.
    pub fn list_fills(&self, req: &Request) -> Response {
        let limit = match limit(req, "GetFills", 100, 200) {
            Ok(l) => l,
            Err(r) => return r,
        };
        let ticker = req.query_param("ticker").filter(|v| !v.is_empty());
        let order_id = req.query_param("order_id").filter(|v| !v.is_empty());
        let ts = |k: &str| req.query_param(k).and_then(|v| v.parse::<i64>().ok());
        let (min_ts, max_ts) = (ts("min_ts"), ts("max_ts"));
        let s = self.lock();
        let selected: Vec<&Fill> = s
            .fills
            .iter()
            .rev()
            .filter(|f| ticker.as_deref().is_none_or(|t| f.ticker == t))
            .filter(|f| order_id.as_deref().is_none_or(|o| f.order_id == o))
            .filter(|f| min_ts.is_none_or(|m| f.ts_ms / 1000 >= m))
            .filter(|f| max_ts.is_none_or(|m| f.ts_ms / 1000 <= m))
            .collect();
        let (range, next) = paging::page(selected.len(), offset(req), limit);
        let fills: Vec<Value> = selected[range].iter().map(|f| Self::fill_json(f)).collect();
        Response::json(200, &json!({"cursor": next, "fills": fills}))
    }

    /// `GET /portfolio/positions`: every market ever traded (`count_filter=position` keeps the
    /// non-zero ones), with the event positions they add up to.
    pub fn positions(&self, req: &Request) -> Response {
        let limit = match limit(req, "GetPositions", 100, 1000) {
            Ok(l) => l,
            Err(r) => return r,
        };
        let ticker = req.query_param("ticker").filter(|v| !v.is_empty());
        let only_open = req
            .query_param("count_filter")
            .is_some_and(|v| v.split(',').any(|f| f == "position"));
        let s = self.lock();
        let selected: Vec<(&String, &Position)> = s
            .positions
            .iter()
            .filter(|(t, _)| ticker.as_deref().is_none_or(|x| *t == x))
            .filter(|(_, p)| !only_open || p.position != 0)
            .collect();
        let (range, next) = paging::page(selected.len(), offset(req), limit);
        let page = &selected[range];
        let markets: Vec<Value> = page
            .iter()
            .map(|(t, p)| {
                json!({
                    "fees_paid_dollars": dollars6(p.fees),
                    "last_updated_ts": rfc3339(p.updated_ms),
                    "market_exposure_dollars": dollars6(p.cost),
                    "position_fp": count_str(p.position),
                    "realized_pnl_dollars": dollars6(p.realized),
                    "resting_orders_count": 0,
                    "ticker": t,
                    "total_traded_dollars": dollars6(p.total_traded),
                })
            })
            .collect();
        let mut events: BTreeMap<&str, (i64, i64, i64, i64, i64)> = BTreeMap::new();
        for (_, p) in page {
            let e = events.entry(p.event_ticker.as_str()).or_default();
            e.0 += p.cost;
            e.1 += p.fees;
            e.2 += p.realized;
            e.3 += p.total_traded;
            e.4 += p.position.abs();
        }
        let events: Vec<Value> = events
            .into_iter()
            .map(|(e, (exposure, fees, realized, traded, shares))| {
                json!({
                    "event_exposure_dollars": dollars6(exposure),
                    "event_ticker": e,
                    "fees_paid_dollars": dollars6(fees),
                    "realized_pnl_dollars": dollars6(realized),
                    "total_cost_dollars": dollars6(traded),
                    "total_cost_shares_fp": count_str(shares),
                })
            })
            .collect();
        Response::json(
            200,
            &json!({"cursor": next, "event_positions": events, "market_positions": markets}),
        )
    }

    /// `GET /portfolio/settlements`, newest first.
    pub fn settlements(&self, req: &Request) -> Response {
        let limit = match limit(req, "GetSettlements", 100, 1000) {
            Ok(l) => l,
            Err(r) => return r,
        };
        let ticker = req.query_param("ticker").filter(|v| !v.is_empty());
        let s = self.lock();
        let selected: Vec<&Settlement> = s
            .settlements
            .iter()
            .rev()
            .filter(|x| ticker.as_deref().is_none_or(|t| x.ticker == t))
            .collect();
        let (range, next) = paging::page(selected.len(), offset(req), limit);
        let rows: Vec<Value> = selected[range]
            .iter()
            .map(|x| {
                json!({
                    "event_ticker": x.event_ticker,
                    "fee_cost": dollars4(x.fees),
                    "market_result": x.result,
                    "no_count_fp": count_str(x.no_count),
                    "no_total_cost_dollars": dollars4(x.no_cost),
                    "revenue": x.revenue_cents,
                    "settled_time": rfc3339(x.ts_ms),
                    "ticker": x.ticker,
                    "value": if x.result == "yes" { 100 } else { 0 },
                    "yes_count_fp": count_str(x.yes_count),
                    "yes_total_cost_dollars": dollars4(x.yes_cost),
                })
            })
            .collect();
        Response::json(200, &json!({"cursor": next, "settlements": rows}))
    }

    /// `GET /portfolio/balance`: integer cents (truncated) beside `balance_dollars`.
    pub fn balance(&self) -> Response {
        let s = self.lock();
        let value: i64 = s.positions.values().map(|p| p.cost).sum();
        Response::json(
            200,
            &json!({
                "balance": s.cash / 10_000,
                "balance_breakdown": [{"balance": dollars4(s.cash), "exchange_index": 0}],
                "balance_dollars": dollars4(s.cash),
                "portfolio_value": value / 10_000,
                "updated_ts": now_ms() / 1000,
            }),
        )
    }

    /// Resolves a market: cancels its resting orders, pays $1 per winning contract, records a
    /// settlement row for a held position, and marks the market settled for market data.
    pub fn settle(&self, market: &Market, result: &str) -> Result<Value, (u16, String)> {
        if result != "yes" && result != "no" {
            return Err((400, "result must be \"yes\" or \"no\"".into()));
        }
        let mut s = self.lock();
        if s.settled.contains_key(&market.ticker) {
            return Err((409, format!("{} is already settled", market.ticker)));
        }
        let now = now_ms();
        let mut cancelled = 0;
        for o in s
            .orders
            .iter_mut()
            .filter(|o| o.ticker == market.ticker && o.status == "resting")
        {
            o.status = "canceled";
            o.remaining = 0;
            o.updated_ms = now;
            cancelled += 1;
        }
        let mut settlements = 0;
        if let Some(p) = s.positions.get(&market.ticker).cloned() {
            if p.position != 0 {
                let (yes_count, no_count) = if p.position > 0 {
                    (p.position, 0)
                } else {
                    (0, -p.position)
                };
                let won = if result == "yes" { yes_count } else { no_count };
                let payout = won * ONE_DOLLAR;
                s.cash += payout;
                let row = Settlement {
                    ticker: market.ticker.clone(),
                    event_ticker: market.event_ticker.clone(),
                    result: result.to_string(),
                    yes_count,
                    no_count,
                    yes_cost: if yes_count > 0 { p.cost } else { 0 },
                    no_cost: if no_count > 0 { p.cost } else { 0 },
                    revenue_cents: won,
                    fees: p.fees,
                    ts_ms: now,
                };
                s.settlements.push(row);
                let entry = s
                    .positions
                    .get_mut(&market.ticker)
                    .expect("position exists");
                entry.realized += payout - entry.cost;
                entry.cost = 0;
                entry.position = 0;
                entry.updated_ms = now;
                settlements = 1;
            }
        }
        s.settled.insert(
            market.ticker.clone(),
            Settled {
                result: result.to_string(),
                ts_ms: now,
            },
        );
        Ok(json!({
            "ticker": market.ticker,
            "result": result,
            "settlements": settlements,
            "cancelled_orders": cancelled,
        }))
    }
}

/// Books one fill into cash and the market's position.
#[allow(clippy::too_many_arguments)]
fn apply_fill(
    s: &mut State,
    event_ticker: &str,
    ticker: &str,
    side: Side,
    action: Action,
    price: i64,
    qty: i64,
    fee: i64,
    now: i64,
) {
    let (leg_side, leg_price) = leg(side, action, price);
    let cost = leg_price * qty;
    s.cash -= cost + fee;
    let p = s
        .positions
        .entry(ticker.to_string())
        .or_insert_with(|| Position {
            event_ticker: event_ticker.to_string(),
            ..Position::default()
        });
    let delta = if leg_side == Side::Yes { qty } else { -qty };
    let closing = p.position != 0 && p.position.signum() != delta.signum();
    let closed = if closing {
        p.position.abs().min(qty)
    } else {
        0
    };
    if closed > 0 {
        // Each closed pair pays $1; the closed part of the held cost and of this fill's cost
        // are realised.
        let held_cost = p.cost * closed / p.position.abs();
        let fill_part = leg_price * closed;
        s.cash += closed * ONE_DOLLAR;
        p.realized += closed * ONE_DOLLAR - held_cost - fill_part;
        p.cost -= held_cost;
    }
    p.cost += leg_price * (qty - closed);
    p.position += delta;
    p.total_traded += cost;
    p.fees += fee;
    p.updated_ms = now;
}

fn limit(req: &Request, operation: &str, default: usize, max: usize) -> Result<usize, Response> {
    match req.query_param("limit").filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(0) => Ok(default),
            Ok(n) if n < 0 => Err(validation(operation, "Limit", "gte")),
            Ok(n) if n as usize > max => Err(validation(operation, "Limit", "lte")),
            Ok(n) => Ok(n as usize),
            Err(_) => Err(Response::json(
                400,
                &json!({"msg": format!("Invalid format for parameter limit: error binding string parameter: strconv.ParseInt: parsing \"{v}\": invalid syntax")}),
            )),
        },
    }
}

fn offset(req: &Request) -> usize {
    req.query_param("cursor")
        .and_then(|c| paging::decode_cursor(&c))
        .unwrap_or(0)
}

/// The served market object of a settled market: `finalized`, with its result.
/// `json_text` (a market object) with its `rules_primary` replaced by `text`.
pub fn with_rules_primary(json_text: &str, text: &str) -> String {
    let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(json_text) else {
        return json_text.to_string();
    };
    m.insert("rules_primary".to_string(), json!(text));
    Value::Object(m).to_string()
}

/// The market's JSON with `fields` replaced.
pub fn with_fields(json_text: &str, fields: &Map<String, Value>) -> String {
    let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(json_text) else {
        return json_text.to_string();
    };
    m.extend(fields.clone());
    Value::Object(m).to_string()
}

pub fn settled_market_json(json_text: &str, settled: &Settled) -> String {
    let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(json_text) else {
        return json_text.to_string();
    };
    let yes_value = if settled.result == "yes" {
        ONE_DOLLAR
    } else {
        0
    };
    let set = |m: &mut Map<String, Value>, k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    set(&mut m, "status", json!("finalized"));
    set(&mut m, "result", json!(settled.result));
    set(
        &mut m,
        "settlement_value_dollars",
        json!(price_str(yes_value)),
    );
    set(&mut m, "settlement_ts", json!(rfc3339(settled.ts_ms)));
    Value::Object(m).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_round_up_to_the_cent() {
        assert_eq!(taker_fee_micros(5200, 100), 20_000);
        assert_eq!(taker_fee_micros(5000, 10_000), 1_750_000);
        assert_eq!(taker_fee_micros(9900, 100), 10_000);
        assert_eq!(taker_fee_micros(0, 100), 0);
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(1_781_159_370_164), "2026-06-11T06:29:30.164000Z");
    }
}
