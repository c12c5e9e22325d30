//! DB `approvals` (`migrations/0008_governance.sql`): two-person approval requests, stored whole
//! as the JSON of [`Approval`]. Every decision is a compare-and-swap on the status read, so two
//! approvers racing cannot both claim a request.

use crate::core::approvals::{Approval, ApprovalStatus, StatusFilter};
use crate::store::d1::{Db, DbError, Param};
use serde::Deserialize;

const INSERT: &str = "INSERT INTO approvals (id, action, params_hash, status, requested_by, \
     requested_at_ms, expires_at_ms, body, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?6)";
const GET: &str = "SELECT body FROM approvals WHERE id = ?";
const LIST: &str = "SELECT body FROM approvals WHERE (?1 IS NULL OR status = ?1) \
     AND (?2 IS NULL OR expires_at_ms > ?2) AND (?3 IS NULL OR expires_at_ms <= ?3) \
     ORDER BY requested_at_ms DESC, id LIMIT ?4";
const UPDATE: &str = "UPDATE approvals SET status = ?1, body = ?2, updated_at_ms = ?3 \
     WHERE id = ?4 AND status = ?5";

#[derive(Deserialize)]
struct BodyRow {
    body: String,
}

fn decode(row: BodyRow) -> Result<Approval, DbError> {
    serde_json::from_str(&row.body).map_err(|e| DbError::Failed {
        message: format!("approvals.body: {e}"),
    })
}

fn encode(a: &Approval) -> Result<String, DbError> {
    serde_json::to_string(a).map_err(|e| DbError::Failed {
        message: format!("approvals.body: {e}"),
    })
}

pub async fn insert(db: &Db, a: &Approval) -> Result<(), DbError> {
    let body = encode(a)?;
    db.run(
        INSERT,
        &[
            Param::Text(&a.id),
            Param::Text(a.action.as_str()),
            Param::Text(&a.params_hash),
            Param::Text(a.status.as_str()),
            Param::Text(&a.requested_by),
            Param::Int(a.requested_at_ms),
            Param::Int(a.expires_at_ms),
            Param::Text(&body),
        ],
    )
    .await?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Approval>, DbError> {
    db.first::<BodyRow>(GET, &[Param::Text(id)])
        .await?
        .map(decode)
        .transpose()
}

/// Newest first, optionally filtered (`pending` = not expired, `expired` = pending past expiry).
pub async fn list(
    db: &Db,
    filter: Option<StatusFilter>,
    now_ms: i64,
    limit: i64,
) -> Result<Vec<Approval>, DbError> {
    let pending = ApprovalStatus::Pending.as_str();
    let (status, alive_at, expired_at) = match filter {
        None => (None, None, None),
        Some(StatusFilter::Stored(s)) => (Some(s.as_str()), None, None),
        Some(StatusFilter::Open) => (Some(pending), Some(now_ms), None),
        Some(StatusFilter::Expired) => (Some(pending), None, Some(now_ms)),
    };
    let opt_int = |v: Option<i64>| v.map(Param::Int).unwrap_or(Param::Null);
    db.all::<BodyRow>(
        LIST,
        &[
            crate::store::opt_text(status),
            opt_int(alive_at),
            opt_int(expired_at),
            Param::Int(limit),
        ],
    )
    .await?
    .into_iter()
    .map(decode)
    .collect()
}

/// Stores `next` if the stored request still has status `expected`; `false` if it moved on.
pub async fn update(
    db: &Db,
    next: &Approval,
    expected: ApprovalStatus,
    now_ms: i64,
) -> Result<bool, DbError> {
    let body = encode(next)?;
    let changed = db
        .run(
            UPDATE,
            &[
                Param::Text(next.status.as_str()),
                Param::Text(&body),
                Param::Int(now_ms),
                Param::Text(&next.id),
                Param::Text(expected.as_str()),
            ],
        )
        .await?;
    Ok(changed > 0)
}
