//! DB_ANCHOR: the hourly anchors (signed checkpoints), append-only, in issue order
//! (`migrations/anchor/0001_anchors.sql`).

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::{D1Database, Env, Result};

/// The binding of the anchor database.
pub const BINDING: &str = "DB_ANCHOR";

/// One stored anchor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnchorRow {
    pub id: i64,
    pub hour_bucket: i64,
    pub tree_size: u64,
    pub root: String,
    pub chain_head: String,
    pub prev_anchor: String,
    pub anchor_hash: String,
    pub timestamp_ms: i64,
    pub key_id: String,
    pub note: String,
    pub r2_key: String,
}

/// An anchor to insert.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAnchor {
    pub hour_bucket: i64,
    pub tree_size: u64,
    pub root: String,
    pub chain_head: String,
    pub prev_anchor: String,
    pub anchor_hash: String,
    pub timestamp_ms: i64,
    pub key_id: String,
    pub note: String,
    pub r2_key: String,
}

const COLUMNS: &str = "id, hour_bucket, tree_size, root, chain_head, prev_anchor, anchor_hash, \
                       timestamp_ms, key_id, note, r2_key";

pub fn db(env: &Env) -> Result<D1Database> {
    env.d1(BINDING)
}

/// The newest anchor.
pub async fn latest(db: &D1Database) -> Result<Option<AnchorRow>> {
    db.prepare(format!(
        "SELECT {COLUMNS} FROM anchors ORDER BY id DESC LIMIT 1"
    ))
    .first::<AnchorRow>(None)
    .await
}

/// Number of anchors.
pub async fn count(db: &D1Database) -> Result<u64> {
    Ok(db
        .prepare("SELECT COUNT(*) AS n FROM anchors")
        .first::<u64>(Some("n"))
        .await?
        .unwrap_or(0))
}

/// Whether the hour already has its anchor.
pub async fn exists_for_hour(db: &D1Database, hour_bucket: i64) -> Result<bool> {
    Ok(db
        .prepare("SELECT 1 AS one FROM anchors WHERE hour_bucket = ?")
        .bind(&[JsValue::from(hour_bucket as f64)])?
        .first::<i64>(Some("one"))
        .await?
        .is_some())
}

/// Every anchor's signed note, oldest first.
pub async fn all_notes(db: &D1Database) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Row {
        note: String,
    }
    let rows: Vec<Row> = db
        .prepare("SELECT note FROM anchors ORDER BY id")
        .all()
        .await?
        .results()?;
    Ok(rows.into_iter().map(|r| r.note).collect())
}

/// Inserts an anchor unless its hour (or its predecessor) already has one; `true` if written.
pub async fn insert(db: &D1Database, anchor: &NewAnchor) -> Result<bool> {
    let result = db
        .prepare(
            "INSERT INTO anchors (hour_bucket, tree_size, root, chain_head, prev_anchor,
                 anchor_hash, timestamp_ms, key_id, note, r2_key)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(&[
            JsValue::from(anchor.hour_bucket as f64),
            JsValue::from(anchor.tree_size as f64),
            JsValue::from(anchor.root.as_str()),
            JsValue::from(anchor.chain_head.as_str()),
            JsValue::from(anchor.prev_anchor.as_str()),
            JsValue::from(anchor.anchor_hash.as_str()),
            JsValue::from(anchor.timestamp_ms as f64),
            JsValue::from(anchor.key_id.as_str()),
            JsValue::from(anchor.note.as_str()),
            JsValue::from(anchor.r2_key.as_str()),
        ])?
        .run()
        .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 1)
}
