//! Kalshi market data as the Worker sees it over HTTP.

mod common;

use std::collections::HashSet;

use common::{get, start, start_seeded};
use paul_p_sim::decimal::{parse_fixed, ONE_DOLLAR, PRICE_SCALE};
use serde_json::Value;

fn price(v: &Value) -> i64 {
    parse_fixed(v.as_str().expect("price string"), PRICE_SCALE).expect("4-decimal price")
}

#[test]
fn open_markets_page_through_exactly_n_distinct_tickers_in_ten_pages() {
    let sim = start(10_000, 10);
    let mut tickers = HashSet::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let target = if cursor.is_empty() {
            "/trade-api/v2/markets?status=open&limit=1000".to_string()
        } else {
            format!("/trade-api/v2/markets?status=open&limit=1000&cursor={cursor}")
        };
        let resp = get(sim.addr(), &target);
        assert_eq!(resp.status, 200);
        let body = resp.json();
        pages += 1;
        let markets = body["markets"].as_array().unwrap();
        assert_eq!(markets.len(), 1000, "every page is full");
        for m in markets {
            assert_eq!(m["status"], "active");
            assert_eq!(m["result"], "");
            assert!(m.get("yes_bid").is_none(), "no integer-cent fields");
            assert!(tickers.insert(m["ticker"].as_str().unwrap().to_string()));
        }
        cursor = body["cursor"]
            .as_str()
            .expect("cursor is a string")
            .to_string();
        if cursor.is_empty() {
            break;
        }
        assert!(pages < 10, "too many pages");
    }
    assert_eq!(pages, 10);
    assert_eq!(tickers.len(), 10_000);
}

#[test]
fn unfiltered_listing_adds_the_recorded_non_open_markets() {
    let sim = start(300, 10);
    let health = get(sim.addr(), "/__sim/health").json();
    let total = health["kalshi"]["markets"].as_u64().unwrap() as usize;
    assert_eq!(health["kalshi"]["open_markets"], 300);
    let body = get(sim.addr(), "/trade-api/v2/markets?limit=1000").json();
    let markets = body["markets"].as_array().unwrap();
    assert_eq!(markets.len(), total);
    assert!(total > 300);
    assert_eq!(body["cursor"], "");
    let statuses: HashSet<&str> = markets
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    for s in ["active", "initialized", "determined", "finalized"] {
        assert!(statuses.contains(s), "{s} present");
    }
}

#[test]
fn status_filters_select_lifecycle_words() {
    let sim = start(50, 10);
    for (filter, expected) in [
        ("closed", vec!["determined"]),
        ("settled", vec!["finalized"]),
        ("unopened", vec!["initialized"]),
    ] {
        let body = get(
            sim.addr(),
            &format!("/trade-api/v2/markets?status={filter}&limit=1000"),
        )
        .json();
        let markets = body["markets"].as_array().unwrap();
        assert!(!markets.is_empty(), "{filter} has markets");
        for m in markets {
            assert!(
                expected.contains(&m["status"].as_str().unwrap()),
                "{filter}: {}",
                m["status"]
            );
        }
    }
    let settled = get(sim.addr(), "/trade-api/v2/markets?status=settled").json();
    assert!(settled["markets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["result"] == "yes" || m["result"] == "no"));
    let bad = get(sim.addr(), "/trade-api/v2/markets?status=active");
    assert_eq!(bad.status, 400);
    assert!(bad.json()["msg"].as_str().unwrap().contains("Status"));
}

#[test]
fn limit_defaults_to_100_and_over_max_is_the_recorded_400() {
    let sim = start(300, 10);
    let body = get(sim.addr(), "/trade-api/v2/markets").json();
    assert_eq!(body["markets"].as_array().unwrap().len(), 100);
    assert_ne!(body["cursor"], "");

    let resp = get(sim.addr(), "/trade-api/v2/markets?limit=1001");
    assert_eq!(resp.status, 400);
    let recorded = std::fs::read(
        paul_p_sim::config::default_fixtures_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .join("kalshi/fortuna_demo_2026-06/markets__limit_over_max.json"),
    )
    .unwrap();
    assert_eq!(resp.body, recorded);

    assert_eq!(
        get(sim.addr(), "/trade-api/v2/markets?limit=abc").status,
        400
    );
    assert_eq!(
        get(sim.addr(), "/trade-api/v2/markets?limit=-1").status,
        400
    );
}

#[test]
fn garbage_cursor_restarts_at_page_one_like_the_venue() {
    let sim = start(300, 10);
    let first = get(sim.addr(), "/trade-api/v2/markets?limit=5");
    let garbage = get(
        sim.addr(),
        "/trade-api/v2/markets?limit=5&cursor=garbage-cursor-fixture",
    );
    assert_eq!(garbage.status, 200);
    assert_eq!(first.body, garbage.body);
}

#[test]
fn event_and_series_filters() {
    let sim = start(600, 10);
    let body = get(
        sim.addr(),
        "/trade-api/v2/markets?event_ticker=KXNFLGAME-26OCT08TBDAL",
    )
    .json();
    let tickers: Vec<&str> = body["markets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ticker"].as_str().unwrap())
        .collect();
    assert_eq!(tickers.len(), 2);
    assert!(tickers.contains(&"KXNFLGAME-26OCT08TBDAL-DAL"));

    let body = get(
        sim.addr(),
        "/trade-api/v2/markets?series_ticker=KXNFLGAME&limit=1000",
    )
    .json();
    let markets = body["markets"].as_array().unwrap();
    assert!(markets.len() > 2, "synthetic copies share the series");
    assert!(markets.iter().all(|m| m["event_ticker"]
        .as_str()
        .unwrap()
        .starts_with("KXNFLGAME-")));
}

#[test]
fn single_market_and_unknown_ticker() {
    let sim = start(300, 10);
    let resp = get(
        sim.addr(),
        "/trade-api/v2/markets/KXNFLGAME-26OCT08TBDAL-DAL",
    );
    assert_eq!(resp.status, 200);
    let market = &resp.json()["market"];
    assert_eq!(market["yes_bid_dollars"], "0.8000");
    assert_eq!(
        market["custom_strike"]["football_team"],
        "62b97b7c-5503-461c-b328-fd8543219b22"
    );

    let resp = get(sim.addr(), "/trade-api/v2/markets/NOPE-1");
    assert_eq!(resp.status, 404);
    assert_eq!(resp.json()["error"]["code"], "not_found");
    let resp = get(sim.addr(), "/trade-api/v2/markets/NOPE-1/orderbook");
    assert_eq!(resp.status, 404);
}

#[test]
fn every_orderbook_agrees_with_its_market_quote() {
    let sim = start(400, 10);
    let body = get(sim.addr(), "/trade-api/v2/markets?limit=1000").json();
    let mut one_sided = 0;
    for m in body["markets"].as_array().unwrap() {
        let ticker = m["ticker"].as_str().unwrap();
        let resp = get(
            sim.addr(),
            &format!("/trade-api/v2/markets/{ticker}/orderbook"),
        );
        assert_eq!(resp.status, 200);
        let book = resp.json();
        let ob = &book["orderbook_fp"];
        let side = |key: &str| -> Vec<(i64, String)> {
            ob[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| (price(&l[0]), l[1].as_str().unwrap().to_string()))
                .collect()
        };
        let (yes, no) = (side("yes_dollars"), side("no_dollars"));
        if m["status"] != "active" {
            assert!(
                yes.is_empty() && no.is_empty(),
                "{ticker}: no resting orders unless open"
            );
            continue;
        }
        for levels in [&yes, &no] {
            assert!(
                levels.windows(2).all(|w| w[0].0 < w[1].0),
                "{ticker}: ascending"
            );
            assert!(levels.iter().all(|(p, _)| *p > 0 && *p < ONE_DOLLAR));
        }
        let yes_bid = price(&m["yes_bid_dollars"]);
        let yes_ask = price(&m["yes_ask_dollars"]);
        match yes.last() {
            Some((p, size)) => {
                assert_eq!(*p, yes_bid, "{ticker}: best YES bid");
                assert_eq!(size, m["yes_bid_size_fp"].as_str().unwrap(), "{ticker}");
            }
            None => assert!(
                yes_bid == 0 || yes_bid == ONE_DOLLAR,
                "{ticker}: no YES bids"
            ),
        }
        match no.last() {
            Some((p, size)) => {
                assert_eq!(
                    ONE_DOLLAR - p,
                    yes_ask,
                    "{ticker}: YES ask = 1 - best NO bid"
                );
                assert_eq!(size, m["yes_ask_size_fp"].as_str().unwrap(), "{ticker}");
            }
            None => assert!(
                yes_ask == 0 || yes_ask == ONE_DOLLAR,
                "{ticker}: no NO bids"
            ),
        }
        assert_eq!(
            price(&m["no_bid_dollars"]),
            ONE_DOLLAR - yes_ask,
            "{ticker}"
        );
        assert_eq!(
            price(&m["no_ask_dollars"]),
            ONE_DOLLAR - yes_bid,
            "{ticker}"
        );
        if yes.is_empty() != no.is_empty() {
            one_sided += 1;
        }
    }
    assert!(one_sided > 0, "some books have one empty side");
}

#[test]
fn recorded_books_are_served_as_recorded_and_depth_keeps_the_best_levels() {
    let sim = start(300, 10);
    let resp = get(
        sim.addr(),
        "/trade-api/v2/markets/KXNFLGAME-26OCT08TBDAL-DAL/orderbook",
    );
    assert_eq!(
        String::from_utf8(resp.body).unwrap(),
        r#"{"orderbook_fp":{"no_dollars":[["0.1700","2897298.68"],["0.1800","2630402.87"],["0.1900","375864.43"]],"yes_dollars":[["0.7800","45938.68"],["0.7900","33328.87"],["0.8000","16529.55"]]}}"#
    );
    let book = get(
        sim.addr(),
        "/trade-api/v2/markets/KXNFLGAME-26OCT08TBDAL-DAL/orderbook?depth=1",
    )
    .json();
    assert_eq!(
        book["orderbook_fp"]["yes_dollars"].to_string(),
        r#"[["0.8000","16529.55"]]"#
    );
    assert_eq!(
        book["orderbook_fp"]["no_dollars"].to_string(),
        r#"[["0.1900","375864.43"]]"#
    );
}

#[test]
fn events_page_with_cursor_and_nest_markets_on_request() {
    let sim = start(300, 10);
    let mut seen = HashSet::new();
    let mut cursor = String::new();
    loop {
        let body = get(
            sim.addr(),
            &format!("/trade-api/v2/events?limit=7&cursor={cursor}"),
        )
        .json();
        assert_eq!(body["milestones"], serde_json::json!([]));
        for e in body["events"].as_array().unwrap() {
            assert!(e.get("markets").is_none());
            assert!(e["category"].is_string() && e["series_ticker"].is_string());
            assert!(!e["event_ticker"].as_str().unwrap().starts_with("KXMVE"));
            assert!(seen.insert(e["event_ticker"].as_str().unwrap().to_string()));
        }
        cursor = body["cursor"].as_str().unwrap().to_string();
        if cursor.is_empty() {
            break;
        }
    }
    assert!(seen.len() > 7);
    assert_eq!(
        get(sim.addr(), "/trade-api/v2/events?limit=201").status,
        400
    );

    let plain = get(sim.addr(), "/trade-api/v2/events/KXNFLGAME-26OCT08TBDAL").json();
    assert_eq!(plain["event"]["title"], "TB Buccaneers vs DAL Cowboys");
    assert!(plain["event"].get("markets").is_none());
    assert_eq!(plain["markets"].as_array().unwrap().len(), 2);
    let nested = get(
        sim.addr(),
        "/trade-api/v2/events/KXNFLGAME-26OCT08TBDAL?with_nested_markets=true",
    )
    .json();
    assert_eq!(nested["markets"], serde_json::json!([]));
    assert_eq!(nested["event"]["markets"].as_array().unwrap().len(), 2);
    assert_eq!(get(sim.addr(), "/trade-api/v2/events/NOPE").status, 404);
}

#[test]
fn synthetic_events_copy_their_template_and_every_market_has_an_event() {
    let sim = start(600, 10);
    let body = get(sim.addr(), "/trade-api/v2/markets?limit=1000").json();
    for m in body["markets"].as_array().unwrap() {
        let event = m["event_ticker"].as_str().unwrap();
        let ticker = m["ticker"].as_str().unwrap();
        assert!(
            ticker.starts_with(&format!("{event}-")),
            "{ticker} in {event}"
        );
        let resp = get(sim.addr(), &format!("/trade-api/v2/events/{event}"));
        assert_eq!(resp.status, 200, "{event}");
        let listed: Vec<String> = resp.json()["markets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["ticker"].as_str().unwrap().to_string())
            .collect();
        assert!(listed.iter().any(|t| t == ticker));
    }
    let copy = get(
        sim.addr(),
        "/trade-api/v2/events/KXNFLGAME-26OCT08TBDALSIM0",
    )
    .json();
    assert_eq!(copy["event"]["title"], "TB Buccaneers vs DAL Cowboys");
    assert_eq!(copy["event"]["series_ticker"], "KXNFLGAME");
}

#[test]
fn same_seed_gives_identical_bytes_and_another_seed_differs() {
    let a = start_seeded(500, 10, 7);
    let b = start_seeded(500, 10, 7);
    let c = start_seeded(500, 10, 8);
    let target = "/trade-api/v2/markets?limit=1000";
    let (ra, rb, rc) = (
        get(a.addr(), target),
        get(b.addr(), target),
        get(c.addr(), target),
    );
    assert_eq!(ra.body, rb.body);
    assert_ne!(ra.body, rc.body);
    assert_eq!(
        ra.body,
        get(a.addr(), target).body,
        "repeat fetches are identical"
    );
}

#[test]
fn unsimulated_kalshi_routes_and_methods() {
    let sim = start(50, 10);
    let resp = get(
        sim.addr(),
        "/trade-api/v2/portfolio/summary/total_resting_order_value",
    );
    assert_eq!(resp.status, 404);
    assert_eq!(resp.json()["error"]["code"], "SIM_ROUTE_NOT_FOUND");
    // Simulated portfolio routes are signed: unsigned requests are refused, not 404.
    let resp = get(sim.addr(), "/trade-api/v2/portfolio/balance");
    assert_eq!(resp.status, 401);
    let resp = get(sim.addr(), "/trade-api/v2/markets/trades");
    assert_eq!(resp.json()["error"]["code"], "SIM_ROUTE_NOT_FOUND");
    let resp = common::request(
        sim.addr(),
        "POST",
        "/trade-api/v2/markets",
        &[],
        Some(b"{}"),
    )
    .unwrap();
    assert_eq!(resp.status, 405);
    resp.json();
}
