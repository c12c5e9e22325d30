use super::*;
use crate::core::money::Usd;
use crate::core::risk::Action;
use crate::core::settlement::{Ledger, Resolution};
use crate::core::testkit::{days, p};

fn fill(id: &str, market: &str, side: Side, action: Action, q: i64, price: i64) -> LedgerFill {
    LedgerFill {
        fill_id: id.into(),
        client_order_id: format!("c-{id}"),
        market: MarketId::new(market),
        side,
        action,
        qty: Qty(q),
        price: p(price),
        fee: Usd::from_cents(2).unwrap(),
        at: days(0),
    }
}

fn position(
    id: &str,
    market: &str,
    side: Side,
    q: i64,
    opened: i64,
    entries: &[&str],
) -> OpenPositionRecord {
    OpenPositionRecord {
        id: id.into(),
        market: MarketId::new(market),
        side,
        qty: Qty(q),
        opened_at: days(opened),
        entry_fill_ids: entries.iter().map(|s| s.to_string()).collect(),
    }
}

fn codes(v: &[Violation]) -> Vec<&'static str> {
    v.iter().map(|x| x.code.as_str()).collect()
}

/// A consistent book: A bought 10 and sold 4 (6 open), B bought and settled.
fn consistent() -> (Vec<LedgerFill>, Vec<OpenPositionRecord>, Vec<ClosedTrade>) {
    let fills = vec![
        fill("a1", "A", Side::Yes, Action::Buy, 1_000, 4000),
        fill("a2", "A", Side::Yes, Action::Sell, 400, 5500),
        fill("b1", "B", Side::No, Action::Buy, 500, 3000),
    ];
    let (mut ledger, mut closed) = Ledger::replay(&fills).unwrap();
    closed.extend(
        ledger
            .settle(&MarketId::new("B"), Resolution::No, days(2))
            .unwrap(),
    );
    let open = vec![position("pos-A", "A", Side::Yes, 600, 0, &["a1"])];
    (fills, open, closed)
}

fn run(
    fills: &[LedgerFill],
    open: &[OpenPositionRecord],
    closed: &[ClosedTrade],
    now_days: i64,
) -> Vec<Violation> {
    check(
        &IntegrityInput {
            fills,
            open_positions: open,
            closed_trades: closed,
            now: days(now_days),
        },
        &IntegrityConfig::default(),
    )
}

#[test]
fn a_consistent_book_has_no_violations_even_when_positions_are_old() {
    let (fills, open, closed) = consistent();
    assert_eq!(closed.len(), 2);
    assert!(run(&fills, &open, &closed, 30).is_empty());
}

#[test]
fn inventory_is_reconciled_from_buys_and_sells_first() {
    let (fills, _, closed) = consistent();
    // Recording 10 open after the sell of 4 is an inventory mismatch (the SELL was missed).
    let wrong = vec![position("pos-A", "A", Side::Yes, 1_000, 0, &["a1"])];
    let v = run(&fills, &wrong, &closed, 1);
    assert_eq!(codes(&v), ["INTEGRITY_INVENTORY_MISMATCH"]);
    assert_eq!(
        v[0].to_string(),
        "INTEGRITY_INVENTORY_MISMATCH: subject=A from_fills=6.00 open_positions=10.00"
    );
}

#[test]
fn old_unlinked_positions_are_orphans_unless_whitelisted_young_ones_are_not() {
    let (fills, _, closed) = consistent();
    let unlinked = vec![position("pos-A", "A", Side::Yes, 600, 0, &[])];
    assert!(
        run(&fills, &unlinked, &closed, 3).is_empty(),
        "exactly 3 days is not older"
    );
    let v = run(&fills, &unlinked, &closed, 4);
    assert_eq!(codes(&v), ["INTEGRITY_ORPHAN_POSITION"]);
    assert!(v[0].to_string().contains("linkage=none"));
    let dangling = vec![position("pos-A", "A", Side::Yes, 600, 0, &["a1", "ghost"])];
    let v = run(&fills, &dangling, &closed, 10);
    assert!(v[0].to_string().contains("linkage=missing_fills=ghost"));

    let config = IntegrityConfig::from_vars(Some(" 7 "), Some("pos-X, pos-A,,")).unwrap();
    assert_eq!(config.max_open_position_age_days, 7);
    let input = IntegrityInput {
        fills: &fills,
        open_positions: &unlinked,
        closed_trades: &closed,
        now: days(10),
    };
    assert!(check(&input, &config).is_empty(), "whitelisted");
    assert!(IntegrityConfig::from_vars(Some("-1"), None).is_err());
    assert!(IntegrityConfig::from_vars(Some("three"), None).is_err());
    assert_eq!(
        IntegrityConfig::from_vars(None, None).unwrap(),
        IntegrityConfig::default()
    );
}

#[test]
fn closes_without_entries_duplicates_and_bad_arithmetic_are_violations() {
    let (fills, open, closed) = consistent();
    let mut no_entry = closed[0].clone();
    no_entry.trade_id = "trade-noentry".into();
    no_entry.entries.clear();
    let mut ghost = closed[0].clone();
    ghost.trade_id = "trade-ghost".into();
    ghost.entries[0].fill_id = "ghost".into();
    let v = run(
        &fills,
        &open,
        &[closed.clone(), vec![no_entry, ghost]].concat(),
        1,
    );
    assert!(codes(&v)
        .iter()
        .all(|c| *c == "INTEGRITY_CLOSE_WITHOUT_ENTRY" || *c == "INTEGRITY_PNL_MISMATCH"));
    assert_eq!(
        codes(&v)
            .iter()
            .filter(|c| **c == "INTEGRITY_CLOSE_WITHOUT_ENTRY")
            .count(),
        2
    );

    let twice = [closed.clone(), vec![closed[0].clone()]].concat();
    let v = run(&fills, &open, &twice, 1);
    assert!(codes(&v).contains(&"INTEGRITY_DUPLICATE_CLOSE"));

    // Two different trades both claiming all of b1.
    let mut reclaim = closed[1].clone();
    reclaim.trade_id = "trade-reclaim".into();
    let v = run(&fills, &open, &[closed.clone(), vec![reclaim]].concat(), 1);
    let dup = v
        .iter()
        .find(|x| x.code == ViolationCode::IntegrityDuplicateClose)
        .unwrap();
    assert_eq!(dup.subject, "b1");
    assert!(dup
        .to_string()
        .contains("reason=entry_consumed_beyond_fill"));

    let mut bad_pnl = closed.clone();
    bad_pnl[0].realised_pnl = Usd(bad_pnl[0].realised_pnl.micros() + 1);
    let v = run(&fills, &open, &bad_pnl, 1);
    assert_eq!(codes(&v), ["INTEGRITY_PNL_MISMATCH"]);
    let mut bad_cost = closed.clone();
    bad_cost[1].entries[0].cost = Usd(1);
    bad_cost[1].entry_cost = Usd(1);
    bad_cost[1].realised_pnl = bad_cost[1].expected_pnl().unwrap();
    let v = run(&fills, &open, &bad_cost, 1);
    assert_eq!(codes(&v), ["INTEGRITY_PNL_MISMATCH"]);
    assert!(v[0].to_string().contains("field=entry_part_cost"));
}

#[test]
fn violation_ids_are_stable_across_runs() {
    let (fills, _, closed) = consistent();
    let unlinked = vec![position("pos-A", "A", Side::Yes, 600, 0, &[])];
    let a = run(&fills, &unlinked, &closed, 5);
    let b = run(&fills, &unlinked, &closed, 6);
    assert_eq!(a[0].id, b[0].id);
    assert!(a[0].id.starts_with("viol-"));
}
