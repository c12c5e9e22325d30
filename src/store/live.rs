//! Live-order reads the live execution path needs beyond `store::trading`: the live orders
//! whose outcome is not settled (`submitted`, `unknown`), which block their market and which
//! reconciliation resolves against the venue's order list; and the orders a stopped cycle
//! left behind, which the next cycle recovers (`jobs::cycle`, step `recover_orders`).

use crate::core::orders::OrderRecord;
use crate::store::d1::{Db, DbError};
use serde::Deserialize;

const UNSETTLED_LIVE_ORDERS: &str = "SELECT body FROM orders WHERE mode = 'live' \
     AND state IN ('submitted', 'unknown') ORDER BY created_at, client_order_id";

const INTERRUPTED_ORDERS: &str = "SELECT body, mode FROM orders WHERE run_id <> ?1 \
     AND (state = 'intent' OR (mode = 'paper' AND state = 'submitted')) \
     ORDER BY created_at, client_order_id LIMIT 100";

/// Orders an earlier cycle left behind mid-way (`intent` in any mode, `submitted` in paper),
/// oldest first, with whether each is a paper order.
pub async fn interrupted_orders(
    db: &Db,
    run_id: &str,
) -> Result<Vec<(OrderRecord, bool)>, DbError> {
    #[derive(Deserialize)]
    struct Row {
        body: String,
        mode: String,
    }
    db.all::<Row>(INTERRUPTED_ORDERS, &[crate::store::d1::Param::Text(run_id)])
        .await?
        .into_iter()
        .map(|r| {
            let order = serde_json::from_str(&r.body).map_err(|e| DbError::Failed {
                message: format!("orders.body: {e}"),
            })?;
            Ok((order, r.mode == "paper"))
        })
        .collect()
}

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
        crate::core::sql_guard::check_bound(super::INTERRUPTED_ORDERS, 1).unwrap();
    }
}
