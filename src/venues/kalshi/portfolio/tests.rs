use super::*;
use crate::core::risk::{IntentKind, MarketId, OrderIntent};
use crate::core::testkit::{approve, p};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("shared/fixtures/kalshi"))
        .find(|d| d.is_dir())
        .expect("shared/fixtures beside the repository")
}

fn fortuna(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("fortuna_demo_2026-06").join(name)).unwrap()
}

/// The starter recordings wrap bodies as `{"_metadata":…,"response":…}`.
fn starter(name: &str) -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("starter_golden_2026-01").join(name)).unwrap(),
    )
    .unwrap();
    serde_json::to_vec(&v["response"]).unwrap()
}

const TICKER: &str = "KXWTACHALLENGERMATCH-26JUN11JIMLEP-LEP";

#[test]
fn recorded_positions_parse_with_signed_fixed_point_counts() {
    let page = parse_positions_page(&fortuna("portfolio__positions.json")).unwrap();
    assert!(page.rejects.is_empty());
    assert_eq!(page.cursor, None);
    let pos = &page.records[0];
    assert_eq!(pos.ticker, TICKER);
    assert_eq!(pos.position, Qty(300));
    assert_eq!(pos.market_exposure, Usd(2_500_000));
    assert_eq!(pos.fees_paid, Usd(18_900));
    assert_eq!(pos.total_traded, Usd(2_500_000));
    // Transitional shape: integer contracts and cents beside the dollar strings.
    let old = parse_positions_page(&starter("portfolio_positions_response.json")).unwrap();
    assert!(old.rejects.is_empty(), "{:?}", old.rejects);
    assert_eq!(old.records[0].position, Qty(3_200));
    assert_eq!(old.records[0].fees_paid, Usd(136_190_000));
    // A negative position is NO contracts.
    let neg = parse_positions_page(
        br#"{"cursor":"","event_positions":[],"market_positions":[{"fees_paid_dollars":"0.0000","last_updated_ts":"2026-06-11T06:29:30Z","market_exposure_dollars":"1.0000","position_fp":"-2.50","realized_pnl_dollars":"0.0000","resting_orders_count":0,"ticker":"T","total_traded_dollars":"1.0000"}]}"#,
    )
    .unwrap();
    assert_eq!(neg.records[0].position, Qty(-250));
}

#[test]
fn recorded_fills_parse_with_their_six_decimal_fees() {
    let page = parse_fills_page(&fortuna("fills__after_taker.json")).unwrap();
    assert!(page.rejects.is_empty());
    assert_eq!(page.cursor, None, "cursor \"\" is the last page");
    assert_eq!(page.records.len(), 3);
    let f = &page.records[0];
    assert_eq!(f.fill_id, "f4a42159-b500-57c6-efa2-c31d94d916c1");
    assert_eq!(f.order_id, "97ec18b7-10d3-4557-9de0-8598aad625f0");
    assert_eq!(f.ticker, TICKER);
    assert_eq!((f.side, f.action), (Side::Yes, Action::Buy));
    assert_eq!(f.qty, Qty(100));
    assert_eq!(f.price(), p(5200));
    assert_eq!(f.no_price, p(4800));
    // The venue rounds the fee to the centicent (0.017472 → 0.0175), not the cent.
    assert_eq!(f.fee, Usd(17_500));
    assert_eq!(page.records[1].fee, Usd(700));
    // The Jan 2026 recording has no `fee_cost` at all: a fill whose fee is unknown cannot be
    // reconciled or booked, so each is refused (and a reconciliation reading it fails).
    let old = parse_fills_page(&starter("portfolio_fills_response.json")).unwrap();
    assert!(old.records.is_empty());
    assert!(old
        .rejects
        .iter()
        .all(|r| r.code() == "MISSING_FIELD:fee_cost"));
    assert!(old.cursor.is_some());
}

#[test]
fn recorded_orders_parse_into_lifecycle_views() {
    let created = parse_order_response(&fortuna("orders__legacy_create.json")).unwrap();
    assert_eq!(created.status, VenueStatus::Resting);
    assert_eq!(
        created.client_order_id,
        "ae0d38e7-648d-45c0-8ff9-971452e75e52"
    );
    assert_eq!(
        (created.initial, created.filled, created.remaining),
        (Qty(100), Qty(0), Qty(100))
    );
    assert_eq!(created.yes_price, p(100));
    let cancelled = parse_order_response(&fortuna("orders__legacy_cancel.json")).unwrap();
    assert_eq!(cancelled.view().status, VenueStatus::Canceled);
    let list = parse_orders_page(&fortuna("portfolio__orders_list.json")).unwrap();
    assert!(list.rejects.is_empty());
    assert_eq!(list.records.len(), 9);
    let executed = &list.records[0];
    assert_eq!(executed.status, VenueStatus::Executed);
    assert_eq!(executed.taker_fees, Usd(17_500));
    let sell = list
        .records
        .iter()
        .find(|o| o.action == Action::Sell)
        .unwrap();
    assert_eq!(sell.side, Side::Yes);
    let old = parse_orders_page(&starter("portfolio_orders_response.json")).unwrap();
    assert!(old.rejects.is_empty(), "{:?}", old.rejects);
}

#[test]
fn recorded_balance_and_settlements_parse() {
    let b = parse_balance(&fortuna("auth__balance_ok.json")).unwrap();
    assert_eq!(b.balance, Usd(98_018_600));
    assert_eq!(b.portfolio_value_cents, Some(198));
    let old = parse_balance(&starter("portfolio_balance_response.json")).unwrap();
    assert_eq!(old.balance, Usd::from_dollars(100).unwrap());
    let empty = parse_settlements_page(&fortuna("settlements__page.json")).unwrap();
    assert!(empty.records.is_empty() && empty.rejects.is_empty());
    let s = parse_settlements_page(&starter("portfolio_settlements_response.json")).unwrap();
    assert!(s.rejects.is_empty(), "{:?}", s.rejects);
    assert_eq!(s.records[0].market_result, "yes");
    assert_eq!(s.records[0].yes_count, Qty(3_700));
    assert_eq!(s.records[0].fee_cost, Usd(730_000));
    // The current shape (spec 3.13): fixed-point counts.
    let cur = parse_settlements_page(
        br#"{"cursor":"","settlements":[{"event_ticker":"E","fee_cost":"0.0200","market_result":"no","no_count_fp":"2.00","no_total_cost_dollars":"1.1000","revenue":200,"settled_time":"2026-06-12T00:00:00Z","ticker":"E-T","value":0,"yes_count_fp":"0.00","yes_total_cost_dollars":"0.0000"}]}"#,
    )
    .unwrap();
    assert_eq!(cur.records[0].no_count, Qty(200));
    assert_eq!(cur.records[0].revenue_cents, 200);
}

#[test]
fn broken_records_are_rejected_with_codes_and_bodies_without_envelopes_refused() {
    let page = parse_fills_page(
        br#"{"cursor":"","fills":[{"fill_id":"a","order_id":"o","ticker":"T","side":"maybe","action":"buy","count_fp":"1.00","yes_price_dollars":"0.5000","no_price_dollars":"0.5000","fee_cost":"0.02"},
        {"fill_id":"b","order_id":"o","ticker":"T","side":"yes","action":"buy","count_fp":"1.00","yes_price_dollars":"0.5000","no_price_dollars":"0.4000","fee_cost":"0.02"}]}"#,
    )
    .unwrap();
    let codes: Vec<String> = page.rejects.iter().map(|r| r.code()).collect();
    assert_eq!(
        codes,
        ["UNKNOWN_ENUM:side", "INCONSISTENT:no_price_dollars"]
    );
    assert_eq!(
        parse_positions_page(br#"{"cursor":""}"#)
            .unwrap_err()
            .code(),
        "BODY_MISSING_FIELD:market_positions"
    );
    assert_eq!(
        parse_order_response(&fortuna("orders__duplicate_client_order_id.json"))
            .unwrap_err()
            .code(),
        "BODY_MISSING_FIELD:order"
    );
}

#[test]
fn the_create_body_is_built_from_an_approval_with_fixed_point_strings() {
    let approved = approve(OrderIntent {
        client_order_id: "cid-1".into(),
        market: MarketId::new("KXA-1"),
        side: Side::No,
        action: Action::Buy,
        qty: Qty(1_250),
        limit_price: p(5_500),
        kind: IntentKind::New,
    });
    let body = create_order_body(&approved, TimeInForce::ImmediateOrCancel);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        r#"{"action":"buy","client_order_id":"cid-1","count_fp":"12.50","no_price_dollars":"0.5500","side":"no","ticker":"KXA-1","time_in_force":"immediate_or_cancel","type":"limit"}"#
    );
}
