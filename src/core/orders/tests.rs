use super::*;
use crate::core::risk::{IntentKind, OrderIntent};
use crate::core::testkit::{approve, p, t};

fn pair() -> PairId {
    PairId::of("KXA", "0xa")
}

fn intent(id: &str, market: &str) -> OrderIntent {
    OrderIntent {
        client_order_id: id.to_string(),
        market: MarketId::new(market),
        side: Side::Yes,
        action: Action::Buy,
        qty: Qty(1_000),
        limit_price: p(4_800),
        kind: IntentKind::New,
    }
}

fn submitted(id: &str, market: &str) -> OrderRecord {
    let i = intent(id, market);
    let a = approve(i.clone());
    OrderRecord::intent(&i, t(0))
        .approve(&a, t(1))
        .unwrap()
        .apply(OrderEvent::Submit, t(2))
        .unwrap()
}

fn view(status: VenueStatus, filled: i64, remaining: i64) -> VenueOrderView {
    VenueOrderView {
        order_id: "venue-1".into(),
        status,
        filled: Qty(filled),
        remaining: Qty(remaining),
    }
}

fn fill(id: &str, qty: i64) -> OrderEvent {
    OrderEvent::Fill {
        fill_id: id.into(),
        qty: Qty(qty),
        fee: Usd::from_cents(2).unwrap(),
    }
}

#[test]
fn the_same_signal_gets_the_same_client_order_id_and_any_field_changes_it() {
    let m = MarketId::new("KXA-1");
    let base = client_order_id("fv", &pair(), &m, Side::Yes, 5_893_562);
    assert_eq!(
        base,
        client_order_id("fv", &pair(), &m, Side::Yes, 5_893_562)
    );
    for other in [
        client_order_id("fv2", &pair(), &m, Side::Yes, 5_893_562),
        client_order_id("fv", &PairId::of("KXA", "0xb"), &m, Side::Yes, 5_893_562),
        client_order_id("fv", &pair(), &MarketId::new("KXA-2"), Side::Yes, 5_893_562),
        client_order_id("fv", &pair(), &m, Side::No, 5_893_562),
        client_order_id("fv", &pair(), &m, Side::Yes, 5_893_563),
    ] {
        assert_ne!(base, other);
    }
    // A UUID, version 8, RFC variant: the shape the venue's recorded ids have.
    assert_eq!(base.len(), 36);
    let parts: Vec<&str> = base.split('-').collect();
    assert_eq!(
        parts.iter().map(|s| s.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(parts[2].starts_with('8'));
    assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
    assert!(base.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()));
}

#[test]
fn happy_path_intent_to_filled() {
    let o = submitted("c1", "M");
    assert_eq!(o.state, OrderState::Submitted);
    let o = o
        .apply(
            OrderEvent::Accepted(view(VenueStatus::Resting, 0, 1_000)),
            t(3),
        )
        .unwrap();
    assert_eq!(o.state, OrderState::Resting);
    assert_eq!(o.venue_order_id.as_deref(), Some("venue-1"));
    let o = o.apply(fill("f1", 400), t(4)).unwrap();
    assert_eq!(o.state, OrderState::PartiallyFilled);
    let o = o.apply(fill("f2", 600), t(5)).unwrap();
    assert_eq!(o.state, OrderState::Filled);
    assert_eq!(o.fees, Usd::from_cents(4).unwrap());
    assert!(o.state.is_terminal());
    let err = o.apply(fill("f3", 1), t(6)).unwrap_err();
    assert_eq!(err.code(), "ORDER_INVALID_TRANSITION");
}

#[test]
fn an_approval_for_another_order_is_refused() {
    let i = intent("c1", "M");
    let other = approve(intent("c2", "M"));
    let err = OrderRecord::intent(&i, t(0))
        .approve(&other, t(1))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ORDER_APPROVAL_MISMATCH: field=client_order_id"
    );
    // Nothing is submitted without passing through approved.
    let err = OrderRecord::intent(&i, t(0))
        .apply(OrderEvent::Submit, t(1))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ORDER_INVALID_TRANSITION: from=intent event=submit"
    );
}

#[test]
fn a_timeout_leaves_the_order_unknown_and_blocks_its_market_until_reconciled() {
    let o = submitted("c1", "M")
        .apply(
            OrderEvent::OutcomeUnknown {
                reason: "TIMEOUT".into(),
            },
            t(3),
        )
        .unwrap();
    assert_eq!(o.state, OrderState::Unknown);
    let others = submitted("c9", "OTHER");
    let book = [o.clone(), others];
    let err = ensure_market_clear(&book, &MarketId::new("M")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ORDER_MARKET_BLOCKED_UNKNOWN: market=M client_order_id=c1"
    );
    assert_eq!(ensure_market_clear(&book, &MarketId::new("OTHER")), Ok(()));

    // The venue had it and filled it: resolved, the market is clear again.
    let resolved = o
        .apply(
            OrderEvent::Reconciled {
                venue: Some(view(VenueStatus::Executed, 1_000, 0)),
            },
            t(4),
        )
        .unwrap();
    assert_eq!(resolved.state, OrderState::Filled);
    assert_eq!(
        ensure_market_clear([&resolved], &MarketId::new("M")),
        Ok(())
    );
}

#[test]
fn an_unknown_order_absent_from_a_complete_read_never_reached_the_venue() {
    let o = submitted("c1", "M")
        .apply(
            OrderEvent::OutcomeUnknown {
                reason: "HTTP_503".into(),
            },
            t(3),
        )
        .unwrap();
    let r = o
        .apply(OrderEvent::Reconciled { venue: None }, t(4))
        .unwrap();
    assert_eq!(r.state, OrderState::Rejected);
    assert!(r.reason.unwrap().starts_with("NEVER_REACHED_VENUE"));
    // But a fill proves it arrived: absence is then an inconsistency, not a rejection.
    let filled_unknown = o.apply(fill("f1", 100), t(4)).unwrap();
    assert_eq!(filled_unknown.state, OrderState::Unknown);
    assert_eq!(
        filled_unknown
            .apply(OrderEvent::Reconciled { venue: None }, t(5))
            .unwrap_err()
            .code(),
        "ORDER_VENUE_INCONSISTENT"
    );
}

#[test]
fn duplicate_and_excess_fills_are_refused() {
    let o = submitted("c1", "M").apply(fill("f1", 600), t(3)).unwrap();
    assert_eq!(
        o.apply(fill("f1", 100), t(4)).unwrap_err().code(),
        "ORDER_DUPLICATE_FILL"
    );
    assert_eq!(
        o.apply(fill("f2", 401), t(4)).unwrap_err().code(),
        "ORDER_OVERFILL"
    );
    assert_eq!(
        o.apply(fill("f3", 0), t(4)).unwrap_err().code(),
        "ORDER_OVERFILL"
    );
}

#[test]
fn venue_views_map_onto_states_and_inconsistent_ones_are_refused() {
    let s = submitted("c1", "M");
    let state = |v| s.apply(OrderEvent::Accepted(v), t(3)).map(|o| o.state);
    assert_eq!(
        state(view(VenueStatus::Resting, 0, 1_000)),
        Ok(OrderState::Resting)
    );
    assert_eq!(
        state(view(VenueStatus::Resting, 300, 700)),
        Ok(OrderState::PartiallyFilled)
    );
    assert_eq!(
        state(view(VenueStatus::Executed, 1_000, 0)),
        Ok(OrderState::Filled)
    );
    // IOC remainder cancelled after a partial fill.
    assert_eq!(
        state(view(VenueStatus::Canceled, 300, 0)),
        Ok(OrderState::Cancelled)
    );
    for bad in [
        view(VenueStatus::Resting, 300, 800),
        view(VenueStatus::Executed, 999, 0),
        view(VenueStatus::Executed, 1_001, 0),
    ] {
        assert_eq!(
            s.apply(OrderEvent::Accepted(bad), t(3)).unwrap_err().code(),
            "ORDER_VENUE_INCONSISTENT"
        );
    }
}

#[test]
fn refusals_rejections_and_cancels() {
    let i = intent("c1", "M");
    let refused = OrderRecord::intent(&i, t(0))
        .apply(
            OrderEvent::Refuse {
                reason: "BREAKER_HALT".into(),
            },
            t(1),
        )
        .unwrap();
    assert_eq!(refused.state, OrderState::Rejected);
    let rejected = submitted("c2", "M")
        .apply(
            OrderEvent::VenueRejected {
                status: 400,
                code: "insufficient_balance".into(),
            },
            t(3),
        )
        .unwrap();
    assert_eq!(rejected.state, OrderState::Rejected);
    assert_eq!(
        rejected.reason.as_deref(),
        Some("VENUE_REJECTED: status=400 code=insufficient_balance")
    );
    let cancelled = submitted("c3", "M")
        .apply(
            OrderEvent::Accepted(view(VenueStatus::Resting, 0, 1_000)),
            t(3),
        )
        .unwrap()
        .apply(OrderEvent::CancelConfirmed, t(4))
        .unwrap();
    assert_eq!(cancelled.state, OrderState::Cancelled);
    // A fill that raced the cancel is still recorded, and the order stays cancelled.
    let late = cancelled.apply(fill("late", 100), t(5)).unwrap();
    assert_eq!((late.state, late.filled), (OrderState::Cancelled, Qty(100)));
}

#[test]
fn records_round_trip_through_json() {
    let o = submitted("c1", "M");
    let text = serde_json::to_string(&o).unwrap();
    assert!(text.contains("\"state\":\"submitted\""));
    assert_eq!(serde_json::from_str::<OrderRecord>(&text).unwrap(), o);
}

fn ledger_fill(
    fill_id: &str,
    coid: &str,
    market: &str,
    qty: i64,
) -> crate::core::settlement::LedgerFill {
    crate::core::settlement::LedgerFill {
        fill_id: fill_id.to_string(),
        client_order_id: coid.to_string(),
        market: MarketId::new(market),
        side: Side::Yes,
        action: Action::Buy,
        qty: Qty(qty),
        price: p(4_800),
        fee: Usd(10_000),
        at: t(3),
    }
}

#[test]
fn an_interrupted_paper_order_without_fills_is_cancelled_and_never_executed_again() {
    let o = submitted("c1", "KXA");
    let other = ledger_fill("f-other", "c2", "KXA", 500);
    let r = recover_interrupted(&o, true, std::slice::from_ref(&other), t(10)).unwrap();
    assert_eq!(r.order.state, OrderState::Cancelled);
    assert_eq!(r.order.reason.as_deref(), Some(INTERRUPTED));
    assert_eq!(r.order.filled, Qty::ZERO);
    assert_eq!(r.fills_adopted, 0);
    assert_eq!(r.order.updated_at, t(10));
    // The same input gives the same answer.
    assert_eq!(recover_interrupted(&o, true, &[other], t(10)).unwrap(), r);
}

#[test]
fn an_interrupted_paper_order_adopts_its_recorded_fills_once() {
    let o = submitted("c1", "KXA");
    // Partly filled in the ledger: the fill is counted, the rest cancelled.
    let part = ledger_fill("f1", "c1", "KXA", 400);
    let r = recover_interrupted(&o, true, std::slice::from_ref(&part), t(10)).unwrap();
    assert_eq!(r.order.state, OrderState::Cancelled);
    assert_eq!(r.order.filled, Qty(400));
    assert_eq!(r.order.fees, Usd(10_000));
    assert_eq!(r.order.fill_ids, vec!["f1".to_string()]);
    assert_eq!(r.fills_adopted, 1);
    // Fully filled in the ledger: filled, no cancel, no reason.
    let rest = ledger_fill("f2", "c1", "KXA", 600);
    let r = recover_interrupted(&o, true, &[part.clone(), rest], t(10)).unwrap();
    assert_eq!(r.order.state, OrderState::Filled);
    assert_eq!(r.order.filled, Qty(1_000));
    assert_eq!(r.order.reason, None);
    assert_eq!(r.fills_adopted, 2);
    // A fill listed twice is counted once (the second is a duplicate and refused).
    assert_eq!(
        recover_interrupted(&o, true, &[part.clone(), part.clone()], t(10))
            .unwrap_err()
            .code(),
        "ORDER_DUPLICATE_FILL"
    );
    let counted = o
        .apply(
            OrderEvent::Fill {
                fill_id: "f1".into(),
                qty: Qty(400),
                fee: Usd(10_000),
            },
            t(3),
        )
        .unwrap();
    // Recovery refuses a partly filled record (it is not interrupted) and a fill that
    // would overfill or sits on another market.
    assert!(recover_interrupted(&counted, true, &[], t(10)).is_err());
    let big = ledger_fill("f3", "c1", "KXA", 1_001);
    assert_eq!(
        recover_interrupted(&o, true, &[big], t(10))
            .unwrap_err()
            .code(),
        "ORDER_OVERFILL"
    );
    let elsewhere = ledger_fill("f4", "c1", "KXB", 100);
    assert_eq!(
        recover_interrupted(&o, true, &[elsewhere], t(10))
            .unwrap_err()
            .code(),
        "ORDER_VENUE_INCONSISTENT"
    );
}

#[test]
fn an_interrupted_intent_is_rejected_and_a_live_submission_is_left_to_reconciliation() {
    let i = intent("c1", "KXA");
    let o = OrderRecord::intent(&i, t(0));
    for paper in [true, false] {
        let r = recover_interrupted(&o, paper, &[], t(10)).unwrap();
        assert_eq!(r.order.state, OrderState::Rejected);
        assert_eq!(r.order.reason.as_deref(), Some(INTERRUPTED));
    }
    let live = submitted("c1", "KXA");
    assert_eq!(
        recover_interrupted(&live, false, &[], t(10))
            .unwrap_err()
            .code(),
        "ORDER_INVALID_TRANSITION"
    );
    let done = live.apply(OrderEvent::CancelConfirmed, t(3)).unwrap();
    assert!(recover_interrupted(&done, true, &[], t(10)).is_err());
}
