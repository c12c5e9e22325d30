//! Paul P: the control plane of an autonomous prediction-market trading system.

pub mod core;
pub mod venues;
