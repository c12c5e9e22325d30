//! Pure domain logic. Nothing in here imports `worker`: every decision is a function of explicit
//! inputs (including `now`), tested natively on the host.

pub mod audit;
pub mod auth;
pub mod breaker;
pub mod money;
pub mod outbound;
pub mod redact;
pub mod risk;
pub mod sql_guard;
