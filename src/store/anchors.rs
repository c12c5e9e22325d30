//! DB_ANCHOR: the hourly anchors (signed checkpoints), append-only, in issue order
//! (`migrations/anchor/0001_anchors.sql`).

use super::d1::{Db, DbError, Param};
use serde::{Deserialize, Serialize};
use worker::{Env, Error, Result};

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

fn err(e: DbError) -> Error {
    Error::RustError(e.code().to_string())
}

/// The anchor database behind the D1 statement gate.
pub fn db(env: &Env) -> Result<Db> {
    let log = crate::obs::Logger::new("store.anchors", crate::secrets_redactor(env));
    Db::open(env, BINDING, &log).map_err(err)
}

/// The newest anchor.
pub async fn latest(db: &Db) -> Result<Option<AnchorRow>> {
    db.first::<AnchorRow>(
        "SELECT id, hour_bucket, tree_size, root, chain_head, prev_anchor, anchor_hash, \
         timestamp_ms, key_id, note, r2_key FROM anchors ORDER BY id DESC LIMIT 1",
        &[],
    )
    .await
    .map_err(err)
}

/// Number of anchors.
pub async fn count(db: &Db) -> Result<u64> {
    #[derive(Deserialize)]
    struct Row {
        n: u64,
    }
    Ok(db
        .first::<Row>("SELECT COUNT(*) AS n FROM anchors", &[])
        .await
        .map_err(err)?
        .map(|r| r.n)
        .unwrap_or(0))
}

/// Whether the hour already has its anchor.
pub async fn exists_for_hour(db: &Db, hour_bucket: i64) -> Result<bool> {
    #[derive(Deserialize)]
    struct Row {
        #[allow(dead_code)]
        one: i64,
    }
    Ok(db
        .first::<Row>(
            "SELECT 1 AS one FROM anchors WHERE hour_bucket = ?",
            &[Param::Int(hour_bucket)],
        )
        .await
        .map_err(err)?
        .is_some())
}

/// Every anchor's signed note, oldest first.
pub async fn all_notes(db: &Db) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Row {
        note: String,
    }
    let rows: Vec<Row> = db
        .all("SELECT note FROM anchors ORDER BY id", &[])
        .await
        .map_err(err)?;
    Ok(rows.into_iter().map(|r| r.note).collect())
}

/// Inserts an anchor unless its hour (or its predecessor) already has one; `true` if written.
pub async fn insert(db: &Db, anchor: &NewAnchor) -> Result<bool> {
    let tree_size = i64::try_from(anchor.tree_size)
        .map_err(|_| Error::RustError("AUDIT_TREE_SIZE_RANGE".into()))?;
    let changed = db
        .run(
            "INSERT INTO anchors (hour_bucket, tree_size, root, chain_head, prev_anchor,
                 anchor_hash, timestamp_ms, key_id, note, r2_key)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT DO NOTHING",
            &[
                Param::Int(anchor.hour_bucket),
                Param::Int(tree_size),
                Param::Text(&anchor.root),
                Param::Text(&anchor.chain_head),
                Param::Text(&anchor.prev_anchor),
                Param::Text(&anchor.anchor_hash),
                Param::Int(anchor.timestamp_ms),
                Param::Text(&anchor.key_id),
                Param::Text(&anchor.note),
                Param::Text(&anchor.r2_key),
            ],
        )
        .await
        .map_err(err)?;
    Ok(changed == 1)
}
