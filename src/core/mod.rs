//! Pure domain logic. Nothing in here imports `worker`: every decision is a function of explicit
//! inputs (including `now`), tested natively on the host.

pub mod audit;
pub mod auth;
pub mod breaker;
pub mod compliance;
pub mod evidence;
pub mod ingest;
pub mod money;
pub mod outbound;
pub mod redact;
pub mod risk;
pub mod run_audit;
pub mod sql_guard;
pub mod time;
