//! Live-order reads the live execution path needs beyond `store::trading`: the live orders
//! whose outcome is not settled (`submitted`, `unknown`), which block their market and which
//! reconciliation resolves against the venue's order list.

use crate::core::orders::OrderRecord;
use crate::store::d1::{Db, DbError};
use serde::Deserialize;

const UNSETTLED_LIVE_ORDERS: &str = "SELECT body FROM orders WHERE mode = 'live' \
     AND state IN ('submitted', 'unknown') ORDER BY created_at, client_order_id";

/// Live orders in `submitted` or `unknown`, oldest first.
pub async fn unsettled_orders(db: &Db) -> Result<Vec<OrderRecord>, DbError> {
    #[derive(Deserialize)]
    struct Row {
        body: String,
    }
    db.all::<Row>(UNSETTLED_LIVE_ORDERS, &[])
        .await?
        .into_iter()
        .map(|r| {
            serde_json::from_str(&r.body).map_err(|e| DbError::Failed {
                message: format!("orders.body: {e}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_statement_passes_the_d1_gate() {
        crate::core::sql_guard::check_bound(super::UNSETTLED_LIVE_ORDERS, 0).unwrap();
    }
}
