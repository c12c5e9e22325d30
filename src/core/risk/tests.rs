//! Behaviour of the governor through its public entry points (`apply`, `check`,
//! `apply_limits`), on a book fed the way the Durable Object feeds it.

use super::*;
use crate::core::breaker::{BreakerConfig, BreakerState, FailureSource, TransitionCause};
use crate::core::money::{Price, Qty, Usd};
use chrono::{DateTime, TimeDelta, Utc};

/// 2026-01-01T12:00:00Z: midday, so tests do not roll the UTC day by accident.
const T0_MS: i64 = 1_767_268_800_000;

pub(super) fn t(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(T0_MS + ms).unwrap()
}
fn secs(s: i64) -> i64 {
    s * 1_000
}
pub(super) fn p(units: i64) -> Price {
    Price::new(units).unwrap()
}
fn dollars(d: i64) -> Usd {
    Usd::from_dollars(d).unwrap()
}
pub(super) fn mid(id: &str) -> MarketId {
    MarketId::new(id)
}

/// Every limit as loose as validation allows, so a test can tighten just the one it pins.
pub(super) fn loose() -> RiskLimits {
    RiskLimits {
        max_position_size_bps: 10_000,
        max_concentration_bps: 10_000,
        max_market_exposure_bps: 10_000,
        max_category_exposure_bps: 10_000,
        max_daily_loss_bps: 10_000,
        max_drawdown_bps: 10_000,
        max_order_notional: limits::MAX_ORDER_NOTIONAL_CAP,
        min_time_to_settlement_secs: 0,
        max_price_staleness_secs: limits::MAX_STALENESS_CAP_SECS,
        order_rate: OrderRate {
            capacity: limits::MAX_BUCKET_CAPACITY,
            refill_per_minute: limits::MAX_REFILL_PER_MINUTE,
        },
    }
}

/// Markets: A and B share correlation group G1; C is in G2; all three are category POL.
/// D is in G3, category ECON. All settle in 30 days and are marked at 0.50.
pub(super) const MARKETS: [(&str, &str, &str); 4] = [
    ("A", "G1", "POL"),
    ("B", "G1", "POL"),
    ("C", "G2", "POL"),
    ("D", "G3", "ECON"),
];

/// A governor with $10,000 cash, the four markets known and freshly marked.
pub(super) fn funded(limits: RiskLimits) -> GovernorState {
    let mut s = GovernorState::new(BreakerConfig::default(), limits, t(0)).unwrap();
    s = ok(
        s,
        Event::CashBalance {
            cash: dollars(10_000),
        },
    );
    for (id, group, category) in MARKETS {
        s = ok(
            s,
            Event::MarketInfo {
                market: mid(id),
                meta: MarketMeta {
                    category: category.to_string(),
                    correlation_group: group.to_string(),
                    settles_at: t(30 * 86_400_000),
                },
            },
        );
        s = ok(
            s,
            Event::Mark {
                market: mid(id),
                yes: p(5_000),
                observed_at: t(0),
            },
        );
    }
    s
}

/// Applies at t(0) and insists nothing was rejected.
pub(super) fn ok(s: GovernorState, event: Event) -> GovernorState {
    ok_at(s, event, t(0))
}

fn ok_at(s: GovernorState, event: Event, now: DateTime<Utc>) -> GovernorState {
    let (s, fx) = apply(s, event, now);
    for e in &fx {
        assert!(!matches!(e, Effect::Rejected(_)), "rejected: {e:?}");
    }
    s
}

pub(super) fn intent(
    id: &str,
    market: &str,
    side: Side,
    action: Action,
    qty_units: i64,
    price_units: i64,
    kind: IntentKind,
) -> OrderIntent {
    OrderIntent {
        client_order_id: id.to_string(),
        market: mid(market),
        side,
        action,
        qty: Qty(qty_units),
        limit_price: p(price_units),
        kind,
    }
}

/// A new order buying `side` of `market`.
pub(super) fn buy(
    id: &str,
    market: &str,
    side: Side,
    qty_units: i64,
    price_units: i64,
) -> OrderIntent {
    intent(
        id,
        market,
        side,
        Action::Buy,
        qty_units,
        price_units,
        IntentKind::New,
    )
}

fn run_check(s: GovernorState, i: OrderIntent, now: DateTime<Utc>) -> (GovernorState, Verdict) {
    let (s, v, audit) = check(s, i, now);
    assert_eq!(audit.len(), 1, "one audit record per check");
    (s, v)
}

fn approved(s: GovernorState, i: OrderIntent) -> GovernorState {
    approved_at(s, i, t(0))
}

fn approved_at(s: GovernorState, i: OrderIntent, now: DateTime<Utc>) -> GovernorState {
    let (s, v) = run_check(s, i, now);
    assert!(v.is_approved(), "expected approval, got {v:?}");
    s
}

fn refused(s: GovernorState, i: OrderIntent) -> (GovernorState, Refusal) {
    refused_at(s, i, t(0))
}

fn refused_at(s: GovernorState, i: OrderIntent, now: DateTime<Utc>) -> (GovernorState, Refusal) {
    let (s, v) = run_check(s, i, now);
    match v {
        Verdict::Refused(r) => (s, r),
        Verdict::Approved(a) => panic!("expected refusal, got approval of {:?}", a.intent()),
    }
}

/// Checks and fills an order at its limit price.
fn bought(s: GovernorState, i: OrderIntent) -> GovernorState {
    let fill = FillReport {
        fill_id: format!("fill-{}", i.client_order_id),
        client_order_id: i.client_order_id.clone(),
        market: i.market.clone(),
        side: i.side,
        action: i.action,
        qty: i.qty,
        price: i.limit_price,
        fee: Usd::ZERO,
    };
    let s = approved(s, i);
    ok(s, Event::Fill(fill))
}

fn transition(s: GovernorState, target: BreakerState, now: DateTime<Utc>) -> GovernorState {
    ok_at(
        s,
        Event::ManualTransition(crate::core::breaker::TransitionRequest {
            target,
            reason: "test".to_string(),
            actor: "ops@example.com".to_string(),
        }),
        now,
    )
}

/// HALT → clean reconciliation → RECOVERY → NORMAL.
fn recover_to_normal(s: GovernorState, now: DateTime<Utc>) -> GovernorState {
    let s = ok_at(
        s,
        Event::Reconciliation {
            outcome: ReconciliationOutcome::Clean,
        },
        now,
    );
    let s = transition(s, BreakerState::Recovery, now);
    transition(s, BreakerState::Normal, now)
}

fn escalations(fx: &[Effect]) -> Vec<(BreakerState, BreakerState, TransitionCause)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Audit(AuditRecord::BreakerEscalation(r)) => Some((r.from, r.to, r.cause)),
            _ => None,
        })
        .collect()
}

fn rejected_code(fx: &[Effect]) -> Option<&'static str> {
    fx.iter().find_map(|e| match e {
        Effect::Rejected(err) => Some(err.code()),
        _ => None,
    })
}

// Equity is $10,000 = 10^10 micro-dollars in every limit test below; 1 bps is $1. The "tiny"
// order is 0.01 contract at 0.0001: exactly one micro-dollar of exposure.
const TINY_QTY: i64 = 1;
const TINY_PRICE: i64 = 1;

/// Pins one exposure limit: an order of exactly the limit passes; with one micro-dollar already
/// reserved in the same scope, the same order is refused with `code`.
fn pin_exposure_limit(
    limits: RiskLimits,
    limit_dollars: i64,
    tiny_market: &str,
    tiny_side: Side,
    code: RefusalCode,
) -> Refusal {
    // At the limit: limit_dollars at 0.50 is 2·limit_dollars contracts = 200·limit_dollars units.
    let at_limit = buy("big", "A", Side::Yes, 200 * limit_dollars, 5_000);
    approved(funded(limits.clone()), at_limit.clone());

    let s = approved(
        funded(limits),
        buy("tiny", tiny_market, tiny_side, TINY_QTY, TINY_PRICE),
    );
    let (_, refusal) = refused(s, at_limit);
    assert_eq!(refusal.codes(), vec![code], "{refusal}");
    refusal
}

#[test]
fn position_size_limit_passes_at_equality_and_refuses_one_micro_dollar_over() {
    let limits = RiskLimits {
        max_position_size_bps: 500,
        ..loose()
    };
    let r = pin_exposure_limit(
        limits,
        500,
        "A",
        Side::Yes,
        RefusalCode::RiskLimitPositionSize,
    );
    assert_eq!(
        r.to_string(),
        "RISK_LIMIT_POSITION_SIZE: market=A/yes exposure=500.000001 limit=500.000000 \
         equity=10000.000000"
    );
}

#[test]
fn concentration_limit_counts_both_sides_of_the_market() {
    let limits = RiskLimits {
        max_concentration_bps: 1_000,
        ..loose()
    };
    let r = pin_exposure_limit(
        limits,
        1_000,
        "A",
        Side::No,
        RefusalCode::RiskLimitConcentration,
    );
    assert_eq!(r.reasons[0].get("market"), Some("A"));
}

#[test]
fn market_exposure_limit_counts_correlated_markets() {
    let limits = RiskLimits {
        max_market_exposure_bps: 1_500,
        ..loose()
    };
    // B shares A's correlation group.
    let r = pin_exposure_limit(
        limits,
        1_500,
        "B",
        Side::Yes,
        RefusalCode::RiskLimitMarketExposure,
    );
    assert_eq!(r.reasons[0].get("correlation_group"), Some("G1"));
    assert_eq!(r.reasons[0].get("exposure"), Some("1500.000001"));
}

#[test]
fn category_exposure_limit_counts_every_market_of_the_category() {
    let limits = RiskLimits {
        max_category_exposure_bps: 3_000,
        ..loose()
    };
    // C is another group of the same category.
    let r = pin_exposure_limit(
        limits,
        3_000,
        "C",
        Side::Yes,
        RefusalCode::RiskLimitCategoryExposure,
    );
    assert_eq!(r.reasons[0].get("category"), Some("POL"));
    // D is another category: it does not count.
    let s = approved(
        funded(RiskLimits {
            max_category_exposure_bps: 3_000,
            ..loose()
        }),
        buy("tiny", "D", Side::Yes, TINY_QTY, TINY_PRICE),
    );
    approved(s, buy("big", "A", Side::Yes, 600_000, 5_000));
}

#[test]
fn held_positions_count_at_their_mark_toward_exposure_limits() {
    let limits = RiskLimits {
        max_position_size_bps: 500,
        ..loose()
    };
    // Hold 200 YES bought at 0.50 ($100), now marked at 0.75: $150 of exposure.
    let s = bought(funded(limits), buy("held", "A", Side::Yes, 20_000, 5_000));
    let s = ok(
        s,
        Event::Mark {
            market: mid("A"),
            yes: p(7_500),
            observed_at: t(0),
        },
    );
    // Equity is now $10,050, so the limit is $502.50; $352.50 more fits exactly, a cent more not.
    let (s, r) = refused(s.clone(), buy("over", "A", Side::Yes, 70_502, 5_000));
    assert_eq!(r.codes(), vec![RefusalCode::RiskLimitPositionSize]);
    assert_eq!(r.reasons[0].get("limit"), Some("502.500000"));
    approved(s, buy("fits", "A", Side::Yes, 70_500, 5_000));
}

#[test]
fn order_notional_limit_passes_at_equality_and_refuses_one_micro_dollar_over() {
    let at = RiskLimits {
        max_order_notional: dollars(100),
        ..loose()
    };
    let order = buy("o", "A", Side::Yes, 20_000, 5_000); // 200 × 0.50 = $100
    approved(funded(at), order.clone());
    let below = RiskLimits {
        max_order_notional: Usd(100_000_000 - 1),
        ..loose()
    };
    let (_, r) = refused(funded(below), order);
    assert_eq!(r.codes(), vec![RefusalCode::RiskLimitOrderNotional]);
}

#[test]
fn selling_a_side_not_held_is_new_exposure_at_the_complement_price() {
    let limits = RiskLimits {
        max_order_notional: dollars(70),
        ..loose()
    };
    // Selling 100 YES at 0.30 opens 100 NO at 0.70: $70 at risk.
    let sell = intent(
        "s",
        "A",
        Side::Yes,
        Action::Sell,
        10_000,
        3_000,
        IntentKind::New,
    );
    let s = funded(limits);
    let (s, v, _) = check(s, sell, t(0));
    let a = v.approved().expect("approved");
    assert_eq!(a.effect(), Some(OrderEffect::Increase));
    assert_eq!(a.reserved(), dollars(70));
    let (_, r) = refused(
        s,
        intent(
            "s2",
            "A",
            Side::Yes,
            Action::Sell,
            10_001,
            3_000,
            IntentKind::New,
        ),
    );
    assert!(r.has(RefusalCode::RiskLimitOrderNotional));
}

#[test]
fn settlement_window_passes_at_equality_and_refuses_one_millisecond_short() {
    let limits = RiskLimits {
        min_time_to_settlement_secs: 3_600,
        ..loose()
    };
    let order = || buy("o", "A", Side::Yes, 100, 5_000);
    let settles_at = t(30 * 86_400_000);
    let exactly = settles_at - TimeDelta::seconds(3_600);
    let late = exactly + TimeDelta::milliseconds(1);
    // Re-marked at the check's time, so only the settlement window is at stake.
    let marked_at = |now: DateTime<Utc>| {
        ok_at(
            funded(limits.clone()),
            Event::Mark {
                market: mid("A"),
                yes: p(5_000),
                observed_at: now,
            },
            now,
        )
    };
    approved_at(marked_at(exactly), order(), exactly);
    let (_, r) = refused_at(marked_at(late), order(), late);
    assert_eq!(r.codes(), vec![RefusalCode::RiskSettlementTooSoon]);
    assert_eq!(r.reasons[0].get("settles_in_ms"), Some("3599999"));
}

#[test]
fn price_staleness_passes_at_equality_and_refuses_one_millisecond_older() {
    let limits = RiskLimits {
        max_price_staleness_secs: 600,
        ..loose()
    };
    let order = || buy("o", "A", Side::Yes, 100, 5_000);
    approved_at(funded(limits.clone()), order(), t(secs(600)));
    let (_, r) = refused_at(funded(limits), order(), t(secs(600) + 1));
    assert_eq!(r.codes(), vec![RefusalCode::RiskPriceStale]);
}

#[test]
fn daily_loss_halts_at_the_limit_and_refuses_new_exposure_one_micro_dollar_beyond() {
    let limits = RiskLimits {
        max_daily_loss_bps: 300,
        ..loose()
    };
    // Hold 1000 YES at 0.50; equity stays $10,000.
    let s = bought(funded(limits), buy("held", "A", Side::Yes, 100_000, 5_000));
    // YES falls to 0.20: equity $9,700, a loss of exactly 3% → HALT.
    let (s, fx) = apply(
        s,
        Event::Mark {
            market: mid("A"),
            yes: p(2_000),
            observed_at: t(1),
        },
        t(1),
    );
    assert_eq!(
        escalations(&fx),
        vec![(
            BreakerState::Normal,
            BreakerState::Halt,
            TransitionCause::DailyLoss
        )]
    );
    let s = recover_to_normal(s, t(2));
    // At the limit exactly, the check itself passes (equality is allowed)…
    let s = approved_at(s, buy("at", "B", Side::Yes, 100, 5_000), t(3));
    // …and one micro-dollar more loss is refused. The breaker does not re-halt on the old loss.
    let (s, fx) = apply(
        s,
        Event::CashBalance {
            cash: Usd(9_500_000_000 - 1),
        },
        t(4),
    );
    assert!(escalations(&fx).is_empty());
    let (_, r) = refused_at(s, buy("over", "B", Side::Yes, 100, 5_000), t(5));
    assert_eq!(r.codes(), vec![RefusalCode::RiskLimitDailyLoss]);
    assert_eq!(
        r.to_string(),
        "RISK_LIMIT_DAILY_LOSS: loss=300.000001 limit=300.000000 day_start_equity=10000.000000"
    );
}

#[test]
fn drawdown_halts_at_the_limit_and_refuses_new_exposure_one_micro_dollar_beyond() {
    let limits = RiskLimits {
        max_drawdown_bps: 1_000,
        ..loose()
    };
    // Hold 4000 YES at 0.50 ($2,000); YES to 0.25 loses $1,000 = 10% of the $10,000 peak.
    let s = bought(funded(limits), buy("held", "A", Side::Yes, 400_000, 5_000));
    let (s, fx) = apply(
        s,
        Event::Mark {
            market: mid("A"),
            yes: p(2_500),
            observed_at: t(1),
        },
        t(1),
    );
    assert_eq!(
        escalations(&fx),
        vec![(
            BreakerState::Normal,
            BreakerState::Halt,
            TransitionCause::Drawdown
        )]
    );
    let s = recover_to_normal(s, t(2));
    let s = approved_at(s, buy("at", "B", Side::Yes, 100, 5_000), t(3));
    let s = ok_at(
        s,
        Event::CashBalance {
            cash: Usd(8_000_000_000 - 1),
        },
        t(4),
    );
    let (_, r) = refused_at(s, buy("over", "B", Side::Yes, 100, 5_000), t(5));
    assert_eq!(r.codes(), vec![RefusalCode::RiskLimitDrawdown]);
}

#[test]
fn halt_blocks_new_positions_but_allows_cancels_and_reducing_orders() {
    let s = bought(funded(loose()), buy("held", "A", Side::Yes, 10_000, 5_000)); // 100 YES
    let s = approved(s, buy("open", "B", Side::Yes, 100, 5_000));
    let s = transition(s, BreakerState::Halt, t(0));

    // New exposure, in a held market or another one, and by selling a side not held.
    let (s, r) = refused(s, buy("more", "A", Side::Yes, 100, 5_000));
    assert_eq!(r.codes(), vec![RefusalCode::BreakerHalt]);
    let (s, r) = refused(s, buy("other", "C", Side::Yes, 100, 5_000));
    assert_eq!(r.codes(), vec![RefusalCode::BreakerHalt]);
    let short = intent(
        "short",
        "A",
        Side::No,
        Action::Sell,
        100,
        5_000,
        IntentKind::New,
    );
    let (s, r) = refused(s, short);
    assert_eq!(r.codes(), vec![RefusalCode::BreakerHalt]);

    // A cancel passes.
    let cancel = intent(
        "open",
        "B",
        Side::Yes,
        Action::Buy,
        100,
        5_000,
        IntentKind::Cancel,
    );
    let (s, v, _) = check(s, cancel, t(0));
    assert!(v.approved().is_some_and(|a| a.is_cancel()));

    // Reducing orders pass, as reduce-only, until they claim the whole position.
    let sell = intent(
        "sell",
        "A",
        Side::Yes,
        Action::Sell,
        6_000,
        5_000,
        IntentKind::Reduce,
    );
    let (s, v, _) = check(s, sell, t(0));
    assert!(v.approved().is_some_and(|a| a.reduce_only()));
    let net = intent(
        "net",
        "A",
        Side::No,
        Action::Buy,
        4_000,
        5_000,
        IntentKind::New,
    );
    let (s, v, _) = check(s, net, t(0));
    assert!(
        v.approved().is_some_and(|a| a.reduce_only()),
        "buying NO nets held YES"
    );
    let (s, r) = refused(
        s,
        intent(
            "x",
            "A",
            Side::Yes,
            Action::Sell,
            1,
            5_000,
            IntentKind::Reduce,
        ),
    );
    assert_eq!(
        r.codes(),
        vec![RefusalCode::ReduceOnlyWouldIncreasePosition]
    );
    let (s, r) = refused(
        s,
        intent("y", "A", Side::Yes, Action::Sell, 1, 5_000, IntentKind::New),
    );
    assert_eq!(r.codes(), vec![RefusalCode::RiskOrderWouldFlipPosition]);

    // The venue confirms the sell's cancel: its claim is released and reducing is possible again.
    let s = ok(
        s,
        Event::Cancel {
            client_order_id: "sell".to_string(),
        },
    );
    approved(
        s,
        intent(
            "again",
            "A",
            Side::Yes,
            Action::Sell,
            6_000,
            5_000,
            IntentKind::Reduce,
        ),
    );
}

#[test]
fn reduce_only_intent_on_a_flat_market_is_refused() {
    let (_, r) = refused(
        funded(loose()),
        intent(
            "r",
            "A",
            Side::Yes,
            Action::Sell,
            100,
            5_000,
            IntentKind::Reduce,
        ),
    );
    assert_eq!(
        r.codes(),
        vec![RefusalCode::ReduceOnlyWouldIncreasePosition]
    );
    assert_eq!(r.reasons[0].get("held_side"), Some("none"));
}

#[test]
fn caution_and_recovery_halve_the_size_limits() {
    let limits = RiskLimits {
        max_position_size_bps: 500,
        max_order_notional: dollars(100),
        ..loose()
    };
    let in_state = |state: BreakerState| {
        let s = funded(limits.clone());
        match state {
            BreakerState::Caution => transition(s, BreakerState::Caution, t(0)),
            BreakerState::Recovery => {
                let s = transition(s, BreakerState::Halt, t(0));
                let s = ok(
                    s,
                    Event::Reconciliation {
                        outcome: ReconciliationOutcome::Clean,
                    },
                );
                transition(s, BreakerState::Recovery, t(0))
            }
            _ => unreachable!(),
        }
    };
    for state in [BreakerState::Caution, BreakerState::Recovery] {
        // Order notional: $50 passes, $50.01 is refused.
        approved(in_state(state), buy("half", "A", Side::Yes, 10_000, 5_000));
        let (_, r) = refused(in_state(state), buy("over", "A", Side::Yes, 10_000, 5_001));
        assert_eq!(r.codes(), vec![RefusalCode::RiskLimitOrderNotional]);
        assert_eq!(r.reasons[0].get("limit_scale"), Some("1/2"));

        // Position size: $250 in two $50 orders… five of them reach $250 exactly.
        let mut s = in_state(state);
        for i in 0..5 {
            s = approved(s, buy(&format!("p{i}"), "A", Side::Yes, 10_000, 5_000));
        }
        let (_, r) = refused(s, buy("p5", "A", Side::Yes, TINY_QTY, TINY_PRICE));
        assert_eq!(
            r.codes(),
            vec![RefusalCode::RiskLimitPositionSize],
            "{state}"
        );
        assert_eq!(r.reasons[0].get("limit"), Some("250.000000"));
        assert_eq!(r.reasons[0].get("breaker"), Some(state.as_str()));
    }
}

#[test]
fn token_bucket_refills_so_the_rate_limit_lifts_with_time() {
    let limits = RiskLimits {
        order_rate: OrderRate {
            capacity: 2,
            refill_per_minute: 1,
        },
        ..loose()
    };
    let order = |id: &str| buy(id, "A", Side::Yes, 100, 5_000);
    let s = approved(funded(limits), order("1"));
    let s = approved(s, order("2"));
    let (s, r) = refused(s, order("3"));
    assert_eq!(r.codes(), vec![RefusalCode::RiskRateLimited]);
    assert_eq!(r.reasons[0].get("retry_after_ms"), Some("60000"));
    // Refusals take no token; a minute later one token is back, and only one.
    let (s, _) = refused_at(s, order("3"), t(secs(59)));
    let s = approved_at(s, order("3"), t(secs(60)));
    let (_, r) = refused_at(s, order("4"), t(secs(60)));
    assert!(r.has(RefusalCode::RiskRateLimited));
}

#[test]
fn day_rollover_resets_the_daily_loss_baseline_at_utc_midnight() {
    let limits = RiskLimits {
        max_daily_loss_bps: 300,
        ..loose()
    };
    let midnight = DateTime::from_timestamp_millis(T0_MS + 12 * 3_600_000).unwrap();
    let just_before = midnight - TimeDelta::milliseconds(1);
    let s = funded(limits);
    // Lose $200 (2%) today.
    let s = ok_at(
        s,
        Event::CashBalance {
            cash: dollars(9_800),
        },
        just_before,
    );
    assert_eq!(s.book().day_start_equity(), Some(dollars(10_000)));
    // Tomorrow the baseline is $9,800, so another $200 (2.04%) does not reach the 3% limit…
    let (s, fx) = apply(
        s,
        Event::CashBalance {
            cash: dollars(9_600),
        },
        midnight,
    );
    assert_eq!(s.book().day_start_equity(), Some(dollars(9_800)));
    assert!(escalations(&fx).is_empty());
    assert_eq!(s.breaker().state(), BreakerState::Normal);
    // …while the same two losses on one day would have: $400 of $10,000 is 4%.
    let s2 = ok_at(
        funded(RiskLimits {
            max_daily_loss_bps: 300,
            ..loose()
        }),
        Event::CashBalance {
            cash: dollars(9_800),
        },
        just_before,
    );
    let (s2, fx) = apply(
        s2,
        Event::CashBalance {
            cash: dollars(9_600),
        },
        just_before,
    );
    assert_eq!(escalations(&fx).len(), 1);
    assert_eq!(s2.breaker().state(), BreakerState::Halt);
}

#[test]
fn missing_data_refuses_fail_closed() {
    // No cash, no markets: nothing is known.
    let empty = GovernorState::new(BreakerConfig::default(), loose(), t(0)).unwrap();
    let (_, r) = refused(empty, buy("o", "A", Side::Yes, 100, 5_000));
    assert!(r
        .reasons
        .iter()
        .all(|x| x.code == RefusalCode::RiskDataMissing));
    let what: Vec<&str> = r.reasons.iter().filter_map(|x| x.get("what")).collect();
    assert_eq!(
        what,
        vec![
            "market_meta",
            "mark",
            "cash",
            "day_start_equity",
            "peak_equity"
        ]
    );

    // An unknown market in a funded book.
    let (_, r) = refused(funded(loose()), buy("o", "ZZZ", Side::Yes, 100, 5_000));
    assert_eq!(
        r.to_string(),
        "RISK_DATA_MISSING: what=market_meta market=ZZZ; RISK_DATA_MISSING: what=mark market=ZZZ"
    );

    // A held market without a mark makes equity unknown: every new order is refused.
    let s = funded(loose());
    let s = ok(
        s,
        Event::Fill(FillReport {
            fill_id: "f".to_string(),
            client_order_id: "stray".to_string(),
            market: mid("UNMARKED"),
            side: Side::Yes,
            action: Action::Buy,
            qty: Qty(100),
            price: p(5_000),
            fee: Usd::ZERO,
        }),
    );
    let (_, r) = refused(s, buy("o", "A", Side::Yes, 100, 5_000));
    assert!(r.has(RefusalCode::RiskDataMissing));
    assert_eq!(r.reasons[0].get("market"), Some("UNMARKED"));
}

#[test]
fn malformed_intents_and_duplicate_ids_are_refused() {
    let s = funded(loose());
    let (s, r) = refused(s, buy("", "A", Side::Yes, 100, 5_000));
    assert_eq!(r.codes(), vec![RefusalCode::RiskInvalidIntent]);
    let (s, r) = refused(s, buy("q", "A", Side::Yes, 0, 5_000));
    assert_eq!(r.reasons[0].get("field"), Some("qty"));
    let (s, r) = refused(s, buy("p", "A", Side::Yes, 100, 10_000));
    assert_eq!(r.reasons[0].get("field"), Some("limit_price"));
    let s = approved(s, buy("dup", "A", Side::Yes, 100, 5_000));
    let (_, r) = refused(s, buy("dup", "A", Side::Yes, 100, 5_000));
    assert_eq!(r.codes(), vec![RefusalCode::RiskDuplicateClientOrderId]);
}

#[test]
fn failures_escalate_normal_caution_halt_at_the_configured_counts() {
    let mut s = funded(loose());
    let mut seen = Vec::new();
    for i in 1..=5 {
        let (next, fx) = apply(
            s,
            Event::FailureReported {
                source: FailureSource::VenueApi,
                detail: "HTTP 500".to_string(),
            },
            t(i),
        );
        s = next;
        seen.push((i, s.breaker().state(), escalations(&fx).len()));
    }
    use BreakerState::*;
    assert_eq!(
        seen,
        vec![
            (1, Normal, 0),
            (2, Normal, 0),
            (3, Caution, 1),
            (4, Caution, 0),
            (5, Halt, 1)
        ]
    );
    assert_eq!(s.breaker().streaks().venue_api, 5);
    let (s, _) = apply(
        s,
        Event::SuccessReported {
            source: FailureSource::VenueApi,
        },
        t(6),
    );
    assert_eq!(s.breaker().streaks().venue_api, 0);
    assert_eq!(s.breaker().state(), Halt);
}

#[test]
fn critical_alert_and_reconciliation_drift_escalate_by_themselves() {
    let (s, fx) = apply(
        funded(loose()),
        Event::Reconciliation {
            outcome: ReconciliationOutcome::Drift {
                severity: DriftSeverity::Caution,
                detail: "2.5% drift".to_string(),
            },
        },
        t(1),
    );
    assert_eq!(
        escalations(&fx),
        vec![(
            BreakerState::Normal,
            BreakerState::Caution,
            TransitionCause::ReconciliationDrift
        )]
    );
    let (s, fx) = apply(
        s,
        Event::CriticalAlert {
            reason: "orphan position".to_string(),
        },
        t(2),
    );
    assert_eq!(escalations(&fx)[0].2, TransitionCause::CriticalAlert);
    assert_eq!(s.breaker().state(), BreakerState::Halt);
    assert_eq!(s.breaker().reason(), "orphan position");
    assert_eq!(s.breaker().actor(), "system");
}

#[test]
fn manual_transitions_are_audited_and_refusals_carry_their_code() {
    let s = transition(funded(loose()), BreakerState::Halt, t(1));
    let request = |target| {
        Event::ManualTransition(crate::core::breaker::TransitionRequest {
            target,
            reason: "resume".to_string(),
            actor: "ops@example.com".to_string(),
        })
    };
    let (s, fx) = apply(s, request(BreakerState::Normal), t(2));
    assert_eq!(rejected_code(&fx), Some("INVALID_TRANSITION"));
    assert!(matches!(
        &fx[0],
        Effect::Audit(AuditRecord::BreakerTransitionRefused { code, .. }) if code == "INVALID_TRANSITION"
    ));
    let (s, fx) = apply(s, request(BreakerState::Recovery), t(3));
    assert_eq!(
        rejected_code(&fx),
        Some("RECOVERY_REQUIRES_CLEAN_RECONCILIATION")
    );
    let s = ok_at(
        s,
        Event::Reconciliation {
            outcome: ReconciliationOutcome::Clean,
        },
        t(4),
    );
    let (s, fx) = apply(s, request(BreakerState::Recovery), t(5));
    assert!(
        matches!(&fx[..], [Effect::Audit(AuditRecord::BreakerTransition(r))] if r.to == BreakerState::Recovery)
    );
    assert_eq!(s.breaker().state(), BreakerState::Recovery);
    assert_eq!(s.breaker().actor(), "ops@example.com");
}

/// An operator's tightening is merged onto the limits it read (`base`); if a two-person
/// loosening landed in between, applying the merged document would silently undo it.
#[test]
fn a_tightening_merged_onto_limits_that_moved_since_is_refused_and_changes_nothing() {
    let s = funded(RiskLimits::default());
    let read = s.limits().clone();
    // Meanwhile an approved loosening of another limit lands.
    let loosened = RiskLimits {
        max_category_exposure_bps: read.max_category_exposure_bps + 1,
        ..read.clone()
    };
    let (s, fx) = apply_limits(
        s,
        &read,
        loosened.clone(),
        "ops@example.com",
        "approved #1",
        t(1),
    );
    assert_eq!(rejected_code(&fx), None);
    // The tightening, merged onto what was read (so it carries the old category limit).
    let update = |base: RiskLimits| Event::LimitsUpdate {
        proposed: RiskLimits {
            max_position_size_bps: 100,
            ..read.clone()
        },
        actor: "ops@example.com".to_string(),
        reason: "tighten".to_string(),
        base: Some(base),
    };
    let (s, fx) = apply(s, update(read.clone()), t(2));
    assert_eq!(rejected_code(&fx), Some("LIMITS_CHANGED_SINCE_REQUEST"));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Audit(AuditRecord::LimitsChangeRefused { details, .. })
            if details == &vec![("changed".to_string(), "max_category_exposure_bps".to_string())]
    )));
    assert_eq!(s.limits(), &loosened, "the loosening stands");
    // Read again and retry: the merged document now keeps the loosening.
    let (s, fx) = apply(
        s,
        Event::LimitsUpdate {
            proposed: RiskLimits {
                max_position_size_bps: 100,
                ..loosened.clone()
            },
            actor: "ops@example.com".to_string(),
            reason: "tighten".to_string(),
            base: Some(loosened.clone()),
        },
        t(3),
    );
    assert_eq!(rejected_code(&fx), None);
    assert_eq!(s.limits().max_position_size_bps, 100);
    assert_eq!(
        s.limits().max_category_exposure_bps,
        loosened.max_category_exposure_bps
    );
}

#[test]
fn limits_update_tightens_immediately_and_refuses_loosening() {
    let s = funded(RiskLimits::default());
    let update = |proposed: RiskLimits| Event::LimitsUpdate {
        proposed,
        actor: "ops@example.com".to_string(),
        reason: "tighten for the election".to_string(),
        base: None,
    };
    let tighter = RiskLimits {
        max_position_size_bps: 100,
        ..RiskLimits::default()
    };
    let (s, fx) = apply(s, update(tighter.clone()), t(1));
    assert!(matches!(
        &fx[..],
        [Effect::Audit(AuditRecord::LimitsChanged { changed, two_person_approved: false, .. })]
            if changed == &vec!["max_position_size_bps".to_string()]
    ));
    assert_eq!(s.limits(), &tighter);

    let (s, fx) = apply(s, update(RiskLimits::default()), t(2));
    assert_eq!(rejected_code(&fx), Some("REQUIRES_TWO_PERSON_APPROVAL"));
    assert_eq!(s.limits(), &tighter, "nothing changed");

    let invalid = RiskLimits {
        max_drawdown_bps: 20_000,
        ..tighter.clone()
    };
    let (s, fx) = apply(s, update(invalid), t(3));
    assert_eq!(rejected_code(&fx), Some("INVALID_LIMITS"));

    // The approval path may loosen, but only over the limits it was requested against: over
    // limits that moved since, it would undo that move.
    let stale_base = RiskLimits {
        max_order_notional: dollars(99),
        ..tighter.clone()
    };
    let (s, fx) = apply_limits(
        s,
        &stale_base,
        RiskLimits::default(),
        "ops@example.com",
        "approved #6",
        t(4),
    );
    assert_eq!(rejected_code(&fx), Some("LIMITS_CHANGED_SINCE_REQUEST"));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Audit(AuditRecord::LimitsChangeRefused { code, details, .. })
            if code == "LIMITS_CHANGED_SINCE_REQUEST"
                && details == &vec![("changed".to_string(), "max_order_notional".to_string())]
    )));
    assert_eq!(s.limits(), &tighter, "nothing changed");
    let base = s.limits().clone();
    let (s, fx) = apply_limits(
        s,
        &base,
        RiskLimits::default(),
        "ops@example.com",
        "approved #7",
        t(4),
    );
    assert!(matches!(
        &fx[..],
        [Effect::Audit(AuditRecord::LimitsChanged {
            two_person_approved: true,
            ..
        })]
    ));
    assert_eq!(s.limits(), &RiskLimits::default());
}

#[test]
fn tightening_the_loss_limit_below_the_current_loss_halts() {
    let s = funded(loose());
    let s = ok(
        s,
        Event::CashBalance {
            cash: dollars(9_800),
        },
    ); // 2% down today
    let (s, fx) = apply(
        s,
        Event::LimitsUpdate {
            proposed: RiskLimits {
                max_daily_loss_bps: 200,
                ..loose()
            },
            actor: "ops".to_string(),
            reason: "cut risk".to_string(),
            base: None,
        },
        t(1),
    );
    assert_eq!(escalations(&fx).len(), 1);
    assert_eq!(s.breaker().state(), BreakerState::Halt);
}

#[test]
fn settlement_realises_pnl_and_frees_the_market() {
    let s = bought(funded(loose()), buy("held", "A", Side::Yes, 10_000, 4_000)); // 100 YES, $40
    let s = approved(s, buy("open", "A", Side::Yes, 100, 4_000));
    let (s, fx) = apply(
        s,
        Event::Settlement {
            market: mid("A"),
            yes_value: Price::ONE_DOLLAR,
        },
        t(1),
    );
    assert!(matches!(&fx[..], [Effect::Realised { pnl, .. }] if *pnl == dollars(60)));
    assert_eq!(s.book().cash(), Some(dollars(10_060)));
    assert!(s.book().reservation("open").is_none());
    assert!(s.book().market(&mid("A")).is_none());
}

#[test]
fn state_round_trips_through_json_with_integers_only() {
    let s = bought(
        funded(RiskLimits::default()),
        buy("held", "A", Side::No, 1_000, 4_500),
    );
    let s = approved(s, buy("open", "B", Side::Yes, 500, 5_100));
    let s = transition(s, BreakerState::Caution, t(1));
    let json = s.to_json().unwrap();
    assert_eq!(GovernorState::from_json(&json), Ok(s.clone()));

    fn no_floats(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Number(n) => n.is_i64() || n.is_u64(),
            serde_json::Value::Array(a) => a.iter().all(no_floats),
            serde_json::Value::Object(o) => o.values().all(no_floats),
            _ => true,
        }
    }
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(no_floats(&value), "{json}");
    assert_eq!(value["breaker"]["state"], "CAUTION");

    let mut unknown = value.clone();
    unknown["book"]["leverage"] = 3.into();
    assert_eq!(
        GovernorState::from_json(&unknown.to_string())
            .unwrap_err()
            .code(),
        "GOVERNOR_STATE_CORRUPT"
    );
    let mut invalid = value;
    invalid["limits"]["max_position_size_bps"] = (-1).into();
    assert_eq!(
        GovernorState::from_json(&invalid.to_string())
            .unwrap_err()
            .code(),
        "GOVERNOR_STATE_CORRUPT"
    );
}

#[test]
fn events_deserialise_from_tagged_json_and_refuse_unknown_fields() {
    let check: Event = serde_json::from_str(
        r#"{"type":"check","client_order_id":"c1","market":"A","side":"yes","action":"buy",
            "qty":100,"limit_price":5000,"kind":"new"}"#,
    )
    .unwrap();
    assert_eq!(check, Event::Check(buy("c1", "A", Side::Yes, 100, 5_000)));
    let halt: Event = serde_json::from_str(
        r#"{"type":"manual_transition","target":"HALT","reason":"Emergency halt","actor":"ops"}"#,
    )
    .unwrap();
    assert!(matches!(halt, Event::ManualTransition(r) if r.target == BreakerState::Halt));
    let recon: Event =
        serde_json::from_str(r#"{"type":"reconciliation","outcome":{"result":"clean"}}"#).unwrap();
    assert!(matches!(recon, Event::Reconciliation { .. }));
    for bad in [
        r#"{"type":"check","client_order_id":"c1","market":"A","side":"yes","action":"buy","qty":100,"limit_price":5000,"kind":"new","force":true}"#,
        r#"{"type":"critical_alert","reason":"x","severity":9}"#,
        r#"{"type":"check","client_order_id":"c1","market":"A","side":"yes","action":"buy","qty":100,"limit_price":0.5,"kind":"new"}"#,
        r#"{"type":"self_destruct"}"#,
    ] {
        assert!(serde_json::from_str::<Event>(bad).is_err(), "{bad}");
    }
}

#[test]
fn refusal_codes_render_as_their_serde_names() {
    for code in RefusalCode::ALL {
        assert_eq!(
            serde_json::to_value(code).unwrap(),
            serde_json::Value::String(code.as_str().to_string())
        );
    }
}

#[test]
fn audit_records_serialise_with_a_type_and_context_as_an_object() {
    let (_, r) = refused(funded(loose()), buy("o", "ZZZ", Side::Yes, 100, 5_000));
    let record = AuditRecord::OrderRefused {
        intent: buy("o", "ZZZ", Side::Yes, 100, 5_000),
        reasons: r.reasons,
        breaker: BreakerState::Normal,
        at: t(0),
    };
    let v = serde_json::to_value(&record).unwrap();
    assert_eq!(v["type"], record.kind());
    assert_eq!(v["reasons"][0]["code"], "RISK_DATA_MISSING");
    assert_eq!(v["reasons"][0]["context"]["what"], "market_meta");
    assert_eq!(v["at"], T0_MS);
}

#[test]
fn utilisation_reports_the_largest_use_of_each_limit_against_its_amount() {
    let s = bought(
        funded(RiskLimits::default()),
        buy("held", "A", Side::Yes, 10_000, 5_000),
    ); // $50
    let s = approved(s, buy("open", "B", Side::Yes, 6_000, 5_000)); // $30 reserved
    let s = transition(s, BreakerState::Caution, t(0));
    let rows = s.utilisation();
    let row = |limit: &str| rows.iter().find(|r| r.limit == limit).unwrap().clone();
    let size = row("max_position_size_bps");
    assert_eq!(size.scope.as_deref(), Some("A/yes"));
    assert_eq!(size.used, Some(dollars(50)));
    // Half of 5% of $10,000 in CAUTION.
    assert_eq!(size.allowed, Some(dollars(250)));
    let group = row("max_market_exposure_bps");
    assert_eq!(
        (group.scope.as_deref(), group.used),
        (Some("G1"), Some(dollars(80)))
    );
    let loss = row("max_daily_loss_bps");
    assert_eq!(
        (loss.used, loss.allowed),
        (Some(Usd::ZERO), Some(dollars(300)))
    );
}

#[test]
fn an_approval_is_rebuilt_from_the_governors_answer_only_for_the_same_intent() {
    let buy = intent(
        "g1",
        "A",
        Side::Yes,
        Action::Buy,
        1_000,
        4_000,
        IntentKind::New,
    );
    let (_, v, _) = check(funded(loose()), buy.clone(), t(0));
    let a = v.approved().expect("approved");
    // The governor's answer, as objects::risk_governor::verdict_json renders it.
    let answer = serde_json::json!({
        "approved": true,
        "client_order_id": a.client_order_id(),
        "effect": a.effect(),
        "reduce_only": a.reduce_only(),
        "reserved_usd_micros": a.reserved(),
    });
    let copy = Approved::from_governor_answer(buy.clone(), &answer).expect("rebuilt");
    assert_eq!(&copy, a);
    let other = intent(
        "g2",
        "A",
        Side::Yes,
        Action::Buy,
        1_000,
        4_000,
        IntentKind::New,
    );
    assert!(Approved::from_governor_answer(other, &answer).is_none());
    let mut refused = answer.clone();
    refused["approved"] = serde_json::json!(false);
    assert!(Approved::from_governor_answer(buy.clone(), &refused).is_none());
    let mut garbled = answer;
    garbled["reserved_usd_micros"] = serde_json::json!("lots");
    assert!(Approved::from_governor_answer(buy, &garbled).is_none());
}
