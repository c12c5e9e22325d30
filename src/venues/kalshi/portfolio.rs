//! Kalshi portfolio and order bodies: `GET /portfolio/positions`, `/portfolio/fills`,
//! `/portfolio/settlements`, `/portfolio/balance`, `/portfolio/orders` (list and one), the
//! `POST /portfolio/orders` answer, and the create-order request body.
//!
//! Counts are read from `*_fp` strings, prices and amounts from `*_dollars` strings; the
//! transitional integer fields (`position`, `count`, `yes_price`, `fees_paid` in cents, …) are
//! used only when the string is absent (Jan 2026 recordings). Positions are signed the venue's
//! way: `position_fp` positive means YES contracts, negative NO.
//!
//! Reconciliation must see *everything*, so a caller that gets a page with any reject treats
//! the read as failed (see `core::reconcile`); the parsers still keep the good records so the
//! failure can say which record was bad.

use crate::core::money::{MoneyError, Price, Qty, Usd};
use crate::core::orders::{VenueOrderView, VenueStatus};
use crate::core::risk::{Action, Approved, Side};
use crate::venues::json::{self, Object};
use crate::venues::{parse_records, BodyError, PageParse, RejectReason};
use chrono::{DateTime, Utc};
use serde_json::json;

/// One row of `market_positions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketPosition {
    pub ticker: String,
    /// YES positive, NO negative.
    pub position: Qty,
    pub market_exposure: Usd,
    pub realized_pnl: Usd,
    pub fees_paid: Usd,
    pub total_traded: Usd,
    pub last_updated: Option<DateTime<Utc>>,
}

/// One fill of `GET /portfolio/fills`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueFill {
    pub fill_id: String,
    pub order_id: String,
    pub ticker: String,
    pub side: Side,
    pub action: Action,
    pub qty: Qty,
    pub yes_price: Price,
    pub no_price: Price,
    pub fee: Usd,
    pub is_taker: Option<bool>,
    pub created_time: Option<DateTime<Utc>>,
}

impl VenueFill {
    /// The price of the fill's own side.
    pub fn price(&self) -> Price {
        match self.side {
            Side::Yes => self.yes_price,
            Side::No => self.no_price,
        }
    }
}

/// One order (`{"order":…}` or an element of `orders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueOrder {
    pub order_id: String,
    pub client_order_id: String,
    pub ticker: String,
    pub side: Side,
    pub action: Action,
    pub status: VenueStatus,
    pub yes_price: Price,
    pub no_price: Price,
    pub initial: Qty,
    pub filled: Qty,
    pub remaining: Qty,
    pub taker_fees: Usd,
    pub maker_fees: Usd,
}

impl VenueOrder {
    /// What the order lifecycle needs from it.
    pub fn view(&self) -> VenueOrderView {
        VenueOrderView {
            order_id: self.order_id.clone(),
            status: self.status,
            filled: self.filled,
            remaining: self.remaining,
        }
    }
}

/// One row of `GET /portfolio/settlements`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueSettlement {
    pub ticker: String,
    pub event_ticker: String,
    /// `yes`, `no`, `scalar` or `void`.
    pub market_result: String,
    pub yes_count: Qty,
    pub no_count: Qty,
    /// Cents paid out.
    pub revenue_cents: i64,
    pub fee_cost: Usd,
    pub settled_time: DateTime<Utc>,
}

/// `GET /portfolio/balance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    /// `balance_dollars` when present (exact), else the integer cents.
    pub balance: Usd,
    pub portfolio_value_cents: Option<i64>,
}

fn bad(field: &'static str) -> impl Fn(MoneyError) -> RejectReason {
    move |error| RejectReason::BadDecimal { field, error }
}

/// A count from `fp` (string) or, if absent, `int` (whole contracts).
fn count(o: &Object<'_>, fp: &'static str, int: &'static str) -> Result<Qty, RejectReason> {
    if let Some(text) = o.decimal_text(fp)? {
        return Qty::parse_fp(&text).map_err(bad(fp));
    }
    match o.integer(int)? {
        Some(n) => Qty::contracts(n).ok_or(RejectReason::BadDecimal {
            field: int,
            error: MoneyError::Overflow(n.to_string()),
        }),
        None => Err(RejectReason::MissingField(fp)),
    }
}

/// Dollars from `dollars` (string, up to 6 decimals) or, if absent, `cents` (integer).
fn amount(o: &Object<'_>, dollars: &'static str, cents: &'static str) -> Result<Usd, RejectReason> {
    if let Some(text) = o.decimal_text(dollars)? {
        return Usd::parse_dollars(&text).map_err(bad(dollars));
    }
    match o.integer(cents)? {
        Some(c) => Usd::from_cents(c).ok_or(RejectReason::BadDecimal {
            field: cents,
            error: MoneyError::Overflow(c.to_string()),
        }),
        None => Err(RejectReason::MissingField(dollars)),
    }
}

/// A price from the first present of `fields` (dollar strings), else `cents`.
fn price(
    o: &Object<'_>,
    fields: &[&'static str],
    cents: &'static str,
) -> Result<Price, RejectReason> {
    for &f in fields {
        if let Some(text) = o.decimal_text(f)? {
            return Price::parse_dollars(&text).map_err(bad(f));
        }
    }
    match o.integer(cents)? {
        Some(c) => Price::from_cents(c).ok_or(RejectReason::BadDecimal {
            field: cents,
            error: MoneyError::OutOfRange(c.to_string()),
        }),
        None => Err(RejectReason::MissingField(fields[0])),
    }
}

fn side(o: &Object<'_>) -> Result<Side, RejectReason> {
    match o.required_string("side")?.as_str() {
        "yes" => Ok(Side::Yes),
        "no" => Ok(Side::No),
        other => Err(RejectReason::UnknownEnum {
            field: "side",
            value: other.to_string(),
        }),
    }
}

fn action(o: &Object<'_>) -> Result<Action, RejectReason> {
    match o.required_string("action")?.as_str() {
        "buy" => Ok(Action::Buy),
        "sell" => Ok(Action::Sell),
        other => Err(RejectReason::UnknownEnum {
            field: "action",
            value: other.to_string(),
        }),
    }
}

fn parse_position(o: &Object<'_>) -> Result<MarketPosition, RejectReason> {
    Ok(MarketPosition {
        ticker: o.required_id("ticker")?,
        position: count(o, "position_fp", "position")?,
        market_exposure: amount(o, "market_exposure_dollars", "market_exposure")?,
        realized_pnl: amount(o, "realized_pnl_dollars", "realized_pnl")?,
        fees_paid: amount(o, "fees_paid_dollars", "fees_paid")?,
        total_traded: amount(o, "total_traded_dollars", "total_traded")?,
        last_updated: o.timestamp("last_updated_ts")?,
    })
}

fn parse_fill(o: &Object<'_>) -> Result<VenueFill, RejectReason> {
    let ticker = match o.non_empty_string("ticker")? {
        Some(t) => t,
        None => o.required_id("market_ticker")?,
    };
    let fill_id = match o.non_empty_string("fill_id")? {
        Some(f) => f,
        None => o.required_id("trade_id")?,
    };
    let fee = match o.decimal_text("fee_cost")? {
        Some(text) => Usd::parse_dollars(&text).map_err(bad("fee_cost"))?,
        None => return Err(RejectReason::MissingField("fee_cost")),
    };
    let yes_price = price(o, &["yes_price_dollars", "yes_price_fixed"], "yes_price")?;
    let no_price = price(o, &["no_price_dollars", "no_price_fixed"], "no_price")?;
    if yes_price.units() + no_price.units() != Price::ONE_DOLLAR.units() {
        return Err(RejectReason::Inconsistent {
            field: "no_price_dollars",
            detail: format!("yes={yes_price} no={no_price} do not sum to 1"),
        });
    }
    Ok(VenueFill {
        fill_id,
        order_id: o.required_id("order_id")?,
        ticker,
        side: side(o)?,
        action: action(o)?,
        qty: count(o, "count_fp", "count")?,
        yes_price,
        no_price,
        fee,
        is_taker: o.bool("is_taker")?,
        created_time: o.timestamp("created_time")?,
    })
}

fn parse_order(o: &Object<'_>) -> Result<VenueOrder, RejectReason> {
    let status = match o.required_string("status")?.as_str() {
        "resting" => VenueStatus::Resting,
        "canceled" => VenueStatus::Canceled,
        "executed" => VenueStatus::Executed,
        other => {
            return Err(RejectReason::UnknownEnum {
                field: "status",
                value: other.to_string(),
            })
        }
    };
    Ok(VenueOrder {
        order_id: o.required_id("order_id")?,
        client_order_id: o.string("client_order_id")?.unwrap_or_default(),
        ticker: o.required_id("ticker")?,
        side: side(o)?,
        action: action(o)?,
        status,
        yes_price: price(o, &["yes_price_dollars"], "yes_price")?,
        no_price: price(o, &["no_price_dollars"], "no_price")?,
        initial: count(o, "initial_count_fp", "initial_count")?,
        filled: count(o, "fill_count_fp", "fill_count")?,
        remaining: count(o, "remaining_count_fp", "remaining_count")?,
        taker_fees: amount(o, "taker_fees_dollars", "taker_fees")?,
        maker_fees: amount(o, "maker_fees_dollars", "maker_fees")?,
    })
}

fn parse_settlement(o: &Object<'_>) -> Result<VenueSettlement, RejectReason> {
    let market_result = o.required_string("market_result")?;
    if !["yes", "no", "scalar", "void"].contains(&market_result.as_str()) {
        return Err(RejectReason::UnknownEnum {
            field: "market_result",
            value: market_result,
        });
    }
    let fee_cost = match o.decimal_text("fee_cost")? {
        Some(text) => Usd::parse_dollars(&text).map_err(bad("fee_cost"))?,
        None => return Err(RejectReason::MissingField("fee_cost")),
    };
    Ok(VenueSettlement {
        ticker: o.required_id("ticker")?,
        event_ticker: o.string("event_ticker")?.unwrap_or_default(),
        market_result,
        yes_count: count(o, "yes_count_fp", "yes_count")?,
        no_count: count(o, "no_count_fp", "no_count")?,
        revenue_cents: o
            .integer("revenue")?
            .ok_or(RejectReason::MissingField("revenue"))?,
        fee_cost,
        settled_time: o.required_timestamp("settled_time")?,
    })
}

fn page<T>(
    body: &[u8],
    field: &'static str,
    key_fields: &[&'static str],
    parse: impl Fn(&Object<'_>) -> Result<T, RejectReason>,
) -> Result<PageParse<T>, BodyError> {
    let env = json::parse_envelope(body)?;
    let items = json::envelope_array(&env, field)?;
    let cursor = json::envelope_cursor(&env, "cursor")?;
    let (records, rejects) = parse_records(&items, key_fields, |o| parse(o));
    Ok(PageParse {
        records,
        rejects,
        cursor,
    })
}

/// `GET /portfolio/positions`: the `market_positions` page (event positions are not used).
pub fn parse_positions_page(body: &[u8]) -> Result<PageParse<MarketPosition>, BodyError> {
    page(body, "market_positions", &["ticker"], parse_position)
}

/// `GET /portfolio/fills`.
pub fn parse_fills_page(body: &[u8]) -> Result<PageParse<VenueFill>, BodyError> {
    page(body, "fills", &["fill_id", "trade_id"], parse_fill)
}

/// `GET /portfolio/orders`.
pub fn parse_orders_page(body: &[u8]) -> Result<PageParse<VenueOrder>, BodyError> {
    page(body, "orders", &["order_id"], parse_order)
}

/// `GET /portfolio/settlements`.
pub fn parse_settlements_page(body: &[u8]) -> Result<PageParse<VenueSettlement>, BodyError> {
    page(body, "settlements", &["ticker"], parse_settlement)
}

/// `POST /portfolio/orders` (201), `GET /portfolio/orders/{id}`, `DELETE …/{id}`:
/// `{"order":{…}}`; a refused order refuses the body.
pub fn parse_order_response(body: &[u8]) -> Result<VenueOrder, BodyError> {
    let env = json::parse_envelope(body)?;
    let raw = env.get("order").ok_or(BodyError::MissingField("order"))?;
    let obj = Object::parse(raw).map_err(BodyError::Record)?;
    Ok(parse_order(&obj)?)
}

/// `GET /portfolio/balance`.
pub fn parse_balance(body: &[u8]) -> Result<Balance, BodyError> {
    let o = json::parse_envelope(body)?;
    Ok(Balance {
        balance: amount(&o, "balance_dollars", "balance")?,
        portfolio_value_cents: o.integer("portfolio_value")?,
    })
}

/// How long a live order may rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeInForce {
    /// Fill what crosses now, cancel the rest: the strategy trades at the displayed ask and
    /// leaves nothing resting to manage.
    ImmediateOrCancel,
    GoodTillCanceled,
}

impl TimeInForce {
    fn as_str(self) -> &'static str {
        match self {
            TimeInForce::ImmediateOrCancel => "immediate_or_cancel",
            TimeInForce::GoodTillCanceled => "good_till_canceled",
        }
    }
}

/// The `POST /portfolio/orders` body for an approved order: fixed-point strings only (the
/// venue refuses numeric counts on its newer endpoints), the price on the order's own side,
/// `reduce_only` when the governor approved it as reducing. Takes the approval, so an
/// unchecked order has no body. Compact JSON, keys sorted: the bytes stored as evidence are
/// the bytes sent.
pub fn create_order_body(approved: &Approved, tif: TimeInForce) -> Vec<u8> {
    let i = approved.intent();
    let price_field = match i.side {
        Side::Yes => "yes_price_dollars",
        Side::No => "no_price_dollars",
    };
    let mut body = json!({
        "action": i.action.as_str(),
        "client_order_id": i.client_order_id,
        "count_fp": i.qty.to_fp_string(),
        "side": i.side.as_str(),
        "ticker": i.market.as_str(),
        "time_in_force": tif.as_str(),
        "type": "limit",
    });
    body[price_field] = json!(i.limit_price.to_dollars_string());
    if approved.reduce_only() {
        body["reduce_only"] = json!(true);
    }
    serde_json::to_vec(&body).expect("a JSON value serialises")
}

#[cfg(test)]
mod tests;
