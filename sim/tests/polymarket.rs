//! Polymarket Gamma and CLOB as the Worker sees them over HTTP.

mod common;

use std::collections::HashSet;

use common::{get, start};
use paul_p_sim::decimal::{parse_fixed, ONE_DOLLAR, PRICE_SCALE};
use serde_json::Value;

/// A JSON number price at scale 4.
fn number_price(v: &Value) -> i64 {
    (v.as_f64().expect("number") * ONE_DOLLAR as f64).round() as i64
}

fn string_price(s: &str) -> i64 {
    parse_fixed(s, PRICE_SCALE).expect("price string")
}

#[test]
fn open_markets_page_by_offset_to_exactly_n() {
    let sim = start(50, 2_000);
    let mut ids = HashSet::new();
    let mut offset = 0;
    loop {
        let resp = get(
            sim.addr(),
            &format!("/gamma/markets?limit=500&offset={offset}"),
        );
        assert_eq!(resp.status, 200);
        let page = resp.json();
        let page = page.as_array().expect("Gamma answers a bare array");
        for m in page {
            assert_eq!(m["closed"], false);
            assert!(ids.insert(m["id"].as_str().unwrap().to_string()));
        }
        if page.len() < 500 {
            break;
        }
        offset += 500;
    }
    assert_eq!(ids.len(), 2_000);
    let default_page = get(sim.addr(), "/gamma/markets").json();
    assert_eq!(default_page.as_array().unwrap().len(), 20);
}

#[test]
fn stringified_json_fields_decode_and_numbers_agree_with_strings() {
    let sim = start(50, 300);
    let page = get(sim.addr(), "/gamma/markets?limit=300&closed=false").json();
    for m in page.as_array().unwrap() {
        let outcomes: Vec<String> = serde_json::from_str(m["outcomes"].as_str().unwrap()).unwrap();
        let prices: Vec<String> =
            serde_json::from_str(m["outcomePrices"].as_str().unwrap()).unwrap();
        let tokens: Vec<String> =
            serde_json::from_str(m["clobTokenIds"].as_str().unwrap()).unwrap();
        assert_eq!(outcomes.len(), 2);
        assert_eq!(prices.len(), 2);
        assert_eq!(tokens.len(), 2);
        assert!(tokens
            .iter()
            .all(|t| t.len() >= 70 && t.bytes().all(|b| b.is_ascii_digit())));
        let total: i64 = prices.iter().map(|p| string_price(p)).sum();
        assert_eq!(total, ONE_DOLLAR, "{}: outcome prices sum to 1", m["id"]);
        // Recorded strings can carry more digits than their number twins.
        for (text, number) in [("volume", "volumeNum"), ("liquidity", "liquidityNum")] {
            let parsed: f64 = m[text].as_str().unwrap().parse().unwrap();
            let n = m[number].as_f64().unwrap();
            assert!((parsed - n).abs() <= n.abs() * 1e-12, "{}: {text}", m["id"]);
        }
        assert!(m["endDate"].as_str().unwrap().ends_with('Z'));
        assert!(m["conditionId"].as_str().unwrap().starts_with("0x"));
        assert!(m["active"].is_boolean());
        assert!(number_price(&m["bestBid"]) < number_price(&m["bestAsk"]));
    }
}

#[test]
fn closed_markets_only_when_asked() {
    let sim = start(50, 100);
    let closed = get(sim.addr(), "/gamma/markets?closed=true&limit=100").json();
    let closed = closed.as_array().unwrap();
    assert_eq!(closed.len(), 6, "the recorded closed markets");
    assert!(closed.iter().all(|m| m["closed"] == true));
    assert_eq!(get(sim.addr(), "/gamma/markets?closed=maybe").status, 422);
}

#[test]
fn clob_books_match_gamma_quotes_for_both_outcomes() {
    let sim = start(50, 200);
    let page = get(sim.addr(), "/gamma/markets?limit=200").json();
    for m in page.as_array().unwrap() {
        let tokens: Vec<String> =
            serde_json::from_str(m["clobTokenIds"].as_str().unwrap()).unwrap();
        let (bid, ask) = (number_price(&m["bestBid"]), number_price(&m["bestAsk"]));
        for (token, (want_bid, want_ask)) in tokens
            .iter()
            .zip([(bid, ask), (ONE_DOLLAR - ask, ONE_DOLLAR - bid)])
        {
            let resp = get(sim.addr(), &format!("/clob/book?token_id={token}"));
            assert_eq!(resp.status, 200, "{token}");
            let book = resp.json();
            assert_eq!(book["asset_id"], token.as_str());
            assert_eq!(book["market"], m["conditionId"]);
            let prices = |key: &str| -> Vec<i64> {
                book[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| string_price(l["price"].as_str().unwrap()))
                    .collect()
            };
            let (bids, asks) = (prices("bids"), prices("asks"));
            assert!(
                bids.windows(2).all(|w| w[0] < w[1]),
                "bids ascend, best last"
            );
            assert!(
                asks.windows(2).all(|w| w[0] > w[1]),
                "asks descend, best last"
            );
            if let Some(best) = bids.last() {
                assert_eq!(*best, want_bid);
            }
            if let Some(best) = asks.last() {
                assert_eq!(*best, want_ask);
            }
        }
    }
}

#[test]
fn recorded_clob_book_and_unknown_tokens() {
    let sim = start(50, 10);
    let resp = get(
        sim.addr(),
        "/clob/book?token_id=23360939988679364027624185518382759743328544433592111535569478055890815567848",
    );
    assert_eq!(resp.status, 200);
    let text = String::from_utf8(resp.body).unwrap();
    assert!(text.starts_with(r#"{"market":"0x1a4f04c2e6c000d9fc524eb12e7333217411a226c34745af140f195c0227cd5f","asset_id":"#));
    assert!(text.ends_with(
        r#""hash":"2fc4a3d6a98bc164e057589bcb74981852b87412","timestamp":"1728799418260"}"#
    ));
    let resp = get(sim.addr(), "/clob/book?token_id=123");
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.json()["error"],
        "No orderbook exists for the requested token id"
    );
    assert_eq!(get(sim.addr(), "/clob/book").status, 400);
}
