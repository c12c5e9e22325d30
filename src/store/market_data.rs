//! Market data in D1: the statements `core::ingest` plans, bound and run as one atomic batch per
//! page (so a page's rows, and the removal of rows the compliance rules now drop, land together
//! or not at all), and the quotes mark-to-market reads back.

use crate::core::ingest::batch::{SqlValue, Statement};
use crate::store::d1::{Db, DbError, Param};
use serde::Deserialize;

const DELETE_MARKETS: &str = "DELETE FROM markets WHERE venue = ? \
     AND market_id IN (SELECT value FROM json_each(?))";
const DELETE_PRICES: &str = "DELETE FROM market_prices WHERE venue = ? \
     AND market_id IN (SELECT value FROM json_each(?))";
const DELETE_BOOKS: &str = "DELETE FROM orderbooks WHERE venue = ? \
     AND market_id IN (SELECT value FROM json_each(?))";
const DELETE_EVENTS: &str =
    "DELETE FROM kalshi_events WHERE event_ticker IN (SELECT value FROM json_each(?))";
const QUOTES: &str = "SELECT p.market_id, p.yes_bid_e4, p.yes_ask_e4, p.last_price_e4, \
     p.observed_at, m.event_id, m.series_id, m.category, m.close_time \
     FROM market_prices p LEFT JOIN markets m ON m.venue = p.venue AND m.market_id = p.market_id \
     WHERE p.venue = ? AND p.market_id IN (SELECT value FROM json_each(?))";

fn param(v: &SqlValue) -> Param<'_> {
    match v {
        SqlValue::Null => Param::Null,
        SqlValue::Int(i) => Param::Int(*i),
        SqlValue::Text(s) => Param::Text(s),
    }
}

/// What to remove because compliance rules drop it now (rows ingested before the rule).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removals {
    pub venue: &'static str,
    pub market_ids: Vec<String>,
    pub event_tickers: Vec<String>,
}

/// Runs the removals, then `statements`, in one atomic D1 batch; returns the rows changed.
pub async fn write_page(
    db: &Db,
    removals: &Removals,
    statements: &[Statement],
) -> Result<u32, DbError> {
    let mut prepared = Vec::with_capacity(statements.len() + 4);
    let markets = serde_json::to_string(&removals.market_ids).unwrap_or_else(|_| "[]".into());
    let events = serde_json::to_string(&removals.event_tickers).unwrap_or_else(|_| "[]".into());
    if !removals.market_ids.is_empty() {
        for sql in [DELETE_MARKETS, DELETE_PRICES, DELETE_BOOKS] {
            prepared.push(db.prepare(sql, &[Param::Text(removals.venue), Param::Text(&markets)])?);
        }
    }
    if !removals.event_tickers.is_empty() {
        prepared.push(db.prepare(DELETE_EVENTS, &[Param::Text(&events)])?);
    }
    for s in statements {
        let params: Vec<Param<'_>> = s.params.iter().map(param).collect();
        prepared.push(db.prepare(s.sql, &params)?);
    }
    if prepared.is_empty() {
        return Ok(0);
    }
    let results = db.batch(prepared).await?;
    let mut changed = 0u32;
    for r in results {
        if let Some(message) = r.error() {
            return Err(DbError::Failed { message });
        }
        changed += r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) as u32;
    }
    Ok(changed)
}

/// A stored quote.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Quote {
    pub market_id: String,
    pub yes_bid_e4: Option<i64>,
    pub yes_ask_e4: Option<i64>,
    pub last_price_e4: Option<i64>,
    pub observed_at: String,
    /// From the market row: what the risk governor needs to know about the market.
    pub event_id: Option<String>,
    pub series_id: Option<String>,
    pub category: Option<String>,
    pub close_time: Option<String>,
}

/// The stored quotes of `market_ids` on `venue` (markets without one are absent).
pub async fn quotes(db: &Db, venue: &str, market_ids: &[String]) -> Result<Vec<Quote>, DbError> {
    let ids = serde_json::to_string(market_ids).unwrap_or_else(|_| "[]".into());
    db.all::<Quote>(QUOTES, &[Param::Text(venue), Param::Text(&ids)])
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_passes_the_d1_gate_with_its_parameter_count() {
        for (sql, bound) in [
            (DELETE_MARKETS, 2),
            (DELETE_PRICES, 2),
            (DELETE_BOOKS, 2),
            (DELETE_EVENTS, 1),
            (QUOTES, 2),
        ] {
            if let Err(e) = crate::core::sql_guard::check_bound(sql, bound) {
                panic!("{e}: {sql}");
            }
        }
    }
}
