//! Structured JSON logs: one line per event, with the request id, secrets scrubbed.

use crate::core::redact::Redactor;
use serde_json::{Map, Value};

/// Severity of a log line.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Writes log lines for one request or job. Every line carries `request_id` and is passed
/// through the redactor built from the configured secret values.
#[derive(Debug, Clone)]
pub struct Logger {
    request_id: String,
    redactor: Redactor,
}

impl Logger {
    pub fn new(request_id: impl Into<String>, redactor: Redactor) -> Self {
        Logger {
            request_id: request_id.into(),
            redactor,
        }
    }

    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Renders a line; public so tests can check what would be written.
    pub fn render(&self, level: Level, event: &str, fields: Value, at_ms: f64) -> String {
        let mut line = Map::new();
        line.insert("level".into(), Value::from(level.as_str()));
        line.insert("event".into(), Value::from(event));
        line.insert("request_id".into(), Value::from(self.request_id.as_str()));
        line.insert("at_ms".into(), Value::from(at_ms as i64));
        if let Value::Object(map) = fields {
            for (k, v) in map {
                line.entry(k).or_insert(v);
            }
        }
        let mut value = Value::Object(line);
        self.redactor.json(&mut value);
        value.to_string()
    }

    pub fn log(&self, level: Level, event: &str, fields: Value) {
        let line = self.render(level, event, fields, now_ms());
        emit(level, &line);
    }

    pub fn info(&self, event: &str, fields: Value) {
        self.log(Level::Info, event, fields)
    }

    pub fn warn(&self, event: &str, fields: Value) {
        self.log(Level::Warn, event, fields)
    }

    pub fn error(&self, event: &str, fields: Value) {
        self.log(Level::Error, event, fields)
    }
}

#[cfg(target_arch = "wasm32")]
fn now_ms() -> f64 {
    js_sys::Date::now()
}

#[cfg(not(target_arch = "wasm32"))]
fn now_ms() -> f64 {
    0.0
}

#[cfg(target_arch = "wasm32")]
fn emit(level: Level, line: &str) {
    match level {
        Level::Error => worker::console_error!("{line}"),
        Level::Warn => worker::console_warn!("{line}"),
        Level::Info => worker::console_log!("{line}"),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn emit(_level: Level, line: &str) {
    eprintln!("{line}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_carry_request_id_and_never_a_configured_secret() {
        let logger = Logger::new(
            "req-1",
            Redactor::new(["a-very-secret-token-value".to_string()]),
        );
        let line = logger.render(
            Level::Warn,
            "auth_failed",
            json!({"detail": "saw a-very-secret-token-value", "authorization": "Bearer x"}),
            5.0,
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["request_id"], "req-1");
        assert_eq!(v["event"], "auth_failed");
        assert_eq!(v["level"], "warn");
        assert!(!line.contains("a-very-secret-token-value"));
        assert_eq!(v["authorization"], "[REDACTED]");
    }
}
