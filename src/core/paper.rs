//! Paper execution: an approved order filled against the ingested Kalshi order book as a taker.
//!
//! Kalshi lists bids only. Buying YES takes the YES asks, which are the NO bids seen from the
//! other side (`ask = 1 − NO bid`), best (highest NO bid) first; buying NO takes `1 − YES bid`.
//! Selling a side hits that side's bids, highest first. Each level fills at its own price, at
//! most its displayed quantity, and only while the price is at or better than the limit
//! (`≤ limit` when buying, `≥ limit` when selling). Every level filled is one fill and pays
//! Kalshi's taker fee rounded up to the cent ([`kalshi_taker_fee`]). What the book cannot fill
//! is left unfilled (the paper order is immediate-or-cancel); the book itself is not changed,
//! since the next ingestion replaces it.

use crate::core::money::{kalshi_taker_fee, Price, Qty, Usd};
use crate::core::risk::{Action, Approved, FillReport, MarketId, Side};
use crate::venues::kalshi::{Level, Orderbook};
use std::fmt;

/// One level taken: price per contract of the side traded, contracts, taker fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaperFill {
    pub price: Price,
    pub qty: Qty,
    pub fee: Usd,
}

/// What a paper order did against the book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperExecution {
    pub side: Side,
    pub action: Action,
    /// Best level first.
    pub fills: Vec<PaperFill>,
    pub filled: Qty,
    /// Ordered but not filled (left on the table; a paper order never rests).
    pub unfilled: Qty,
    /// Σ price × qty over the fills, fees excluded.
    pub notional: Usd,
    pub fees: Usd,
}

impl PaperExecution {
    /// The fills as the RiskGovernor and the ledger take them. Fill ids are
    /// `paper-<client_order_id>-<n>` (n from 0, best level first), so re-running the same
    /// paper order yields the same ids and the governor refuses the replay.
    pub fn fill_reports(&self, client_order_id: &str, market: &MarketId) -> Vec<FillReport> {
        self.fills
            .iter()
            .enumerate()
            .map(|(i, f)| FillReport {
                fill_id: format!("paper-{client_order_id}-{i}"),
                client_order_id: client_order_id.to_string(),
                market: market.clone(),
                side: self.side,
                action: self.action,
                qty: f.qty,
                price: f.price,
                fee: f.fee,
            })
            .collect()
    }
}

/// Why a paper order could not be executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaperError {
    QtyNotPositive(Qty),
    /// A limit of $0 or $1 cannot trade a binary contract.
    LimitOutOfRange(Price),
    /// The approval is for a cancel, which has nothing to fill.
    NotAnOrder,
    Overflow,
}

impl PaperError {
    pub fn code(&self) -> &'static str {
        match self {
            PaperError::QtyNotPositive(_) => "PAPER_QTY_NOT_POSITIVE",
            PaperError::LimitOutOfRange(_) => "PAPER_LIMIT_OUT_OF_RANGE",
            PaperError::NotAnOrder => "PAPER_NOT_AN_ORDER",
            PaperError::Overflow => "PAPER_ARITHMETIC_OVERFLOW",
        }
    }
}

impl fmt::Display for PaperError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaperError::QtyNotPositive(q) => write!(f, "{}: qty={q}", self.code()),
            PaperError::LimitOutOfRange(p) => write!(f, "{}: limit={p}", self.code()),
            PaperError::NotAnOrder | PaperError::Overflow => f.write_str(self.code()),
        }
    }
}

/// The levels an order of `side`/`action` can take, best first, as (price of `side`, qty).
pub fn takeable_levels(book: &Orderbook, side: Side, action: Action) -> Vec<Level> {
    let (bids, complement) = match (side, action) {
        (Side::Yes, Action::Buy) => (&book.no_bids, true),
        (Side::No, Action::Buy) => (&book.yes_bids, true),
        (Side::Yes, Action::Sell) => (&book.yes_bids, false),
        (Side::No, Action::Sell) => (&book.no_bids, false),
    };
    bids.iter()
        .rev()
        .map(|l| Level {
            price: if complement {
                l.price.complement()
            } else {
                l.price
            },
            qty: l.qty,
        })
        .collect()
}

/// Fills `qty` contracts of `side` (`action`) at `limit` or better against `book`.
pub fn execute(
    book: &Orderbook,
    side: Side,
    action: Action,
    limit: Price,
    qty: Qty,
) -> Result<PaperExecution, PaperError> {
    if qty.units() <= 0 {
        return Err(PaperError::QtyNotPositive(qty));
    }
    if limit == Price::ZERO || limit == Price::ONE_DOLLAR {
        return Err(PaperError::LimitOutOfRange(limit));
    }
    let acceptable = |p: Price| match action {
        Action::Buy => p <= limit,
        Action::Sell => p >= limit,
    };
    let mut fills = Vec::new();
    let mut left = qty.units();
    let mut notional: i64 = 0;
    let mut fees: i64 = 0;
    for level in takeable_levels(book, side, action) {
        if left == 0 || !acceptable(level.price) {
            break;
        }
        let take = Qty(left.min(level.qty.units()));
        let fee = kalshi_taker_fee(level.price, take);
        let cost = Usd::notional(level.price, take).ok_or(PaperError::Overflow)?;
        notional = notional
            .checked_add(cost.micros())
            .ok_or(PaperError::Overflow)?;
        fees = fees.checked_add(fee.micros()).ok_or(PaperError::Overflow)?;
        left -= take.units();
        fills.push(PaperFill {
            price: level.price,
            qty: take,
            fee,
        });
    }
    Ok(PaperExecution {
        side,
        action,
        fills,
        filled: Qty(qty.units() - left),
        unfilled: Qty(left),
        notional: Usd(notional),
        fees: Usd(fees),
    })
}

/// Executes an order the RiskGovernor approved — the only way the trading cycle fills on
/// paper, so an unchecked order cannot be filled.
pub fn execute_approved(
    book: &Orderbook,
    approved: &Approved,
) -> Result<PaperExecution, PaperError> {
    if approved.is_cancel() {
        return Err(PaperError::NotAnOrder);
    }
    let i = approved.intent();
    execute(book, i.side, i.action, i.limit_price, i.qty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(units: i64) -> Price {
        Price::new(units).unwrap()
    }
    fn lvl(price: i64, qty: i64) -> Level {
        Level {
            price: p(price),
            qty: Qty(qty),
        }
    }
    fn cents(c: i64) -> Usd {
        Usd::from_cents(c).unwrap()
    }

    /// YES bids 0.40 (10), 0.45 (5); NO bids 0.48 (3), 0.50 (2), 0.52 (4).
    /// So YES asks are 0.48 (4), 0.50 (2), 0.52 (3) and NO asks 0.55 (5), 0.60 (10).
    fn book() -> Orderbook {
        Orderbook {
            yes_bids: vec![lvl(4000, 1000), lvl(4500, 500)],
            no_bids: vec![lvl(4800, 300), lvl(5000, 200), lvl(5200, 400)],
        }
    }

    fn prices_and_qtys(e: &PaperExecution) -> Vec<(i64, i64)> {
        e.fills
            .iter()
            .map(|f| (f.price.units(), f.qty.units()))
            .collect()
    }

    #[test]
    fn yes_asks_are_the_no_bids_complemented_best_first() {
        let asks = takeable_levels(&book(), Side::Yes, Action::Buy);
        assert_eq!(asks, vec![lvl(4800, 400), lvl(5000, 200), lvl(5200, 300)]);
        let no_asks = takeable_levels(&book(), Side::No, Action::Buy);
        assert_eq!(no_asks, vec![lvl(5500, 500), lvl(6000, 1000)]);
    }

    #[test]
    fn a_limit_exactly_at_a_level_takes_it_one_unit_below_does_not() {
        let at = execute(&book(), Side::Yes, Action::Buy, p(4800), Qty(1000)).unwrap();
        assert_eq!(prices_and_qtys(&at), vec![(4800, 400)]);
        assert_eq!(at.unfilled, Qty(600));
        let below = execute(&book(), Side::Yes, Action::Buy, p(4799), Qty(1000)).unwrap();
        assert!(below.fills.is_empty());
        assert_eq!(below.filled, Qty::ZERO);
        assert_eq!(below.unfilled, Qty(1000));
        let second = execute(&book(), Side::Yes, Action::Buy, p(5000), Qty(1000)).unwrap();
        assert_eq!(prices_and_qtys(&second), vec![(4800, 400), (5000, 200)]);
        let just_below_second =
            execute(&book(), Side::Yes, Action::Buy, p(4999), Qty(1000)).unwrap();
        assert_eq!(prices_and_qtys(&just_below_second), vec![(4800, 400)]);
    }

    #[test]
    fn size_is_capped_by_each_level_and_spills_one_unit_at_a_time() {
        let exact = execute(&book(), Side::Yes, Action::Buy, p(9900), Qty(400)).unwrap();
        assert_eq!(prices_and_qtys(&exact), vec![(4800, 400)]);
        assert_eq!(exact.unfilled, Qty::ZERO);
        let one_more = execute(&book(), Side::Yes, Action::Buy, p(9900), Qty(401)).unwrap();
        assert_eq!(prices_and_qtys(&one_more), vec![(4800, 400), (5000, 1)]);
        let all = execute(&book(), Side::Yes, Action::Buy, p(9900), Qty(900)).unwrap();
        assert_eq!(
            prices_and_qtys(&all),
            vec![(4800, 400), (5000, 200), (5200, 300)]
        );
        assert_eq!(all.unfilled, Qty::ZERO);
        let beyond = execute(&book(), Side::Yes, Action::Buy, p(9900), Qty(901)).unwrap();
        assert_eq!(beyond.filled, Qty(900));
        assert_eq!(beyond.unfilled, Qty(1));
    }

    #[test]
    fn each_fill_pays_the_taker_fee_rounded_up_to_the_cent() {
        let e = execute(&book(), Side::Yes, Action::Buy, p(5000), Qty(600)).unwrap();
        // 4 @ 0.48: 0.07·4·0.48·0.52 = 0.069888 → 0.07; 2 @ 0.50: 0.07·2·0.25 = 0.035 → 0.04.
        assert_eq!(e.fills[0].fee, cents(7));
        assert_eq!(e.fills[1].fee, cents(4));
        assert_eq!(e.fees, cents(11));
        // Notional 4·0.48 + 2·0.50 = 2.92.
        assert_eq!(e.notional, Usd(2_920_000));
        // 0.01 contract @ 0.50: 0.07·0.01·0.25 = 0.000175 → one cent.
        let tiny = execute(&book(), Side::Yes, Action::Buy, p(5000), Qty(1)).unwrap();
        assert_eq!(tiny.fees, cents(1));
    }

    #[test]
    fn no_side_is_symmetric() {
        let at = execute(&book(), Side::No, Action::Buy, p(5500), Qty(800)).unwrap();
        assert_eq!(prices_and_qtys(&at), vec![(5500, 500)]);
        let below = execute(&book(), Side::No, Action::Buy, p(5499), Qty(800)).unwrap();
        assert!(below.fills.is_empty());
        let both = execute(&book(), Side::No, Action::Buy, p(6000), Qty(800)).unwrap();
        assert_eq!(prices_and_qtys(&both), vec![(5500, 500), (6000, 300)]);
        // 5 @ 0.55: 0.07·5·0.55·0.45 = 0.086625 → 0.09; 3 @ 0.60: 0.07·3·0.24 = 0.0504 → 0.06.
        assert_eq!(both.fees, cents(15));
    }

    #[test]
    fn selling_hits_bids_at_or_above_the_limit() {
        let at = execute(&book(), Side::Yes, Action::Sell, p(4500), Qty(800)).unwrap();
        assert_eq!(prices_and_qtys(&at), vec![(4500, 500)]);
        let above = execute(&book(), Side::Yes, Action::Sell, p(4501), Qty(800)).unwrap();
        assert!(above.fills.is_empty());
        let deep = execute(&book(), Side::No, Action::Sell, p(5000), Qty(800)).unwrap();
        assert_eq!(prices_and_qtys(&deep), vec![(5200, 400), (5000, 200)]);
    }

    #[test]
    fn an_empty_side_fills_nothing_and_bad_orders_are_refused() {
        let one_sided = Orderbook {
            yes_bids: vec![lvl(4000, 100)],
            no_bids: vec![],
        };
        let e = execute(&one_sided, Side::Yes, Action::Buy, p(9900), Qty(100)).unwrap();
        assert!(e.fills.is_empty());
        assert_eq!(e.unfilled, Qty(100));
        assert_eq!(
            execute(&book(), Side::Yes, Action::Buy, p(5000), Qty(0))
                .unwrap_err()
                .code(),
            "PAPER_QTY_NOT_POSITIVE"
        );
        assert_eq!(
            execute(&book(), Side::Yes, Action::Buy, Price::ONE_DOLLAR, Qty(1))
                .unwrap_err()
                .code(),
            "PAPER_LIMIT_OUT_OF_RANGE"
        );
    }

    #[test]
    fn fill_reports_have_stable_ids_per_level() {
        let e = execute(&book(), Side::Yes, Action::Buy, p(5000), Qty(600)).unwrap();
        let r = e.fill_reports("cid-1", &MarketId::new("M"));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].fill_id, "paper-cid-1-0");
        assert_eq!(r[1].fill_id, "paper-cid-1-1");
        assert_eq!(r[1].price, p(5000));
        assert_eq!(r[1].qty, Qty(200));
        assert_eq!(r[1].fee, cents(4));
        assert_eq!(r[0].side, Side::Yes);
        assert_eq!(r[0].action, Action::Buy);
    }
}
