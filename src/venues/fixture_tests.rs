//! Every recorded Kalshi and Polymarket fixture in the shared fixtures directory, parsed.
//!
//! Files are discovered by walking the directory at test time and classified by their content
//! (and recorder metadata where it exists). A file the classifier does not recognise fails the
//! run, and the per-shape counts are pinned, so a new recording can never be skipped silently.
//! A missing fixtures directory fails loudly.
//!
//! Wire bodies are handed to the parsers byte-exact: the `{"_metadata":…,"response":…}` wrapper
//! of `starter_golden_2026-01` is peeled with a raw slice of `response`, the console dump of
//! `kalshirs_2025-10` is sliced to its JSON body, and "unwrapped" recordings (a bare market
//! array or object) are put back into the envelope their endpoint returns.

use super::kalshi::{
    self, ErrorLayout, KalshiEvent, KalshiEventDetail, KalshiMarket, MarketResult, MarketStatus,
    Orderbook, VenueError,
};
use super::polymarket::{self, GammaEvent, GammaMarket};
use super::{rules_hash, BodyError, PageParse};
use crate::core::money::{Price, Qty, Usd};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `PAULP_FIXTURES_DIR` if set; else `shared/fixtures` in the nearest ancestor of the crate
/// (`../shared/fixtures` from the main checkout, further up from a worktree).
fn fixtures_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("PAULP_FIXTURES_DIR") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.is_dir(),
            "PAULP_FIXTURES_DIR={dir:?} is not a directory"
        );
        return dir;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .skip(1)
        .map(|d| d.join("shared").join("fixtures"))
        .find(|d| d.join("kalshi").is_dir() && d.join("polymarket").is_dir())
        .unwrap_or_else(|| {
            panic!(
                "fixtures not found: no shared/fixtures/{{kalshi,polymarket}} above {manifest:?} \
                 (expected ../shared/fixtures); set PAULP_FIXTURES_DIR"
            )
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Shape {
    KalshiMarketsPage,
    /// A bare markets array (the recorder dropped `{"markets":…,"cursor":…}`).
    KalshiMarketsUnwrapped,
    KalshiMarket,
    /// A bare market object (the recorder dropped `{"market":…}`).
    KalshiMarketUnwrapped,
    KalshiEventsPage,
    KalshiEvent,
    KalshiOrderbook,
    KalshiError,
    GammaMarkets,
    GammaMarket,
    GammaEvents,
    GammaEvent,
    /// Gamma `/public-search`: `{events, pagination}`; its events are parsed.
    GammaSearch,
    /// Not a market-data body this module parses, with the reason.
    OutOfScope(&'static str),
}

#[derive(Debug)]
enum Parsed {
    KalshiMarkets(Result<PageParse<KalshiMarket>, BodyError>),
    KalshiMarket(Result<KalshiMarket, BodyError>),
    KalshiEvents(Result<PageParse<KalshiEvent>, BodyError>),
    KalshiEvent(Result<KalshiEventDetail, BodyError>),
    KalshiBook(Result<Orderbook, BodyError>),
    KalshiError(Result<VenueError, BodyError>),
    GammaMarkets(Result<PageParse<GammaMarket>, BodyError>),
    GammaMarket(Result<GammaMarket, BodyError>),
    GammaEvents(Result<PageParse<GammaEvent>, BodyError>),
    GammaEvent(Result<GammaEvent, BodyError>),
    Skipped,
}

#[derive(Debug)]
struct Fixture {
    shape: Shape,
    parsed: Parsed,
    /// HTTP status from recorder metadata, when the recording has any.
    status: Option<u64>,
}

/// All fixtures, keyed by path relative to the fixtures root (`kalshi/sdv_2026-10/markets.json`).
fn corpus() -> &'static BTreeMap<String, Fixture> {
    static CORPUS: OnceLock<BTreeMap<String, Fixture>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let root = fixtures_root();
        let mut files = Vec::new();
        for venue in ["kalshi", "polymarket"] {
            walk(&root.join(venue), &mut files);
        }
        let mut unclassified = Vec::new();
        let mut corpus = BTreeMap::new();
        for path in files {
            let rel = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            match load(&path, &rel) {
                Some(fixture) => {
                    corpus.insert(rel, fixture);
                }
                None => unclassified.push(rel),
            }
        }
        assert!(
            unclassified.is_empty(),
            "unclassified fixture files (teach the classifier about them): {unclassified:#?}"
        );
        corpus
    })
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {dir:?}: {e}"));
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[derive(Deserialize)]
struct GoldenWrapper<'a> {
    #[serde(rename = "_metadata")]
    metadata: Value,
    #[serde(borrow)]
    response: &'a RawValue,
}

fn load(path: &Path, rel: &str) -> Option<Fixture> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let skipped = |reason| {
        Some(Fixture {
            shape: Shape::OutOfScope(reason),
            parsed: Parsed::Skipped,
            status: None,
        })
    };
    if name.ends_with(".meta.json") {
        return skipped("recorder metadata, not a body");
    }
    if name.ends_with(".md") {
        return skipped("documentation");
    }
    if name.ends_with(".yaml") {
        return skipped("OpenAPI schema");
    }
    if name.ends_with(".jsonl") {
        return skipped("WebSocket frames (no WebSocket parser yet)");
    }
    let bytes = std::fs::read(path).unwrap();
    let (body, status, hint): (Vec<u8>, Option<u64>, Option<String>) = if name.ends_with(".txt") {
        (console_dump_body(&bytes, rel), None, None)
    } else if let Ok(w) = serde_json::from_slice::<GoldenWrapper>(&bytes) {
        (
            w.response.get().as_bytes().to_vec(),
            w.metadata.get("http_status").and_then(Value::as_u64),
            w.metadata
                .get("endpoint")
                .and_then(Value::as_str)
                .map(str::to_string),
        )
    } else {
        (bytes, sibling_meta_status(path), None)
    };
    let value: Value =
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{rel}: fixture is not JSON: {e}"));
    let shape = if rel.starts_with("kalshi/") {
        classify_kalshi(&value, hint.as_deref())?
    } else {
        classify_polymarket(&value)?
    };
    Some(Fixture {
        shape,
        parsed: parse(shape, &body),
        status,
    })
}

/// The JSON body inside a Node console dump of an HTTP response: from the line `{` followed by
/// `  "markets"` to the end of that JSON value.
fn console_dump_body(bytes: &[u8], rel: &str) -> Vec<u8> {
    let marker = b"\n{\n  \"markets\"";
    let start = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap_or_else(|| panic!("{rel}: no markets body in console dump"))
        + 1;
    let mut stream =
        serde_json::Deserializer::from_slice(&bytes[start..]).into_iter::<serde::de::IgnoredAny>();
    stream
        .next()
        .unwrap_or_else(|| panic!("{rel}: empty body"))
        .unwrap_or_else(|e| panic!("{rel}: body is not JSON: {e}"));
    bytes[start..start + stream.byte_offset()].to_vec()
}

fn sibling_meta_status(path: &Path) -> Option<u64> {
    let meta = path.with_extension("meta.json");
    let text = std::fs::read(meta).ok()?;
    let v: Value = serde_json::from_slice(&text).ok()?;
    v.get("status").and_then(Value::as_u64)
}

fn has(v: &Value, key: &str) -> bool {
    v.get(key).is_some()
}

fn classify_kalshi(v: &Value, hint: Option<&str>) -> Option<Shape> {
    use Shape::*;
    let is_market = |m: &Value| {
        ["ticker", "event_ticker", "status"]
            .iter()
            .all(|k| has(m, k))
    };
    if let Value::Array(items) = v {
        let first = items.first()?;
        if is_market(first) {
            return Some(KalshiMarketsUnwrapped);
        }
        if has(first, "trade_id") {
            return Some(OutOfScope("trades"));
        }
        return None;
    }
    let obj = v.as_object()?;
    if has(v, "error") || has(v, "msg") || (has(v, "code") && has(v, "message")) {
        return Some(KalshiError);
    }
    if has(v, "orderbook_fp") || has(v, "orderbook") {
        return Some(KalshiOrderbook);
    }
    if has(v, "market") {
        return Some(KalshiMarket);
    }
    if has(v, "event") {
        return Some(KalshiEvent);
    }
    if has(v, "events") {
        return Some(KalshiEventsPage);
    }
    if let Some(markets) = v.get("markets").and_then(Value::as_array) {
        if markets.first().is_some_and(|m| has(m, "candlesticks")) {
            return Some(OutOfScope("candlesticks"));
        }
        return Some(KalshiMarketsPage);
    }
    if is_market(v) && has(v, "close_time") {
        return Some(KalshiMarketUnwrapped);
    }
    const OUT_OF_SCOPE: &[(&str, &str)] = &[
        ("balance", "portfolio balance"),
        ("market_positions", "portfolio positions"),
        ("fills", "portfolio fills"),
        ("settlements", "portfolio settlements"),
        ("orders", "orders"),
        ("order", "orders"),
        ("order_id", "orders"),
        ("queue_position", "orders"),
        ("queue_positions", "orders"),
        ("order_group_id", "order groups"),
        ("order_groups", "order groups"),
        ("is_auto_cancel_enabled", "order groups"),
        ("trades", "trades"),
        ("default_cost", "account"),
        ("grants", "account"),
        ("exchange_active", "exchange status"),
        ("schedule", "exchange schedule"),
        ("announcements", "exchange announcements"),
        ("series", "series"),
        ("series_fee_change_arr", "series fee changes"),
        ("milestones", "milestones"),
        ("milestone", "milestones"),
        ("live_data", "live data"),
        ("live_datas", "live data"),
        ("multivariate_contracts", "multivariate collections"),
        ("multivariate_contract", "multivariate collections"),
        ("market_ticker", "multivariate collections"),
        ("structured_targets", "structured targets"),
        ("structured_target", "structured targets"),
        ("tags_by_categories", "search tags"),
        ("filters_by_sports", "search filters"),
        ("incentive_programs", "incentive programs"),
        ("as_of_time", "user data timestamp"),
        ("market_candlesticks", "candlesticks"),
        ("candlesticks", "candlesticks"),
        ("market_details", "event metadata"),
        ("endpoints_recorded", "recorder summary"),
        ("downloadedAt", "downloader summary"),
    ];
    if let Some((_, reason)) = OUT_OF_SCOPE.iter().find(|(k, _)| obj.contains_key(*k)) {
        return Some(OutOfScope(reason));
    }
    if obj.is_empty() && hint.is_some_and(|h| h.starts_with("order_group")) {
        return Some(OutOfScope("order groups"));
    }
    let is_candles = |c: &Value| {
        c.as_array()
            .and_then(|a| a.first())
            .is_some_and(|c| has(c, "end_period_ts"))
    };
    if !obj.is_empty() && obj.values().all(is_candles) {
        return Some(OutOfScope("candlesticks"));
    }
    None
}

fn classify_polymarket(v: &Value) -> Option<Shape> {
    use Shape::*;
    if let Value::Array(items) = v {
        let first = items.first()?;
        if has(first, "conditionId") {
            return Some(GammaMarkets);
        }
        if has(first, "markets") && has(first, "slug") {
            return Some(GammaEvents);
        }
        if has(first, "label") {
            return Some(OutOfScope("Gamma tags"));
        }
        return None;
    }
    if has(v, "conditionId") {
        return Some(GammaMarket);
    }
    if has(v, "markets") && has(v, "slug") {
        return Some(GammaEvent);
    }
    if has(v, "events") && has(v, "pagination") {
        return Some(GammaSearch);
    }
    if has(v, "condition_id") {
        return Some(OutOfScope(
            "CLOB market metadata (Gamma is the market source)",
        ));
    }
    if has(v, "data") && has(v, "next_cursor") {
        return Some(OutOfScope(
            "CLOB /markets page (Gamma is the market source)",
        ));
    }
    if has(v, "bids") && has(v, "asks") {
        return Some(OutOfScope("CLOB book (no CLOB parser yet)"));
    }
    if has(v, "base_fee") {
        return Some(OutOfScope("CLOB fee rate"));
    }
    None
}

fn parse(shape: Shape, body: &[u8]) -> Parsed {
    let wrap = |prefix: &str, suffix: &str| {
        let mut b = prefix.as_bytes().to_vec();
        b.extend_from_slice(body);
        b.extend_from_slice(suffix.as_bytes());
        b
    };
    match shape {
        Shape::KalshiMarketsPage => Parsed::KalshiMarkets(kalshi::parse_markets_page(body)),
        Shape::KalshiMarketsUnwrapped => Parsed::KalshiMarkets(kalshi::parse_markets_page(&wrap(
            r#"{"markets":"#,
            r#","cursor":""}"#,
        ))),
        Shape::KalshiMarket => Parsed::KalshiMarket(kalshi::parse_market_response(body)),
        Shape::KalshiMarketUnwrapped => {
            Parsed::KalshiMarket(kalshi::parse_market_response(&wrap(r#"{"market":"#, "}")))
        }
        Shape::KalshiEventsPage => Parsed::KalshiEvents(kalshi::parse_events_page(body)),
        Shape::KalshiEvent => Parsed::KalshiEvent(kalshi::parse_event_response(body)),
        Shape::KalshiOrderbook => Parsed::KalshiBook(kalshi::parse_orderbook_response(body)),
        Shape::KalshiError => Parsed::KalshiError(kalshi::parse_error_body(body)),
        Shape::GammaMarkets => Parsed::GammaMarkets(polymarket::parse_gamma_markets(body)),
        Shape::GammaMarket => Parsed::GammaMarket(polymarket::parse_gamma_market(body)),
        Shape::GammaEvents => Parsed::GammaEvents(polymarket::parse_gamma_events(body)),
        Shape::GammaEvent => Parsed::GammaEvent(polymarket::parse_gamma_event(body)),
        Shape::GammaSearch => {
            #[derive(Deserialize)]
            struct Search<'a> {
                #[serde(borrow)]
                events: &'a RawValue,
            }
            let search: Search = serde_json::from_slice(body).unwrap();
            Parsed::GammaEvents(polymarket::parse_gamma_events(
                search.events.get().as_bytes(),
            ))
        }
        Shape::OutOfScope(_) => Parsed::Skipped,
    }
}

/// Every refusal in the corpus as `(file, key, code)`; a body refused whole has key `(body)`.
fn refusals() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (rel, f) in corpus() {
        let mut push = |key: Option<&str>, code: String| {
            out.push((rel.clone(), key.unwrap_or("-").to_string(), code));
        };
        let body_err = |e: &BodyError| ("(body)", e.code());
        macro_rules! page {
            ($r:expr) => {
                match $r {
                    Ok(p) => p
                        .rejects
                        .iter()
                        .for_each(|r| push(r.key.as_deref(), r.code())),
                    Err(e) => {
                        let (k, c) = body_err(e);
                        push(Some(k), c)
                    }
                }
            };
        }
        macro_rules! single {
            ($r:expr) => {
                if let Err(e) = $r {
                    let (k, c) = body_err(e);
                    push(Some(k), c)
                }
            };
        }
        match &f.parsed {
            Parsed::KalshiMarkets(r) => page!(r),
            Parsed::KalshiEvents(r) => page!(r),
            Parsed::GammaMarkets(r) => page!(r),
            Parsed::KalshiMarket(r) => single!(r),
            Parsed::KalshiBook(r) => single!(r),
            Parsed::KalshiError(r) => single!(r),
            Parsed::GammaMarket(r) => single!(r),
            Parsed::KalshiEvent(r) => match r {
                Ok(d) => d
                    .market_rejects
                    .iter()
                    .for_each(|r| push(r.key.as_deref(), r.code())),
                Err(e) => push(Some("(body)"), e.code()),
            },
            Parsed::GammaEvents(r) => match r {
                Ok(p) => {
                    p.rejects
                        .iter()
                        .for_each(|r| push(r.key.as_deref(), r.code()));
                    for e in &p.records {
                        e.market_rejects
                            .iter()
                            .for_each(|r| push(r.key.as_deref(), r.code()));
                    }
                }
                Err(e) => push(Some("(body)"), e.code()),
            },
            Parsed::GammaEvent(r) => match r {
                Ok(e) => e
                    .market_rejects
                    .iter()
                    .for_each(|r| push(r.key.as_deref(), r.code())),
                Err(e) => push(Some("(body)"), e.code()),
            },
            Parsed::Skipped => {}
        }
    }
    out
}

fn fixture(rel: &str) -> &'static Fixture {
    corpus()
        .get(rel)
        .unwrap_or_else(|| panic!("fixture {rel} is missing"))
}

fn kalshi_page(rel: &str) -> &'static PageParse<KalshiMarket> {
    match &fixture(rel).parsed {
        Parsed::KalshiMarkets(Ok(p)) => p,
        other => panic!("{rel}: expected a parsed Kalshi markets page, got {other:?}"),
    }
}

fn kalshi_market(rel: &str) -> &'static KalshiMarket {
    match &fixture(rel).parsed {
        Parsed::KalshiMarket(Ok(m)) => m,
        other => panic!("{rel}: expected a parsed Kalshi market, got {other:?}"),
    }
}

fn kalshi_book(rel: &str) -> &'static Orderbook {
    match &fixture(rel).parsed {
        Parsed::KalshiBook(Ok(b)) => b,
        other => panic!("{rel}: expected a parsed Kalshi book, got {other:?}"),
    }
}

fn kalshi_error(rel: &str) -> &'static VenueError {
    match &fixture(rel).parsed {
        Parsed::KalshiError(Ok(e)) => e,
        other => panic!("{rel}: expected a parsed Kalshi error, got {other:?}"),
    }
}

fn gamma_page(rel: &str) -> &'static PageParse<GammaMarket> {
    match &fixture(rel).parsed {
        Parsed::GammaMarkets(Ok(p)) => p,
        other => panic!("{rel}: expected a parsed Gamma markets list, got {other:?}"),
    }
}

fn gamma_market(rel: &str) -> &'static GammaMarket {
    match &fixture(rel).parsed {
        Parsed::GammaMarket(Ok(m)) => m,
        other => panic!("{rel}: expected a parsed Gamma market, got {other:?}"),
    }
}

fn price(units: i64) -> Price {
    Price::new(units).unwrap()
}

fn time(s: &str) -> chrono::DateTime<chrono::Utc> {
    super::json::parse_timestamp(s).unwrap()
}

const K: &str = "kalshi/fortuna_demo_2026-06/";
const G: &str = "kalshi/starter_golden_2026-01/";
const S: &str = "kalshi/sdv_2026-10/";
const B: &str = "kalshi/brianlee_epl_2026-03/";
const N: &str = "polymarket/nautilus/";

#[test]
fn every_fixture_file_is_classified_and_the_shape_counts_are_pinned() {
    let mut counts: BTreeMap<Shape, usize> = BTreeMap::new();
    for f in corpus().values() {
        *counts.entry(f.shape).or_default() += 1;
    }
    let market_data: BTreeMap<Shape, usize> = counts
        .iter()
        .filter(|(s, _)| !matches!(s, Shape::OutOfScope(_)))
        .map(|(s, n)| (*s, *n))
        .collect();
    use Shape::*;
    assert_eq!(
        market_data,
        BTreeMap::from([
            (KalshiMarketsPage, 13),
            (KalshiMarketsUnwrapped, 2),
            (KalshiMarket, 4),
            (KalshiMarketUnwrapped, 1),
            (KalshiEventsPage, 3),
            (KalshiEvent, 2),
            (KalshiOrderbook, 4),
            (KalshiError, 20),
            (GammaMarkets, 1),
            (GammaMarket, 8),
            (GammaEvents, 2),
            (GammaEvent, 1),
            (GammaSearch, 1),
        ]),
        "market-data fixture shapes changed: {counts:#?}"
    );
    assert_eq!(counts[&OutOfScope("recorder metadata, not a body")], 60);
    let total: usize = counts.values().sum();
    assert_eq!(total, corpus().len());
    assert_eq!(total, 210, "fixture file count changed: {counts:#?}");
}

#[test]
fn every_recorded_market_is_accounted_for() {
    let (mut kalshi, mut gamma, mut events) = (0, 0, 0);
    for f in corpus().values() {
        match &f.parsed {
            Parsed::KalshiMarkets(Ok(p)) => kalshi += p.records.len(),
            Parsed::KalshiMarket(Ok(_)) => kalshi += 1,
            Parsed::KalshiEvent(Ok(d)) => kalshi += d.markets.len(),
            Parsed::KalshiEvents(Ok(p)) => events += p.records.len(),
            Parsed::GammaMarkets(Ok(p)) => gamma += p.records.len(),
            Parsed::GammaMarket(Ok(_)) => gamma += 1,
            Parsed::GammaEvents(Ok(p)) => {
                gamma += p.records.iter().map(|e| e.markets.len()).sum::<usize>()
            }
            Parsed::GammaEvent(Ok(e)) => gamma += e.markets.len(),
            _ => {}
        }
    }
    // Counted independently from the files: 358 in the 13 pages, 8 in the two unwrapped
    // arrays, 5 single markets, 3 nested in the two event bodies.
    assert_eq!(kalshi, 374);
    assert_eq!(events, 13);
    // 5 in the list, 6 of the 8 single markets, 2 in gamma_event.json, 1 in the search body.
    assert_eq!(gamma, 14);
}

#[test]
fn recorded_status_agrees_with_the_body_shape() {
    let mut checked = 0;
    for (rel, f) in corpus() {
        let Some(status) = f.status else { continue };
        let is_error = f.shape == Shape::KalshiError;
        assert_eq!(
            status >= 400,
            is_error,
            "{rel}: HTTP {status} but classified {:?}",
            f.shape
        );
        checked += 1;
    }
    // 57 Fortuna bodies with a `.meta.json` status, plus the golden 403.
    assert_eq!(checked, 58, "bodies with recorder status");
}

#[test]
fn only_the_documented_records_are_refused() {
    let trimmed_event = "polymarket/nautilus/py_http_responses/event.json";
    let trimmed_list = "polymarket/nautilus/py_http_responses/events_list.json";
    let expected: Vec<(String, String, String)> = [
        // A 2021 AMM-era market whose outcome prices carry 34 decimals: refused, not rounded.
        (
            "polymarket/nautilus/crates_test_data/gamma_market_closed_nonbinary_legacy.json",
            "(body)",
            "BAD_DECIMAL:outcomePrices",
        ),
        // The rest were trimmed to a few fields by their source repository (nautilus_trader's
        // Python tests): nested markets with only conditionId/question/slug, or less.
        (
            trimmed_event,
            "0xed7d522e06d2f1f9015a468884cfdb2be7e737a33f130c1237a40f18bc739267",
            "MISSING_FIELD:description",
        ),
        (
            trimmed_event,
            "0x35c268a9ba1b27115c9b42415a667177d9959310d2c9b3131bca9e7942a13f3a",
            "MISSING_FIELD:description",
        ),
        (
            trimmed_event,
            "0x86603a152e53352e41f1d15a989e856d6c372ac0540d5360fdeae19089df29f2",
            "MISSING_FIELD:description",
        ),
        (
            trimmed_list,
            "0x064d33e3f5703792aafa92bfb0ee10e08f461b1b34c02c1f02671892ede1609a",
            "MISSING_FIELD:question",
        ),
        (
            trimmed_list,
            "0x8e0c65676f129764a604fcf618b4f92c34e5dfd2ce4a4cbf7a6bcdfa942241af",
            "MISSING_FIELD:question",
        ),
        (
            trimmed_list,
            "0x6c11c9bd1f87bde6bf11c380b63298a57d682ae7902b3d0d94656dd9ff0b483e",
            "MISSING_FIELD:question",
        ),
        (
            "polymarket/nautilus/py_http_responses/market_slug.json",
            "(body)",
            "MISSING_FIELD:description",
        ),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    // Everything else — every Kalshi record and every full Gamma record — parses.
    assert_eq!(refusals(), expected);
}

#[test]
fn kalshi_market_pages_match_the_recordings() {
    let open = kalshi_page(&format!("{K}markets__status_open.json"));
    assert_eq!((open.records.len(), open.rejects.len()), (200, 0));
    assert!(open.cursor.is_some());
    assert!(open
        .records
        .iter()
        .all(|m| m.status == MarketStatus::Active));
    let first = &open.records[0];
    assert_eq!(
        first.ticker,
        "KXMVESPORTSMULTIGAMEEXTENDED-S202667DDE5A948C-EAAA448B85D"
    );
    assert_eq!((first.yes_bid, first.yes_ask), (price(5100), price(10_000)));

    // Cursor walk: three pages of five, each handing over a cursor.
    for page in ["markets__page1", "markets__page2", "markets__page3"] {
        let p = kalshi_page(&format!("{K}{page}.json"));
        assert_eq!(p.records.len(), 5, "{page}");
        assert!(p.cursor.is_some(), "{page}");
        assert!(p
            .records
            .iter()
            .all(|m| m.status == MarketStatus::Initialized));
    }
    assert_eq!(
        kalshi_page(&format!("{K}markets__page3.json")).records[4].ticker,
        "KXMLBHR-26JUN111310AZMIA-AZCCARROLL7-2"
    );
    // The venue signals the last page with `cursor: ""`.
    let last = kalshi_page(&format!("{K}markets__single_filter_lastpage.json"));
    assert_eq!((last.records.len(), last.cursor.as_deref()), (1, None));

    let settled = kalshi_page(&format!("{K}markets__status_settled.json"));
    assert!(settled
        .records
        .iter()
        .all(|m| m.status == MarketStatus::Finalized));
    let results: Vec<MarketResult> = settled.records.iter().map(|m| m.result).collect();
    assert_eq!(
        results.iter().filter(|r| **r == MarketResult::Yes).count(),
        2
    );
    assert_eq!(
        results.iter().filter(|r| **r == MarketResult::No).count(),
        3
    );
    let yes = &settled.records[4];
    assert_eq!(yes.ticker, "KXQUICKSETTLE-11JUN26H0130-2");
    assert_eq!(yes.settlement_value, Some(Price::ONE_DOLLAR));
    assert_eq!(yes.last_price, Some(price(9900)));
    assert_eq!(yes.volume, Some(Qty(200)));

    let closed = kalshi_page(&format!("{K}markets__status_closed.json"));
    assert!(closed
        .records
        .iter()
        .all(|m| m.status == MarketStatus::Determined && m.result != MarketResult::Unsettled));

    let high = kalshi_page(&format!("{K}markets__high_temp.json"));
    assert_eq!(high.records.len(), 18);
    assert_eq!(
        high.records
            .iter()
            .filter(|m| m.status == MarketStatus::Determined)
            .count(),
        6
    );
    let b875 = high.records.last().unwrap();
    assert_eq!(b875.ticker, "KXHIGHNY-26JUN13-B87.5");
    assert_eq!(
        (b875.volume, b875.open_interest),
        (Some(Qty(13_538)), Some(Qty(12_838)))
    );

    let sdv = kalshi_page(&format!("{S}markets.json"));
    let tickers: Vec<&str> = sdv.records.iter().map(|m| m.ticker.as_str()).collect();
    assert_eq!(
        tickers,
        ["KXNFLGAME-26OCT08TBDAL-DAL", "KXNFLGAME-26OCT08TBDAL-TB"]
    );
    assert_eq!(sdv.records[1].volume, Some(Qty(44_446_826)));
}

#[test]
fn kalshi_single_markets_parse_every_field_kind() {
    let dal = kalshi_market(&format!("{S}markets__ticker.json"));
    assert_eq!(dal.ticker, "KXNFLGAME-26OCT08TBDAL-DAL");
    assert_eq!(dal.event_ticker, "KXNFLGAME-26OCT08TBDAL");
    assert_eq!(
        (dal.status, dal.result),
        (MarketStatus::Active, MarketResult::Unsettled)
    );
    assert_eq!((dal.yes_bid, dal.yes_ask), (price(8000), price(8100)));
    assert_eq!(
        (dal.no_bid, dal.no_ask),
        (Some(price(1900)), Some(price(2000)))
    );
    assert_eq!(dal.last_price, Some(price(8100)));
    assert_eq!(dal.volume, Some(Qty(27_192_668)));
    assert_eq!(dal.volume_24h, Some(Qty(20_232_986)));
    assert_eq!(dal.open_interest, Some(Qty(24_231_093)));
    assert_eq!(dal.liquidity, None);
    assert_eq!(dal.notional_value, Some(Usd::from_dollars(1).unwrap()));
    assert_eq!(dal.close_time, time("2026-10-11T00:15:00Z"));
    assert_eq!(dal.open_time, Some(time("2026-09-29T04:05:00Z")));
    assert_eq!(dal.yes_sub_title.as_deref(), Some("Dallas"));
    assert!(dal.rules_primary.starts_with("If Dallas wins"));
    // Pinned against an independent computation of the canonical encoding (Python hashlib).
    assert_eq!(
        rules_hash(dal).to_hex(),
        "d2e2444c0e1cfb396bcaf2c702ec8b412bf7e63d983a3b36f53f2f146a83e9c1"
    );

    let lep = kalshi_market(&format!("{K}markets__single.json"));
    assert_eq!(
        lep,
        kalshi_market(&format!("{K}markets__unauth_single.json"))
    );
    assert_eq!(lep.ticker, "KXWTACHALLENGERMATCH-26JUN11JIMLEP-LEP");
    assert_eq!((lep.yes_bid, lep.yes_ask), (price(4700), price(5200)));

    let tot = kalshi_market(&format!("{B}kalshi_market.json"));
    assert_eq!(tot.ticker, "KXEPLGAME-26MAR22TOTNFO-TOT");
    assert_eq!((tot.yes_bid, tot.yes_ask), (price(3700), price(3900)));
    assert_eq!(tot.volume, Some(Qty(53_100)));
}

#[test]
fn kalshi_transitional_recordings_take_prices_from_dollars_and_counts_from_integers() {
    // Oct 2025 console dump: 100 MVE markets with both cents and `*_dollars`, no `*_fp`.
    let dump = kalshi_page("kalshi/kalshirs_2025-10/ex_markets_console_dump.txt");
    assert_eq!((dump.records.len(), dump.rejects.len()), (100, 0));
    assert!(dump.cursor.as_deref().unwrap().starts_with("CgwIhK2sxwYQ"));
    let m = &dump.records[0];
    assert_eq!(m.ticker, "KXMVENFLSINGLEGAME-S20251B788CA7933-B7885F16FC6");
    assert_eq!(
        (m.yes_bid, m.no_bid),
        (Price::ZERO, Some(Price::ONE_DOLLAR))
    );
    assert_eq!(
        (m.volume, m.open_interest),
        (Some(Qty::ZERO), Some(Qty::ZERO))
    );
    assert_eq!(m.category, None, "\"\" means no category");

    // Jan 2026 golden set, wrapped in {_metadata, response}.
    let golden = kalshi_page(&format!("{G}markets_list_response.json"));
    assert_eq!(golden.records.len(), 5);
    let single = kalshi_market(&format!("{G}market_single_response.json"));
    assert_eq!(single, &golden.records[0]);
    assert_eq!(single.liquidity, Some(Usd::ZERO));
    assert_eq!(single.rules_primary, "");

    let elon = match &fixture(&format!("{G}event_single_response.json")).parsed {
        Parsed::KalshiEvent(Ok(d)) => d,
        other => panic!("{other:?}"),
    };
    assert_eq!(elon.event.series_ticker, "KXELONMARS");
    let m = &elon.markets[0];
    assert_eq!(m.ticker, "KXELONMARS-99");
    assert_eq!((m.yes_bid, m.yes_ask), (price(600), price(700)));
    assert_eq!(m.volume, Some(Qty::contracts(35_001).unwrap()));
}

#[test]
fn kalshi_events_match_the_recordings() {
    let page = |rel: &str| match &fixture(rel).parsed {
        Parsed::KalshiEvents(Ok(p)) => p,
        other => panic!("{rel}: {other:?}"),
    };
    let sdv = page(&format!("{S}events.json"));
    let tickers: Vec<&str> = sdv
        .records
        .iter()
        .map(|e| e.event_ticker.as_str())
        .collect();
    assert_eq!(
        tickers,
        [
            "KXNFLGAME-26OCT08TBDAL",
            "KXNFLGAME-26OCT11PHIJAC",
            "KXNFLGAME-26OCT11CINMIA"
        ]
    );
    assert!(sdv.records.iter().all(|e| e.series_ticker == "KXNFLGAME"
        && e.category.as_deref() == Some("Sports")
        && e.mutually_exclusive == Some(true)));
    assert!(sdv.cursor.is_some());

    let golden = page(&format!("{G}events_list_response.json"));
    assert_eq!(golden.records.len(), 5);
    assert_eq!(golden.records[1].title, "Who will the next Pope be?");
    let mve = page(&format!("{G}events_multivariate_list_response.json"));
    assert_eq!(mve.records.len(), 5);
    assert_eq!(mve.records[0].series_ticker, "KXMVESPORTSMULTIGAMEEXTENDED");

    // `with_nested_markets=true`: the top-level list is empty, the markets are in the event.
    let nested = match &fixture(&format!("{S}events__event_ticker.json")).parsed {
        Parsed::KalshiEvent(Ok(d)) => d,
        other => panic!("{other:?}"),
    };
    let tickers: Vec<&str> = nested.markets.iter().map(|m| m.ticker.as_str()).collect();
    assert_eq!(
        tickers,
        ["KXNFLGAME-26OCT08TBDAL-DAL", "KXNFLGAME-26OCT08TBDAL-TB"]
    );
    assert_eq!(
        &nested.markets[0],
        kalshi_market(&format!("{S}markets__ticker.json"))
    );
}

#[test]
fn kalshi_books_agree_with_the_quotes_recorded_beside_them() {
    // Each book's implied YES ask (1 − best NO bid) equals the market's recorded yes_ask.
    for (book, market) in [
        (
            format!("{S}markets__ticker__orderbook.json"),
            format!("{S}markets__ticker.json"),
        ),
        (
            format!("{K}orderbook__base.json"),
            format!("{K}markets__single.json"),
        ),
        (
            format!("{B}kalshi_orderbook.json"),
            format!("{B}kalshi_market.json"),
        ),
    ] {
        let b = kalshi_book(&book);
        let m = kalshi_market(&market);
        assert_eq!(b.best_yes_bid().map(|l| l.price), Some(m.yes_bid), "{book}");
        assert_eq!(b.best_yes_ask().map(|l| l.price), Some(m.yes_ask), "{book}");
    }

    let sdv = kalshi_book(&format!("{S}markets__ticker__orderbook.json"));
    assert_eq!((sdv.yes_bids.len(), sdv.no_bids.len()), (3, 3));
    assert_eq!(sdv.best_yes_bid().unwrap().qty, Qty(1_652_955));
    assert_eq!(sdv.best_yes_ask().unwrap().qty, Qty(37_586_443));

    let epl = kalshi_book(&format!("{B}kalshi_orderbook.json"));
    assert_eq!((epl.yes_bids.len(), epl.no_bids.len()), (18, 33));
    assert_eq!(epl.yes_bids[0].price, price(100));
    assert_eq!(epl.best_no_bid().unwrap().qty, Qty::contracts(79).unwrap());

    let base = kalshi_book(&format!("{K}orderbook__base.json"));
    assert_eq!(base.best_no_ask().map(|l| l.price), Some(price(5300)));

    // Jan 2026 transitional shape with every side null: an empty book, no prices.
    let empty = kalshi_book(&format!("{G}orderbook_response.json"));
    assert!(empty.is_empty());
    assert_eq!((empty.best_yes_bid(), empty.best_yes_ask()), (None, None));
}

#[test]
fn kalshi_error_bodies_are_read_in_all_three_layouts() {
    let mut layouts: BTreeMap<String, usize> = BTreeMap::new();
    for f in corpus().values() {
        if let Parsed::KalshiError(r) = &f.parsed {
            let e = r.as_ref().expect("every recorded error body parses");
            *layouts.entry(format!("{:?}", e.layout)).or_default() += 1;
        }
    }
    assert_eq!(
        layouts,
        BTreeMap::from([
            ("Flat".to_string(), 1),
            ("Msg".to_string(), 1),
            ("Nested".to_string(), 18),
        ])
    );

    let sig = kalshi_error(&format!("{K}auth__bad_signature.json"));
    assert_eq!(sig.layout, ErrorLayout::Nested);
    assert_eq!(sig.code.as_deref(), Some("authentication_error"));
    assert_eq!(sig.details.as_deref(), Some("INCORRECT_API_KEY_SIGNATURE"));

    let dup = kalshi_error(&format!("{K}orders__duplicate_client_order_id.json"));
    assert_eq!(dup.code.as_deref(), Some("order_already_exists"));
    assert_eq!(dup.service.as_deref(), Some("exchange"));

    let flat = kalshi_error(&format!("{K}orders__numeric_field_types.json"));
    assert_eq!(
        (flat.layout, flat.code.as_deref()),
        (ErrorLayout::Flat, Some("bad_request"))
    );
    assert!(flat
        .details
        .as_deref()
        .unwrap()
        .contains("cannot unmarshal number"));

    let msg = kalshi_error(&format!("{K}markets__limit_over_max.json"));
    assert_eq!((msg.layout, msg.code.as_deref()), (ErrorLayout::Msg, None));
    assert!(msg
        .message
        .starts_with("Parameter validation failed for GetMarkets"));

    let denied = kalshi_error(&format!(
        "{G}portfolio_total_resting_order_value_response.json"
    ));
    assert_eq!(denied.code.as_deref(), Some("permission_denied"));
    assert_eq!(
        fixture(&format!(
            "{G}portfolio_total_resting_order_value_response.json"
        ))
        .status,
        Some(403)
    );
}

#[test]
fn gamma_markets_match_the_recordings() {
    let list = gamma_page("polymarket/drmanhattan_2026-06/gamma_markets_list.json");
    assert_eq!((list.records.len(), list.rejects.len()), (5, 0));
    let m = &list.records[0];
    assert_eq!(
        m.condition_id,
        "0x1fad72fae204143ff1c3035e99e7c0f65ea8d5cd9bd1070987bd1a3316f772be"
    );
    assert_eq!(m.question, "New Rihanna Album before GTA VI?");
    let names: Vec<&str> = m.outcomes.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["Yes", "No"]);
    assert_eq!(
        (m.outcomes[0].price, m.outcomes[1].price),
        (price(5100), price(4900))
    );
    assert!(m.outcomes[0]
        .token_id
        .as_deref()
        .unwrap()
        .starts_with("98022490269692409998"));
    assert_eq!(
        (m.best_bid, m.best_ask, m.last_trade_price),
        (Some(price(5000)), Some(price(5200)), Some(price(5000)))
    );
    // "832995.125818007" → micro-dollars, the sub-micro digits dropped.
    assert_eq!(m.volume, Some(Usd(832_995_125_818)));
    assert_eq!(m.liquidity, Some(Usd(13_563_972_600)));
    assert_eq!(m.end_date, time("2026-07-31T12:00:00Z"));
    assert_eq!((m.active, m.closed, m.archived), (true, false, Some(false)));
    assert_eq!(
        rules_hash(m).to_hex(),
        "5cc7a71453cb97b7c18b21b812c0d9e4a4c169f87402a2ca1813e5b9da0d4237"
    );
    // Half-cent outcome prices are exact.
    assert_eq!(list.records[2].outcomes[0].price, price(4950));

    let btc = gamma_market(&format!("{N}crates_test_data/gamma_market.json"));
    let names: Vec<&str> = btc.outcomes.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["Up", "Down"]);
    assert_eq!(btc.volume, Some(Usd(9_999_997)));

    // Closed markets: resolved prices 0/1, absent statistics stay absent.
    let katana = gamma_market(&format!(
        "{N}crates_test_data/gamma_market_closed_binary_accepting_false.json"
    ));
    assert!(katana.closed);
    assert_eq!(
        (katana.outcomes[0].price, katana.outcomes[1].price),
        (Price::ZERO, Price::ONE_DOLLAR)
    );
    assert_eq!((katana.best_bid, katana.volume), (None, None));
    assert_eq!(katana.best_ask, Some(price(10)));

    let legacy = gamma_market(&format!(
        "{N}crates_test_data/gamma_market_closed_zero_zero_legacy.json"
    ));
    assert_eq!(
        legacy.volume,
        Some(Usd(32_257_445_115)),
        "string preferred over volumeNum"
    );
    assert_eq!(legacy.category.as_deref().map(str::is_empty), Some(false));
}

#[test]
fn gamma_events_keep_their_markets() {
    let events = match &fixture(&format!("{N}crates_test_data/gamma_event.json")).parsed {
        Parsed::GammaEvents(Ok(p)) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(events.records.len(), 1);
    let e = &events.records[0];
    assert_eq!(
        (e.id.as_str(), e.slug.as_deref()),
        ("30829", Some("democratic-presidential-nominee-2028"))
    );
    assert_eq!((e.markets.len(), e.market_rejects.len()), (2, 0));
    assert_eq!(
        e.markets[0].question,
        "Will Stephen A. Smith win the 2028 Democratic presidential nomination?"
    );
    assert_eq!(e.markets[0].outcomes[0].price, price(105));
    assert_eq!(e.markets[1].best_ask, Some(price(150)));

    let search = match &fixture(&format!("{N}crates_test_data/search_response.json")).parsed {
        Parsed::GammaEvents(Ok(p)) => p,
        other => panic!("{other:?}"),
    };
    let btc = &search.records[0].markets[0];
    assert_eq!(
        (btc.outcomes[0].price, btc.outcomes[1].price),
        (price(9995), price(5))
    );
}
