//! Reading the recorded payloads under the fixtures directory. Every file the simulator uses
//! is named by the venue modules; a missing or unreadable one stops start-up with its path.

use std::path::PathBuf;

use serde_json::Value;

/// The fixtures directory.
#[derive(Debug, Clone)]
pub struct Fixtures {
    root: PathBuf,
}

impl Fixtures {
    pub fn new(root: PathBuf) -> Fixtures {
        Fixtures { root }
    }

    /// The raw bytes of `relative`.
    pub fn bytes(&self, relative: &str) -> Result<Vec<u8>, String> {
        let path = self.root.join(relative);
        std::fs::read(&path).map_err(|e| format!("fixture {}: {e}", path.display()))
    }

    /// `relative` parsed as JSON.
    pub fn json(&self, relative: &str) -> Result<Value, String> {
        let bytes = self.bytes(relative)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "fixture {}: not JSON: {e}",
                self.root.join(relative).display()
            )
        })
    }

    /// The array under `key` in `relative` (or the whole file when `key` is `None`).
    pub fn array(&self, relative: &str, key: Option<&str>) -> Result<Vec<Value>, String> {
        let value = self.json(relative)?;
        let inner = match key {
            Some(k) => value.get(k).cloned().unwrap_or(Value::Null),
            None => value,
        };
        match inner {
            Value::Array(items) => Ok(items),
            _ => Err(format!(
                "fixture {}: expected an array{}",
                self.root.join(relative).display(),
                key.map(|k| format!(" under \"{k}\"")).unwrap_or_default()
            )),
        }
    }

    /// The object under `key` in `relative` (or the whole file when `key` is `None`).
    pub fn object(&self, relative: &str, key: Option<&str>) -> Result<Value, String> {
        let value = self.json(relative)?;
        let inner = match key {
            Some(k) => value.get(k).cloned().unwrap_or(Value::Null),
            None => value,
        };
        if inner.is_object() {
            Ok(inner)
        } else {
            Err(format!(
                "fixture {}: expected an object{}",
                self.root.join(relative).display(),
                key.map(|k| format!(" under \"{k}\"")).unwrap_or_default()
            ))
        }
    }
}

/// A string field of a JSON object, or an error naming the field.
pub fn str_field<'a>(value: &'a Value, field: &str) -> Result<&'a str, String> {
    value
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("recorded object lacks string field \"{field}\""))
}
