//! The strategy changes two operators approve (`strategies`, `migrations/0004_trading.sql`):
//! go-live, live execution, a larger capital allocation. Each is a compare-and-swap on what the
//! approval was requested against, so a strategy that changed in between is not touched.

use crate::store::d1::{Db, DbError, Param};
use serde::Deserialize;

const GET: &str = "SELECT id, mode, capital_allocation_usd_micros FROM strategies WHERE id = ?";
const GO_LIVE: &str = "UPDATE strategies SET mode = 'live', capital_allocation_usd_micros = ?1, \
     updated_by = ?2, updated_at = ?3 WHERE id = ?4 AND mode = ?5 \
     AND capital_allocation_usd_micros = ?6";
const SET_CAPITAL: &str = "UPDATE strategies SET capital_allocation_usd_micros = ?1, \
     updated_by = ?2, updated_at = ?3 WHERE id = ?4 AND capital_allocation_usd_micros = ?5";

/// A strategy's mode and allocation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StrategyRow {
    pub id: String,
    pub mode: String,
    pub capital_allocation_usd_micros: i64,
}

pub async fn strategy(db: &Db, id: &str) -> Result<Option<StrategyRow>, DbError> {
    db.first::<StrategyRow>(GET, &[Param::Text(id)]).await
}

/// Sets `live` with `capital` if the strategy still has `expected` mode and allocation.
pub async fn go_live(
    db: &Db,
    expected: &StrategyRow,
    capital_micros: i64,
    actor: &str,
    now: &str,
) -> Result<bool, DbError> {
    let changed = db
        .run(
            GO_LIVE,
            &[
                Param::Int(capital_micros),
                Param::Text(actor),
                Param::Text(now),
                Param::Text(&expected.id),
                Param::Text(&expected.mode),
                Param::Int(expected.capital_allocation_usd_micros),
            ],
        )
        .await?;
    Ok(changed > 0)
}

/// Sets the allocation if it is still `expected`'s.
pub async fn set_capital(
    db: &Db,
    expected: &StrategyRow,
    capital_micros: i64,
    actor: &str,
    now: &str,
) -> Result<bool, DbError> {
    let changed = db
        .run(
            SET_CAPITAL,
            &[
                Param::Int(capital_micros),
                Param::Text(actor),
                Param::Text(now),
                Param::Text(&expected.id),
                Param::Int(expected.capital_allocation_usd_micros),
            ],
        )
        .await?;
    Ok(changed > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_passes_the_d1_gate_with_its_parameter_count() {
        for (sql, bound) in [(GET, 1), (GO_LIVE, 6), (SET_CAPITAL, 5)] {
            if let Err(e) = crate::core::sql_guard::check_bound(sql, bound) {
                panic!("{e}: {sql}");
            }
        }
    }
}
