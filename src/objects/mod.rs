//! Durable Objects: thin shells that load state, call `core`, persist.

pub mod audit_log;
pub mod risk_governor;
