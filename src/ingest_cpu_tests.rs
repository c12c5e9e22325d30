//! CPU per 1,000-market Kalshi page, measured in wasm under Node (V8, as in workerd), where the
//! clock runs during computation (in workerd it only moves across I/O, so a Worker cannot time
//! itself). One page of 1,000 current-shape markets (~2.3 MB, the simulator's page size) goes
//! through everything the job does between fetch and D1: SHA-256, parse, compliance check
//! against 20 rules, row building, statement planning, and binding every value to a `JsValue`.
//!
//! Run it (release, as deployed) and read the `INGEST_PAGE_CPU` line:
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner cargo test --release \
//!  --lib --target wasm32-unknown-unknown ingest_page_cpu -- --nocapture`
//! The cost model in `core::ingest::budget` (`COST_MODEL`) is kept above what this measures.

use crate::core::compliance::{validate_rules, RuleInput, RuleSet};
use crate::core::evidence::EvidenceHash;
use crate::core::ingest::batch::SqlValue;
use crate::core::ingest::budget::COST_MODEL;
use crate::core::ingest::rows::{self, EventIndex, Observed};
use crate::venues::kalshi::parse_markets_page;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

/// One market in the 2026 wire shape (fixed-point strings only), as the simulator serves it.
const MARKET: &str = r#"{"can_close_early":true,"close_time":"2026-10-09T03:00:00Z","created_time":"2026-09-30T14:05:11.590427Z","custom_strike":{"Associated Events":"KXNFLGAME-26OCT08TBDAL","Associated Market Sides":"yes","Associated Markets":"KXNFLGAME-26OCT08TBDAL-DAL"},"event_ticker":"KXNFLGAME-26OCT08TBDAL__N__","expected_expiration_time":"2026-10-09T06:00:00Z","expiration_time":"2026-10-23T03:00:00Z","expiration_value":"","fractional_trading_enabled":true,"is_provisional":false,"last_price_dollars":"0.5300","latest_expiration_time":"2026-10-23T03:00:00Z","liquidity_dollars":"0.0000","market_type":"binary","no_ask_dollars":"0.4800","no_bid_dollars":"0.4650","no_sub_title":"Dallas","notional_value_dollars":"1.0000","open_interest_fp":"15234.00","open_time":"2026-09-30T14:05:11Z","previous_price_dollars":"0.5200","previous_yes_ask_dollars":"0.5400","previous_yes_bid_dollars":"0.5100","price_level_structure":"deci_cent","price_ranges":[{"end":"1.0000","start":"0.0000","step":"0.0010"}],"response_price_units":"usd_cent","result":"","rules_primary":"If Dallas wins the Dallas at Tampa Bay professional football game originally scheduled for Oct 8, 2026, then the market resolves to Yes. If the game is postponed, the market will close 48 hours after the originally scheduled start time and resolve according to the rules in the contract terms.","rules_secondary":"The following market refers to the Dallas at Tampa Bay professional football game originally scheduled for Oct 8, 2026. If the game ends in a tie, the market resolves to No. Overtime counts. Results are official once the league declares them final; later changes do not count.","settlement_timer_seconds":300,"status":"active","strike_type":"structured","ticker":"KXNFLGAME-26OCT08TBDAL__N__-DAL","title":"Dallas at Tampa Bay Winner?","updated_time":"2026-10-01T05:15:11.850586Z","volume_24h_fp":"1204.00","volume_fp":"45211.00","yes_ask_dollars":"0.5350","yes_ask_size_fp":"312.00","yes_bid_dollars":"0.5200","yes_bid_size_fp":"884.00","yes_sub_title":"Dallas","subtitle":"","category":"","tick_size":1,"risk_limit_cents":0,"primary_participant_key":"","mve_collection_ticker":"","series_ticker":"","filler_a":"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur.","filler_b":"Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum. Sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque laudantium, totam rem aperiam, eaque ipsa quae ab illo inventore veritatis et quasi architecto beatae vitae dicta sunt explicabo."}"#;

fn page(markets: usize) -> Vec<u8> {
    let items: Vec<String> = (0..markets)
        .map(|i| MARKET.replace("__N__", &format!("SIM{i}")))
        .collect();
    format!(r#"{{"cursor":"next","markets":[{}]}}"#, items.join(",")).into_bytes()
}

fn rules() -> RuleSet {
    let inputs: Vec<RuleInput> = (0..20)
        .map(|i| RuleInput {
            kind: [
                "ticker",
                "series",
                "event_ticker",
                "category",
                "title_keyword",
            ][i % 5]
                .into(),
            venue: Some("kalshi".into()),
            value: format!("BLOCKED{i}"),
            reason: "bench".into(),
        })
        .collect();
    RuleSet::new(validate_rules(&inputs).expect("rules"))
}

fn to_js(v: &SqlValue) -> JsValue {
    match v {
        SqlValue::Null => JsValue::NULL,
        SqlValue::Int(i) => JsValue::from_f64(*i as f64),
        SqlValue::Text(s) => JsValue::from_str(s),
    }
}

/// Everything between "bytes received" and "statements bound"; returns the rows built.
fn ingest_page(bytes: &[u8], rules: &RuleSet, events: &EventIndex) -> usize {
    let hash = EvidenceHash::of(bytes);
    let parsed = parse_markets_page(bytes).expect("page parses");
    let obs = Observed {
        evidence: hash,
        at: crate::clock::now(),
    };
    let (mut markets, mut quotes) = (Vec::new(), Vec::new());
    for m in &parsed.records {
        if rules
            .check(&rows::kalshi_market_entity(m, events))
            .is_some()
        {
            continue;
        }
        let (a, b) = rows::kalshi_market_rows(m, events, &obs);
        markets.push(a);
        quotes.push(b);
    }
    let mut statements = rows::MARKETS.statements(&markets);
    statements.extend(rows::MARKET_PRICES.statements(&quotes));
    let bound: Vec<Vec<JsValue>> = statements
        .iter()
        .map(|s| s.params.iter().map(to_js).collect())
        .collect();
    assert!(!bound.is_empty());
    markets.len() + quotes.len()
}

#[wasm_bindgen_test]
fn ingest_page_cpu_of_a_thousand_market_page_fits_the_cost_model() {
    let bytes = page(1_000);
    let rules = rules();
    let events = EventIndex::new();
    let rows_built = ingest_page(&bytes, &rules, &events); // warm-up
    assert_eq!(rows_built, 2_000);
    let rounds = 5;
    let mut times = Vec::new();
    for _ in 0..rounds {
        let t = js_sys::Date::now();
        ingest_page(&bytes, &rules, &events);
        times.push(js_sys::Date::now() - t);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let median = times[rounds / 2];
    let t = js_sys::Date::now();
    for _ in 0..rounds {
        EvidenceHash::of(&bytes);
    }
    let hash_ms = (js_sys::Date::now() - t) / rounds as f64;
    let t = js_sys::Date::now();
    for _ in 0..rounds {
        parse_markets_page(&bytes).expect("page parses");
    }
    let parse_ms = (js_sys::Date::now() - t) / rounds as f64;
    let modelled_ms = ((bytes.len() as u64).div_ceil(1024) * COST_MODEL.us_per_kib
        + rows_built as u64 * COST_MODEL.us_per_row) as f64
        / 1_000.0;
    worker::console_log!(
        "{}",
        format!(
            "INGEST_PAGE_CPU markets=1000 bytes={} median_ms={median:.1} min_ms={:.1} \
             sha256_ms={hash_ms:.1} parse_ms={parse_ms:.1} cost_model_ms={modelled_ms:.1}",
            bytes.len(),
            times[0],
        )
    );
    // The budget's estimate must not be below what a page really costs in the deployed
    // (release) build; a debug build is slower by design and only reports.
    assert!(
        cfg!(debug_assertions) || median <= modelled_ms,
        "measured {median:.1} ms > modelled {modelled_ms:.1} ms: raise COST_MODEL"
    );
}
