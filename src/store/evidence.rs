//! The evidence store: response bytes in R2_EVIDENCE, content-addressed and written once, and
//! their index in D1 (`evidence`). Both writes are idempotent and each repairs the other:
//!
//! - blob first, then row, so a crash leaves at worst a blob without a row; the next store of
//!   the same bytes (or [`EvidenceStore::repair_page`]) indexes it from the blob's own metadata;
//! - a row whose blob has gone is re-uploaded the next time the same bytes arrive, and reported
//!   by [`EvidenceStore::repair_page`] until then;
//! - a blob already present with the right size (and SHA-256 checksum, where R2 reports one) is
//!   never written again, so re-ingesting the same bytes adds no object and no row.

use crate::core::evidence::{self, EvidenceHash, EvidenceMeta, Verification};
use crate::core::time::format_utc;
use crate::store::d1::{Db, DbError, Param};
use crate::store::opt_text;
use serde::{Deserialize, Serialize};
use std::fmt;
use worker::{Bucket, Env, HttpMetadata, Include};

/// The R2 binding holding the bytes.
pub const BUCKET: &str = "R2_EVIDENCE";

/// An `evidence` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRow {
    pub hash: String,
    pub source: String,
    pub r2_key: String,
    pub method: String,
    pub endpoint: String,
    pub status: i64,
    pub size: i64,
    pub content_type: Option<String>,
    pub fetched_at: String,
    pub run_id: Option<String>,
}

/// Why evidence could not be stored or read. Ingestion treats any of these as "do not parse".
#[derive(Debug, Clone, PartialEq)]
pub enum EvidenceError {
    Db(DbError),
    /// R2 refused or failed (the message is for logs only).
    Bucket(String),
}

impl EvidenceError {
    pub fn code(&self) -> &'static str {
        match self {
            EvidenceError::Db(e) => e.code(),
            EvidenceError::Bucket(_) => "EVIDENCE_STORE_UNAVAILABLE",
        }
    }
}

impl fmt::Display for EvidenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvidenceError::Db(e) => e.fmt(f),
            EvidenceError::Bucket(m) => write!(f, "EVIDENCE_STORE_UNAVAILABLE: {m}"),
        }
    }
}

impl From<DbError> for EvidenceError {
    fn from(e: DbError) -> Self {
        EvidenceError::Db(e)
    }
}

fn bucket_err(e: worker::Error) -> EvidenceError {
    EvidenceError::Bucket(e.to_string())
}

/// What storing one body did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Blob and row written now.
    New,
    /// Both were already there.
    Existing,
    /// The row was there but its blob was gone: the blob was written again.
    RepairedBlob,
    /// The blob was there but its row was missing: the row was written.
    RepairedRow,
}

impl Stored {
    pub fn is_new(self) -> bool {
        self == Stored::New
    }
}

const SELECT_ROW: &str = "SELECT hash, source, r2_key, method, endpoint, status, size, \
     content_type, fetched_at, run_id FROM evidence WHERE hash = ?";
const INSERT_ROW: &str = "INSERT INTO evidence (hash, source, r2_key, method, endpoint, status, \
     size, content_type, fetched_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
     ON CONFLICT (hash) DO NOTHING";
const LIST: &str = "SELECT hash, source, r2_key, method, endpoint, status, size, content_type, \
     fetched_at, run_id FROM evidence WHERE (?1 IS NULL OR source = ?1) \
     AND (?2 IS NULL OR fetched_at >= ?2) ORDER BY fetched_at DESC, hash LIMIT ?3";
const INDEXED_AMONG: &str =
    "SELECT hash, size FROM evidence WHERE hash IN (SELECT value FROM json_each(?))";
const ROWS_AFTER: &str =
    "SELECT hash, r2_key, size FROM evidence WHERE hash > ? ORDER BY hash LIMIT ?";

#[derive(Deserialize)]
struct HashSize {
    hash: String,
    size: i64,
}

#[derive(Deserialize)]
struct RowKey {
    hash: String,
    r2_key: String,
    size: i64,
}

/// What one repair pass found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RepairReport {
    pub objects_scanned: u32,
    pub rows_added: u32,
    /// Blobs whose bytes do not hash to their key: unindexed ones always, indexed ones when
    /// the pass re-hashes (`verify`). Such a blob is never indexed.
    pub hash_mismatch: Vec<String>,
    /// Indexed blobs whose size differs from their index row (found without reading them).
    pub size_mismatch: Vec<String>,
    /// Blobs whose metadata cannot rebuild a row (never indexed with guessed fields).
    pub unindexable: Vec<String>,
    /// Objects under `evidence/` whose key is not an evidence key.
    pub unknown_objects: Vec<String>,
    /// Continue the blob scan from here; `None` when the scan reached the end.
    pub next_cursor: Option<String>,
    pub rows_scanned: u32,
    /// Index rows whose blob is gone (repaired when the same bytes are fetched again).
    pub rows_without_blob: Vec<String>,
    /// Continue the row scan after this hash; `None` when it reached the end.
    pub next_after_hash: Option<String>,
}

/// The store for one request or job.
pub struct EvidenceStore<'a> {
    db: &'a Db,
    bucket: Bucket,
}

impl<'a> EvidenceStore<'a> {
    pub fn open(env: &Env, db: &'a Db) -> Result<EvidenceStore<'a>, EvidenceError> {
        let bucket = env.bucket(BUCKET).map_err(bucket_err)?;
        Ok(EvidenceStore { db, bucket })
    }

    /// The index row of `hash`, if any.
    pub async fn row(&self, hash: &EvidenceHash) -> Result<Option<EvidenceRow>, EvidenceError> {
        Ok(self
            .db
            .first::<EvidenceRow>(SELECT_ROW, &[Param::Text(&hash.to_hex())])
            .await?)
    }

    /// Whether a blob with `size` bytes (and, if R2 reports it, this SHA-256) is at `key`.
    async fn blob_present(
        &self,
        key: &str,
        hash: &EvidenceHash,
        size: usize,
    ) -> Result<bool, EvidenceError> {
        let Some(obj) = self.bucket.head(key).await.map_err(bucket_err)? else {
            return Ok(false);
        };
        let checksum_ok = obj
            .checksum()
            .sha256
            .is_none_or(|sum| sum.as_slice() == hash.as_bytes());
        Ok(obj.size() == size as u64 && checksum_ok)
    }

    async fn put_blob(
        &self,
        key: &str,
        hash: &EvidenceHash,
        meta: &EvidenceMeta,
        bytes: &[u8],
    ) -> Result<(), EvidenceError> {
        self.bucket
            .put(key, bytes.to_vec())
            // R2 recomputes the digest and refuses the upload if the bytes do not match it.
            .sha256(hash.as_bytes().to_vec())
            .custom_metadata(meta.to_custom_metadata())
            .http_metadata(HttpMetadata {
                content_type: meta.content_type.clone(),
                content_language: None,
                content_disposition: None,
                content_encoding: None,
                cache_control: None,
                cache_expiry: None,
            })
            .execute()
            .await
            .map_err(bucket_err)?;
        Ok(())
    }

    async fn insert_row(
        &self,
        hash: &EvidenceHash,
        key: &str,
        meta: &EvidenceMeta,
    ) -> Result<bool, EvidenceError> {
        let hash_hex = hash.to_hex();
        let fetched_at = format_utc(meta.fetched_at);
        let changed = self
            .db
            .run(
                INSERT_ROW,
                &[
                    Param::Text(&hash_hex),
                    Param::Text(meta.source.as_str()),
                    Param::Text(key),
                    Param::Text(&meta.method),
                    Param::Text(&meta.endpoint),
                    Param::Int(i64::from(meta.status)),
                    Param::Int(meta.size as i64),
                    meta.content_type
                        .as_deref()
                        .map(Param::Text)
                        .unwrap_or(Param::Null),
                    Param::Text(&fetched_at),
                    meta.run_id
                        .as_deref()
                        .map(Param::Text)
                        .unwrap_or(Param::Null),
                ],
            )
            .await?;
        Ok(changed > 0)
    }

    /// Stores `bytes` as evidence described by `meta` (blob, then index row) and returns their
    /// hash. Only after this returns `Ok` may the bytes be parsed.
    pub async fn put(
        &self,
        meta: &EvidenceMeta,
        bytes: &[u8],
    ) -> Result<(EvidenceHash, Stored), EvidenceError> {
        let hash = EvidenceHash::of(bytes);
        let existing = self.row(&hash).await?;
        let key = match &existing {
            Some(row) => row.r2_key.clone(),
            None => evidence::object_key(meta.source, meta.fetched_at, &hash),
        };
        let blob_was_there = self.blob_present(&key, &hash, bytes.len()).await?;
        if !blob_was_there {
            self.put_blob(&key, &hash, meta, bytes).await?;
        }
        let outcome = match (existing.is_some(), blob_was_there) {
            (true, true) => Stored::Existing,
            (true, false) => Stored::RepairedBlob,
            (false, was_there) => {
                // A concurrent writer may have inserted the row since we looked; the insert
                // is a no-op then, and the bytes are the same by construction.
                self.insert_row(&hash, &key, meta).await?;
                if was_there {
                    Stored::RepairedRow
                } else {
                    Stored::New
                }
            }
        };
        Ok((hash, outcome))
    }

    /// Newest first, optionally of one source and from `since` (RFC 3339) on; at most `limit`.
    pub async fn list(
        &self,
        source: Option<&str>,
        since: Option<&str>,
        limit: i64,
    ) -> Result<Vec<EvidenceRow>, EvidenceError> {
        Ok(self
            .db
            .all::<EvidenceRow>(
                LIST,
                &[opt_text(source), opt_text(since), Param::Int(limit)],
            )
            .await?)
    }

    /// The bytes at `key`, `None` when no blob is there.
    pub async fn bytes(&self, key: &str) -> Result<Option<Vec<u8>>, EvidenceError> {
        match self.bucket.get(key).execute().await.map_err(bucket_err)? {
            None => Ok(None),
            Some(obj) => match obj.body() {
                None => Ok(None),
                Some(body) => Ok(Some(body.bytes().await.map_err(bucket_err)?)),
            },
        }
    }

    /// Re-reads the bytes of indexed evidence and re-hashes them. `None` when `hash` is not
    /// in the index.
    pub async fn verify(
        &self,
        hash: &EvidenceHash,
    ) -> Result<Option<(EvidenceRow, Verification)>, EvidenceError> {
        let Some(row) = self.row(hash).await? else {
            return Ok(None);
        };
        let bytes = self.bytes(&row.r2_key).await?;
        let verdict = evidence::verify(hash, bytes.as_deref());
        Ok(Some((row, verdict)))
    }

    /// One repair pass: up to `limit` blobs from `cursor` (indexing any blob without a row,
    /// after re-hashing it; comparing the size of indexed ones with their row, and re-hashing
    /// them too when `verify`), and up to `limit` rows after `after_hash` (reporting any row
    /// without its blob).
    pub async fn repair_page(
        &self,
        cursor: Option<String>,
        after_hash: Option<String>,
        limit: u32,
        verify: bool,
    ) -> Result<RepairReport, EvidenceError> {
        let mut report = RepairReport::default();
        let mut listing = self
            .bucket
            .list()
            .prefix(evidence::KEY_PREFIX)
            .limit(limit)
            .include(vec![Include::CustomMetadata]);
        if let Some(c) = cursor {
            listing = listing.cursor(c);
        }
        let objects = listing.execute().await.map_err(bucket_err)?;
        report.next_cursor = if objects.truncated() {
            objects.cursor()
        } else {
            None
        };
        let mut keyed = Vec::new();
        for obj in objects.objects() {
            report.objects_scanned += 1;
            let key = obj.key();
            match evidence::parse_object_key(&key) {
                Some((_, _, hash)) => keyed.push((key, hash, obj.size())),
                None => report.unknown_objects.push(key),
            }
        }
        let hashes: Vec<String> = keyed.iter().map(|(_, h, _)| h.to_hex()).collect();
        let hashes_json = serde_json::to_string(&hashes).unwrap_or_else(|_| "[]".into());
        let indexed: std::collections::HashMap<String, i64> = self
            .db
            .all::<HashSize>(INDEXED_AMONG, &[Param::Text(&hashes_json)])
            .await?
            .into_iter()
            .map(|r| (r.hash, r.size))
            .collect();
        for (key, hash, size) in keyed {
            if let Some(row_size) = indexed.get(&hash.to_hex()) {
                if *row_size != size as i64 {
                    report.size_mismatch.push(key);
                } else if verify {
                    let bytes = self.bytes(&key).await?.unwrap_or_default();
                    if EvidenceHash::of(&bytes) != hash {
                        report.hash_mismatch.push(key);
                    }
                }
                continue;
            }
            let Some(obj) = self.bucket.get(&key).execute().await.map_err(bucket_err)? else {
                continue;
            };
            let meta = obj
                .custom_metadata()
                .ok()
                .and_then(|m| EvidenceMeta::from_custom_metadata(&m));
            let bytes = match obj.body() {
                Some(body) => body.bytes().await.map_err(bucket_err)?,
                None => Vec::new(),
            };
            if EvidenceHash::of(&bytes) != hash {
                report.hash_mismatch.push(key);
                continue;
            }
            match meta {
                Some(meta) if meta.size == bytes.len() as u64 => {
                    if self.insert_row(&hash, &key, &meta).await? {
                        report.rows_added += 1;
                    }
                }
                _ => report.unindexable.push(key),
            }
        }
        let after = after_hash.unwrap_or_default();
        let rows = self
            .db
            .all::<RowKey>(
                ROWS_AFTER,
                &[Param::Text(&after), Param::Int(i64::from(limit))],
            )
            .await?;
        report.next_after_hash = if rows.len() as u32 == limit {
            rows.last().map(|r| r.hash.clone())
        } else {
            None
        };
        for row in rows {
            report.rows_scanned += 1;
            let present = match self.bucket.head(&row.r2_key).await.map_err(bucket_err)? {
                Some(obj) => obj.size() == row.size as u64,
                None => false,
            };
            if !present {
                report.rows_without_blob.push(row.hash);
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_passes_the_d1_gate_with_its_parameter_count() {
        for (sql, bound) in [
            (SELECT_ROW, 1),
            (INSERT_ROW, 10),
            (LIST, 3),
            (INDEXED_AMONG, 1),
            (ROWS_AFTER, 2),
        ] {
            if let Err(e) = crate::core::sql_guard::check_bound(sql, bound) {
                panic!("{e}: {sql}");
            }
        }
    }
}
