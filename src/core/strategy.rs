//! Cross-venue fair value: the Polymarket mid is the model probability for the paired Kalshi
//! market; buy the Kalshi side whose ask plus taker fee is cheaper than the model by more than
//! `min_edge_bps`, sized with fractional Kelly.
//!
//! All arithmetic is integer. Probabilities are [`Prob`] (parts per million), which is also
//! micro-dollars per $1 contract, so "probability" and "cost per contract" share a unit:
//!
//! - `p` — the model probability of the side (`mid` of the Polymarket quote for the outcome
//!   paired with Kalshi YES; `1 − mid` for NO);
//! - `c = ask + fee_rate(ask)` — what one contract costs, with the fee *rate*
//!   `0.07 · P · (1 − P)` rounded up to the micro-dollar;
//! - `edge = p − c`; a side qualifies when `edge > min_edge` (strictly);
//! - Kelly for a contract that pays $1: `f* = edge / (1 − c)`; the stake is
//!   `bankroll · f* · kelly_fraction`, capped at `max_notional`, turned into whole steps of
//!   `contract_step` (rounded down) and capped at the size displayed at the best ask (the
//!   order's limit is that ask, so it fills in full or not at all);
//! - finally the real fee of that size (rounded up to the cent, [`kalshi_taker_fee`]) is
//!   charged: the total must still fit `max_notional` and the edge net of the real fee must
//!   still exceed `min_edge`, or there is no signal.
//!
//! The risk governor caps the order again; the strategy's cap only keeps one signal sane.

use crate::core::audit::Hash32;
use crate::core::money::{kalshi_taker_fee, Price, Qty, Usd, PRICE_SCALE};
use crate::core::orders::client_order_id;
use crate::core::pairs::PairId;
use crate::core::paper::takeable_levels;
use crate::core::prob::{Prob, PPM, PPM_PER_BPS};
use crate::core::risk::{Action, IntentKind, MarketId, OrderIntent, Side};
use crate::venues::kalshi::Orderbook;
use crate::venues::polymarket::GammaMarket;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Strategy parameters. Validated before use ([`StrategyConfig::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    pub strategy_id: String,
    /// The edge, net of fees, must exceed this (basis points of $1).
    pub min_edge_bps: i64,
    /// Fraction of the Kelly stake, in basis points (2,500 = quarter Kelly).
    pub kelly_fraction_bps: i64,
    /// Most one signal may cost, fees included.
    pub max_notional: Usd,
    /// A Polymarket quote wider than this (ask − bid, basis points) is not a usable model.
    pub max_model_spread_bps: i64,
    /// Size granularity (100 = whole contracts).
    pub contract_step: Qty,
    /// Signals in the same bucket of this many seconds share a client order id.
    pub bucket_secs: i64,
}

impl StrategyConfig {
    /// The fair-value strategy's defaults: 2% edge, quarter Kelly, $100 per signal, a 10%
    /// model spread at most, whole contracts, 5-minute buckets (the cycle's cadence).
    pub fn fair_value(strategy_id: &str) -> StrategyConfig {
        StrategyConfig {
            strategy_id: strategy_id.to_string(),
            min_edge_bps: 200,
            kelly_fraction_bps: 2_500,
            max_notional: Usd(100_000_000),
            max_model_spread_bps: 1_000,
            contract_step: Qty(100),
            bucket_secs: 300,
        }
    }

    pub fn validate(&self) -> Result<(), StrategyError> {
        let bad = |field: &'static str| Err(StrategyError::InvalidConfig { field });
        if self.strategy_id.trim().is_empty() {
            return bad("strategy_id");
        }
        if !(0..10_000).contains(&self.min_edge_bps) {
            return bad("min_edge_bps");
        }
        if !(1..=10_000).contains(&self.kelly_fraction_bps) {
            return bad("kelly_fraction_bps");
        }
        if self.max_notional.micros() <= 0 {
            return bad("max_notional");
        }
        if !(0..=10_000).contains(&self.max_model_spread_bps) {
            return bad("max_model_spread_bps");
        }
        if self.contract_step.units() <= 0 {
            return bad("contract_step");
        }
        if self.bucket_secs <= 0 {
            return bad("bucket_secs");
        }
        Ok(())
    }
}

/// The model's quote for the Polymarket outcome paired with Kalshi YES.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelQuote {
    pub bid: Price,
    pub ask: Price,
}

/// Why the strategy cannot run on its inputs (as opposed to finding no edge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrategyError {
    InvalidConfig {
        field: &'static str,
    },
    /// Gamma has no best bid/ask for the market, or a crossed one.
    ModelQuoteMissing {
        condition_id: String,
    },
    /// A model quote that is crossed or touches $0 / $1.
    ModelQuoteInvalid {
        bid: Price,
        ask: Price,
    },
    /// Only binary markets (outcome 0 or 1) can be paired.
    OutcomeNotBinary {
        outcome: u8,
        outcomes: usize,
    },
}

impl StrategyError {
    pub fn code(&self) -> &'static str {
        match self {
            StrategyError::InvalidConfig { .. } => "STRATEGY_INVALID_CONFIG",
            StrategyError::ModelQuoteMissing { .. } => "STRATEGY_MODEL_QUOTE_MISSING",
            StrategyError::ModelQuoteInvalid { .. } => "STRATEGY_MODEL_QUOTE_INVALID",
            StrategyError::OutcomeNotBinary { .. } => "STRATEGY_OUTCOME_NOT_BINARY",
        }
    }
}

impl fmt::Display for StrategyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrategyError::InvalidConfig { field } => write!(f, "{}: field={field}", self.code()),
            StrategyError::ModelQuoteMissing { condition_id } => {
                write!(f, "{}: condition_id={condition_id}", self.code())
            }
            StrategyError::ModelQuoteInvalid { bid, ask } => {
                write!(f, "{}: bid={bid} ask={ask}", self.code())
            }
            StrategyError::OutcomeNotBinary { outcome, outcomes } => {
                write!(f, "{}: outcome={outcome} outcomes={outcomes}", self.code())
            }
        }
    }
}

/// The model quote of a Gamma market for outcome `outcome` (0 or 1 of a two-outcome market).
/// Gamma's `bestBid`/`bestAsk` are those of the first outcome's token; the second outcome's
/// quote is their complement (`bid₁ = 1 − ask₀`, `ask₁ = 1 − bid₀`).
pub fn model_quote(gamma: &GammaMarket, outcome: u8) -> Result<ModelQuote, StrategyError> {
    if gamma.outcomes.len() != 2 || outcome > 1 {
        return Err(StrategyError::OutcomeNotBinary {
            outcome,
            outcomes: gamma.outcomes.len(),
        });
    }
    let missing = || StrategyError::ModelQuoteMissing {
        condition_id: gamma.condition_id.clone(),
    };
    let (bid, ask) = (
        gamma.best_bid.ok_or_else(missing)?,
        gamma.best_ask.ok_or_else(missing)?,
    );
    if bid > ask || bid == Price::ZERO || ask == Price::ONE_DOLLAR {
        return Err(missing());
    }
    Ok(match outcome {
        0 => ModelQuote { bid, ask },
        _ => ModelQuote {
            bid: ask.complement(),
            ask: bid.complement(),
        },
    })
}

/// Everything one evaluation needs.
#[derive(Debug, Clone)]
pub struct SignalInput<'a> {
    pub pair_id: &'a PairId,
    pub market: &'a MarketId,
    /// The Kalshi book as ingested.
    pub book: &'a Orderbook,
    pub model: ModelQuote,
    /// Money the Kelly fraction applies to (equity as the risk governor sees it).
    pub bankroll: Usd,
    /// Evidence hashes of the bytes the inputs were parsed from (book, Gamma market, …).
    pub evidence: Vec<Hash32>,
    pub now: DateTime<Utc>,
}

/// A trade the strategy wants, with the forecast record the profitability gate scores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    pub strategy_id: String,
    pub pair_id: PairId,
    pub market: MarketId,
    pub side: Side,
    /// The model's probability that `side` wins.
    pub model_prob: Prob,
    /// The market's: the ask of `side`, read as a probability.
    pub market_prob: Prob,
    /// Edge per contract net of the real fee, in basis points (rounded down).
    pub edge_bps: i64,
    pub kelly_fraction_bps: i64,
    pub qty: Qty,
    pub limit_price: Price,
    /// Notional at the limit plus the taker fee of the whole size.
    pub cost: Usd,
    pub fee: Usd,
    pub evidence: Vec<Hash32>,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub at: DateTime<Utc>,
    /// `at` in whole buckets of `bucket_secs` since the epoch.
    pub bucket: i64,
    pub client_order_id: String,
}

impl Signal {
    /// The order to put through the risk governor: buy `qty` of `side` at `limit_price`.
    pub fn intent(&self) -> OrderIntent {
        OrderIntent {
            client_order_id: self.client_order_id.clone(),
            market: self.market.clone(),
            side: self.side,
            action: Action::Buy,
            qty: self.qty,
            limit_price: self.limit_price,
            kind: IntentKind::New,
        }
    }
}

/// Why a pair produced no signal this cycle (not an error: the normal outcome most cycles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoSignal {
    /// `STRATEGY_…`.
    pub code: &'static str,
    pub detail: String,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Signal(Signal),
    NoSignal(NoSignal),
}

/// `0.07 · P · (1 − P)` dollars per contract, in micro-dollars, rounded up.
fn fee_rate_micros(price: Price) -> i64 {
    let p = price.units();
    let num = 7 * p * (PRICE_SCALE - p);
    // dollars = 7·p·(10⁴−p)/10¹⁰, micro-dollars = that · 10⁶ = 7·p·(10⁴−p)/10⁴.
    (num + 9_999) / 10_000
}

struct Evaluation {
    side: Side,
    gross_edge: i64,
    outcome: Result<Signal, NoSignal>,
}

/// Evaluates one pair: a signal for at most one side (both asks cannot be cheap at once on an
/// uncrossed book), or the reason there is none.
pub fn evaluate(
    config: &StrategyConfig,
    input: &SignalInput<'_>,
) -> Result<Decision, StrategyError> {
    config.validate()?;
    let spread = input.model.ask.units() - input.model.bid.units();
    if spread < 0 || input.model.bid == Price::ZERO || input.model.ask == Price::ONE_DOLLAR {
        return Err(StrategyError::ModelQuoteInvalid {
            bid: input.model.bid,
            ask: input.model.ask,
        });
    }
    if spread > config.max_model_spread_bps {
        return Ok(Decision::NoSignal(NoSignal {
            code: "STRATEGY_MODEL_SPREAD_TOO_WIDE",
            detail: format!(
                "spread_bps={spread} max_bps={}",
                config.max_model_spread_bps
            ),
        }));
    }
    if input.bankroll.micros() <= 0 {
        return Ok(Decision::NoSignal(NoSignal {
            code: "STRATEGY_BANKROLL_NOT_POSITIVE",
            detail: format!("bankroll={}", input.bankroll),
        }));
    }
    let p_yes = Prob::mid(input.model.bid, input.model.ask);
    let mut evaluations: Vec<Evaluation> = [Side::Yes, Side::No]
        .into_iter()
        .map(|side| {
            let p = match side {
                Side::Yes => p_yes,
                Side::No => p_yes.complement(),
            };
            evaluate_side(config, input, side, p)
        })
        .collect();
    if let Some(i) = evaluations.iter().position(|e| e.outcome.is_ok()) {
        let e = evaluations.swap_remove(i);
        return Ok(e.outcome.map_or_else(Decision::NoSignal, Decision::Signal));
    }
    // Report the side that came closest.
    evaluations.sort_by_key(|e| std::cmp::Reverse(e.gross_edge));
    let best = evaluations.swap_remove(0);
    let mut no = match best.outcome {
        Ok(signal) => return Ok(Decision::Signal(signal)),
        Err(no) => no,
    };
    no.detail = format!("side={} {}", best.side.as_str(), no.detail);
    Ok(Decision::NoSignal(no))
}

fn evaluate_side(
    config: &StrategyConfig,
    input: &SignalInput<'_>,
    side: Side,
    p: Prob,
) -> Evaluation {
    let fail = |gross_edge: i64, code: &'static str, detail: String| Evaluation {
        side,
        gross_edge,
        outcome: Err(NoSignal { code, detail }),
    };
    let Some(best) = takeable_levels(input.book, side, Action::Buy)
        .first()
        .copied()
    else {
        return fail(i64::MIN, "STRATEGY_NO_ASK", "book_side=empty".to_string());
    };
    let ask = best.price;
    let unit_cost = ask.units() * (PPM / PRICE_SCALE) + fee_rate_micros(ask);
    let gross_edge = p.ppm() - unit_cost;
    let min_edge = config.min_edge_bps * PPM_PER_BPS;
    if gross_edge <= min_edge {
        return fail(
            gross_edge,
            "STRATEGY_EDGE_BELOW_MIN",
            format!(
                "model={p} ask={ask} unit_cost_micros={unit_cost} edge_ppm={gross_edge} min_ppm={min_edge}"
            ),
        );
    }
    // Kelly: f* = edge / (1 − c), then the fraction, in ppm of the bankroll.
    let kelly_ppm = i128::from(gross_edge) * i128::from(PPM) / i128::from(PPM - unit_cost);
    let fraction_ppm = kelly_ppm * i128::from(config.kelly_fraction_bps) / 10_000;
    let stake = (i128::from(input.bankroll.micros()) * fraction_ppm / i128::from(PPM))
        .min(i128::from(config.max_notional.micros()));
    let step = i128::from(config.contract_step.units());
    let by_stake = stake * 100 / i128::from(unit_cost) / step * step;
    let by_book = i128::from(best.qty.units()) / step * step;
    let mut qty = by_stake.min(by_book);
    // The real fee is rounded up to the cent for the whole size; step down until it fits.
    let (fee, cost) = loop {
        if qty <= 0 {
            return fail(
                gross_edge,
                "STRATEGY_SIZE_ZERO",
                format!(
                    "stake_micros={stake} unit_cost_micros={unit_cost} level_qty={}",
                    best.qty
                ),
            );
        }
        let q = Qty(qty as i64);
        let fee = kalshi_taker_fee(ask, q);
        let cost = i128::from(ask.units()) * qty + i128::from(fee.micros());
        if cost <= i128::from(config.max_notional.micros()) {
            break (fee, cost);
        }
        qty -= step;
    };
    // Net edge with the real fee: p·qty − cost·100 > min_edge·qty (all in micro-dollars × 100).
    let expected = i128::from(p.ppm()) * qty - cost * 100;
    if expected <= i128::from(min_edge) * qty {
        return fail(
            gross_edge,
            "STRATEGY_EDGE_BELOW_MIN_AFTER_FEES",
            format!("qty={} fee={fee} cost_micros={cost}", Qty(qty as i64)),
        );
    }
    let edge_bps = (expected / qty / i128::from(PPM_PER_BPS)) as i64;
    let bucket = input.now.timestamp().div_euclid(config.bucket_secs);
    Evaluation {
        side,
        gross_edge,
        outcome: Ok(Signal {
            strategy_id: config.strategy_id.clone(),
            pair_id: input.pair_id.clone(),
            market: input.market.clone(),
            side,
            model_prob: p,
            market_prob: Prob::from_price(ask),
            edge_bps,
            kelly_fraction_bps: config.kelly_fraction_bps,
            qty: Qty(qty as i64),
            limit_price: ask,
            cost: Usd(cost as i64),
            fee,
            evidence: input.evidence.clone(),
            at: input.now,
            bucket,
            client_order_id: client_order_id(
                &config.strategy_id,
                input.pair_id,
                input.market,
                side,
                bucket,
            ),
        }),
    }
}

#[cfg(test)]
mod tests;
