//! The Worker's clock. Only the shell reads time; `core` receives it as a parameter.

use chrono::{DateTime, Utc};

/// Milliseconds since the Unix epoch.
#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The current time as a UTC timestamp.
pub fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(now_ms()).unwrap_or_default()
}
