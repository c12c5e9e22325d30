//! The record of every non-control request, served by `GET /__sim/requests` so tests can
//! prove what the Worker sent (and that a source was never contacted). Credentials are never
//! recorded: for authorization-like headers only their presence is kept.

use serde_json::{json, Value};

use crate::http::Request;

/// Headers whose values are recorded.
const RECORDED_HEADERS: &[&str] = &["user-agent", "accept", "content-type", "anthropic-version"];

/// Headers that carry credentials or signatures: only their presence is recorded.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "kalshi-access-key",
    "kalshi-access-signature",
    "kalshi-access-timestamp",
    "cf-access-jwt-assertion",
    "cf-access-client-id",
    "cf-access-client-secret",
];

/// Oldest entries are discarded beyond this many, so a long `dev.sh` session stays bounded.
const CAPACITY: usize = 50_000;

/// How a request was answered.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `None` when the connection was dropped without an answer.
    pub status: Option<u16>,
    pub response_bytes: usize,
    pub fault_id: Option<u64>,
    /// The failure the seeded schedule (`/__sim/chaos`) chose, if any.
    pub chaos: Option<&'static str>,
    pub duration_ms: u64,
}

#[derive(Debug, Default)]
pub struct RequestLog {
    next_seq: u64,
    entries: Vec<Value>,
    discarded: u64,
}

impl RequestLog {
    /// Records one request and returns its sequence number (1-based, never reused, not reset
    /// by [`RequestLog::clear`]).
    pub fn record(&mut self, request: &Request, ts_ms: u64, outcome: &Outcome) -> u64 {
        self.next_seq += 1;
        let seq = self.next_seq;
        if self.entries.len() == CAPACITY {
            self.entries.remove(0);
            self.discarded += 1;
        }
        self.entries.push(entry_json(seq, request, ts_ms, outcome));
        seq
    }

    /// Entries whose path starts with `path_prefix` (all when `None`), oldest first.
    pub fn snapshot(&self, path_prefix: Option<&str>) -> Value {
        let requests: Vec<&Value> = self
            .entries
            .iter()
            .filter(|e| match path_prefix {
                Some(prefix) => e["path"]
                    .as_str()
                    .map(|p| p.starts_with(prefix))
                    .unwrap_or(false),
                None => true,
            })
            .collect();
        json!({"requests": requests, "discarded": self.discarded})
    }

    /// Forgets all entries; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.entries.len();
        self.entries.clear();
        self.discarded = 0;
        n
    }
}

fn entry_json(seq: u64, request: &Request, ts_ms: u64, outcome: &Outcome) -> Value {
    let mut headers = serde_json::Map::new();
    for name in RECORDED_HEADERS {
        if let Some(value) = request.header(name) {
            headers.insert(name.to_string(), Value::String(value.to_string()));
        }
    }
    let present: Vec<&str> = SECRET_HEADERS
        .iter()
        .copied()
        .filter(|name| request.header(name).is_some())
        .collect();
    json!({
        "seq": seq,
        "ts_ms": ts_ms,
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "headers": headers,
        "auth_headers_present": present,
        "body_bytes": request.body.len(),
        "status": outcome.status,
        "dropped": outcome.status.is_none(),
        "response_bytes": outcome.response_bytes,
        "fault_id": outcome.fault_id,
        "chaos": outcome.chaos,
        "duration_ms": outcome.duration_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_presence_not_value_of_credentials() {
        let mut log = RequestLog::default();
        let mut req = Request::new("GET", "/trade-api/v2/markets?limit=5");
        req.headers
            .push(("kalshi-access-signature".into(), "c2VjcmV0".into()));
        req.headers.push(("user-agent".into(), "paul-p".into()));
        let outcome = Outcome {
            status: Some(200),
            response_bytes: 10,
            fault_id: None,
            chaos: None,
            duration_ms: 1,
        };
        assert_eq!(log.record(&req, 5, &outcome), 1);
        let snap = log.snapshot(None);
        let text = snap.to_string();
        assert!(!text.contains("c2VjcmV0"));
        let entry = &snap["requests"][0];
        assert_eq!(
            entry["auth_headers_present"],
            json!(["kalshi-access-signature"])
        );
        assert_eq!(entry["headers"]["user-agent"], "paul-p");
        assert_eq!(entry["query"], "limit=5");
        assert_eq!(log.snapshot(Some("/gamma"))["requests"], json!([]));
        assert_eq!(log.clear(), 1);
        assert_eq!(log.record(&req, 6, &outcome), 2);
    }
}
