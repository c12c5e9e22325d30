//! The write-ahead audit port. Every decision that changes money or control state is appended
//! here *before* its effect is committed; when [`append`] fails, the caller must not act.
//!
//! It talks to the single `AuditLog` Durable Object (`AUDIT_LOG`, name `audit`), which assigns
//! the sequence numbers.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{Env, Method, Request, RequestInit};

/// One event to append. `at` and `seq` are assigned by the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub actor: String,
    pub kind: String,
    pub payload: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_hash: Option<String>,
}

/// Proof that a record was durably appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReceipt {
    pub seq: u64,
    pub leaf_hash: String,
    pub chain_hash: String,
}

/// The log could not confirm the append; the action must not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditUnavailable {
    pub detail: String,
}

impl AuditUnavailable {
    pub const CODE: &'static str = "AUDIT_UNAVAILABLE";
}

#[derive(Serialize)]
struct AppendRequest<'a> {
    records: &'a [AuditRecord],
}

#[derive(Deserialize)]
struct AppendResponse {
    receipts: Vec<AuditReceipt>,
}

/// Appends `records` in order, atomically: all get receipts or none is appended.
pub async fn append(
    env: &Env,
    records: Vec<AuditRecord>,
) -> Result<Vec<AuditReceipt>, AuditUnavailable> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let fail = |detail: String| AuditUnavailable { detail };
    let body = serde_json::to_string(&AppendRequest { records: &records })
        .map_err(|e| fail(e.to_string()))?;
    let namespace = env
        .durable_object("AUDIT_LOG")
        .map_err(|e| fail(e.to_string()))?;
    let stub = namespace
        .id_from_name("audit")
        .and_then(|id| id.get_stub())
        .map_err(|e| fail(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req =
        Request::new_with_init("https://audit/append", &init).map_err(|e| fail(e.to_string()))?;
    let mut resp = stub
        .fetch_with_request(req)
        .await
        .map_err(|e| fail(e.to_string()))?;
    if resp.status_code() != 200 {
        return Err(fail(format!("audit log answered {}", resp.status_code())));
    }
    let parsed: AppendResponse = resp.json().await.map_err(|e| fail(e.to_string()))?;
    if parsed.receipts.len() != records.len() {
        return Err(fail("receipt count does not match".into()));
    }
    Ok(parsed.receipts)
}
