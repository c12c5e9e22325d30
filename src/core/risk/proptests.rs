//! Properties that must hold for every sequence of events, not just the ones we thought of.

use super::book::{acquired_leg, notional};
use super::tests::{funded, loose, mid, p, t, MARKETS};
use super::*;
use crate::core::breaker::{BreakerState, FailureSource, TransitionRequest};
use crate::core::money::{Price, Qty, Usd};
use proptest::prelude::*;
use std::collections::BTreeMap;

const IDS: [&str; 6] = ["o0", "o1", "o2", "o3", "o4", "o5"];

fn arb_market() -> impl Strategy<Value = MarketId> {
    prop_oneof![
        4 => (0..MARKETS.len()).prop_map(|i| mid(MARKETS[i].0)),
        1 => Just(mid("UNKNOWN")),
    ]
}

fn arb_side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Yes), Just(Side::No)]
}

fn arb_action() -> impl Strategy<Value = Action> {
    prop_oneof![Just(Action::Buy), Just(Action::Sell)]
}

fn arb_state() -> impl Strategy<Value = BreakerState> {
    prop_oneof![
        Just(BreakerState::Normal),
        Just(BreakerState::Caution),
        Just(BreakerState::Halt),
        Just(BreakerState::Recovery),
    ]
}

fn arb_source() -> impl Strategy<Value = FailureSource> {
    (0..FailureSource::ALL.len()).prop_map(|i| FailureSource::ALL[i])
}

fn arb_id() -> impl Strategy<Value = String> {
    (0..IDS.len()).prop_map(|i| IDS[i].to_string())
}

fn arb_intent() -> impl Strategy<Value = OrderIntent> {
    (
        arb_id(),
        arb_market(),
        arb_side(),
        arb_action(),
        1i64..200_000,
        1i64..10_000,
        prop_oneof![
            6 => Just(IntentKind::New),
            2 => Just(IntentKind::Reduce),
            1 => Just(IntentKind::Cancel),
        ],
    )
        .prop_map(|(id, market, side, action, qty, price, kind)| OrderIntent {
            client_order_id: id,
            market,
            side,
            action,
            qty: Qty(qty),
            limit_price: p(price),
            kind,
        })
}

fn arb_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        2 => arb_state().prop_map(|target| Event::ManualTransition(TransitionRequest {
            target,
            reason: "property".to_string(),
            actor: "ops".to_string(),
        })),
        3 => (arb_source(), any::<bool>()).prop_map(|(source, fail)| if fail {
            Event::FailureReported { source, detail: "x".to_string() }
        } else {
            Event::SuccessReported { source }
        }),
        1 => Just(Event::CriticalAlert { reason: "alert".to_string() }),
        2 => prop_oneof![
            Just(ReconciliationOutcome::Clean),
            Just(ReconciliationOutcome::Drift { severity: DriftSeverity::Caution, detail: "d".to_string() }),
            Just(ReconciliationOutcome::Drift { severity: DriftSeverity::Halt, detail: "d".to_string() }),
            Just(ReconciliationOutcome::Failed { detail: "f".to_string() }),
        ].prop_map(|outcome| Event::Reconciliation { outcome }),
        2 => (arb_market(), 1i64..10_000).prop_map(|(market, yes)| Event::Mark {
            market,
            yes: p(yes),
            // Marks are stamped at the event's own time by `drive`.
            observed_at: t(0),
        }),
        1 => (0i64..20_000).prop_map(|d| Event::CashBalance { cash: Usd::from_dollars(d).unwrap() }),
        8 => arb_intent().prop_map(Event::Check),
        3 => (arb_id(), arb_market(), arb_side(), arb_action(), 1i64..100_000, 1i64..10_000)
            .prop_map(|(id, market, side, action, qty, price)| Event::Fill(FillReport {
                fill_id: String::new(), // made unique by `drive`
                client_order_id: id,
                market,
                side,
                action,
                qty: Qty(qty),
                price: p(price),
                fee: Usd::ZERO,
            })),
        2 => arb_id().prop_map(|client_order_id| Event::Cancel { client_order_id }),
        1 => (arb_market(), any::<bool>()).prop_map(|(market, yes)| Event::Settlement {
            market,
            yes_value: if yes { Price::ONE_DOLLAR } else { Price::ZERO },
        }),
        1 => (100i64..=10_000, 1i64..=10_000).prop_map(|(size, loss)| Event::LimitsUpdate {
            proposed: RiskLimits {
                max_position_size_bps: size,
                max_daily_loss_bps: loss,
                max_drawdown_bps: loss,
                ..loose()
            },
            actor: "ops".to_string(),
            reason: "property".to_string(),
            base: None,
        }),
    ]
}

/// Applies `events`, each `step_ms[i]` after the previous one, calling `visit` with the state
/// before, the event, the state after and the effects.
fn drive(
    events: Vec<(Event, i64)>,
    mut visit: impl FnMut(&GovernorState, &Event, &GovernorState, &[Effect]),
) {
    let mut state = funded(RiskLimits {
        max_price_staleness_secs: 3_600,
        ..RiskLimits::default()
    });
    let mut now_ms = 0;
    for (n, (mut event, step_ms)) in events.into_iter().enumerate() {
        now_ms += step_ms;
        let now = t(now_ms);
        match &mut event {
            Event::Mark { observed_at, .. } => *observed_at = now,
            Event::Fill(f) => f.fill_id = format!("fill-{n}"),
            _ => {}
        }
        let before = state.clone();
        let (after, effects) = apply(state, event.clone(), now);
        visit(&before, &event, &after, &effects);
        state = after;
    }
}

fn arb_run() -> impl Strategy<Value = Vec<(Event, i64)>> {
    // Steps of up to ~4.8 hours, so some runs cross UTC midnight and roll the day.
    prop::collection::vec(
        (
            arb_event(),
            prop_oneof![3 => 0i64..60_000, 1 => 0i64..17_280_000],
        ),
        1..60,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_of_events_approves_new_exposure_while_halted(events in arb_run()) {
        drive(events, |before, _event, after, effects| {
            for effect in effects {
                if let Effect::Verdict(Verdict::Approved(a)) = effect {
                    if a.effect() == Some(OrderEffect::Increase) {
                        assert_ne!(before.breaker().state(), BreakerState::Halt);
                        assert_ne!(after.breaker().state(), BreakerState::Halt);
                    }
                }
            }
        });
    }

    #[test]
    fn escalation_never_lowers_the_breaker_state(events in arb_run()) {
        drive(events, |before, event, after, _| {
            if !matches!(event, Event::ManualTransition(_)) {
                let (from, to) = (before.breaker().state(), after.breaker().state());
                assert!(to.rank() >= from.rank(), "{event:?}: {from} -> {to}");
                if to.rank() == from.rank() {
                    assert_eq!(from, to, "{event:?} moved sideways");
                }
            }
        });
    }

    #[test]
    fn sequential_checks_never_jointly_exceed_an_exposure_limit(
        halved in any::<bool>(),
        intents in prop::collection::vec(arb_intent(), 1..80),
    ) {
        let limits = RiskLimits {
            max_order_notional: Usd::from_dollars(400).unwrap(),
            order_rate: loose().order_rate,
            ..RiskLimits::default()
        };
        let mut state = funded(limits.clone());
        if halved {
            state = apply(state, Event::ManualTransition(TransitionRequest {
                target: BreakerState::Caution,
                reason: "property".to_string(),
                actor: "ops".to_string(),
            }), t(0)).0;
        }
        let div: i128 = if halved { 2 } else { 1 };
        let mut approvals = 0;
        for (n, mut intent) in intents.into_iter().enumerate() {
            intent.client_order_id = format!("c{n}");
            let (next, verdict, _) = check(state, intent, t(0));
            state = next;
            if verdict.approved().is_some_and(|a| a.effect() == Some(OrderEffect::Increase)) {
                approvals += 1;
                let equity = i128::from(state.book().equity().unwrap().micros());
                for (scope, used) in scope_totals(state.book()) {
                    let bps = match scope {
                        Scope::Side(..) => limits.max_position_size_bps,
                        Scope::Market(_) => limits.max_concentration_bps,
                        Scope::Group(_) => limits.max_market_exposure_bps,
                        Scope::Category(_) => limits.max_category_exposure_bps,
                    };
                    assert!(
                        used * 10_000 * div <= equity * i128::from(bps),
                        "{scope:?} at {used} exceeds {bps} bps of {equity} (div {div})"
                    );
                }
            }
        }
        // The run must exercise approvals, not just refusals (this holds for nearly all runs).
        prop_assume!(approvals > 0);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    Side(MarketId, &'static str),
    Market(MarketId),
    Group(String),
    Category(String),
}

/// Exposure per scope recomputed from the book's raw contents, independently of the check.
fn scope_totals(book: &Book) -> BTreeMap<Scope, i128> {
    let mut per_market: Vec<(MarketId, Side, i128)> = Vec::new();
    for (id, entry) in book.markets() {
        if let (Some(pos), Some(mark)) = (&entry.position, &entry.mark) {
            per_market.push((
                id.clone(),
                pos.side,
                notional(mark.price(pos.side), pos.qty),
            ));
        }
    }
    for (_, r) in book.reservations() {
        if r.effect == OrderEffect::Increase {
            let (side, price) = acquired_leg(r.side, r.action, r.limit_price);
            per_market.push((r.market.clone(), side, notional(price, r.qty)));
        }
    }
    let mut totals = BTreeMap::new();
    for (id, side, value) in per_market {
        *totals
            .entry(Scope::Side(id.clone(), side.as_str()))
            .or_insert(0) += value;
        *totals.entry(Scope::Market(id.clone())).or_insert(0) += value;
        if let Some(meta) = book.meta(&id) {
            *totals
                .entry(Scope::Group(meta.correlation_group.clone()))
                .or_insert(0) += value;
            *totals
                .entry(Scope::Category(meta.category.clone()))
                .or_insert(0) += value;
        }
    }
    totals
}
