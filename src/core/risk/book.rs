//! The exposure book: positions, open-order reservations, cash, price marks, market metadata and
//! the equity baselines (UTC day start, peak) the loss limits are measured against.
//!
//! Kalshi nets the two sides of a market: holding YES and buying NO closes contracts in pairs,
//! each pair paying $1. So a market holds at most one side, and every order is read as the leg it
//! acquires ([`acquired_leg`]): buying a side acquires it at the limit price; selling a side
//! acquires the other side at the complement (selling YES at p is buying NO at 1 − p). An order
//! whose leg matches the held side (or any order on a flat market) adds exposure; one whose leg
//! is the other side reduces the position.
//!
//! Exposure is worst-case money at risk, in micro-dollars: a held position counts at its marked
//! value (contracts × the mark of the held side); an open order that adds exposure counts at
//! contracts × its leg price until it fills or is cancelled; reducing orders count nothing.

use super::limits::BPS_SCALE;
use crate::core::money::{Price, Qty, Usd};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

/// How many recent fill ids the book remembers to refuse a replayed fill.
pub const REMEMBERED_FILLS: usize = 256;
const MS_PER_DAY: i64 = 86_400_000;

/// A venue market ticker.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MarketId(pub String);

impl MarketId {
    pub fn new(id: impl Into<String>) -> MarketId {
        MarketId(id.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MarketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A side of a binary market.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Yes,
    No,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Yes => Side::No,
            Side::No => Side::Yes,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Yes => "yes",
            Side::No => "no",
        }
    }
}

/// Buy or sell contracts of a side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Buy,
    Sell,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Buy => "buy",
            Action::Sell => "sell",
        }
    }
}

/// The side an order acquires and the price it pays per contract of that side, once netting is
/// accounted for: `buy S @ p` acquires `S @ p`; `sell S @ p` acquires `other(S) @ 1 − p`.
pub fn acquired_leg(side: Side, action: Action, price: Price) -> (Side, Price) {
    match action {
        Action::Buy => (side, price),
        Action::Sell => (side.other(), price.complement()),
    }
}

/// Exact micro-dollars of `qty` at `price`, widened so sums cannot overflow.
pub fn notional(price: Price, qty: Qty) -> i128 {
    i128::from(price.units()) * i128::from(qty.units())
}

/// What the caller knows about a market: where it counts and when it settles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketMeta {
    pub category: String,
    /// Markets in the same approved pair or the same Kalshi event share a group.
    pub correlation_group: String,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub settles_at: DateTime<Utc>,
}

/// The last YES price seen for a market and when it was observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mark {
    pub yes: Price,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub at: DateTime<Utc>,
}

impl Mark {
    /// The mark of `side` (NO is the complement of YES).
    pub fn price(&self, side: Side) -> Price {
        match side {
            Side::Yes => self.yes,
            Side::No => self.yes.complement(),
        }
    }
}

/// Contracts held on one side of a market. `cost` is the total paid, fees included; the
/// average cost per contract is `cost / qty`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    pub side: Side,
    pub qty: Qty,
    pub cost: Usd,
}

impl Position {
    /// Average cost of one whole contract, rounded down to the micro-dollar.
    pub fn average_cost(&self) -> Usd {
        if self.qty.units() <= 0 {
            return Usd::ZERO;
        }
        let per_contract = i128::from(self.cost.micros()) * 100 / i128::from(self.qty.units());
        Usd(i64::try_from(per_contract).unwrap_or(i64::MAX))
    }
}

/// Everything the book keeps about one market.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<MarketMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<Mark>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
}

/// Whether an approved order adds exposure or reduces the held position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderEffect {
    Increase,
    Reduce,
}

/// What an approved, still-open order holds in the book, keyed by its client order id. `qty`
/// is what remains unfilled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reservation {
    pub market: MarketId,
    pub side: Side,
    pub action: Action,
    pub effect: OrderEffect,
    pub qty: Qty,
    pub limit_price: Price,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub created_at: DateTime<Utc>,
}

impl Reservation {
    /// The side this order acquires and its price per contract (see [`acquired_leg`]).
    pub fn leg(&self) -> (Side, Price) {
        acquired_leg(self.side, self.action, self.limit_price)
    }

    /// Worst-case cost of what is still open; zero for reducing orders.
    pub fn exposure(&self) -> i128 {
        match self.effect {
            OrderEffect::Increase => notional(self.leg().1, self.qty),
            OrderEffect::Reduce => 0,
        }
    }
}

/// A fill reported by execution or reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FillReport {
    /// The venue's id of this fill; a replayed id is refused.
    pub fill_id: String,
    pub client_order_id: String,
    pub market: MarketId,
    pub side: Side,
    pub action: Action,
    pub qty: Qty,
    pub price: Price,
    pub fee: Usd,
}

/// Something about a fill that does not match what the book reserved. The fill is applied
/// anyway — it happened — and the anomaly is audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillAnomaly {
    /// No open reservation has this client order id (e.g. a fill reported after its cancel).
    WithoutReservation,
    /// The reservation is for another market, side or action; it is left untouched.
    MismatchesReservation,
    /// More was filled than was still reserved.
    ExceedsReservation { reserved: Qty },
}

impl FillAnomaly {
    pub fn code(&self) -> &'static str {
        match self {
            FillAnomaly::WithoutReservation => "FILL_WITHOUT_RESERVATION",
            FillAnomaly::MismatchesReservation => "FILL_MISMATCHES_RESERVATION",
            FillAnomaly::ExceedsReservation { .. } => "FILL_EXCEEDS_RESERVATION",
        }
    }
}

/// What applying a fill did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillOutcome {
    /// P&L realised by contracts the fill closed (netting against the held side), fees included.
    pub realised: Option<Usd>,
    pub anomaly: Option<FillAnomaly>,
}

/// What settling a market did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// Payout minus cost of the closed position; `None` if nothing was held.
    pub realised: Option<Usd>,
    /// Client order ids of open orders on the market, released.
    pub released: Vec<String>,
}

/// A value a decision needs and the book does not have. Decisions that need it refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// `cash`, `mark`, `market_meta`, `day_start_equity`, `peak_equity` or `equity`.
    pub what: &'static str,
    pub market: Option<MarketId>,
}

impl Missing {
    fn of(what: &'static str) -> Missing {
        Missing { what, market: None }
    }
    fn market(what: &'static str, market: &MarketId) -> Missing {
        Missing {
            what,
            market: Some(market.clone()),
        }
    }
}

/// Why a book update was refused; the book is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookError {
    /// A price observed after `now` would look fresh for too long.
    MarkFromFuture {
        market: MarketId,
        observed_at_ms: i64,
    },
    InvalidMarketInfo {
        market: MarketId,
        field: &'static str,
    },
    InvalidFill {
        field: &'static str,
    },
    DuplicateFill {
        fill_id: String,
    },
    InvalidCash {
        cash: Usd,
    },
    UnknownReservation {
        client_order_id: String,
    },
    /// A value would leave the range of the book's integers.
    Overflow {
        what: &'static str,
    },
}

impl BookError {
    pub fn code(&self) -> &'static str {
        match self {
            BookError::MarkFromFuture { .. } => "MARK_FROM_FUTURE",
            BookError::InvalidMarketInfo { .. } => "INVALID_MARKET_INFO",
            BookError::InvalidFill { .. } => "INVALID_FILL",
            BookError::DuplicateFill { .. } => "DUPLICATE_FILL",
            BookError::InvalidCash { .. } => "INVALID_CASH",
            BookError::UnknownReservation { .. } => "UNKNOWN_RESERVATION",
            BookError::Overflow { .. } => "BOOK_ARITHMETIC_OVERFLOW",
        }
    }

    pub fn details(&self) -> Vec<(String, String)> {
        let kv = |k: &str, v: String| (k.to_string(), v);
        match self {
            BookError::MarkFromFuture {
                market,
                observed_at_ms,
            } => vec![
                kv("market", market.to_string()),
                kv("observed_at_ms", observed_at_ms.to_string()),
            ],
            BookError::InvalidMarketInfo { market, field } => {
                vec![
                    kv("market", market.to_string()),
                    kv("field", field.to_string()),
                ]
            }
            BookError::InvalidFill { field } => vec![kv("field", field.to_string())],
            BookError::DuplicateFill { fill_id } => vec![kv("fill_id", fill_id.clone())],
            BookError::InvalidCash { cash } => vec![kv("cash", cash.to_string())],
            BookError::UnknownReservation { client_order_id } => {
                vec![kv("client_order_id", client_order_id.clone())]
            }
            BookError::Overflow { what } => vec![kv("what", what.to_string())],
        }
    }
}

fn to_i64(v: i128, what: &'static str) -> Result<i64, BookError> {
    i64::try_from(v).map_err(|_| BookError::Overflow { what })
}

/// The UTC calendar day of `now`, as days since the Unix epoch.
pub fn utc_day(now: DateTime<Utc>) -> i64 {
    now.timestamp_millis().div_euclid(MS_PER_DAY)
}

/// Exposure held and reserved in one market, per side, in micro-dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MarketExposure {
    pub yes: i128,
    pub no: i128,
}

impl MarketExposure {
    pub fn side(&self, side: Side) -> i128 {
        match side {
            Side::Yes => self.yes,
            Side::No => self.no,
        }
    }
    fn side_mut(&mut self, side: Side) -> &mut i128 {
        match side {
            Side::Yes => &mut self.yes,
            Side::No => &mut self.no,
        }
    }
    pub fn total(&self) -> i128 {
        self.yes + self.no
    }
}

/// The book as the RiskGovernor persists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Book {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cash: Option<Usd>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    markets: BTreeMap<MarketId, MarketEntry>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    reservations: BTreeMap<String, Reservation>,
    /// UTC day (days since epoch) that `day_start_equity` belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    day: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    day_start_equity: Option<Usd>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    peak_equity: Option<Usd>,
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    recent_fills: VecDeque<String>,
}

impl Book {
    pub fn cash(&self) -> Option<Usd> {
        self.cash
    }
    pub fn markets(&self) -> impl Iterator<Item = (&MarketId, &MarketEntry)> {
        self.markets.iter()
    }
    pub fn market(&self, market: &MarketId) -> Option<&MarketEntry> {
        self.markets.get(market)
    }
    pub fn meta(&self, market: &MarketId) -> Option<&MarketMeta> {
        self.market(market).and_then(|m| m.meta.as_ref())
    }
    pub fn mark(&self, market: &MarketId) -> Option<&Mark> {
        self.market(market).and_then(|m| m.mark.as_ref())
    }
    pub fn position(&self, market: &MarketId) -> Option<&Position> {
        self.market(market).and_then(|m| m.position.as_ref())
    }
    pub fn reservations(&self) -> impl Iterator<Item = (&String, &Reservation)> {
        self.reservations.iter()
    }
    pub fn reservation(&self, client_order_id: &str) -> Option<&Reservation> {
        self.reservations.get(client_order_id)
    }
    pub fn day_start_equity(&self) -> Option<Usd> {
        self.day_start_equity
    }
    pub fn peak_equity(&self) -> Option<Usd> {
        self.peak_equity
    }

    /// Marked value of the position in `market` (zero if flat); needs a mark if anything is held.
    pub fn position_value(&self, market: &MarketId) -> Result<i128, Missing> {
        match self.position(market) {
            None => Ok(0),
            Some(p) => {
                let mark = self
                    .mark(market)
                    .ok_or_else(|| Missing::market("mark", market))?;
                Ok(notional(mark.price(p.side), p.qty))
            }
        }
    }

    /// Cash plus every position at its mark. Missing cash or any held market's mark → `Missing`.
    pub fn equity(&self) -> Result<Usd, Missing> {
        let cash = self.cash.ok_or_else(|| Missing::of("cash"))?;
        let mut total = i128::from(cash.micros());
        for (id, entry) in &self.markets {
            if entry.position.is_some() {
                total += self.position_value(id)?;
            }
        }
        i64::try_from(total)
            .map(Usd)
            .map_err(|_| Missing::of("equity"))
    }

    /// Loss since the UTC day's starting equity (zero when up on the day).
    pub fn daily_loss(&self) -> Result<i128, Missing> {
        let start = self
            .day_start_equity
            .ok_or_else(|| Missing::of("day_start_equity"))?;
        let equity = self.equity()?;
        Ok((i128::from(start.micros()) - i128::from(equity.micros())).max(0))
    }

    /// Fall from peak equity (zero at the peak).
    pub fn drawdown(&self) -> Result<i128, Missing> {
        let peak = self.peak_equity.ok_or_else(|| Missing::of("peak_equity"))?;
        let equity = self.equity()?;
        Ok((i128::from(peak.micros()) - i128::from(equity.micros())).max(0))
    }

    /// Whether the daily loss is at or beyond `bps` of the day's starting equity.
    /// Unknown values never trigger (the pre-trade check refuses on them instead).
    pub fn daily_loss_reached(&self, bps: i64) -> bool {
        match (self.daily_loss(), self.day_start_equity) {
            (Ok(loss), Some(start)) => reached(loss, i128::from(start.micros()), bps),
            _ => false,
        }
    }

    /// Whether the drawdown is at or beyond `bps` of the peak.
    pub fn drawdown_reached(&self, bps: i64) -> bool {
        match (self.drawdown(), self.peak_equity) {
            (Ok(dd), Some(peak)) => reached(dd, i128::from(peak.micros()), bps),
            _ => false,
        }
    }

    /// Contracts of the held side that reducing orders may still close: held minus what open
    /// reducing orders already claim. `None` when flat.
    pub fn reducible(&self, market: &MarketId) -> Option<(Side, Qty)> {
        let position = self.position(market)?;
        let claimed: i64 = self
            .reservations
            .values()
            .filter(|r| &r.market == market && r.effect == OrderEffect::Reduce)
            .map(|r| r.qty.units())
            .sum();
        Some((position.side, Qty((position.qty.units() - claimed).max(0))))
    }

    /// Exposure of every market that holds a position or an open order adding exposure.
    /// Needs the mark of every held market.
    pub fn exposures(&self) -> Result<BTreeMap<&MarketId, MarketExposure>, Missing> {
        let mut out: BTreeMap<&MarketId, MarketExposure> = BTreeMap::new();
        for (id, entry) in &self.markets {
            if let Some(p) = &entry.position {
                let value = self.position_value(id)?;
                *out.entry(id).or_default().side_mut(p.side) += value;
            }
        }
        for r in self.reservations.values() {
            if r.effect == OrderEffect::Increase {
                *out.entry(&r.market).or_default().side_mut(r.leg().0) += r.exposure();
            }
        }
        Ok(out)
    }

    /// Starts a new UTC day's baseline at the first event of that day: the day's starting equity
    /// is the equity at that moment (or the first moment after it when equity becomes known).
    /// Days only move forward.
    pub(in crate::core) fn roll_day(&mut self, now: DateTime<Utc>) {
        let today = utc_day(now);
        if self.day.is_none_or(|day| today > day) {
            self.day = Some(today);
            self.day_start_equity = self.equity().ok();
        }
    }

    /// After every event: fills a missing day baseline and raises the peak.
    pub(in crate::core) fn track_baselines(&mut self) {
        if let Ok(equity) = self.equity() {
            if self.day.is_some() && self.day_start_equity.is_none() {
                self.day_start_equity = Some(equity);
            }
            self.peak_equity = Some(self.peak_equity.map_or(equity, |p| p.max(equity)));
        }
    }

    /// Sets the authoritative cash balance (paper starting capital, venue balance).
    pub(in crate::core) fn set_cash(&mut self, cash: Usd) -> Result<(), BookError> {
        if cash.micros() < 0 {
            return Err(BookError::InvalidCash { cash });
        }
        self.cash = Some(cash);
        Ok(())
    }

    /// Records what the caller knows about a market.
    pub(in crate::core) fn set_market_meta(
        &mut self,
        market: &MarketId,
        meta: MarketMeta,
    ) -> Result<(), BookError> {
        let invalid = |field| BookError::InvalidMarketInfo {
            market: market.clone(),
            field,
        };
        if market.as_str().trim().is_empty() {
            return Err(invalid("market"));
        }
        if meta.category.trim().is_empty() {
            return Err(invalid("category"));
        }
        if meta.correlation_group.trim().is_empty() {
            return Err(invalid("correlation_group"));
        }
        self.markets.entry(market.clone()).or_default().meta = Some(meta);
        Ok(())
    }

    /// Records a YES price observed at `observed_at`. An older observation than the one held is
    /// ignored (marks may arrive out of order); one from after `now` is refused.
    pub(in crate::core) fn record_mark(
        &mut self,
        market: &MarketId,
        yes: Price,
        observed_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), BookError> {
        if observed_at > now {
            return Err(BookError::MarkFromFuture {
                market: market.clone(),
                observed_at_ms: observed_at.timestamp_millis(),
            });
        }
        if market.as_str().trim().is_empty() {
            return Err(BookError::InvalidMarketInfo {
                market: market.clone(),
                field: "market",
            });
        }
        let entry = self.markets.entry(market.clone()).or_default();
        if entry.mark.is_none_or(|m| m.at <= observed_at) {
            entry.mark = Some(Mark {
                yes,
                at: observed_at,
            });
        }
        Ok(())
    }

    pub(in crate::core) fn reserve(&mut self, client_order_id: String, reservation: Reservation) {
        self.reservations.insert(client_order_id, reservation);
    }

    /// Releases what remains of an open order (the venue confirmed its cancel or expiry).
    pub(in crate::core) fn release(
        &mut self,
        client_order_id: &str,
    ) -> Result<Reservation, BookError> {
        self.reservations
            .remove(client_order_id)
            .ok_or_else(|| BookError::UnknownReservation {
                client_order_id: client_order_id.to_string(),
            })
    }

    /// Applies a fill to the position and cash, and consumes its reservation.
    pub(in crate::core) fn fill(&mut self, fill: &FillReport) -> Result<FillOutcome, BookError> {
        if fill.fill_id.trim().is_empty() {
            return Err(BookError::InvalidFill { field: "fill_id" });
        }
        if self.recent_fills.contains(&fill.fill_id) {
            return Err(BookError::DuplicateFill {
                fill_id: fill.fill_id.clone(),
            });
        }
        if fill.market.as_str().trim().is_empty() {
            return Err(BookError::InvalidFill { field: "market" });
        }
        if fill.qty.units() <= 0 {
            return Err(BookError::InvalidFill { field: "qty" });
        }
        if fill.fee.micros() < 0 {
            return Err(BookError::InvalidFill { field: "fee" });
        }
        let (leg_side, leg_price) = acquired_leg(fill.side, fill.action, fill.price);
        let held = self.position(&fill.market).copied();
        let q = i128::from(fill.qty.units());
        let outlay = notional(leg_price, fill.qty);
        let fee = i128::from(fill.fee.micros());
        let mut cash_delta = -outlay - fee;
        let mut realised = None;
        let next = match held {
            None => Some((leg_side, q, outlay + fee)),
            Some(p) if p.side == leg_side => Some((
                leg_side,
                i128::from(p.qty.units()) + q,
                i128::from(p.cost.micros()) + outlay + fee,
            )),
            Some(p) => {
                // Pairs of opposite contracts net out and pay $1 each.
                let h = i128::from(p.qty.units());
                let m = q.min(h);
                let cost = i128::from(p.cost.micros());
                let cost_share = cost * m / h;
                let payout = notional(Price::ONE_DOLLAR, Qty(to_i64(m, "qty")?));
                let paid = notional(leg_price, Qty(to_i64(m, "qty")?));
                realised = Some(payout - paid - cost_share - fee);
                cash_delta += payout;
                let rest = q - m;
                if h > m {
                    Some((p.side, h - m, cost - cost_share))
                } else if rest > 0 {
                    Some((
                        leg_side,
                        rest,
                        notional(leg_price, Qty(to_i64(rest, "qty")?)),
                    ))
                } else {
                    None
                }
            }
        };
        let position = match next {
            Some((side, qty, cost)) => Some(Position {
                side,
                qty: Qty(to_i64(qty, "qty")?),
                cost: Usd(to_i64(cost, "cost")?),
            }),
            None => None,
        };
        let cash = match self.cash {
            Some(c) => Some(Usd(to_i64(i128::from(c.micros()) + cash_delta, "cash")?)),
            None => None,
        };
        let realised = match realised {
            Some(r) => Some(Usd(to_i64(r, "realised")?)),
            None => None,
        };

        // Everything computed; commit.
        let anomaly = self.consume_reservation(fill);
        self.markets
            .entry(fill.market.clone())
            .or_default()
            .position = position;
        self.cash = cash;
        self.recent_fills.push_back(fill.fill_id.clone());
        while self.recent_fills.len() > REMEMBERED_FILLS {
            self.recent_fills.pop_front();
        }
        Ok(FillOutcome { realised, anomaly })
    }

    fn consume_reservation(&mut self, fill: &FillReport) -> Option<FillAnomaly> {
        let Some(r) = self.reservations.get_mut(&fill.client_order_id) else {
            return Some(FillAnomaly::WithoutReservation);
        };
        if r.market != fill.market || r.side != fill.side || r.action != fill.action {
            return Some(FillAnomaly::MismatchesReservation);
        }
        let reserved = r.qty;
        let remaining = reserved.units() - fill.qty.units();
        if remaining > 0 {
            r.qty = Qty(remaining);
        } else {
            self.reservations.remove(&fill.client_order_id);
        }
        (remaining < 0).then_some(FillAnomaly::ExceedsReservation { reserved })
    }

    /// Settles `market`: a YES contract pays `yes_value` (1.0000 if YES won, 0 if NO won), a NO
    /// contract the complement. The position closes into cash, open orders on the market are
    /// released, and the market leaves the book. Settling an unknown market changes nothing.
    pub(in crate::core) fn settle(
        &mut self,
        market: &MarketId,
        yes_value: Price,
    ) -> Result<Settled, BookError> {
        let mut realised = None;
        let mut cash = self.cash;
        if let Some(p) = self.position(market) {
            let value = match p.side {
                Side::Yes => yes_value,
                Side::No => yes_value.complement(),
            };
            let payout = notional(value, p.qty);
            realised = Some(Usd(to_i64(
                payout - i128::from(p.cost.micros()),
                "realised",
            )?));
            if let Some(c) = cash {
                cash = Some(Usd(to_i64(i128::from(c.micros()) + payout, "cash")?));
            }
        }
        let released: Vec<String> = self
            .reservations
            .iter()
            .filter(|(_, r)| &r.market == market)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &released {
            self.reservations.remove(id);
        }
        self.markets.remove(market);
        self.cash = cash;
        Ok(Settled { realised, released })
    }
}

/// `amount` is at or beyond `bps` of `base`: amount·10⁴ ≥ base·bps, with a positive amount.
fn reached(amount: i128, base: i128, bps: i64) -> bool {
    amount > 0 && amount * i128::from(BPS_SCALE) >= base * i128::from(bps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_767_225_600_000 + ms).unwrap()
    }
    fn p(units: i64) -> Price {
        Price::new(units).unwrap()
    }
    fn c(n: i64) -> Qty {
        Qty::contracts(n).unwrap()
    }
    fn usd(d: i64) -> Usd {
        Usd::from_dollars(d).unwrap()
    }
    fn m() -> MarketId {
        MarketId::new("KXTEST-26")
    }

    fn fill(id: &str, side: Side, action: Action, qty: Qty, price: Price) -> FillReport {
        FillReport {
            fill_id: id.to_string(),
            client_order_id: format!("coid-{id}"),
            market: m(),
            side,
            action,
            qty,
            price,
            fee: Usd::ZERO,
        }
    }

    #[test]
    fn selling_a_side_acquires_the_other_side_at_the_complement() {
        assert_eq!(
            acquired_leg(Side::Yes, Action::Sell, p(3_000)),
            (Side::No, p(7_000))
        );
        assert_eq!(
            acquired_leg(Side::No, Action::Buy, p(3_000)),
            (Side::No, p(3_000))
        );
    }

    #[test]
    fn buying_then_selling_realises_pnl_and_returns_cash() {
        let mut b = Book::default();
        b.set_cash(usd(1_000)).unwrap();
        b.fill(&fill("1", Side::Yes, Action::Buy, c(100), p(4_000)))
            .unwrap();
        assert_eq!(b.cash(), Some(usd(960)));
        assert_eq!(
            b.position(&m()),
            Some(&Position {
                side: Side::Yes,
                qty: c(100),
                cost: usd(40)
            })
        );
        // Sell 40 at 0.55: realised 40 × (0.55 − 0.40) = $6.
        let out = b
            .fill(&fill("2", Side::Yes, Action::Sell, c(40), p(5_500)))
            .unwrap();
        assert_eq!(out.realised, Some(usd(6)));
        assert_eq!(b.cash(), Some(Usd(982_000_000)));
        assert_eq!(b.position(&m()).unwrap().qty, c(60));
        assert_eq!(b.position(&m()).unwrap().cost, usd(24));
        assert_eq!(b.position(&m()).unwrap().average_cost(), Usd(400_000));
    }

    #[test]
    fn buying_the_other_side_nets_pairs_and_can_flip_the_position() {
        let mut b = Book::default();
        b.set_cash(usd(1_000)).unwrap();
        b.fill(&fill("1", Side::Yes, Action::Buy, c(10), p(4_000)))
            .unwrap();
        // Buy 15 NO at 0.50: 10 pairs pay $10 (realised 10 − 4 − 5 = $1), 5 NO remain at $2.50.
        let out = b
            .fill(&fill("2", Side::No, Action::Buy, c(15), p(5_000)))
            .unwrap();
        assert_eq!(out.realised, Some(usd(1)));
        assert_eq!(
            b.position(&m()),
            Some(&Position {
                side: Side::No,
                qty: c(5),
                cost: Usd(2_500_000)
            })
        );
        // 1000 − 4 − 7.50 + 10 = 998.50
        assert_eq!(b.cash(), Some(Usd(998_500_000)));
    }

    #[test]
    fn fees_raise_cost_when_opening_and_lower_pnl_when_closing() {
        let mut b = Book::default();
        b.set_cash(usd(100)).unwrap();
        let mut open = fill("1", Side::Yes, Action::Buy, c(10), p(5_000));
        open.fee = Usd::from_cents(18).unwrap();
        b.fill(&open).unwrap();
        assert_eq!(b.position(&m()).unwrap().cost, Usd(5_180_000));
        let mut close = fill("2", Side::Yes, Action::Sell, c(10), p(5_000));
        close.fee = Usd::from_cents(18).unwrap();
        let out = b.fill(&close).unwrap();
        assert_eq!(out.realised, Some(Usd(-360_000)));
        assert_eq!(b.position(&m()), None);
        assert_eq!(b.cash(), Some(Usd(99_640_000)));
    }

    #[test]
    fn a_replayed_fill_is_refused_and_changes_nothing() {
        let mut b = Book::default();
        b.set_cash(usd(100)).unwrap();
        let f = fill("1", Side::Yes, Action::Buy, c(1), p(5_000));
        b.fill(&f).unwrap();
        let before = b.clone();
        assert_eq!(b.fill(&f).unwrap_err().code(), "DUPLICATE_FILL");
        assert_eq!(b, before);
    }

    #[test]
    fn fills_consume_their_reservation_and_report_anomalies() {
        let mut b = Book::default();
        b.reserve(
            "coid-1".to_string(),
            Reservation {
                market: m(),
                side: Side::Yes,
                action: Action::Buy,
                effect: OrderEffect::Increase,
                qty: c(10),
                limit_price: p(5_000),
                created_at: t(0),
            },
        );
        let out = b
            .fill(&fill("1", Side::Yes, Action::Buy, c(4), p(4_900)))
            .unwrap();
        assert_eq!(out.anomaly, None);
        assert_eq!(b.reservation("coid-1").unwrap().qty, c(6));
        let mut over = fill("x", Side::Yes, Action::Buy, c(7), p(4_900));
        over.client_order_id = "coid-1".to_string();
        assert_eq!(
            b.fill(&over).unwrap().anomaly,
            Some(FillAnomaly::ExceedsReservation { reserved: c(6) })
        );
        assert!(b.reservation("coid-1").is_none());
        let stray = fill("y", Side::Yes, Action::Buy, c(1), p(4_900));
        assert_eq!(
            b.fill(&stray).unwrap().anomaly,
            Some(FillAnomaly::WithoutReservation)
        );
        // The fills happened, so the position counts them all.
        assert_eq!(b.position(&m()).unwrap().qty, c(12));
    }

    #[test]
    fn settlement_closes_the_position_into_cash_and_releases_open_orders() {
        let mut b = Book::default();
        b.set_cash(usd(100)).unwrap();
        b.fill(&fill("1", Side::No, Action::Buy, c(10), p(3_000)))
            .unwrap();
        b.reserve(
            "open".to_string(),
            Reservation {
                market: m(),
                side: Side::No,
                action: Action::Buy,
                effect: OrderEffect::Increase,
                qty: c(1),
                limit_price: p(3_000),
                created_at: t(0),
            },
        );
        // NO won: YES settles at 0, each NO pays $1.
        let settled = b.settle(&m(), Price::ZERO).unwrap();
        assert_eq!(settled.realised, Some(usd(7)));
        assert_eq!(settled.released, vec!["open".to_string()]);
        assert_eq!(b.cash(), Some(usd(107)));
        assert!(b.market(&m()).is_none());
        // Settling again is harmless.
        assert_eq!(
            b.settle(&m(), Price::ZERO).unwrap(),
            Settled {
                realised: None,
                released: vec![]
            }
        );
    }

    #[test]
    fn equity_needs_cash_and_a_mark_for_every_held_market() {
        let mut b = Book::default();
        assert_eq!(b.equity().unwrap_err().what, "cash");
        b.set_cash(usd(100)).unwrap();
        b.fill(&fill("1", Side::No, Action::Buy, c(10), p(3_000)))
            .unwrap();
        let missing = b.equity().unwrap_err();
        assert_eq!((missing.what, missing.market), ("mark", Some(m())));
        // YES marked at 0.60 → NO is worth 0.40: 97 + 4 = 101.
        b.record_mark(&m(), p(6_000), t(0), t(0)).unwrap();
        assert_eq!(b.equity(), Ok(usd(101)));
    }

    #[test]
    fn marks_from_the_future_are_refused_and_older_marks_ignored() {
        let mut b = Book::default();
        assert_eq!(
            b.record_mark(&m(), p(5_000), t(1), t(0))
                .unwrap_err()
                .code(),
            "MARK_FROM_FUTURE"
        );
        b.record_mark(&m(), p(5_000), t(10), t(10)).unwrap();
        b.record_mark(&m(), p(9_000), t(5), t(11)).unwrap();
        assert_eq!(b.mark(&m()).unwrap().yes, p(5_000));
    }

    #[test]
    fn day_start_equity_resets_at_utc_midnight_and_not_before() {
        let midnight = DateTime::from_timestamp_millis(1_767_312_000_000).unwrap(); // 2026-01-02T00:00Z
        let before = midnight - chrono::TimeDelta::milliseconds(1);
        let mut b = Book::default();
        b.set_cash(usd(100)).unwrap();
        b.roll_day(before - chrono::TimeDelta::hours(1));
        b.track_baselines();
        assert_eq!(b.day_start_equity(), Some(usd(100)));
        b.set_cash(usd(90)).unwrap();
        b.roll_day(before);
        assert_eq!(b.day_start_equity(), Some(usd(100)));
        assert_eq!(b.daily_loss(), Ok(10_000_000));
        b.roll_day(midnight);
        assert_eq!(b.day_start_equity(), Some(usd(90)));
        assert_eq!(b.daily_loss(), Ok(0));
        // A clock that steps back does not roll the day back.
        b.set_cash(usd(80)).unwrap();
        b.roll_day(before);
        assert_eq!(b.day_start_equity(), Some(usd(90)));
    }

    #[test]
    fn reducible_quantity_subtracts_open_reducing_orders() {
        let mut b = Book::default();
        b.fill(&fill("1", Side::Yes, Action::Buy, c(10), p(3_000)))
            .unwrap();
        b.reserve(
            "r".to_string(),
            Reservation {
                market: m(),
                side: Side::Yes,
                action: Action::Sell,
                effect: OrderEffect::Reduce,
                qty: c(4),
                limit_price: p(3_000),
                created_at: t(0),
            },
        );
        assert_eq!(b.reducible(&m()), Some((Side::Yes, c(6))));
    }
}
