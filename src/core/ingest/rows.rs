//! From parsed venue records to D1 rows: the upsert tables, the row builders that fill them
//! (every row carries the hash of the evidence it came from), the compliance view of each
//! record, and the mark price handed to the risk governor.
//!
//! Units (integers only): prices in ten-thousandths of a dollar (`*_e4`), contract counts in
//! hundredths (`*_e2`), dollar amounts in micro-dollars (`*_micros`).

use super::batch::{Row, SqlValue, Table};
use crate::core::compliance::{Entity, EntityKind, Venue};
use crate::core::evidence::EvidenceHash;
use crate::core::money::{Price, PRICE_SCALE};
use crate::core::time::format_utc;
use crate::venues::kalshi::{KalshiEvent, KalshiMarket, MarketResult, Orderbook};
use crate::venues::polymarket::GammaMarket;
use crate::venues::rules_hash;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Where a row came from: the evidence hash and the fetch time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub evidence: EvidenceHash,
    pub at: DateTime<Utc>,
}

impl Observed {
    fn hash(&self) -> SqlValue {
        SqlValue::text(self.evidence.to_hex())
    }

    fn at(&self) -> SqlValue {
        SqlValue::text(format_utc(self.at))
    }
}

/// Kalshi events (`kalshi_events`).
pub static KALSHI_EVENTS: Table = Table::new(
    "kalshi_events",
    &[
        "event_ticker",
        "series_ticker",
        "title",
        "sub_title",
        "category",
        "mutually_exclusive",
        "evidence_hash",
        "first_seen_at",
        "updated_at",
    ],
    &["event_ticker"],
    &[
        "series_ticker",
        "title",
        "sub_title",
        "category",
        "mutually_exclusive",
        "evidence_hash",
        "updated_at",
    ],
    Some("evidence_hash"),
);

/// Markets of both venues (`markets`).
pub static MARKETS: Table = Table::new(
    "markets",
    &[
        "venue",
        "market_id",
        "event_id",
        "series_id",
        "slug",
        "title",
        "category",
        "status",
        "result",
        "close_time",
        "rules_hash",
        "outcomes",
        "evidence_hash",
        "first_seen_at",
        "updated_at",
    ],
    &["venue", "market_id"],
    &[
        "event_id",
        "series_id",
        "slug",
        "title",
        "category",
        "status",
        "result",
        "close_time",
        "rules_hash",
        "outcomes",
        "evidence_hash",
        "updated_at",
    ],
    Some("evidence_hash"),
);

/// The latest quote of each market (`market_prices`).
pub static MARKET_PRICES: Table = Table::new(
    "market_prices",
    &[
        "venue",
        "market_id",
        "yes_bid_e4",
        "yes_ask_e4",
        "no_bid_e4",
        "no_ask_e4",
        "last_price_e4",
        "volume_e2",
        "volume_24h_e2",
        "open_interest_e2",
        "volume_micros",
        "liquidity_micros",
        "observed_at",
        "evidence_hash",
    ],
    &["venue", "market_id"],
    &[
        "yes_bid_e4",
        "yes_ask_e4",
        "no_bid_e4",
        "no_ask_e4",
        "last_price_e4",
        "volume_e2",
        "volume_24h_e2",
        "open_interest_e2",
        "volume_micros",
        "liquidity_micros",
        "observed_at",
        "evidence_hash",
    ],
    Some("evidence_hash"),
);

/// The latest order book of each market (`orderbooks`); levels as JSON `[[price_e4, qty_e2], …]`,
/// ascending, best bid last, as the venue sends them.
pub static ORDERBOOKS: Table = Table::new(
    "orderbooks",
    &[
        "venue",
        "market_id",
        "yes_bids",
        "no_bids",
        "best_yes_bid_e4",
        "best_yes_ask_e4",
        "observed_at",
        "evidence_hash",
    ],
    &["venue", "market_id"],
    &[
        "yes_bids",
        "no_bids",
        "best_yes_bid_e4",
        "best_yes_ask_e4",
        "observed_at",
        "evidence_hash",
    ],
    Some("evidence_hash"),
);

fn price(p: Price) -> SqlValue {
    SqlValue::Int(p.units())
}

fn opt_price(p: Option<Price>) -> SqlValue {
    SqlValue::opt_int(p.map(Price::units))
}

/// A Kalshi series ticker from an event ticker, by the venue's naming convention
/// (`KXNFLGAME-26OCT08TBDAL` → `KXNFLGAME`). Used when the event itself was not listed
/// (multivariate events are not served by `GET /events`).
pub fn kalshi_series_of(event_ticker: &str) -> &str {
    event_ticker.split('-').next().unwrap_or(event_ticker)
}

/// What a market needs from its event: series, category and title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInfo {
    pub series: String,
    pub category: Option<String>,
    pub title: String,
}

impl EventInfo {
    pub fn of(e: &KalshiEvent) -> EventInfo {
        EventInfo {
            series: e.series_ticker.clone(),
            category: e.category.clone(),
            title: e.title.clone(),
        }
    }
}

/// Events by event ticker.
pub type EventIndex = HashMap<String, EventInfo>;

pub fn kalshi_event_entity(e: &KalshiEvent) -> Entity<'_> {
    Entity {
        venue: Venue::Kalshi,
        kind: EntityKind::Event,
        key: &e.event_ticker,
        ids: vec![],
        series: Some(&e.series_ticker),
        event: Some(&e.event_ticker),
        categories: e.category.as_deref().into_iter().collect(),
        titles: [Some(e.title.as_str()), e.sub_title.as_deref()]
            .into_iter()
            .flatten()
            .collect(),
    }
}

pub fn kalshi_event_row(e: &KalshiEvent, obs: &Observed) -> Row {
    vec![
        SqlValue::text(&e.event_ticker),
        SqlValue::text(&e.series_ticker),
        SqlValue::text(&e.title),
        SqlValue::opt_text(e.sub_title.clone()),
        SqlValue::opt_text(e.category.clone()),
        SqlValue::opt_int(e.mutually_exclusive.map(i64::from)),
        obs.hash(),
        obs.at(),
        obs.at(),
    ]
}

/// The compliance view of a Kalshi market: its own fields plus its event's (so a rule on an
/// event's series, category or title also drops the event's markets).
pub fn kalshi_market_entity<'a>(m: &'a KalshiMarket, events: &'a EventIndex) -> Entity<'a> {
    let event = events.get(&m.event_ticker);
    let series = m
        .series_ticker
        .as_deref()
        .or(event.map(|e| e.series.as_str()))
        .unwrap_or_else(|| kalshi_series_of(&m.event_ticker));
    let categories = [
        m.category.as_deref(),
        event.and_then(|e| e.category.as_deref()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let titles = [
        m.title.as_deref(),
        m.subtitle.as_deref(),
        m.yes_sub_title.as_deref(),
        m.no_sub_title.as_deref(),
        event.map(|e| e.title.as_str()),
    ]
    .into_iter()
    .flatten()
    .filter(|t| !t.is_empty())
    .collect();
    Entity {
        venue: Venue::Kalshi,
        kind: EntityKind::Market,
        key: &m.ticker,
        ids: vec![&m.ticker],
        series: Some(series),
        event: Some(&m.event_ticker),
        categories,
        titles,
    }
}

fn kalshi_result(r: MarketResult) -> &'static str {
    match r {
        MarketResult::Unsettled => "",
        MarketResult::Yes => "yes",
        MarketResult::No => "no",
        MarketResult::Scalar => "scalar",
    }
}

/// The `markets` and `market_prices` rows of a Kalshi market.
pub fn kalshi_market_rows(m: &KalshiMarket, events: &EventIndex, obs: &Observed) -> (Row, Row) {
    let event = events.get(&m.event_ticker);
    let series = m
        .series_ticker
        .clone()
        .or(event.map(|e| e.series.clone()))
        .unwrap_or_else(|| kalshi_series_of(&m.event_ticker).to_string());
    let category = m
        .category
        .clone()
        .or(event.and_then(|e| e.category.clone()));
    let title = m
        .title
        .clone()
        .or(event.map(|e| e.title.clone()))
        .unwrap_or_default();
    let market = vec![
        SqlValue::text("kalshi"),
        SqlValue::text(&m.ticker),
        SqlValue::text(&m.event_ticker),
        SqlValue::text(series),
        SqlValue::Null,
        SqlValue::text(title),
        SqlValue::opt_text(category),
        SqlValue::text(m.status.as_str()),
        SqlValue::text(kalshi_result(m.result)),
        SqlValue::text(format_utc(m.close_time)),
        SqlValue::text(rules_hash(m).to_hex()),
        SqlValue::Null,
        obs.hash(),
        obs.at(),
        obs.at(),
    ];
    let quote = vec![
        SqlValue::text("kalshi"),
        SqlValue::text(&m.ticker),
        price(m.yes_bid),
        price(m.yes_ask),
        opt_price(m.no_bid),
        opt_price(m.no_ask),
        opt_price(m.last_price),
        SqlValue::opt_int(m.volume.map(|q| q.units())),
        SqlValue::opt_int(m.volume_24h.map(|q| q.units())),
        SqlValue::opt_int(m.open_interest.map(|q| q.units())),
        SqlValue::Null,
        SqlValue::opt_int(m.liquidity.map(|u| u.micros())),
        obs.at(),
        obs.hash(),
    ];
    (market, quote)
}

pub fn gamma_market_entity(m: &GammaMarket) -> Entity<'_> {
    Entity {
        venue: Venue::Polymarket,
        kind: EntityKind::Market,
        key: &m.condition_id,
        ids: [
            Some(m.condition_id.as_str()),
            m.slug.as_deref(),
            m.id.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect(),
        series: None,
        event: None,
        categories: m.category.as_deref().into_iter().collect(),
        titles: vec![&m.question],
    }
}

fn gamma_status(m: &GammaMarket) -> &'static str {
    if m.archived == Some(true) {
        "archived"
    } else if m.closed {
        "closed"
    } else if m.active {
        "active"
    } else {
        "inactive"
    }
}

/// The `markets` and `market_prices` rows of a Gamma market. Its quote is the first outcome's
/// (`bestBid`/`bestAsk` are quoted for it); the NO side is the complement, as on the CLOB.
pub fn gamma_market_rows(m: &GammaMarket, obs: &Observed) -> (Row, Row) {
    let outcomes: Vec<serde_json::Value> = m
        .outcomes
        .iter()
        .map(|o| {
            serde_json::json!({
                "name": o.name,
                "price_e4": o.price.units(),
                "token_id": o.token_id,
            })
        })
        .collect();
    let market = vec![
        SqlValue::text("polymarket"),
        SqlValue::text(&m.condition_id),
        SqlValue::Null,
        SqlValue::Null,
        SqlValue::opt_text(m.slug.clone()),
        SqlValue::text(&m.question),
        SqlValue::opt_text(m.category.clone()),
        SqlValue::text(gamma_status(m)),
        SqlValue::Null,
        SqlValue::text(format_utc(m.end_date)),
        SqlValue::text(rules_hash(m).to_hex()),
        SqlValue::text(serde_json::Value::Array(outcomes).to_string()),
        obs.hash(),
        obs.at(),
        obs.at(),
    ];
    let quote = vec![
        SqlValue::text("polymarket"),
        SqlValue::text(&m.condition_id),
        opt_price(m.best_bid),
        opt_price(m.best_ask),
        opt_price(m.best_ask.map(Price::complement)),
        opt_price(m.best_bid.map(Price::complement)),
        opt_price(m.last_trade_price),
        SqlValue::Null,
        SqlValue::Null,
        SqlValue::Null,
        SqlValue::opt_int(m.volume.map(|u| u.micros())),
        SqlValue::opt_int(m.liquidity.map(|u| u.micros())),
        obs.at(),
        obs.hash(),
    ];
    (market, quote)
}

fn levels_json(levels: &[crate::venues::kalshi::Level]) -> String {
    let pairs: Vec<[i64; 2]> = levels
        .iter()
        .map(|l| [l.price.units(), l.qty.units()])
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_string())
}

/// The `orderbooks` row of a Kalshi book.
pub fn kalshi_book_row(ticker: &str, book: &Orderbook, obs: &Observed) -> Row {
    vec![
        SqlValue::text("kalshi"),
        SqlValue::text(ticker),
        SqlValue::text(levels_json(&book.yes_bids)),
        SqlValue::text(levels_json(&book.no_bids)),
        opt_price(book.best_yes_bid().map(|l| l.price)),
        opt_price(book.best_yes_ask().map(|l| l.price)),
        obs.at(),
        obs.hash(),
    ]
}

/// The YES price a position is marked at: the midpoint of a two-sided quote (rounded down to
/// the 1e-4 unit), else the last trade, else nothing (a market without a price is not marked;
/// the governor then refuses what needs the price, rather than using a stale or invented one).
/// A side counts as quoted when the bid is above 0 and the ask below 1.
pub fn mark_price(
    yes_bid: Option<Price>,
    yes_ask: Option<Price>,
    last: Option<Price>,
) -> Option<Price> {
    if let (Some(bid), Some(ask)) = (yes_bid, yes_ask) {
        if bid.units() > 0 && ask.units() < PRICE_SCALE && bid <= ask {
            return Price::new((bid.units() + ask.units()) / 2);
        }
    }
    last.filter(|p| p.units() > 0 && p.units() < PRICE_SCALE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::compliance::{validate_rules, RuleInput, RuleSet};
    use crate::core::time::from_millis;
    use crate::venues::kalshi::{parse_events_page, parse_markets_page, parse_orderbook_response};
    use crate::venues::polymarket::parse_gamma_markets;

    fn obs() -> Observed {
        Observed {
            evidence: EvidenceHash::of(b"page"),
            at: from_millis(1_781_154_911_123).unwrap(),
        }
    }

    const MARKETS_PAGE: &str = r#"{"cursor":"","markets":[
      {"ticker":"KXNFLGAME-26OCT08TBDAL-DAL","event_ticker":"KXNFLGAME-26OCT08TBDAL","status":"active",
       "result":"","close_time":"2026-10-09T03:00:00Z","yes_bid_dollars":"0.5200","yes_ask_dollars":"0.5350",
       "no_bid_dollars":"0.4650","no_ask_dollars":"0.4800","last_price_dollars":"0.5300",
       "volume_fp":"1234.56","open_interest_fp":"99.50","liquidity_dollars":"0.0000",
       "rules_primary":"If Dallas wins, Yes.","rules_secondary":"","title":"Dallas at Tampa Bay"},
      {"ticker":"KXMVECROSS-S1-X","event_ticker":"KXMVECROSS-S1","status":"active","result":"",
       "close_time":"2026-10-09T03:00:00Z","yes_bid":52,"yes_ask":55,"rules_primary":"","rules_secondary":""}
    ]}"#;

    const EVENTS_PAGE: &str = r#"{"cursor":"","events":[
      {"event_ticker":"KXNFLGAME-26OCT08TBDAL","series_ticker":"KXNFLGAME","title":"Dallas at Tampa Bay",
       "category":"Sports","mutually_exclusive":true}]}"#;

    fn events() -> EventIndex {
        parse_events_page(EVENTS_PAGE.as_bytes())
            .unwrap()
            .records
            .iter()
            .map(|e| (e.event_ticker.clone(), EventInfo::of(e)))
            .collect()
    }

    #[test]
    fn every_upsert_text_passes_the_d1_gate_within_one_hundred_parameters() {
        for table in [&KALSHI_EVENTS, &MARKETS, &MARKET_PRICES, &ORDERBOOKS] {
            for rows in 1..=table.rows_per_statement() {
                let bound = rows * table.columns.len();
                assert!(bound <= crate::core::ingest::batch::MAX_BOUND_PARAMS);
                if let Err(e) = crate::core::sql_guard::check_bound(table.sql(rows), bound) {
                    panic!("{}: {e}", table.name);
                }
            }
        }
    }

    #[test]
    fn every_builder_fills_exactly_its_tables_columns() {
        let page = parse_markets_page(MARKETS_PAGE.as_bytes()).unwrap();
        let ev = events();
        for m in &page.records {
            let (market, quote) = kalshi_market_rows(m, &ev, &obs());
            assert_eq!(market.len(), MARKETS.columns.len());
            assert_eq!(quote.len(), MARKET_PRICES.columns.len());
        }
        let e = &parse_events_page(EVENTS_PAGE.as_bytes()).unwrap().records[0];
        assert_eq!(
            kalshi_event_row(e, &obs()).len(),
            KALSHI_EVENTS.columns.len()
        );
        let book =
            parse_orderbook_response(br#"{"orderbook_fp":{"yes_dollars":[["0.5200","3.00"]]}}"#)
                .unwrap();
        assert_eq!(
            kalshi_book_row("T", &book, &obs()).len(),
            ORDERBOOKS.columns.len()
        );
        let gamma = r#"[{"conditionId":"0xabc","question":"Will it rain?","description":"d","outcomes":"[\"Yes\",\"No\"]",
            "outcomePrices":"[\"0.535\",\"0.465\"]","clobTokenIds":"[\"1\",\"2\"]","endDate":"2026-07-31T12:00:00Z",
            "active":true,"closed":false,"bestBid":0.53,"bestAsk":0.54,"volume":"1234.5","liquidityNum":99.5}]"#;
        let g = &parse_gamma_markets(gamma.as_bytes()).unwrap().records[0];
        let (market, quote) = gamma_market_rows(g, &obs());
        assert_eq!(market.len(), MARKETS.columns.len());
        assert_eq!(quote.len(), MARKET_PRICES.columns.len());
        let col = |name: &str| {
            MARKET_PRICES
                .columns
                .iter()
                .position(|c| *c == name)
                .unwrap()
        };
        assert_eq!(quote[col("yes_bid_e4")], SqlValue::Int(5300));
        assert_eq!(quote[col("no_bid_e4")], SqlValue::Int(4600));
        assert_eq!(quote[col("volume_micros")], SqlValue::Int(1_234_500_000));
        assert_eq!(quote[col("liquidity_micros")], SqlValue::Int(99_500_000));
        assert_eq!(
            quote[col("evidence_hash")],
            SqlValue::text(obs().evidence.to_hex())
        );
    }

    #[test]
    fn kalshi_rows_hold_integers_and_their_evidence() {
        let page = parse_markets_page(MARKETS_PAGE.as_bytes()).unwrap();
        let (market, quote) = kalshi_market_rows(&page.records[0], &events(), &obs());
        let mcol =
            |name: &str| market[MARKETS.columns.iter().position(|c| *c == name).unwrap()].clone();
        let qcol = |name: &str| {
            quote[MARKET_PRICES
                .columns
                .iter()
                .position(|c| *c == name)
                .unwrap()]
            .clone()
        };
        assert_eq!(mcol("series_id"), SqlValue::text("KXNFLGAME"));
        assert_eq!(mcol("category"), SqlValue::text("Sports"));
        assert_eq!(
            mcol("close_time"),
            SqlValue::text("2026-10-09T03:00:00.000Z")
        );
        assert_eq!(
            mcol("evidence_hash"),
            SqlValue::text(obs().evidence.to_hex())
        );
        assert_eq!(qcol("yes_bid_e4"), SqlValue::Int(5200));
        assert_eq!(qcol("yes_ask_e4"), SqlValue::Int(5350));
        assert_eq!(qcol("volume_e2"), SqlValue::Int(123_456));
        assert_eq!(qcol("open_interest_e2"), SqlValue::Int(9_950));
        assert_eq!(qcol("volume_24h_e2"), SqlValue::Null);
        // Transitional cents, and a market whose event was not listed: series from its ticker.
        let (market, quote) = kalshi_market_rows(&page.records[1], &events(), &obs());
        assert_eq!(market[3], SqlValue::text("KXMVECROSS"));
        assert_eq!(market[6], SqlValue::Null);
        assert_eq!(
            (quote[2].clone(), quote[3].clone()),
            (SqlValue::Int(5200), SqlValue::Int(5500))
        );
    }

    #[test]
    fn a_rule_on_an_event_drops_its_markets_too() {
        let page = parse_markets_page(MARKETS_PAGE.as_bytes()).unwrap();
        let ev = events();
        let rules = |kind: &str, value: &str| {
            RuleSet::new(
                validate_rules(&[RuleInput {
                    kind: kind.into(),
                    venue: Some("kalshi".into()),
                    value: value.into(),
                    reason: "r".into(),
                }])
                .unwrap(),
            )
        };
        let m = kalshi_market_entity(&page.records[0], &ev);
        assert!(rules("category", "sports").check(&m).is_some());
        assert!(rules("series", "KXNFLGAME").check(&m).is_some());
        assert!(rules("event_ticker", "KXNFLGAME-26OCT08TBDAL")
            .check(&m)
            .is_some());
        assert!(rules("ticker", "KXNFLGAME-26OCT08TBDAL-DAL")
            .check(&m)
            .is_some());
        let mve = kalshi_market_entity(&page.records[1], &ev);
        assert!(rules("series", "KXMVECROSS").check(&mve).is_some());
        assert!(rules("category", "sports").check(&mve).is_none());
    }

    #[test]
    fn books_keep_their_levels_as_integers() {
        let book = parse_orderbook_response(
            br#"{"orderbook_fp":{"yes_dollars":[["0.5100","2.00"],["0.5200","3.50"]],"no_dollars":[["0.4600","1.00"]]}}"#,
        )
        .unwrap();
        let row = kalshi_book_row("T", &book, &obs());
        assert_eq!(row[2], SqlValue::text("[[5100,200],[5200,350]]"));
        assert_eq!(row[3], SqlValue::text("[[4600,100]]"));
        assert_eq!(
            (row[4].clone(), row[5].clone()),
            (SqlValue::Int(5200), SqlValue::Int(5400))
        );
    }

    #[test]
    fn the_mark_is_the_rounded_down_mid_else_the_last_trade_else_nothing() {
        let p = |u| Some(Price::new(u).unwrap());
        assert_eq!(mark_price(p(5200), p(5351), None), p(5275));
        assert_eq!(mark_price(p(0), p(5300), p(5100)), p(5100));
        assert_eq!(mark_price(p(5200), p(10_000), None), None);
        assert_eq!(mark_price(p(5400), p(5300), p(5350)), p(5350));
        assert_eq!(mark_price(None, None, p(0)), None);
    }
}
