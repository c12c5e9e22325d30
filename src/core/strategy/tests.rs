use super::*;
use crate::core::testkit::{p, t};
use crate::venues::kalshi::Level;

fn lvl(price: i64, qty: i64) -> Level {
    Level {
        price: p(price),
        qty: Qty(qty),
    }
}

/// YES bids 0.44 (50) and 0.45 (200); NO bids 0.48 (30) and 0.50 (100).
/// So the YES ask is 0.50 for 100 contracts and the NO ask 0.55 for 200.
fn book() -> Orderbook {
    Orderbook {
        yes_bids: vec![lvl(4400, 5_000), lvl(4500, 20_000)],
        no_bids: vec![lvl(4800, 3_000), lvl(5000, 10_000)],
    }
}

fn config() -> StrategyConfig {
    StrategyConfig::fair_value("fair_value_v1")
}

fn run(config: &StrategyConfig, book: &Orderbook, bid: i64, ask: i64, bankroll: i64) -> Decision {
    let pair = PairId::of("KXA", "0xa");
    let market = MarketId::new("KXA-1");
    evaluate(
        config,
        &SignalInput {
            pair_id: &pair,
            market: &market,
            book,
            model: ModelQuote {
                bid: p(bid),
                ask: p(ask),
            },
            bankroll: Usd::from_dollars(bankroll).unwrap(),
            evidence: vec![Hash32::from_bytes([1; 32]), Hash32::from_bytes([2; 32])],
            now: t(0),
        },
    )
    .unwrap()
}

fn signal(d: Decision) -> Signal {
    match d {
        Decision::Signal(s) => s,
        Decision::NoSignal(n) => panic!("no signal: {} {}", n.code, n.detail),
    }
}

fn no_signal(d: Decision) -> NoSignal {
    match d {
        Decision::Signal(s) => panic!("unexpected signal: {s:?}"),
        Decision::NoSignal(n) => n,
    }
}

#[test]
fn fee_rate_is_rounded_up_to_the_micro_dollar() {
    // 0.07 · 0.5 · 0.5 = 0.0175 exactly.
    assert_eq!(fee_rate_micros(p(5000)), 17_500);
    // 0.07 · 0.55 · 0.45 = 0.017325.
    assert_eq!(fee_rate_micros(p(5500)), 17_325);
    // 0.07 · 0.0001 · 0.9999 = 0.00000699993 → 7 micro-dollars.
    assert_eq!(fee_rate_micros(p(1)), 7);
}

/// Hand calculation: model 0.60/0.62 → p(YES) = 0.61. YES ask 0.50, fee rate 0.0175, so a
/// contract costs 0.5175 and the edge is 0.0925 (925 bps > 200).
/// Kelly f* = 0.0925 / 0.4825 = 0.191709 (ppm, rounded down); quarter Kelly 0.047927;
/// on $1,000 the stake is $47.927 → 47.927 / 0.5175 = 92.6 → 92 whole contracts
/// (the level shows 100). Fee of the order: 0.07 · 92 · 0.25 = 1.61 exactly. Cost
/// 92 · 0.50 + 1.61 = 47.61. Net edge: (0.61 · 92 − 47.61) / 92 = 0.0925 → 925 bps.
#[test]
fn buys_yes_when_the_ask_plus_fee_is_below_the_model_with_quarter_kelly_size() {
    let s = signal(run(&config(), &book(), 6000, 6200, 1_000));
    assert_eq!(s.side, Side::Yes);
    assert_eq!(s.model_prob.ppm(), 610_000);
    assert_eq!(s.market_prob.ppm(), 500_000);
    assert_eq!(s.limit_price, p(5000));
    assert_eq!(s.qty, Qty(9_200));
    assert_eq!(s.fee, Usd(1_610_000));
    assert_eq!(s.cost, Usd(47_610_000));
    assert_eq!(s.edge_bps, 925);
    assert_eq!(s.kelly_fraction_bps, 2_500);
    assert_eq!(s.evidence.len(), 2);
    let intent = s.intent();
    assert_eq!(intent.action, Action::Buy);
    assert_eq!(intent.qty, Qty(9_200));
    assert_eq!(intent.client_order_id, s.client_order_id);
    assert_eq!(s.bucket, t(0).timestamp() / 300);
}

/// Model 0.29/0.31 → p(YES) = 0.30, p(NO) = 0.70. NO ask = 1 − 0.45 = 0.55, fee rate
/// 0.017325 → unit cost 0.567325, edge 0.132675. f* = 0.132675 / 0.432675 = 0.306639;
/// quarter: 0.076659; stake on $1,000 = 76.659 → 135.1 → 135 contracts (level: 200).
/// Fee 0.07 · 135 · 0.55 · 0.45 = 2.338875 → 2.34. Cost 135 · 0.55 + 2.34 = 76.59.
#[test]
fn buys_no_symmetrically() {
    let s = signal(run(&config(), &book(), 2900, 3100, 1_000));
    assert_eq!(s.side, Side::No);
    assert_eq!(s.model_prob.ppm(), 700_000);
    assert_eq!(s.limit_price, p(5500));
    assert_eq!(s.qty, Qty(13_500));
    assert_eq!(s.fee, Usd::from_cents(234).unwrap());
    assert_eq!(s.cost, Usd(76_590_000));
    // (0.70 · 135 − 76.59) / 135 = 0.132666… → 1326 bps.
    assert_eq!(s.edge_bps, 1_326);
}

#[test]
fn the_edge_must_strictly_exceed_the_minimum() {
    // p(YES) = 0.5375 → edge over 0.5175 is exactly 0.02 = 200 bps: no signal.
    let n = no_signal(run(&config(), &book(), 5300, 5450, 1_000));
    assert_eq!(n.code, "STRATEGY_EDGE_BELOW_MIN");
    assert!(n.detail.starts_with("side=yes"), "{}", n.detail);
    // One ppm more clears it: 0.53755 (bid 0.5300, ask 0.5451).
    let s = signal(run(&config(), &book(), 5300, 5451, 1_000));
    assert_eq!(s.side, Side::Yes);
}

#[test]
fn size_is_capped_by_max_notional_fees_included() {
    let capped = StrategyConfig {
        max_notional: Usd::from_dollars(20).unwrap(),
        ..config()
    };
    // Stake capped at $20 → 20 / 0.5175 = 38.6 → 38 contracts; fee 0.07·38·0.25 = 0.665 →
    // 0.67; cost 19.67 ≤ 20.
    let s = signal(run(&capped, &book(), 6000, 6200, 1_000));
    assert_eq!(s.qty, Qty(3_800));
    assert_eq!(s.cost, Usd(19_670_000));
    assert!(s.cost <= capped.max_notional);

    // $19.148: the stake buys 37 contracts at the exact fee rate (37 · 0.5175 = 19.1475),
    // but the cent-rounded fee (0.07·37·0.25 = 0.6475 → 0.65) makes 18.50 + 0.65 = 19.15,
    // over the cap: one step down to 36 (18.00 + 0.63 = 18.63).
    let tight = StrategyConfig {
        max_notional: Usd(19_148_000),
        ..config()
    };
    let s = signal(run(&tight, &book(), 6000, 6200, 1_000));
    assert_eq!(s.qty, Qty(3_600));
    assert_eq!(s.cost, Usd(18_630_000));
}

#[test]
fn size_is_capped_by_the_displayed_size_at_the_ask() {
    // $100,000 bankroll wants far more than the 100 contracts shown at 0.50.
    let big = StrategyConfig {
        max_notional: Usd::from_dollars(1_000_000).unwrap(),
        ..config()
    };
    let s = signal(run(&big, &book(), 6000, 6200, 100_000));
    assert_eq!(s.qty, Qty(10_000));
    assert_eq!(s.limit_price, p(5000));
}

#[test]
fn kelly_fraction_scales_the_stake() {
    let full = StrategyConfig {
        kelly_fraction_bps: 10_000,
        ..config()
    };
    // Full Kelly: 0.191709 · $200 = 38.34 → 74.09 → 74 contracts.
    let s = signal(run(&full, &book(), 6000, 6200, 200));
    assert_eq!(s.qty, Qty(7_400));
    let tenth = StrategyConfig {
        kelly_fraction_bps: 1_000,
        ..config()
    };
    let s = signal(run(&tenth, &book(), 6000, 6200, 200));
    // 0.0191709 · 200 = 3.834 → 7.4 → 7 contracts.
    assert_eq!(s.qty, Qty(700));
    // A stake below one contract is no signal.
    let n = no_signal(run(&tenth, &book(), 6000, 6200, 10));
    assert_eq!(n.code, "STRATEGY_SIZE_ZERO");
}

#[test]
fn a_wide_model_an_empty_book_or_no_money_give_no_signal() {
    let n = no_signal(run(&config(), &book(), 4000, 8000, 1_000));
    assert_eq!(n.code, "STRATEGY_MODEL_SPREAD_TOO_WIDE");
    let empty = Orderbook::default();
    let n = no_signal(run(&config(), &empty, 6000, 6200, 1_000));
    assert_eq!(n.code, "STRATEGY_NO_ASK");
    let n = no_signal(run(&config(), &book(), 6000, 6200, 0));
    assert_eq!(n.code, "STRATEGY_BANKROLL_NOT_POSITIVE");
}

#[test]
fn the_same_inputs_in_the_same_bucket_give_the_same_client_order_id() {
    let a = signal(run(&config(), &book(), 6000, 6200, 1_000));
    let b = signal(run(&config(), &book(), 6000, 6200, 1_000));
    assert_eq!(a, b);
    assert_eq!(a.client_order_id.len(), 36);
}

#[test]
fn invalid_config_and_quotes_are_errors_not_signals() {
    let pair = PairId::of("KXA", "0xa");
    let market = MarketId::new("KXA-1");
    let b = book();
    let input = |bid, ask| SignalInput {
        pair_id: &pair,
        market: &market,
        book: &b,
        model: ModelQuote {
            bid: p(bid),
            ask: p(ask),
        },
        bankroll: Usd::from_dollars(1).unwrap(),
        evidence: vec![],
        now: t(0),
    };
    let bad = StrategyConfig {
        kelly_fraction_bps: 0,
        ..config()
    };
    assert_eq!(
        evaluate(&bad, &input(6000, 6200)).unwrap_err().to_string(),
        "STRATEGY_INVALID_CONFIG: field=kelly_fraction_bps"
    );
    assert_eq!(
        evaluate(&config(), &input(6200, 6000))
            .unwrap_err()
            .to_string(),
        "STRATEGY_MODEL_QUOTE_INVALID: bid=0.6200 ask=0.6000"
    );
}

#[test]
fn model_quotes_come_from_gamma_best_bid_and_ask() {
    let body =
        br#"[{"conditionId":"0xa","question":"Q?","description":"D","outcomes":"[\"Yes\",\"No\"]",
        "outcomePrices":"[\"0.61\",\"0.39\"]","endDate":"2026-06-30T00:00:00Z","active":true,
        "closed":false,"bestBid":0.6,"bestAsk":"0.62"}]"#;
    let gamma = crate::venues::polymarket::parse_gamma_markets(body)
        .unwrap()
        .records
        .remove(0);
    assert_eq!(
        model_quote(&gamma, 0).unwrap(),
        ModelQuote {
            bid: p(6000),
            ask: p(6200)
        }
    );
    assert_eq!(
        model_quote(&gamma, 1).unwrap(),
        ModelQuote {
            bid: p(3800),
            ask: p(4000)
        }
    );
    assert_eq!(
        model_quote(&gamma, 2).unwrap_err().code(),
        "STRATEGY_OUTCOME_NOT_BINARY"
    );
    let mut no_quote = gamma.clone();
    no_quote.best_ask = None;
    assert_eq!(
        model_quote(&no_quote, 0).unwrap_err().code(),
        "STRATEGY_MODEL_QUOTE_MISSING"
    );
}
