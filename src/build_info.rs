//! What was built: crate version and the git state baked in by `scripts/build-worker.sh`.

use serde_json::{json, Value};

pub const CRATE_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Git commit at build time (`unknown` outside the build script).
pub const GIT_COMMIT: &str = match option_env!("PAULP_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};
/// `true` when the work tree had uncommitted changes at build time.
pub const GIT_DIRTY: &str = match option_env!("PAULP_GIT_DIRTY") {
    Some(d) => d,
    None => "unknown",
};
/// Build time, RFC 3339.
pub const BUILT_AT: &str = match option_env!("PAULP_BUILT_AT") {
    Some(t) => t,
    None => "unknown",
};

pub fn version() -> Value {
    json!({
        "crate": CRATE_VERSION,
        "git_commit": GIT_COMMIT,
        "git_dirty": GIT_DIRTY,
        "built_at": BUILT_AT,
    })
}
