use super::*;
use crate::core::money::Usd;
use crate::core::orders::VenueStatus;
use crate::core::risk::{Action, IntentKind, OrderIntent, Side};
use crate::core::settlement::LedgerFill;
use crate::core::testkit::{p, t};
use crate::venues::{Reject, RejectReason};

fn m(s: &str) -> MarketId {
    MarketId::new(s)
}

fn holdings(rows: &[(&str, i64)]) -> Holdings {
    Holdings::from_positions(rows.iter().map(|(k, q)| (m(k), Qty(*q))))
}

fn run(ours: &Holdings, theirs: &Holdings) -> ReconcileReport {
    reconcile(ours, Ok(theirs), Thresholds::default())
}

#[test]
fn identical_books_are_clean() {
    let a = holdings(&[("A", 1_000), ("B", -500), ("C", 0)]);
    let r = run(&a, &holdings(&[("A", 1_000), ("B", -500)]));
    assert_eq!(r.drift_bps, Some(0));
    assert!(r.findings.is_empty());
    assert_eq!(r.outcome(), ReconciliationOutcome::Clean);
    // Nothing on either side is clean too.
    assert_eq!(
        run(&Holdings::default(), &Holdings::default()).outcome(),
        ReconciliationOutcome::Clean
    );
}

#[test]
fn drift_below_two_percent_is_clean_at_two_caution_at_five_halt() {
    // 100 contracts held; venue shows 99: 1 / 100 = 100 bps → clean (reported).
    let r = run(&holdings(&[("A", 10_000)]), &holdings(&[("A", 9_900)]));
    assert_eq!(r.drift_bps, Some(100));
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.outcome(), ReconciliationOutcome::Clean);
    // 98 → exactly 200 bps: caution.
    let r = run(&holdings(&[("A", 10_000)]), &holdings(&[("A", 9_800)]));
    assert_eq!(r.drift_bps, Some(200));
    assert_eq!(r.severity(), Some(DriftSeverity::Caution));
    // 95.01 → 499 bps: caution; 95 → 500: halt.
    let r = run(&holdings(&[("A", 10_000)]), &holdings(&[("A", 9_501)]));
    assert_eq!(r.severity(), Some(DriftSeverity::Caution));
    let r = run(&holdings(&[("A", 10_000)]), &holdings(&[("A", 9_500)]));
    assert_eq!(r.drift_bps, Some(500));
    match r.outcome() {
        ReconciliationOutcome::Drift { severity, detail } => {
            assert_eq!(severity, DriftSeverity::Halt);
            assert!(detail.contains("RECONCILE_QTY_MISMATCH: market=A ours=100.00 venue=95.00"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn any_orphan_halts_whatever_its_size() {
    // A one-contract venue position we do not know, beside a large agreed one.
    let r = run(
        &holdings(&[("A", 1_000_000)]),
        &holdings(&[("A", 1_000_000), ("X", 100)]),
    );
    assert_eq!(r.drift_bps, Some(1));
    assert_eq!(
        r.findings,
        vec![Finding::OrphanVenuePosition {
            market: m("X"),
            venue: Qty(100)
        }]
    );
    assert_eq!(r.severity(), Some(DriftSeverity::Halt));
    let r = run(&holdings(&[("A", 100)]), &Holdings::default());
    assert_eq!(r.findings[0].code(), "RECONCILE_PHANTOM_POSITION");
    assert_eq!(r.severity(), Some(DriftSeverity::Halt));
    // Holding YES where the venue has NO is a mismatch of the whole size on both sides.
    let r = run(&holdings(&[("A", 100)]), &holdings(&[("A", -100)]));
    assert_eq!(r.drift_bps, Some(20_000));
}

#[test]
fn a_dropped_fill_is_an_orphan_even_when_positions_agree() {
    let ours = holdings(&[("A", 200)]).with_fills([("f1".to_string(), m("A"))]);
    let venue = holdings(&[("A", 200)])
        .with_fills([("f1".to_string(), m("A")), ("f2".to_string(), m("A"))]);
    let r = run(&ours, &venue);
    assert_eq!(r.drift_bps, Some(0));
    assert_eq!(
        r.findings,
        vec![Finding::UnrecordedVenueFill {
            fill_id: "f2".into(),
            market: m("A")
        }]
    );
    assert_eq!(r.severity(), Some(DriftSeverity::Halt));
    let r = run(&venue, &ours);
    assert_eq!(r.findings[0].code(), "RECONCILE_FILL_MISSING_AT_VENUE");
}

#[test]
fn a_failed_venue_read_is_a_failed_reconciliation_not_an_empty_book() {
    let ours = holdings(&[("A", 100)]);
    let err = ReadError::Venue {
        endpoint: "/portfolio/positions".into(),
        detail: "status=503".into(),
    };
    let r = reconcile(&ours, Err(&err), Thresholds::default());
    assert_eq!(r.drift_bps, None);
    assert!(r.findings.is_empty());
    assert_eq!(
        r.outcome(),
        ReconciliationOutcome::Failed {
            detail: "RECONCILE_VENUE_READ_FAILED: endpoint=/portfolio/positions status=503".into()
        }
    );
    let bad = Thresholds {
        caution_bps: 600,
        halt_bps: 500,
    };
    let r = reconcile(&ours, Ok(&ours), bad);
    assert!(matches!(r.outcome(), ReconciliationOutcome::Failed { .. }));
}

#[test]
fn paged_reads_need_every_page_clean_and_a_terminating_cursor() {
    let page = |records: Vec<i32>, cursor: Option<&str>| PageParse {
        records,
        rejects: vec![],
        cursor: cursor.map(str::to_string),
    };
    let mut read = PagedRead::new("/portfolio/fills", 10);
    assert_eq!(
        read.push(page(vec![1, 2], Some("c1"))),
        Ok(Some("c1".to_string()))
    );
    assert_eq!(read.push(page(vec![3], None)), Ok(None));
    assert_eq!(read.finish(), vec![1, 2, 3]);

    let mut looping = PagedRead::new("/portfolio/fills", 10);
    looping.push(page(vec![1], Some("c1"))).unwrap();
    assert_eq!(
        looping.push(page(vec![2], Some("c1"))).unwrap_err().code(),
        "RECONCILE_CURSOR_LOOP"
    );
    let mut capped = PagedRead::new("/portfolio/fills", 2);
    capped.push(page(vec![1], Some("a"))).unwrap();
    assert_eq!(
        capped.push(page(vec![2], Some("b"))).unwrap_err().code(),
        "RECONCILE_TOO_MANY_PAGES"
    );
    let mut rejected: PagedRead<i32> = PagedRead::new("/portfolio/positions", 10);
    let err = rejected
        .push(PageParse {
            records: vec![],
            rejects: vec![Reject {
                index: 0,
                key: Some("T".into()),
                reason: RejectReason::MissingField("position_fp"),
            }],
            cursor: None,
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "RECONCILE_RECORD_REJECTED: endpoint=/portfolio/positions reject=MISSING_FIELD:position_fp key=T"
    );
}

#[test]
fn paper_reconciliation_compares_the_book_with_the_ledger_recomputation() {
    let fill = |id: &str, side, q| LedgerFill {
        fill_id: id.into(),
        client_order_id: "c".into(),
        market: m("A"),
        side,
        action: Action::Buy,
        qty: Qty(q),
        price: p(5000),
        fee: Usd::ZERO,
        at: t(0),
    };
    let (ledger, _) =
        Ledger::replay(&[fill("f1", Side::No, 300), fill("f2", Side::No, 200)]).unwrap();
    let recomputed = Holdings::from_ledger(&ledger);
    assert_eq!(recomputed.positions[&m("A")], Qty(-500));
    assert_eq!(
        reconcile(
            &holdings(&[("A", -500)]),
            Ok(&recomputed),
            Thresholds::default()
        )
        .outcome(),
        ReconciliationOutcome::Clean
    );
    // A book that lost the second fill is 40% off.
    let r = reconcile(
        &holdings(&[("A", -300)]),
        Ok(&recomputed),
        Thresholds::default(),
    );
    assert_eq!(r.drift_bps, Some(4_000));
    assert_eq!(r.severity(), Some(DriftSeverity::Halt));
}

#[test]
fn unknown_orders_are_resolved_from_a_complete_order_read() {
    let intent = |id: &str| OrderIntent {
        client_order_id: id.into(),
        market: m("A"),
        side: Side::Yes,
        action: Action::Buy,
        qty: Qty(100),
        limit_price: p(5000),
        kind: IntentKind::New,
    };
    let unknown = |id: &str| {
        let mut o = OrderRecord::intent(&intent(id), t(0));
        o.state = OrderState::Unknown;
        o
    };
    let mut filled = unknown("done");
    filled.state = OrderState::Filled;
    let venue = VenueOrder {
        order_id: "v1".into(),
        client_order_id: "there".into(),
        ticker: "A".into(),
        side: Side::Yes,
        action: Action::Buy,
        status: VenueStatus::Executed,
        yes_price: p(5000),
        no_price: p(5000),
        initial: Qty(100),
        filled: Qty(100),
        remaining: Qty(0),
        taker_fees: Usd::ZERO,
        maker_fees: Usd::ZERO,
    };
    let events = resolve_unknown_orders(
        &[unknown("there"), unknown("lost"), filled],
        std::slice::from_ref(&venue),
    );
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0],
        (
            "there".to_string(),
            OrderEvent::Reconciled {
                venue: Some(venue.view())
            }
        )
    );
    assert_eq!(
        events[1],
        ("lost".to_string(), OrderEvent::Reconciled { venue: None })
    );
    let resolved = unknown("there").apply(events[0].1.clone(), t(1)).unwrap();
    assert_eq!(resolved.state, OrderState::Filled);
}

fn settled_record(ticker: &str, revenue_cents: i64, fee_cents: i64) -> VenueSettlement {
    VenueSettlement {
        ticker: ticker.into(),
        event_ticker: "E".into(),
        market_result: "yes".into(),
        yes_count: Qty(1_000),
        no_count: Qty::ZERO,
        revenue_cents,
        fee_cost: Usd::from_cents(fee_cents).unwrap(),
        settled_time: t(9),
    }
}

fn entry(id: &str, market: &str, fee_cents: i64) -> LedgerFill {
    LedgerFill {
        fill_id: id.into(),
        client_order_id: format!("c-{id}"),
        market: m(market),
        side: Side::Yes,
        action: Action::Buy,
        qty: Qty(1_000),
        price: p(4_000),
        fee: Usd::from_cents(fee_cents).unwrap(),
        at: t(0),
    }
}

fn settled_trade(fills: &[LedgerFill], market: &str) -> ClosedTrade {
    let (mut ledger, _) = Ledger::replay(fills).unwrap();
    ledger
        .settle(&m(market), crate::core::settlement::Resolution::Yes, t(9))
        .unwrap()
        .unwrap()
}

#[test]
fn live_settlements_agree_with_the_venues_records_or_are_findings() {
    let fills = vec![entry("f1", "A", 17)];
    let trade = settled_trade(&fills, "A");
    // Agreeing: payout 10.00 (1,000 cents), fees 0.17 on both sides. A market we never
    // traded is none of our business here.
    let venue = vec![settled_record("A", 1_000, 17), settled_record("Z", 500, 3)];
    assert!(check_settlements(&venue, std::slice::from_ref(&trade), &fills).is_empty());
    // The venue settled it; we did not record it.
    let f = check_settlements(&venue, &[], &fills);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code(), "RECONCILE_SETTLEMENT_NOT_RECORDED");
    assert!(f[0].is_orphan());
    // A different payout and different fees.
    let f = check_settlements(
        &[settled_record("A", 990, 18)],
        std::slice::from_ref(&trade),
        &fills,
    );
    let codes: Vec<String> = f.iter().map(|x| x.to_string()).collect();
    assert_eq!(
        codes,
        vec![
            "RECONCILE_SETTLEMENT_MISMATCH: market=A field=revenue ours=10.000000 venue=9.900000"
                .to_string(),
            "RECONCILE_SETTLEMENT_MISMATCH: market=A field=fees ours=0.170000 venue=0.180000"
                .to_string()
        ],
        "{f:?}"
    );
    // We settled it; the venue has no record of it.
    let f = check_settlements(&[], std::slice::from_ref(&trade), &fills);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code(), "RECONCILE_SETTLEMENT_MISSING_AT_VENUE");
    // The findings halt the breaker through the report.
    let mut r = run(&Holdings::default(), &Holdings::default());
    r.findings.extend(f);
    assert!(matches!(
        r.outcome(),
        ReconciliationOutcome::Drift {
            severity: DriftSeverity::Halt,
            ..
        }
    ));
}
