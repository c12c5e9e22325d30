//! The write-ahead audit port, and the Worker's client of the `AuditLog` Durable Object.
//!
//! Contract of [`append`]: an action whose append fails must not happen. Callers append the
//! decision first, check the `Result`, and only then commit its effect; on `Err` they refuse
//! the action with the error's code. A receipt means the events are durably stored in the
//! object (committed and flushed before it answered). The reverse can happen — the object
//! committed but its answer was lost — and then the log holds a decision whose effect never
//! happened, which is visible and harmless; an effect without its record is what the
//! contract rules out.

use crate::core::audit::{Hash32, LeafRecord, NewEvent};
use crate::obs::Logger;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;
use worker::{Env, Headers, Method, Request, RequestInit};

/// The Durable Object binding.
pub const BINDING: &str = "AUDIT_LOG";

/// The name of the one `AuditLog` instance (`id_from_name`).
pub const OBJECT_NAME: &str = "audit";

/// A record to append: what happened, who did it, and the evidence it rests on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Who caused it: operator identity, `cron:<expression>`, `system`.
    pub actor: String,
    /// A stable code: a letter, then letters, digits, `_`, `.`, `-`; at most 64
    /// (`OPERATOR_NOTE`, `AUTH_FAILED`, `risk.breaker_transition`, …).
    pub kind: String,
    /// Kind-specific detail. Numbers must be integers (money is fixed-point).
    pub payload: Value,
    /// SHA-256 (64 hex digits) of the evidence bytes in R2_EVIDENCE, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_hash: Option<String>,
}

/// Proof that a record is in the log: its sequence number, leaf hash and chain hash.
pub type AuditReceipt = LeafRecord;

/// The append did not happen (or cannot be confirmed): the caller's action must not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditUnavailable {
    /// See [`AuditUnavailable::code`].
    pub code: String,
    /// What went wrong, for logs (never a secret).
    pub detail: String,
}

impl AuditUnavailable {
    /// The code of a log that could not be reached or did not confirm.
    pub const CODE: &'static str = "AUDIT_UNAVAILABLE";

    fn new(code: impl Into<String>, detail: impl Into<String>) -> Self {
        AuditUnavailable {
            code: code.into(),
            detail: detail.into(),
        }
    }

    fn unreachable(detail: impl Into<String>) -> Self {
        AuditUnavailable::new(Self::CODE, detail)
    }

    /// Stable code: `AUDIT_UNAVAILABLE` when the log could not be reached or did not confirm,
    /// or the log's own refusal code (`AUDIT_EVENT_MALFORMED`, `AUDIT_CANONICAL_NON_INTEGER`,
    /// `AUDIT_LOG_CORRUPT`, …).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// What went wrong, for logs.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for AuditUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl std::error::Error for AuditUnavailable {}

/// A reply of the object: its status and JSON body.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// The error envelope's code and message, if this is one.
    pub fn error(&self) -> Option<(&str, &str)> {
        let e = self.body.get("error")?;
        Some((
            e.get("code")?.as_str()?,
            e.get("message").and_then(Value::as_str).unwrap_or(""),
        ))
    }
}

/// Calls the object's internal API. `path` includes any query string.
pub(crate) async fn call(
    env: &Env,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Reply, AuditUnavailable> {
    let stub = env
        .durable_object(BINDING)
        .and_then(|ns| ns.get_by_name(OBJECT_NAME))
        .map_err(|e| AuditUnavailable::unreachable(format!("no stub: {e}")))?;
    let headers = Headers::new();
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(body) = body {
        let _ = headers.set("content-type", "application/json");
        init.with_body(Some(body.to_string().into()));
    }
    init.with_headers(headers);
    let request = Request::new_with_init(&format!("https://audit-log.internal{path}"), &init)
        .map_err(|e| AuditUnavailable::unreachable(format!("request: {e}")))?;
    let mut response = stub
        .fetch_with_request(request)
        .await
        .map_err(|e| AuditUnavailable::unreachable(format!("fetch: {e}")))?;
    let status = response.status_code();
    let text = response
        .text()
        .await
        .map_err(|e| AuditUnavailable::unreachable(format!("reply unreadable: {e}")))?;
    let body = serde_json::from_str(&text).map_err(|_| {
        AuditUnavailable::unreachable(format!("reply is not JSON (status {status})"))
    })?;
    Ok(Reply { status, body })
}

fn to_new_events(records: Vec<AuditRecord>) -> Result<Vec<NewEvent>, AuditUnavailable> {
    records
        .into_iter()
        .enumerate()
        .map(|(index, r)| {
            let evidence_hash = r
                .evidence_hash
                .as_deref()
                .map(Hash32::from_hex)
                .transpose()
                .map_err(|e| AuditUnavailable::new(e.code(), format!("record {index}: {e}")))?;
            Ok(NewEvent {
                actor: r.actor,
                kind: r.kind,
                payload: r.payload,
                evidence_hash,
            })
        })
        .collect()
}

/// What the object answers to an append.
#[derive(Deserialize)]
struct AppendReply {
    receipts: Vec<LeafRecord>,
}

/// Appends `records` to the audit log as one atomic batch, in order, with consecutive
/// sequence numbers; returns their receipts once the log has durably stored them. An empty
/// `records` appends nothing and returns no receipts.
///
/// On `Err` nothing may be assumed stored and **the caller's action must not happen**.
pub async fn append(
    env: &Env,
    records: Vec<AuditRecord>,
) -> Result<Vec<AuditReceipt>, AuditUnavailable> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let kinds: Vec<String> = records.iter().map(|r| r.kind.clone()).collect();
    let result = append_inner(env, records).await;
    if let Err(failure) = &result {
        on_append_failure(env, &kinds, failure);
    }
    result
}

async fn append_inner(
    env: &Env,
    records: Vec<AuditRecord>,
) -> Result<Vec<AuditReceipt>, AuditUnavailable> {
    let count = records.len();
    let events = to_new_events(records)?;
    let reply = call(
        env,
        Method::Post,
        "/append",
        Some(&json!({ "records": events })),
    )
    .await?;
    if reply.status != 200 {
        return Err(match reply.error() {
            Some((code, message)) => AuditUnavailable::new(code, message),
            None => AuditUnavailable::unreachable(format!("status {}", reply.status)),
        });
    }
    let parsed: AppendReply = serde_json::from_value(reply.body)
        .map_err(|e| AuditUnavailable::unreachable(format!("reply unreadable: {e}")))?;
    if parsed.receipts.len() != count {
        return Err(AuditUnavailable::unreachable(format!(
            "{} receipts for {count} records",
            parsed.receipts.len()
        )));
    }
    Ok(parsed.receipts)
}

/// Runs whenever an append fails: writes an error line naming the code and the kinds of the
/// records that were refused. (Whoever integrates the risk governor reports the failure to the
/// circuit breaker from here.)
pub fn on_append_failure(env: &Env, kinds: &[String], failure: &AuditUnavailable) {
    let log = Logger::new(crate::ids::random_hex(8), crate::secrets_redactor(env));
    log.error(
        "audit_append_failed",
        json!({
            "code": failure.code(),
            "detail": failure.detail(),
            "kinds": kinds,
            "count": kinds.len(),
        }),
    );
}

/// The log's head: size, Merkle root, chain head, time of the last event.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Head {
    pub size: u64,
    pub root: Hash32,
    pub chain_head: Hash32,
    pub last_at: i64,
}

/// Reads the log's head.
pub async fn head(env: &Env) -> Result<Head, AuditUnavailable> {
    let reply = call(env, Method::Get, "/head", None).await?;
    if reply.status != 200 {
        return Err(match reply.error() {
            Some((code, message)) => AuditUnavailable::new(code, message),
            None => AuditUnavailable::unreachable(format!("status {}", reply.status)),
        });
    }
    serde_json::from_value(reply.body)
        .map_err(|e| AuditUnavailable::unreachable(format!("head unreadable: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(evidence_hash: Option<&str>) -> AuditRecord {
        AuditRecord {
            actor: "system".into(),
            kind: "RISK_REFUSED".into(),
            payload: json!({"order": "o-1"}),
            evidence_hash: evidence_hash.map(String::from),
        }
    }

    #[test]
    fn evidence_hashes_must_be_hex_sha256_before_anything_is_sent() {
        let good = Hash32::sha256(&[b"raw"]).to_hex();
        let events = to_new_events(vec![record(None), record(Some(&good))]).unwrap();
        assert_eq!(events[1].evidence_hash.unwrap().to_hex(), good);
        let err = to_new_events(vec![record(None), record(Some("abc"))]).unwrap_err();
        assert_eq!(err.code(), "AUDIT_HASH_MALFORMED");
        assert!(err.detail().starts_with("record 1:"));
    }

    #[test]
    fn error_replies_expose_their_code() {
        let reply = Reply {
            status: 400,
            body: json!({"error": {"code": "AUDIT_EVENT_MALFORMED", "message": "m", "details": {}}}),
        };
        assert_eq!(reply.error(), Some(("AUDIT_EVENT_MALFORMED", "m")));
        let ok = Reply {
            status: 200,
            body: json!({"receipts": []}),
        };
        assert_eq!(ok.error(), None);
    }
}
