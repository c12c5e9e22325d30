use super::*;
use crate::core::testkit::{days, p, t};

fn fill(
    id: &str,
    side: Side,
    action: Action,
    contracts: i64,
    price: i64,
    fee_cents: i64,
) -> LedgerFill {
    LedgerFill {
        fill_id: id.into(),
        client_order_id: format!("c-{id}"),
        market: MarketId::new("M"),
        side,
        action,
        qty: Qty::contracts(contracts).unwrap(),
        price: p(price),
        fee: Usd::from_cents(fee_cents).unwrap(),
        at: t(0),
    }
}

fn dollars(micros: i64) -> Usd {
    Usd(micros)
}

fn m() -> MarketId {
    MarketId::new("M")
}

/// Buy 10 YES @ 0.40 (fee 0.07·10·0.4·0.6 = 0.168 → 0.17); YES wins: payout 10.00.
/// P&L = 10.00 − 4.00 − 0.17 = 5.83.
#[test]
fn long_yes_that_wins_pays_a_dollar_per_contract_minus_cost_and_fees() {
    let (mut ledger, closed) =
        Ledger::replay([&fill("f1", Side::Yes, Action::Buy, 10, 4000, 17)]).unwrap();
    assert!(closed.is_empty());
    assert_eq!(ledger.signed_positions()[&m()], Qty(1_000));
    let trade = ledger
        .settle(&m(), Resolution::Yes, days(3))
        .unwrap()
        .unwrap();
    assert_eq!(trade.side, Side::Yes);
    assert_eq!(trade.qty, Qty(1_000));
    assert_eq!(trade.entry_cost, dollars(4_000_000));
    assert_eq!(trade.entry_fees, dollars(170_000));
    assert_eq!(trade.exit_value, dollars(10_000_000));
    assert_eq!(trade.exit_fees, Usd::ZERO);
    assert_eq!(trade.realised_pnl, dollars(5_830_000));
    assert_eq!(trade.expected_pnl(), Some(trade.realised_pnl));
    assert_eq!(trade.entries.len(), 1);
    assert_eq!(trade.entries[0].fill_id, "f1");
    assert_eq!(
        trade.exit,
        Exit::Settlement {
            result: Resolution::Yes
        }
    );
    assert_eq!((trade.opened_at, trade.closed_at), (t(0), days(3)));
    assert!(ledger.position(&m()).is_none());
    assert_eq!(ledger.settle(&m(), Resolution::Yes, days(4)).unwrap(), None);
}

/// Same position, NO wins: payout 0, P&L = −4.17.
#[test]
fn long_yes_that_loses_loses_cost_and_fees() {
    let (mut ledger, _) =
        Ledger::replay([&fill("f1", Side::Yes, Action::Buy, 10, 4000, 17)]).unwrap();
    let trade = ledger
        .settle(&m(), Resolution::No, days(3))
        .unwrap()
        .unwrap();
    assert_eq!(trade.exit_value, Usd::ZERO);
    assert_eq!(trade.realised_pnl, dollars(-4_170_000));
}

/// Buy 20 NO @ 0.55 (fee 0.07·20·0.55·0.45 = 0.3465 → 0.35) and 5 NO @ 0.56 (fee
/// 0.07·5·0.56·0.44 = 0.08624 → 0.09). NO wins: payout 25.00; cost 11.00 + 2.80 = 13.80;
/// fees 0.44; P&L = 25.00 − 13.80 − 0.44 = 10.76. As YES it would lose 14.24.
#[test]
fn long_no_settles_on_a_no_result_and_reports_as_negative_position() {
    let fills = [
        fill("n1", Side::No, Action::Buy, 20, 5500, 35),
        fill("n2", Side::No, Action::Buy, 5, 5600, 9),
    ];
    let (mut ledger, _) = Ledger::replay(&fills).unwrap();
    assert_eq!(ledger.signed_positions()[&m()], Qty(-2_500));
    let mut other = ledger.clone();
    let win = ledger
        .settle(&m(), Resolution::No, days(1))
        .unwrap()
        .unwrap();
    assert_eq!(win.side, Side::No);
    assert_eq!(win.entry_cost, dollars(13_800_000));
    assert_eq!(win.entry_fees, dollars(440_000));
    assert_eq!(win.exit_value, dollars(25_000_000));
    assert_eq!(win.realised_pnl, dollars(10_760_000));
    let ids: Vec<&str> = win.entries.iter().map(|e| e.fill_id.as_str()).collect();
    assert_eq!(ids, ["n1", "n2"]);
    let loss = other
        .settle(&m(), Resolution::Yes, days(1))
        .unwrap()
        .unwrap();
    assert_eq!(loss.realised_pnl, dollars(-14_240_000));
}

/// Buy 10 YES @ 0.40 (fee 0.17), sell 4 YES @ 0.55 (fee 0.07·4·0.55·0.45 = 0.0693 → 0.07).
/// Closed: 4 contracts, cost 1.60, entry fee 0.17·4/10 = 0.068, exit 2.20, exit fee 0.07:
/// P&L = 2.20 − 0.07 − 1.60 − 0.068 = 0.462. Left: 6 @ 0.40 with fee 0.102.
#[test]
fn a_partial_sell_closes_fifo_with_pro_rata_entry_fees() {
    let (ledger, closed) = Ledger::replay(&[
        fill("b1", Side::Yes, Action::Buy, 10, 4000, 17),
        fill("s1", Side::Yes, Action::Sell, 4, 5500, 7),
    ])
    .unwrap();
    assert_eq!(closed.len(), 1);
    let t1 = &closed[0];
    assert_eq!(t1.qty, Qty(400));
    assert_eq!(t1.entry_cost, dollars(1_600_000));
    assert_eq!(t1.entry_fees, dollars(68_000));
    assert_eq!(t1.exit_value, dollars(2_200_000));
    assert_eq!(t1.exit_fees, dollars(70_000));
    assert_eq!(t1.realised_pnl, dollars(462_000));
    assert_eq!(
        t1.exit,
        Exit::Fill {
            fill_id: "s1".into()
        }
    );
    let pos = ledger.position(&m()).unwrap();
    assert_eq!(pos.qty(), Qty(600));
    assert_eq!(pos.lots[0].fee, dollars(102_000));
}

/// Holding YES, buying NO nets pairs at $1: buying 3 NO @ 0.30 closes 3 YES at 0.70 each.
#[test]
fn buying_the_other_side_nets_against_the_held_side() {
    let (ledger, closed) = Ledger::replay(&[
        fill("b1", Side::Yes, Action::Buy, 5, 6000, 0),
        fill("b2", Side::No, Action::Buy, 3, 3000, 0),
    ])
    .unwrap();
    assert_eq!(closed[0].exit_value, dollars(2_100_000));
    assert_eq!(closed[0].entry_cost, dollars(1_800_000));
    assert_eq!(closed[0].realised_pnl, dollars(300_000));
    assert_eq!(ledger.signed_positions()[&m()], Qty(200));
}

/// A fill larger than the held position closes it and opens the other side with the rest;
/// the fill's fee is split between the two parts and nothing is lost.
#[test]
fn a_flip_splits_the_fill_and_its_fee() {
    let (ledger, closed) = Ledger::replay(&[
        fill("b1", Side::Yes, Action::Buy, 2, 5000, 4),
        fill("s1", Side::Yes, Action::Sell, 5, 5000, 9),
    ])
    .unwrap();
    // 2 of 5 contracts close: exit fee 0.09·2/5 = 0.036; 3 open NO @ 0.50 with 0.054.
    assert_eq!(closed[0].exit_fees, dollars(36_000));
    let pos = ledger.position(&m()).unwrap();
    assert_eq!(pos.side, Side::No);
    assert_eq!(pos.qty(), Qty(300));
    assert_eq!(pos.lots[0].fee, dollars(54_000));
    assert_eq!(pos.lots[0].price, p(5000));
}

#[test]
fn replayed_or_malformed_fills_and_unsupported_results_are_refused() {
    let f = fill("f1", Side::Yes, Action::Buy, 1, 5000, 2);
    let err = Ledger::replay(&[f.clone(), f.clone()]).unwrap_err();
    assert_eq!(err.to_string(), "LEDGER_DUPLICATE_FILL: fill_id=f1");
    let mut zero = f.clone();
    zero.qty = Qty::ZERO;
    assert_eq!(
        Ledger::replay(&[zero]).unwrap_err().code(),
        "LEDGER_INVALID_FILL"
    );
    assert_eq!(Resolution::from_result(""), Ok(None));
    assert_eq!(Resolution::from_result("no"), Ok(Some(Resolution::No)));
    assert_eq!(
        Resolution::from_result("void").unwrap_err().code(),
        "LEDGER_RESULT_UNSUPPORTED"
    );
}

#[test]
fn trade_ids_are_deterministic() {
    let fills = [fill("f1", Side::Yes, Action::Buy, 1, 5000, 2)];
    let a = Ledger::replay(&fills)
        .unwrap()
        .0
        .settle(&m(), Resolution::Yes, days(1))
        .unwrap()
        .unwrap();
    let b = Ledger::replay(&fills)
        .unwrap()
        .0
        .settle(&m(), Resolution::Yes, days(2))
        .unwrap()
        .unwrap();
    assert_eq!(a.trade_id, b.trade_id);
    assert!(a.trade_id.starts_with("trade-"));
    let c = Ledger::replay(&fills)
        .unwrap()
        .0
        .settle(&m(), Resolution::No, days(1))
        .unwrap()
        .unwrap();
    assert_ne!(a.trade_id, c.trade_id);
}

fn venue_record(
    result: &str,
    yes: i64,
    no: i64,
    revenue_cents: i64,
) -> crate::venues::kalshi::VenueSettlement {
    crate::venues::kalshi::VenueSettlement {
        ticker: "M".into(),
        event_ticker: "E".into(),
        market_result: result.into(),
        yes_count: Qty::contracts(yes).unwrap(),
        no_count: Qty::contracts(no).unwrap(),
        revenue_cents,
        fee_cost: Usd::from_cents(17).unwrap(),
        settled_time: days(3),
    }
}

/// Live: the venue's settlement record closes the position at its payout. Long 10 NO @ 0.40
/// (fee 0.17), NO wins, the venue pays 1,000 cents: P&L 10.00 − 4.00 − 0.17 = 5.83; the trade
/// names its entry fill, and is the same trade the ingested result would have closed.
#[test]
fn a_venue_settlement_closes_the_position_at_the_venues_payout_linked_to_its_entries() {
    let f = fill("f1", Side::No, Action::Buy, 10, 4000, 17);
    let (mut ledger, _) = Ledger::replay([&f]).unwrap();
    let terms = VenueSettlementTerms::of(&venue_record("no", 0, 10, 1_000)).unwrap();
    assert_eq!(terms.net, Qty(-1_000));
    assert_eq!(terms.revenue, dollars(10_000_000));
    let trade = ledger.settle_from_venue(&m(), &terms).unwrap().unwrap();
    assert_eq!(trade.side, Side::No);
    assert_eq!(trade.exit_value, dollars(10_000_000));
    assert_eq!(trade.exit_fees, Usd::ZERO);
    assert_eq!(trade.realised_pnl, dollars(5_830_000));
    assert_eq!(trade.expected_pnl(), Some(trade.realised_pnl));
    assert_eq!(trade.entries[0].fill_id, "f1");
    assert_eq!(trade.closed_at, days(3));
    let (mut again, _) = Ledger::replay([&f]).unwrap();
    let by_result = again
        .settle(&m(), Resolution::No, days(3))
        .unwrap()
        .unwrap();
    assert_eq!(by_result, trade);
    // Settled once: the position is gone; settling again closes nothing.
    assert!(ledger.position(&m()).is_none());
    assert_eq!(ledger.settle_from_venue(&m(), &terms).unwrap(), None);
    // The venue's payout is what counts: a short payout is realised as such.
    let (mut short, _) = Ledger::replay([&f]).unwrap();
    let less = VenueSettlementTerms::of(&venue_record("no", 0, 10, 900)).unwrap();
    let t = short.settle_from_venue(&m(), &less).unwrap().unwrap();
    assert_eq!(t.realised_pnl, dollars(4_830_000));
}

#[test]
fn a_venue_settlement_of_another_count_or_an_unsupported_result_changes_nothing() {
    let f = fill("f1", Side::Yes, Action::Buy, 10, 4000, 17);
    let (mut ledger, _) = Ledger::replay([&f]).unwrap();
    let before = ledger.clone();
    let terms = VenueSettlementTerms::of(&venue_record("yes", 9, 0, 900)).unwrap();
    let e = ledger.settle_from_venue(&m(), &terms).unwrap_err();
    assert_eq!(e.code(), "LEDGER_SETTLEMENT_MISMATCH");
    assert_eq!(ledger, before);
    // The wrong side (NO 10 against YES 10 held) is a mismatch too.
    let terms = VenueSettlementTerms::of(&venue_record("yes", 0, 10, 0)).unwrap();
    assert!(ledger.settle_from_venue(&m(), &terms).is_err());
    for result in ["scalar", "void"] {
        assert_eq!(
            VenueSettlementTerms::of(&venue_record(result, 10, 0, 0))
                .unwrap_err()
                .code(),
            "LEDGER_RESULT_UNSUPPORTED"
        );
    }
    assert!(VenueSettlementTerms::of(&venue_record("yes", 10, 0, -1)).is_err());
    // Nothing held: nothing to close.
    let mut empty = Ledger::default();
    let terms = VenueSettlementTerms::of(&venue_record("yes", 10, 0, 1_000)).unwrap();
    assert_eq!(empty.settle_from_venue(&m(), &terms).unwrap(), None);
}
