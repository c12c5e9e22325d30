//! Native benchmark of the pre-trade check on a 100-position book, as an ignored test (release
//! build recommended):
//!
//! ```sh
//! cargo test --release --lib core::risk::bench -- --ignored --nocapture --test-threads=1
//! ```
//!
//! Prints one JSON line starting with `BENCH ` for `scripts/bench.sh` to collect.

use super::{
    apply, check, Action, Event, FillReport, GovernorState, IntentKind, MarketId, MarketMeta,
    OrderIntent, RiskLimits, Side,
};
use crate::core::breaker::BreakerConfig;
use crate::core::money::{Price, Qty, Usd};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use std::time::Instant;

fn book_with_positions(n: usize, now: DateTime<Utc>) -> GovernorState {
    let limits = RiskLimits {
        order_rate: super::OrderRate {
            capacity: 10_000,
            refill_per_minute: 60_000,
        },
        ..RiskLimits::default()
    };
    let mut state = GovernorState::new(BreakerConfig::default(), limits, now).unwrap();
    let cash = Usd::from_dollars(1_000_000).unwrap();
    state = apply(state, Event::CashBalance { cash }, now).0;
    for i in 0..n {
        let market = MarketId::new(format!("KXBENCH-{i:03}"));
        let meta = MarketMeta {
            category: format!("CAT{}", i % 5),
            correlation_group: format!("EVT{}", i / 2),
            settles_at: now + TimeDelta::days(30),
        };
        state = apply(
            state,
            Event::MarketInfo {
                market: market.clone(),
                meta,
            },
            now,
        )
        .0;
        let yes = Price::new(5000).unwrap();
        state = apply(
            state,
            Event::Mark {
                market: market.clone(),
                yes,
                observed_at: now,
            },
            now,
        )
        .0;
        let fill = FillReport {
            fill_id: format!("fill-{i}"),
            client_order_id: format!("seed-{i}"),
            market,
            side: Side::Yes,
            action: Action::Buy,
            qty: Qty::contracts(10).unwrap(),
            price: yes,
            fee: Usd::ZERO,
        };
        state = apply(state, Event::Fill(fill), now).0;
    }
    state
}

#[test]
#[ignore = "benchmark: run with --ignored in release"]
fn bench_pre_trade_checks_on_a_100_position_book() {
    let now = DateTime::<Utc>::from_timestamp_millis(1_767_225_600_000).unwrap();
    let state = book_with_positions(100, now);
    assert_eq!(
        state
            .book()
            .markets()
            .filter(|(m, _)| state.book().position(m).is_some())
            .count(),
        100
    );
    let intent = |i: usize| OrderIntent {
        client_order_id: format!("bench-{i}"),
        market: MarketId::new(format!("KXBENCH-{:03}", i % 100)),
        side: Side::Yes,
        action: Action::Buy,
        qty: Qty::contracts(1).unwrap(),
        limit_price: Price::new(5000).unwrap(),
        kind: IntentKind::New,
    };
    // The check alone, on the in-memory state (what the pure core costs). Each check starts
    // from the same state, so the order-rate bucket never runs dry.
    let n = 20_000;
    let mut approved = 0;
    let started = Instant::now();
    for i in 0..n {
        let (_, verdict, _) = check(state.clone(), intent(i), now);
        approved += usize::from(verdict.is_approved());
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(approved, n, "every benchmark check is admissible");
    // What the Durable Object adds per event natively: load the JSON state, check, store it.
    let json = state.to_json().unwrap();
    let m = 5_000;
    let started = Instant::now();
    for i in 0..m {
        let loaded = GovernorState::from_json(&json).unwrap();
        let (next, _, _) = check(loaded, intent(i), now);
        std::hint::black_box(next.to_json().unwrap());
    }
    let secs_roundtrip = started.elapsed().as_secs_f64();
    println!(
        "BENCH {}",
        json!({
            "bench": "risk_pre_trade_check",
            "positions": 100,
            "checks": n,
            "checks_per_s": (n as f64 / secs).round(),
            "us_per_check": (secs * 1e6 / n as f64 * 100.0).round() / 100.0,
            "state_json_bytes": json.len(),
            "checks_with_json_roundtrip_per_s": (m as f64 / secs_roundtrip).round(),
        })
    );
}
