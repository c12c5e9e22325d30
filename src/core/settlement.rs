//! The fill ledger: positions built from entry fills, closed into trades with realised P&L when
//! contracts are sold (or netted against the other side) or when the market resolves.
//!
//! Kalshi nets the two sides of a market, so a market holds at most one side. Each fill is read
//! as the leg it acquires ([`acquired_leg`]): `buy S @ p` acquires `S @ p`, `sell S @ p`
//! acquires `other(S) @ 1 − p`. A leg on the held side (or on a flat market) opens a lot; a leg
//! on the other side closes held contracts first-in first-out, each closed contract being worth
//! `1 − leg price` (what selling the held side at that price returns). Resolution closes what
//! is left: $1 per contract if the held side won, $0 otherwise.
//!
//! Every closed trade names the entry fills it consumed and how much of each, and satisfies
//! `realised_pnl = exit_value − exit_fees − entry_cost − entry_fees` exactly (micro-dollars).
//! Fees of partly consumed fills are split pro rata, rounded down, with the last part taking
//! the remainder, so the parts always sum to the fee paid.

use crate::core::money::{Price, Qty, Usd, PRICE_SCALE};
use crate::core::risk::book::acquired_leg;
use crate::core::risk::{Action, MarketId, Side};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A fill as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerFill {
    pub fill_id: String,
    pub client_order_id: String,
    pub market: MarketId,
    pub side: Side,
    pub action: Action,
    pub qty: Qty,
    /// Price of `side` per contract.
    pub price: Price,
    pub fee: Usd,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub at: DateTime<Utc>,
}

/// How a market resolved. Kalshi's `scalar` and `void` are not traded by this system and are
/// refused rather than guessed ([`LedgerError::UnsupportedResult`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    Yes,
    No,
}

impl Resolution {
    /// From a market's `result` (`""` is not resolved: `Ok(None)`).
    pub fn from_result(result: &str) -> Result<Option<Resolution>, LedgerError> {
        match result {
            "" => Ok(None),
            "yes" => Ok(Some(Resolution::Yes)),
            "no" => Ok(Some(Resolution::No)),
            other => Err(LedgerError::UnsupportedResult {
                result: other.to_string(),
            }),
        }
    }

    fn winner(self) -> Side {
        match self {
            Resolution::Yes => Side::Yes,
            Resolution::No => Side::No,
        }
    }
}

/// Part of an entry fill consumed by a closed trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryLink {
    pub fill_id: String,
    pub qty: Qty,
    /// Leg price × qty.
    pub cost: Usd,
    /// This part's share of the fill's fee.
    pub fee: Usd,
}

/// What closed the trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Exit {
    /// A sell (or a buy of the other side) filled.
    Fill { fill_id: String },
    /// The market resolved.
    Settlement { result: Resolution },
}

/// A round trip: entries, exit, realised P&L (fees included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosedTrade {
    /// `trade-` + 16 hex digits of SHA-256 over the market, the exit and the entry parts.
    pub trade_id: String,
    pub market: MarketId,
    /// The side that was held.
    pub side: Side,
    pub qty: Qty,
    pub entries: Vec<EntryLink>,
    pub entry_cost: Usd,
    pub entry_fees: Usd,
    pub exit: Exit,
    /// Sale proceeds or settlement payout.
    pub exit_value: Usd,
    pub exit_fees: Usd,
    pub realised_pnl: Usd,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub opened_at: DateTime<Utc>,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub closed_at: DateTime<Utc>,
}

impl ClosedTrade {
    /// `exit_value − exit_fees − entry_cost − entry_fees`, or `None` on overflow.
    pub fn expected_pnl(&self) -> Option<Usd> {
        self.exit_value
            .checked_sub(self.exit_fees)?
            .checked_sub(self.entry_cost)?
            .checked_sub(self.entry_fees)
    }
}

/// One open lot: what is left of an entry fill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lot {
    pub fill_id: String,
    pub qty: Qty,
    /// Leg price per contract.
    pub price: Price,
    /// Fee not yet attributed to a closed trade.
    pub fee: Usd,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub opened_at: DateTime<Utc>,
}

/// The open position in one market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenPosition {
    pub side: Side,
    /// Oldest first.
    pub lots: Vec<Lot>,
}

impl OpenPosition {
    pub fn qty(&self) -> Qty {
        Qty(self.lots.iter().map(|l| l.qty.units()).sum())
    }
}

/// Why the ledger refused an update; it is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerError {
    DuplicateFill {
        fill_id: String,
    },
    InvalidFill {
        fill_id: String,
        field: &'static str,
    },
    UnsupportedResult {
        result: String,
    },
    /// The venue settled a different count than we hold.
    SettlementMismatch {
        market: MarketId,
        ours: Qty,
        venue: Qty,
    },
    Overflow,
}

impl LedgerError {
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::DuplicateFill { .. } => "LEDGER_DUPLICATE_FILL",
            LedgerError::InvalidFill { .. } => "LEDGER_INVALID_FILL",
            LedgerError::UnsupportedResult { .. } => "LEDGER_RESULT_UNSUPPORTED",
            LedgerError::SettlementMismatch { .. } => "LEDGER_SETTLEMENT_MISMATCH",
            LedgerError::Overflow => "LEDGER_ARITHMETIC_OVERFLOW",
        }
    }
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::DuplicateFill { fill_id } => {
                write!(f, "{}: fill_id={fill_id}", self.code())
            }
            LedgerError::InvalidFill { fill_id, field } => {
                write!(f, "{}: fill_id={fill_id} field={field}", self.code())
            }
            LedgerError::UnsupportedResult { result } => {
                write!(f, "{}: result={result:?}", self.code())
            }
            LedgerError::SettlementMismatch {
                market,
                ours,
                venue,
            } => write!(
                f,
                "{}: market={market} ours={ours} venue={venue}",
                self.code()
            ),
            LedgerError::Overflow => f.write_str(self.code()),
        }
    }
}

fn to_usd(v: i128) -> Result<Usd, LedgerError> {
    i64::try_from(v).map(Usd).map_err(|_| LedgerError::Overflow)
}

/// `part / whole` of `amount`, rounded down (`whole > 0`).
fn pro_rata(amount: i64, part: i64, whole: i64) -> i64 {
    (i128::from(amount) * i128::from(part) / i128::from(whole)) as i64
}

fn trade_id(market: &MarketId, exit: &Exit, entries: &[EntryLink]) -> String {
    let mut h = Sha256::new();
    let exit_key = match exit {
        Exit::Fill { fill_id } => format!("fill:{fill_id}"),
        Exit::Settlement { result } => format!("settlement:{result:?}"),
    };
    let mut parts = vec![market.as_str().to_string(), exit_key];
    for e in entries {
        parts.push(format!("{}:{}", e.fill_id, e.qty.units()));
    }
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    format!("trade-{}", &hex::encode(h.finalize())[..16])
}

/// Open positions by market, and the fill ids already applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ledger {
    positions: BTreeMap<MarketId, OpenPosition>,
    applied: BTreeSet<String>,
}

impl Ledger {
    /// Replays `fills` in order.
    pub fn replay<'a>(
        fills: impl IntoIterator<Item = &'a LedgerFill>,
    ) -> Result<(Ledger, Vec<ClosedTrade>), LedgerError> {
        let mut ledger = Ledger::default();
        let mut closed = Vec::new();
        for fill in fills {
            closed.extend(ledger.apply_fill(fill)?);
        }
        Ok((ledger, closed))
    }

    pub fn position(&self, market: &MarketId) -> Option<&OpenPosition> {
        self.positions.get(market)
    }

    pub fn positions(&self) -> impl Iterator<Item = (&MarketId, &OpenPosition)> {
        self.positions.iter()
    }

    /// Net contracts per market as Kalshi reports `position_fp`: YES positive, NO negative.
    pub fn signed_positions(&self) -> BTreeMap<MarketId, Qty> {
        self.positions
            .iter()
            .map(|(m, p)| {
                let q = p.qty().units();
                let signed = match p.side {
                    Side::Yes => q,
                    Side::No => -q,
                };
                (m.clone(), Qty(signed))
            })
            .collect()
    }

    /// Applies one fill; returns the trade it closed, if it closed contracts.
    pub fn apply_fill(&mut self, fill: &LedgerFill) -> Result<Option<ClosedTrade>, LedgerError> {
        let invalid = |field| LedgerError::InvalidFill {
            fill_id: fill.fill_id.clone(),
            field,
        };
        if fill.fill_id.is_empty() {
            return Err(invalid("fill_id"));
        }
        if self.applied.contains(&fill.fill_id) {
            return Err(LedgerError::DuplicateFill {
                fill_id: fill.fill_id.clone(),
            });
        }
        if fill.qty.units() <= 0 {
            return Err(invalid("qty"));
        }
        if fill.fee.micros() < 0 {
            return Err(invalid("fee"));
        }
        let (leg, leg_price) = acquired_leg(fill.side, fill.action, fill.price);
        let mut next = self.positions.get(&fill.market).cloned();
        let mut closed = None;
        let mut open_qty = fill.qty.units();
        let mut open_fee = fill.fee.micros();
        if let Some(pos) = next.as_mut().filter(|p| p.side != leg) {
            let close = open_qty.min(pos.qty().units());
            let exit_fee = if close == open_qty {
                open_fee
            } else {
                pro_rata(open_fee, close, open_qty)
            };
            let entries = take_fifo(pos, close);
            let exit_value = i128::from(PRICE_SCALE - leg_price.units()) * i128::from(close);
            let exit = Exit::Fill {
                fill_id: fill.fill_id.clone(),
            };
            closed = Some(close_trade(
                &fill.market,
                pos.side,
                entries,
                exit,
                exit_value,
                exit_fee,
                fill.at,
            )?);
            open_qty -= close;
            open_fee -= exit_fee;
            if pos.lots.is_empty() {
                next = None;
            }
        }
        if open_qty > 0 {
            let lot = Lot {
                fill_id: fill.fill_id.clone(),
                qty: Qty(open_qty),
                price: leg_price,
                fee: Usd(open_fee),
                opened_at: fill.at,
            };
            match next.as_mut() {
                Some(pos) => pos.lots.push(lot),
                None => {
                    next = Some(OpenPosition {
                        side: leg,
                        lots: vec![lot],
                    })
                }
            }
        }
        match next {
            Some(pos) => self.positions.insert(fill.market.clone(), pos),
            None => self.positions.remove(&fill.market),
        };
        self.applied.insert(fill.fill_id.clone());
        Ok(closed)
    }

    /// The market resolved: closes what is held into a trade (`None` if flat).
    pub fn settle(
        &mut self,
        market: &MarketId,
        result: Resolution,
        at: DateTime<Utc>,
    ) -> Result<Option<ClosedTrade>, LedgerError> {
        let Some(mut pos) = self.positions.get(market).cloned() else {
            return Ok(None);
        };
        let qty = pos.qty().units();
        let side = pos.side;
        let entries = take_fifo(&mut pos, qty);
        let payout = if side == result.winner() {
            i128::from(PRICE_SCALE) * i128::from(qty)
        } else {
            0
        };
        let trade = close_trade(
            market,
            side,
            entries,
            Exit::Settlement { result },
            payout,
            0,
            at,
        )?;
        self.positions.remove(market);
        Ok(Some(trade))
    }
}

/// What the venue's settlement record (`GET /portfolio/settlements`) says about one market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueSettlementTerms {
    pub result: Resolution,
    /// Contracts held at settlement, signed as Kalshi nets them (YES positive, NO negative):
    /// `yes_count − no_count`.
    pub net: Qty,
    /// What the venue paid out.
    pub revenue: Usd,
    pub at: DateTime<Utc>,
}

impl VenueSettlementTerms {
    /// From the venue's record (`scalar` and `void` are refused, like ingested results).
    pub fn of(s: &crate::venues::kalshi::VenueSettlement) -> Result<Self, LedgerError> {
        let result = Resolution::from_result(&s.market_result)?.ok_or_else(|| {
            LedgerError::UnsupportedResult {
                result: s.market_result.clone(),
            }
        })?;
        let revenue = s
            .revenue_cents
            .checked_mul(10_000)
            .filter(|r| *r >= 0)
            .ok_or(LedgerError::Overflow)?;
        Ok(VenueSettlementTerms {
            result,
            net: Qty(s.yes_count.units() - s.no_count.units()),
            revenue: Usd(revenue),
            at: s.settled_time,
        })
    }
}

impl Ledger {
    /// The venue settled `market` (live): what is held closes into a trade whose exit value is
    /// the venue's payout (`revenue`), with no exit fee (fees were charged on the fills). The
    /// venue's count must be what we hold, else nothing changes
    /// ([`LedgerError::SettlementMismatch`]). `None` if we hold nothing there.
    pub fn settle_from_venue(
        &mut self,
        market: &MarketId,
        terms: &VenueSettlementTerms,
    ) -> Result<Option<ClosedTrade>, LedgerError> {
        let ours = self
            .signed_positions()
            .get(market)
            .copied()
            .unwrap_or(Qty::ZERO);
        if ours.units() == 0 {
            return Ok(None);
        }
        if ours != terms.net {
            return Err(LedgerError::SettlementMismatch {
                market: market.clone(),
                ours,
                venue: terms.net,
            });
        }
        let Some(mut pos) = self.positions.get(market).cloned() else {
            return Ok(None);
        };
        let qty = pos.qty().units();
        let entries = take_fifo(&mut pos, qty);
        let trade = close_trade(
            market,
            pos.side,
            entries,
            Exit::Settlement {
                result: terms.result,
            },
            i128::from(terms.revenue.micros()),
            0,
            terms.at,
        )?;
        self.positions.remove(market);
        Ok(Some(trade))
    }
}

/// Removes `qty` contracts from the oldest lots, returning the parts taken (with their lots'
/// open times).
fn take_fifo(pos: &mut OpenPosition, qty: i64) -> Vec<(EntryLink, DateTime<Utc>)> {
    let mut left = qty;
    let mut out = Vec::new();
    while left > 0 {
        let Some(lot) = pos.lots.first_mut() else {
            break;
        };
        let take = left.min(lot.qty.units());
        let fee = if take == lot.qty.units() {
            lot.fee.micros()
        } else {
            pro_rata(lot.fee.micros(), take, lot.qty.units())
        };
        out.push((
            EntryLink {
                fill_id: lot.fill_id.clone(),
                qty: Qty(take),
                cost: Usd(lot.price.units() * take),
                fee: Usd(fee),
            },
            lot.opened_at,
        ));
        lot.qty = Qty(lot.qty.units() - take);
        lot.fee = Usd(lot.fee.micros() - fee);
        left -= take;
        if lot.qty.units() == 0 {
            pos.lots.remove(0);
        }
    }
    out
}

fn close_trade(
    market: &MarketId,
    side: Side,
    parts: Vec<(EntryLink, DateTime<Utc>)>,
    exit: Exit,
    exit_value: i128,
    exit_fee: i64,
    at: DateTime<Utc>,
) -> Result<ClosedTrade, LedgerError> {
    let opened_at = parts.iter().map(|(_, t)| *t).min().unwrap_or(at);
    let entries: Vec<EntryLink> = parts.into_iter().map(|(e, _)| e).collect();
    let qty: i64 = entries.iter().map(|e| e.qty.units()).sum();
    let entry_cost: i128 = entries.iter().map(|e| i128::from(e.cost.micros())).sum();
    let entry_fees: i128 = entries.iter().map(|e| i128::from(e.fee.micros())).sum();
    let pnl = exit_value - i128::from(exit_fee) - entry_cost - entry_fees;
    Ok(ClosedTrade {
        trade_id: trade_id(market, &exit, &entries),
        market: market.clone(),
        side,
        qty: Qty(qty),
        entries,
        entry_cost: to_usd(entry_cost)?,
        entry_fees: to_usd(entry_fees)?,
        exit,
        exit_value: to_usd(exit_value)?,
        exit_fees: Usd(exit_fee),
        realised_pnl: to_usd(pnl)?,
        opened_at,
        closed_at: at,
    })
}

#[cfg(test)]
mod tests;
