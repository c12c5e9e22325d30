//! DB `market_pairs` (`migrations/0003_pairs.sql`) and the market rows a pair is judged
//! against. A pair is stored whole, as the JSON of [`Pair`]; writes compare-and-swap on the
//! status read, so two reviewers racing cannot both win.

use crate::core::pairs::{Pair, PairStatus};
use crate::store::d1::{Db, DbError, Param};
use serde::Deserialize;

const INSERT: &str = "INSERT INTO market_pairs (id, kalshi_ticker, polymarket_condition_id, \
     status, body, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
     ON CONFLICT (id) DO NOTHING";
const GET: &str = "SELECT body FROM market_pairs WHERE id = ?";
const LIST: &str = "SELECT body FROM market_pairs WHERE (?1 IS NULL OR status = ?1) \
     ORDER BY updated_at DESC, id LIMIT ?2";
const UPDATE: &str = "UPDATE market_pairs SET status = ?1, body = ?2, updated_at = ?3 \
     WHERE id = ?4 AND status = ?5";
const MARKET: &str = "SELECT rules_hash, evidence_hash, status, result FROM markets \
     WHERE venue = ? AND market_id = ?";

const KNOWN: &str = "SELECT kalshi_ticker, polymarket_condition_id FROM market_pairs";
const LISTINGS: &str = "SELECT market_id, title, close_time FROM markets \
     WHERE venue = ?1 AND status = 'active' ORDER BY updated_at DESC, market_id LIMIT ?2";

#[derive(Deserialize)]
struct BodyRow {
    body: String,
}

/// What ingestion last stored about one market.
#[derive(Debug, Clone, Deserialize)]
pub struct MarketRow {
    pub rules_hash: String,
    pub evidence_hash: String,
    pub status: String,
    pub result: Option<String>,
}

fn decode(row: BodyRow) -> Result<Pair, DbError> {
    serde_json::from_str(&row.body).map_err(|e| DbError::Failed {
        message: format!("market_pairs.body: {e}"),
    })
}

fn encode(pair: &Pair) -> Result<String, DbError> {
    serde_json::to_string(pair).map_err(|e| DbError::Failed {
        message: format!("market_pairs.body: {e}"),
    })
}

/// Inserts a new pair; `false` if a pair with its id already exists.
pub async fn insert(db: &Db, pair: &Pair, now: &str) -> Result<bool, DbError> {
    let body = encode(pair)?;
    let changed = db
        .run(
            INSERT,
            &[
                Param::Text(pair.id.as_str()),
                Param::Text(&pair.kalshi_ticker),
                Param::Text(&pair.polymarket_condition_id),
                Param::Text(pair.status.as_str()),
                Param::Text(&body),
                Param::Text(now),
            ],
        )
        .await?;
    Ok(changed > 0)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Pair>, DbError> {
    db.first::<BodyRow>(GET, &[Param::Text(id)])
        .await?
        .map(decode)
        .transpose()
}

/// Newest first, optionally of one status.
pub async fn list(db: &Db, status: Option<PairStatus>, limit: i64) -> Result<Vec<Pair>, DbError> {
    db.all::<BodyRow>(
        LIST,
        &[
            status
                .map(|s| Param::Text(s.as_str()))
                .unwrap_or(Param::Null),
            Param::Int(limit),
        ],
    )
    .await?
    .into_iter()
    .map(decode)
    .collect()
}

/// Replaces `next` if the stored pair still has status `expected`; `false` if it moved on.
pub async fn update(
    db: &Db,
    next: &Pair,
    expected: PairStatus,
    now: &str,
) -> Result<bool, DbError> {
    let body = encode(next)?;
    let changed = db
        .run(
            UPDATE,
            &[
                Param::Text(next.status.as_str()),
                Param::Text(&body),
                Param::Text(now),
                Param::Text(next.id.as_str()),
                Param::Text(expected.as_str()),
            ],
        )
        .await?;
    Ok(changed > 0)
}

/// Every pair's two markets (kalshi ticker, condition id), whatever its status: discovery
/// never proposes one of them again.
pub async fn known(db: &Db) -> Result<Vec<(String, String)>, DbError> {
    #[derive(Deserialize)]
    struct Row {
        kalshi_ticker: String,
        polymarket_condition_id: String,
    }
    Ok(db
        .all::<Row>(KNOWN, &[])
        .await?
        .into_iter()
        .map(|r| (r.kalshi_ticker, r.polymarket_condition_id))
        .collect())
}

/// An active market as discovery reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct ListingRow {
    pub market_id: String,
    pub title: String,
    pub close_time: String,
}

/// The `limit` most recently listed or changed active markets of `venue` (ingestion bumps
/// `updated_at` only when a market's evidence changes), newest first.
pub async fn listings(db: &Db, venue: &str, limit: i64) -> Result<Vec<ListingRow>, DbError> {
    db.all::<ListingRow>(LISTINGS, &[Param::Text(venue), Param::Int(limit)])
        .await
}

/// The stored row of market `market_id` on `venue` (`kalshi` or `polymarket`).
pub async fn market(db: &Db, venue: &str, market_id: &str) -> Result<Option<MarketRow>, DbError> {
    db.first::<MarketRow>(MARKET, &[Param::Text(venue), Param::Text(market_id)])
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_statements_pass_the_d1_gate() {
        use crate::core::sql_guard::check_bound;
        for (sql, n) in [
            (super::INSERT, 6),
            (super::GET, 1),
            (super::LIST, 2),
            (super::UPDATE, 5),
            (super::MARKET, 2),
            (super::KNOWN, 0),
            (super::LISTINGS, 2),
        ] {
            check_bound(sql, n).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
}
