//! Pure domain logic. Nothing in here imports `worker`: every decision is a function of explicit
//! inputs (including `now`), tested natively on the host.

pub mod approvals;
pub mod audit;
pub mod auth;
pub mod breaker;
pub mod checklist;
pub mod compliance;
pub mod evidence;
pub mod gate;
pub mod gate_artifact;
pub mod golive;
pub mod ingest;
pub mod integrity;
pub mod kalshi_http;
pub mod kalshi_sign;
pub mod llm;
pub mod metrics;
pub mod money;
pub mod orders;
pub mod outbound;
pub mod pairs;
pub mod paper;
pub mod prob;
pub mod reconcile;
pub mod redact;
pub mod replay;
pub mod risk;
pub mod rsa_key;
pub mod run_audit;
pub mod secret_patterns;
pub mod settlement;
pub mod sql_guard;
pub mod strategy;
pub mod time;

#[cfg(test)]
pub(crate) mod testkit;
