//! The fault layer shared by every venue: rules installed through `/__sim/faults` that make
//! matching requests fail in a chosen way instead of (or before) being served normally.

use serde::Deserialize;
use serde_json::{json, Value};

/// How a fault's `path` is compared with the request path (the query string never matters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MatchMode {
    Exact,
    #[default]
    Prefix,
}

/// What happens to a request a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer `status` (default 500) with `body` or the venue's error body.
    Status,
    /// Answer 200 with bytes that are not JSON.
    Garbage,
    /// Serve the real response with its body cut to half its length.
    Truncated,
    /// Sleep `delay_ms`, then serve normally.
    Delay,
    /// Answer 429 with `body` or the venue's rate-limit body.
    RateLimit,
    /// Close the connection without answering.
    Drop,
    /// Serve the request twice and answer with the second response: a request the venue
    /// handled that a proxy or connection retry sent again (an order create answers 409,
    /// its client order id already taken by the first).
    Replay,
}

impl FaultKind {
    fn name(self) -> &'static str {
        match self {
            FaultKind::Status => "status",
            FaultKind::Garbage => "garbage",
            FaultKind::Truncated => "truncated",
            FaultKind::Delay => "delay",
            FaultKind::RateLimit => "rate_limit",
            FaultKind::Drop => "drop",
            FaultKind::Replay => "replay",
        }
    }
}

/// The body of `POST /__sim/faults`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub method: Option<String>,
    pub path: String,
    #[serde(rename = "match", default)]
    pub match_mode: MatchMode,
    pub status: Option<u16>,
    pub body: Option<String>,
    pub kind: Option<FaultKind>,
    pub delay_ms: Option<u64>,
    pub times: Option<u64>,
    pub after: Option<u64>,
}

/// An installed fault and its counters.
#[derive(Debug, Clone)]
pub struct Fault {
    pub id: u64,
    method: Option<String>,
    path: String,
    match_mode: MatchMode,
    pub kind: FaultKind,
    pub status: Option<u16>,
    pub body: Option<String>,
    pub delay_ms: u64,
    times: Option<u64>,
    after: u64,
    /// Requests that reached this rule and matched it.
    matched: u64,
    /// Requests this rule was applied to.
    applied: u64,
}

impl Fault {
    fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .map(|m| m.eq_ignore_ascii_case(method))
            .unwrap_or(true);
        let path_ok = match self.match_mode {
            MatchMode::Exact => path == self.path,
            MatchMode::Prefix => path.starts_with(&self.path),
        };
        method_ok && path_ok
    }

    fn exhausted(&self) -> bool {
        self.times.map(|t| self.applied >= t).unwrap_or(false)
    }

    /// The listing form served by `GET /__sim/faults`.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "match": match self.match_mode { MatchMode::Exact => "exact", MatchMode::Prefix => "prefix" },
            "kind": self.kind.name(),
            "status": self.status,
            "body": self.body,
            "delay_ms": self.delay_ms,
            "times": self.times,
            "after": self.after,
            "matched": self.matched,
            "applied": self.applied,
            "remaining": self.times.map(|t| t.saturating_sub(self.applied)),
        })
    }
}

/// The installed faults, evaluated in installation order.
#[derive(Debug, Default)]
pub struct FaultTable {
    next_id: u64,
    faults: Vec<Fault>,
}

impl FaultTable {
    /// Validates and installs a rule, returning its id.
    pub fn add(&mut self, spec: FaultSpec) -> Result<u64, String> {
        if !spec.path.starts_with('/') {
            return Err("path must start with '/'".into());
        }
        if spec.path.starts_with("/__sim") {
            return Err("the control API cannot be faulted".into());
        }
        let kind = match (spec.kind, spec.status, spec.delay_ms) {
            (Some(kind), _, _) => kind,
            (None, Some(_), _) => FaultKind::Status,
            (None, None, Some(_)) => FaultKind::Delay,
            (None, None, None) => return Err("give a kind, or a status, or a delay_ms".into()),
        };
        if spec.status.is_some() && kind != FaultKind::Status {
            return Err(format!(
                "status applies only to kind=status, not {}",
                kind.name()
            ));
        }
        if let Some(status) = spec.status {
            if !(200..=599).contains(&status) {
                return Err("status must be within 200..=599".into());
            }
        }
        if spec.body.is_some()
            && !matches!(
                kind,
                FaultKind::Status | FaultKind::Garbage | FaultKind::RateLimit
            )
        {
            return Err(format!("body does not apply to kind={}", kind.name()));
        }
        if kind == FaultKind::Delay && spec.delay_ms.is_none() {
            return Err("kind=delay needs delay_ms".into());
        }
        if spec.times == Some(0) {
            return Err("times must be at least 1 (omit it for unlimited)".into());
        }
        let method = match spec.method {
            Some(m) if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) => {
                return Err("method must be an HTTP method name".into())
            }
            other => other.map(|m| m.to_ascii_uppercase()),
        };
        self.next_id += 1;
        let id = self.next_id;
        self.faults.push(Fault {
            id,
            method,
            path: spec.path,
            match_mode: spec.match_mode,
            kind,
            status: spec.status,
            body: spec.body,
            delay_ms: spec.delay_ms.unwrap_or(0),
            times: spec.times,
            after: spec.after.unwrap_or(0),
            matched: 0,
            applied: 0,
        });
        Ok(id)
    }

    /// Picks the fault to apply to a request, if any, and updates the counters. Rules are
    /// tried in order; a rule that matches counts the request, lets the first `after` matches
    /// through, and stops applying once it was applied `times` times. The first rule that
    /// applies wins; a rule only sees requests no earlier rule took.
    pub fn take(&mut self, method: &str, path: &str) -> Option<Fault> {
        for fault in self.faults.iter_mut() {
            if !fault.matches(method, path) || fault.exhausted() {
                continue;
            }
            fault.matched += 1;
            if fault.matched <= fault.after {
                continue;
            }
            fault.applied += 1;
            return Some(fault.clone());
        }
        None
    }

    pub fn list(&self) -> Vec<Value> {
        self.faults.iter().map(Fault::to_json).collect()
    }

    /// Removes every rule; returns how many there were. Ids are never reused.
    pub fn clear(&mut self) -> usize {
        let n = self.faults.len();
        self.faults.clear();
        n
    }

    /// Removes one rule; false if no rule has that id.
    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.faults.len();
        self.faults.retain(|f| f.id != id);
        self.faults.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: Value) -> FaultSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn after_skips_then_times_limits() {
        let mut table = FaultTable::default();
        let id = table
            .add(spec(
                json!({"path": "/a", "status": 500, "after": 1, "times": 2}),
            ))
            .unwrap();
        assert!(table.take("GET", "/a").is_none());
        assert_eq!(table.take("GET", "/a/b").map(|f| f.id), Some(id));
        assert_eq!(table.take("GET", "/a").map(|f| f.id), Some(id));
        assert!(table.take("GET", "/a").is_none());
    }

    #[test]
    fn exact_match_and_method_filter() {
        let mut table = FaultTable::default();
        table
            .add(spec(
                json!({"method": "post", "path": "/a", "match": "exact", "kind": "drop"}),
            ))
            .unwrap();
        assert!(table.take("GET", "/a").is_none());
        assert!(table.take("POST", "/a/b").is_none());
        assert_eq!(
            table.take("POST", "/a").map(|f| f.kind),
            Some(FaultKind::Drop)
        );
    }

    #[test]
    fn first_applicable_rule_wins_and_exhausted_rules_pass_through() {
        let mut table = FaultTable::default();
        let first = table
            .add(spec(json!({"path": "/", "kind": "rate_limit", "times": 1})))
            .unwrap();
        let second = table
            .add(spec(json!({"path": "/", "kind": "garbage"})))
            .unwrap();
        assert_eq!(table.take("GET", "/x").map(|f| f.id), Some(first));
        assert_eq!(table.take("GET", "/x").map(|f| f.id), Some(second));
        assert!(table.remove(second));
        assert!(!table.remove(second));
        assert!(table.take("GET", "/x").is_none());
    }

    #[test]
    fn rejects_inconsistent_specs() {
        let mut table = FaultTable::default();
        for bad in [
            json!({"path": "a", "status": 500}),
            json!({"path": "/a"}),
            json!({"path": "/a", "kind": "drop", "status": 500}),
            json!({"path": "/a", "kind": "delay"}),
            json!({"path": "/a", "kind": "truncated", "body": "x"}),
            json!({"path": "/a", "status": 99}),
            json!({"path": "/a", "status": 500, "times": 0}),
            json!({"path": "/__sim/faults", "status": 500}),
        ] {
            assert!(table.add(spec(bad.clone())).is_err(), "{bad}");
        }
        assert!(
            serde_json::from_value::<FaultSpec>(json!({"path": "/a", "kind": "nope"})).is_err()
        );
        assert!(serde_json::from_value::<FaultSpec>(json!({"path": "/a", "extra": 1})).is_err());
    }
}
