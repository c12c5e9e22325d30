//! Redaction for anything that leaves the Worker as text (logs, artifacts): configured secret
//! values are replaced wherever they appear, and fields whose names say "secret" are masked.

use serde_json::Value;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Secret values shorter than this are not searched for: replacing every "1" in a log would
/// destroy it while protecting nothing (such short secrets are refused by configuration checks).
pub const MIN_SECRET_LEN: usize = 8;

/// Field names whose values are always masked, whatever they hold.
const SENSITIVE_KEYS: &[&str] = &[
    "authorization",
    "cookie",
    "cf-access-jwt-assertion",
    "token",
    "secret",
    "password",
    "private_key",
    "api_key",
    "x-api-key",
    "signature",
    "kalshi-access-signature",
    "kalshi-access-key",
];

fn is_sensitive_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    SENSITIVE_KEYS.iter().any(|k| {
        lower == *k || lower.ends_with(&format!("_{k}")) || lower.ends_with(&format!("-{k}"))
    })
}

/// A set of secret values to scrub.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Keeps the values long enough to be worth scrubbing, longest first so that a secret that
    /// contains another is replaced whole.
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// Replaces every configured secret in `text`.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }

    /// Redacts a JSON value in place: sensitive keys are masked, every string is scrubbed.
    pub fn json(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                let scrubbed = self.text(s);
                if scrubbed != *s {
                    *s = scrubbed;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.json(v)),
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if is_sensitive_key(k) && !v.is_null() {
                        *v = Value::String(REDACTED.to_string());
                    } else {
                        self.json(v);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configured_secrets_are_scrubbed_from_text_and_json() {
        let r = Redactor::new(["s3cr3t-value-123".to_string(), "short".to_string()]);
        assert_eq!(r.text("a s3cr3t-value-123 b"), "a [REDACTED] b");
        // Short values are not treated as secrets.
        assert_eq!(r.text("short"), "short");
        let mut v = json!({"msg": "x s3cr3t-value-123", "list": ["s3cr3t-value-123"], "n": 1});
        r.json(&mut v);
        assert_eq!(
            v,
            json!({"msg": "x [REDACTED]", "list": ["[REDACTED]"], "n": 1})
        );
    }

    #[test]
    fn sensitive_field_names_are_masked_whatever_they_hold() {
        let r = Redactor::default();
        let mut v = json!({"Authorization": "Bearer abc", "kalshi_private_key": "x",
                           "nested": {"api_key": 5}, "tokens_total": 3, "keep": "ok"});
        r.json(&mut v);
        assert_eq!(v["Authorization"], REDACTED);
        assert_eq!(v["kalshi_private_key"], REDACTED);
        assert_eq!(v["nested"]["api_key"], REDACTED);
        assert_eq!(v["tokens_total"], 3);
        assert_eq!(v["keep"], "ok");
    }

    #[test]
    fn a_secret_containing_another_is_replaced_whole() {
        let r = Redactor::new(["abcdefgh".to_string(), "abcdefgh-ijkl".to_string()]);
        assert_eq!(r.text("abcdefgh-ijkl"), REDACTED);
    }
}
