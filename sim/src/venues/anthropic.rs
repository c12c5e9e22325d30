//! Anthropic Messages API: `POST /anthropic/v1/messages`, answering in the recorded response
//! shape (`{content:[{type:"text",text}],id,model,role,stop_reason,stop_sequence,type,usage}`).
//!
//! The answer is chosen per pair by the test through `PUT /__sim/anthropic/grades`, a JSON
//! object from *key* to *rule*. A key matches a request when the request's prompt text (its
//! `system` and every message's text) contains it; the Worker's pair prompt carries the line
//! `Pair key: <kalshi_ticker>|<condition_id>`, so `"<kalshi_ticker>|<condition_id>"` picks one
//! pair, and any other substring works too. Longer keys are tried first (then in sorted
//! order), so a specific key beats a general one. A rule is one of:
//! - a grade string (`"identical"`, `"near_equivalent"`, `"similar_but_divergent"`,
//!   `"not_equivalent"`): the text `{"grade":…,"rationale":…}` with `stop_reason: end_turn`;
//! - `{"grade": "...", "rationale": "..."}`: the same with that rationale;
//! - `{"text": "...", "stop_reason": "..."}`: exactly that text and stop reason (malformed or
//!   truncated answers);
//! - `{"error": {"status": 529, "type": "overloaded_error", "message": "..."}}`: an error in the
//!   recorded error layout (`{"type":"error","error":{type,message},"request_id"}`); a 429
//!   carries `retry-after: 1`.
//!
//! A prompt no key matches is graded `not_equivalent`: an unconfigured simulator never lets
//! a pair through.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::http::{Request, Response};

pub const PREFIX: &str = "/anthropic";
const MESSAGES: &str = "/anthropic/v1/messages";
const GRADES: [&str; 4] = [
    "identical",
    "near_equivalent",
    "similar_but_divergent",
    "not_equivalent",
];

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Text {
        text: String,
        stop_reason: String,
    },
    Error {
        status: u16,
        kind: String,
        message: String,
    },
}

fn graded(grade: &str, rationale: &str) -> Rule {
    Rule::Text {
        text: json!({"grade": grade, "rationale": rationale}).to_string(),
        stop_reason: "end_turn".into(),
    }
}

fn parse_rule(key: &str, value: &Value) -> Result<Rule, String> {
    let check_grade = |g: &str| {
        if GRADES.contains(&g) {
            Ok(())
        } else {
            Err(format!(
                "{key}: unknown grade {g:?} (use {})",
                GRADES.join(", ")
            ))
        }
    };
    match value {
        Value::String(g) => {
            check_grade(g)?;
            Ok(graded(g, &format!("venue-sim: configured grade for {key}")))
        }
        Value::Object(o) => {
            if let Some(e) = o.get("error") {
                let status = e.get("status").and_then(Value::as_u64).unwrap_or(500);
                if !(400..=599).contains(&status) {
                    return Err(format!("{key}: error status must be 400..=599"));
                }
                let kind = e
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| error_type(status as u16))
                    .to_string();
                let message = e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("injected by venue-sim")
                    .to_string();
                return Ok(Rule::Error {
                    status: status as u16,
                    kind,
                    message,
                });
            }
            if let Some(text) = o.get("text").and_then(Value::as_str) {
                let stop_reason = o
                    .get("stop_reason")
                    .and_then(Value::as_str)
                    .unwrap_or("end_turn")
                    .to_string();
                return Ok(Rule::Text {
                    text: text.to_string(),
                    stop_reason,
                });
            }
            let grade = o
                .get("grade")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{key}: give a grade, a text or an error"))?;
            check_grade(grade)?;
            let rationale = o
                .get("rationale")
                .and_then(Value::as_str)
                .unwrap_or("venue-sim: configured grade");
            Ok(graded(grade, rationale))
        }
        _ => Err(format!("{key}: a rule is a grade string or an object")),
    }
}

/// The `error.type` the API uses for a status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

/// An error in the recorded layout.
pub fn error(status: u16, kind: &str, message: &str, request_id: u64) -> Response {
    let mut resp = Response::json(
        status,
        &json!({
            "error": {"message": message, "type": kind},
            "request_id": format!("req_sim_{request_id:020}"),
            "type": "error",
        }),
    );
    if status == 429 {
        resp.headers.push(("retry-after".into(), "1".into()));
    }
    resp
}

#[derive(Default)]
pub struct Anthropic {
    rules: Mutex<BTreeMap<String, Rule>>,
    seq: AtomicU64,
}

impl Anthropic {
    /// Replaces the rules with `body` (a JSON object); returns how many there are.
    pub fn install(&self, body: &[u8]) -> Result<usize, String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
        let Value::Object(map) = value else {
            return Err("grades are a JSON object from key to rule".into());
        };
        let mut rules = BTreeMap::new();
        for (key, v) in &map {
            if key.is_empty() {
                return Err("an empty key would match every prompt".into());
            }
            rules.insert(key.clone(), parse_rule(key, v)?);
        }
        let n = rules.len();
        *self.rules.lock().expect("rules lock") = rules;
        Ok(n)
    }

    pub fn clear(&self) -> usize {
        let mut rules = self.rules.lock().expect("rules lock");
        let n = rules.len();
        rules.clear();
        n
    }

    pub fn keys(&self) -> Vec<String> {
        self.rules
            .lock()
            .expect("rules lock")
            .keys()
            .cloned()
            .collect()
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Answers a request under [`PREFIX`]; `None` when no simulated route matches.
    pub fn handle(&self, req: &Request) -> Option<Response> {
        if req.path != MESSAGES {
            return None;
        }
        let seq = self.next_seq();
        if req.method != "POST" {
            return Some(error(
                405,
                "invalid_request_error",
                "method not allowed",
                seq,
            ));
        }
        if req.header("x-api-key").is_none_or(str::is_empty) {
            return Some(error(
                401,
                "authentication_error",
                "x-api-key header is required",
                seq,
            ));
        }
        if req.header("anthropic-version").is_none_or(str::is_empty) {
            return Some(error(
                400,
                "invalid_request_error",
                "anthropic-version: header is required",
                seq,
            ));
        }
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
            return Some(error(
                400,
                "invalid_request_error",
                "request body is not a JSON object",
                seq,
            ));
        };
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty());
        let max_tokens = body
            .get("max_tokens")
            .and_then(Value::as_u64)
            .filter(|&n| n > 0);
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .filter(|m| !m.is_empty());
        let (Some(model), Some(_), Some(messages)) = (model, max_tokens, messages) else {
            return Some(error(
                400,
                "invalid_request_error",
                "model, max_tokens and messages are required",
                seq,
            ));
        };
        let mut prompt = text_of(body.get("system"));
        for m in messages {
            prompt.push('\n');
            prompt.push_str(&text_of(m.get("content")));
        }
        let rule = {
            let rules = self.rules.lock().expect("rules lock");
            let mut keys: Vec<&String> = rules.keys().collect();
            keys.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
            keys.into_iter()
                .find(|k| prompt.contains(k.as_str()))
                .map(|k| rules[k].clone())
        }
        .unwrap_or_else(|| {
            graded(
                "not_equivalent",
                "venue-sim: no grade configured for this prompt",
            )
        });
        Some(match rule {
            Rule::Error {
                status,
                kind,
                message,
            } => error(status, &kind, &message, seq),
            Rule::Text { text, stop_reason } => Response::json(
                200,
                &json!({
                    "content": [{"text": text, "type": "text"}],
                    "id": format!("msg_sim_{seq:020}"),
                    "model": model,
                    "role": "assistant",
                    "stop_reason": stop_reason,
                    "stop_sequence": null,
                    "type": "message",
                    "usage": {
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                        "input_tokens": prompt.len() / 4 + 1,
                        "output_tokens": text.len() / 4 + 1,
                        "service_tier": "standard",
                    },
                }),
            ),
        })
    }
}

/// The text of a `system` or `content` value: a string, or the `text` of each block.
fn text_of(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}
