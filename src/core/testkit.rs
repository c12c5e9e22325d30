//! Test helpers shared by the trading modules: times, prices, and real approvals obtained from
//! the risk governor (an [`Approved`] cannot be built any other way).

use crate::core::breaker::BreakerConfig;
use crate::core::money::{Price, Usd};
use crate::core::risk::limits::{
    MAX_BUCKET_CAPACITY, MAX_ORDER_NOTIONAL_CAP, MAX_REFILL_PER_MINUTE, MAX_STALENESS_CAP_SECS,
};
use crate::core::risk::{
    apply, check, Approved, Event, GovernorState, MarketId, MarketMeta, OrderIntent, OrderRate,
    RiskLimits, Verdict,
};
use chrono::{DateTime, TimeDelta, Utc};

/// 2026-01-01T12:00:00Z.
pub const T0_MS: i64 = 1_767_268_800_000;

pub fn t(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(T0_MS + ms).unwrap()
}

pub fn days(d: i64) -> DateTime<Utc> {
    t(0) + TimeDelta::days(d)
}

pub fn p(units: i64) -> Price {
    Price::new(units).unwrap()
}

/// The governor's approval of `intent`, on a governor with $10,000, every limit loose and the
/// intent's market known and marked at 0.50.
pub fn approve(intent: OrderIntent) -> Approved {
    let limits = RiskLimits {
        max_position_size_bps: 10_000,
        max_concentration_bps: 10_000,
        max_market_exposure_bps: 10_000,
        max_category_exposure_bps: 10_000,
        max_daily_loss_bps: 10_000,
        max_drawdown_bps: 10_000,
        max_order_notional: MAX_ORDER_NOTIONAL_CAP,
        min_time_to_settlement_secs: 0,
        max_price_staleness_secs: MAX_STALENESS_CAP_SECS,
        order_rate: OrderRate {
            capacity: MAX_BUCKET_CAPACITY,
            refill_per_minute: MAX_REFILL_PER_MINUTE,
        },
    };
    let market: MarketId = intent.market.clone();
    let mut s = GovernorState::new(BreakerConfig::default(), limits, t(0)).unwrap();
    for event in [
        Event::CashBalance {
            cash: Usd::from_dollars(10_000).unwrap(),
        },
        Event::MarketInfo {
            market: market.clone(),
            meta: MarketMeta {
                category: "TEST".into(),
                correlation_group: "G".into(),
                settles_at: days(30),
            },
        },
        Event::Mark {
            market,
            yes: p(5_000),
            observed_at: t(0),
        },
    ] {
        s = apply(s, event, t(0)).0;
    }
    match check(s, intent, t(0)).1 {
        Verdict::Approved(a) => a,
        Verdict::Refused(r) => panic!("test intent refused: {r}"),
    }
}
