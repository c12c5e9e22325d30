//! Venue simulator for Paul P: speaks Kalshi Trade API v2 (market data, and signed orders and
//! portfolio with book matching), Polymarket Gamma and CLOB, Anthropic Messages and Cloudflare
//! Access certs over HTTP on 127.0.0.1, from the recorded payloads in the shared fixtures, with
//! a control API for fault injection, settlement, grades and request inspection.
//!
//! Host-only: the Worker never links this crate; it reaches the simulator through its
//! base-URL variables.

pub mod chaos;
pub mod config;
pub mod control;
pub mod decimal;
pub mod faults;
pub mod fixtures;
pub mod http;
pub mod paging;
pub mod request_log;
pub mod rng;
pub mod server;
pub mod template;
pub mod venues;

pub use config::Config;
pub use server::{start, RunningSim};
