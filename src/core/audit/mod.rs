//! The tamper-evident audit log, pure parts.
//!
//! - [`canonical`]: RFC 8785 canonical JSON, integers only.
//! - [`hash`]: [`Hash32`], the SHA-256 digest type.
//!
//! Nothing here reads a clock, an environment or storage: times, keys and stored bytes are
//! parameters.

pub mod canonical;
pub mod error;
pub mod hash;

pub use error::AuditError;
pub use hash::Hash32;
