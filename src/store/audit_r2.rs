//! R2_AUDIT: write-once objects (events, checkpoints) and the listing verification walks.
//!
//! "Write once" is a conditional put with `onlyIf: {etagDoesNotMatch: "*"}` — R2's form of
//! HTTP `If-None-Match: *`: the put happens only if no object has the key. When the condition
//! fails (the key is taken), the existing bytes are read back and compared, so a retry after a
//! lost response is recognised as done, and anything else is reported, never overwritten.

use futures_util::future::join_all;
use sha2::{Digest, Sha256};
use worker::{Bucket, Conditional, HttpMetadata, Result};

/// The binding holding the audit objects.
pub const BUCKET: &str = "R2_AUDIT";

/// Keys listed per R2 list call (R2's maximum).
const LIST_PAGE: u32 = 1000;

/// Objects read concurrently.
const PARALLEL_READS: usize = 8;

/// What a write-once put found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOnce {
    /// The object was created with our bytes.
    Created,
    /// The key already held exactly our bytes (an earlier attempt succeeded).
    AlreadyThere,
    /// The key holds other bytes; they were left as they are.
    Conflict,
}

/// Creates `key` with `bytes` unless the key exists; never overwrites.
pub async fn put_once(
    bucket: &Bucket,
    key: &str,
    bytes: &[u8],
    content_type: &str,
) -> Result<PutOnce> {
    let created = bucket
        .put(key, bytes.to_vec())
        .http_metadata(HttpMetadata {
            content_type: Some(content_type.to_string()),
            ..HttpMetadata::default()
        })
        // R2 checks the upload against this digest.
        .sha256(Sha256::digest(bytes).to_vec())
        .only_if(Conditional {
            etag_does_not_match: Some("*".to_string()),
            ..Conditional::default()
        })
        .execute()
        .await?;
    if created.is_some() {
        return Ok(PutOnce::Created);
    }
    match get(bucket, key).await? {
        Some(existing) if existing == bytes => Ok(PutOnce::AlreadyThere),
        Some(_) => Ok(PutOnce::Conflict),
        // The condition failed yet nothing is there: nothing was written; let the caller retry.
        None => Err(worker::Error::RustError(format!(
            "conditional put of {key} refused but the key is empty"
        ))),
    }
}

/// The bytes of `key`, or `None` if there is no such object.
pub async fn get(bucket: &Bucket, key: &str) -> Result<Option<Vec<u8>>> {
    match bucket.get(key).execute().await? {
        Some(object) => match object.body() {
            Some(body) => Ok(Some(body.bytes().await?)),
            None => Ok(Some(Vec::new())),
        },
        None => Ok(None),
    }
}

/// Reads several objects, a few at a time; `None` for a key that has no object.
pub async fn get_many(bucket: &Bucket, keys: &[String]) -> Result<Vec<(String, Option<Vec<u8>>)>> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(PARALLEL_READS) {
        let results = join_all(chunk.iter().map(|k| get(bucket, k))).await;
        for (key, result) in chunk.iter().zip(results) {
            out.push((key.clone(), result?));
        }
    }
    Ok(out)
}

/// Keys under `prefix` strictly after `after`, in key order, up to and including `through`
/// (all the rest when `None`). The last R2 page may carry keys beyond `through`; callers
/// ignore those.
pub async fn list_keys(
    bucket: &Bucket,
    prefix: &str,
    after: Option<&str>,
    through: Option<&str>,
) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = bucket.list().prefix(prefix).limit(LIST_PAGE);
        request = match (&cursor, after) {
            (Some(c), _) => request.cursor(c.clone()),
            (None, Some(a)) => request.start_after(a),
            (None, None) => request,
        };
        let page = request.execute().await?;
        keys.extend(page.objects().iter().map(|o| o.key()));
        let past_end = through.is_some_and(|t| keys.last().is_some_and(|k| k.as_str() > t));
        match page.cursor() {
            Some(c) if page.truncated() && !past_end => cursor = Some(c),
            _ => return Ok(keys),
        }
    }
}
