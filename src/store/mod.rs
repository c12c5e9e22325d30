//! Storage adapters: `d1` is the one gate every D1 statement passes; the Durable Object's SQLite
//! tables, D1 and R2 adapters each sit behind the narrow interface its callers need (evidence,
//! compliance, market data, runs, anchors, the audit log). Pure logic never sees these types.

pub mod anchors;
pub mod approvals;
pub mod audit_r2;
pub mod audit_sql;
pub mod compliance;
pub mod d1;
pub mod evidence;
pub mod gate;
pub mod golive;
pub mod live;
pub mod market_data;
pub mod metrics;
pub mod pairs;
pub mod runs;
pub mod trading;

use d1::Param;

/// `Param::Text` of a present value, `Param::Null` of an absent one.
pub(crate) fn opt_text(v: Option<&str>) -> Param<'_> {
    v.map(Param::Text).unwrap_or(Param::Null)
}
