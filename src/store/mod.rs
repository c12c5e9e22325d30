//! Adapters to the Worker's storage bindings. `d1` is the one gate every D1 statement passes;
//! the others speak for one area each (evidence, compliance, market data, runs) through it.

pub mod anchors;
pub mod audit_r2;
pub mod audit_sql;
pub mod compliance;
pub mod d1;
pub mod evidence;
pub mod market_data;
pub mod pairs;
pub mod runs;

use d1::Param;

/// `Param::Text` of a present value, `Param::Null` of an absent one.
pub(crate) fn opt_text(v: Option<&str>) -> Param<'_> {
    v.map(Param::Text).unwrap_or(Param::Null)
}
