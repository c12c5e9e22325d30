//! Storage adapters: the Durable Object's SQLite tables, D1 and R2, each behind the narrow
//! interface its callers need. Pure logic never sees these types.

pub mod anchors;
pub mod audit_r2;
pub mod audit_sql;
pub mod runs;
