//! Hourly anchoring (cron `0 * * * *`): sign the log's current checkpoint and store it in
//! DB_ANCHOR and R2_AUDIT. This is the only module that reads `AUDIT_SIGNING_KEY`; others get
//! the public [`verifier`] only.
//!
//! Idempotent within the hour: the anchor's hour bucket is UNIQUE in DB_ANCHOR, so a second
//! run in the same hour (a re-delivered cron, an operator poking `/__scheduled`) writes
//! nothing. An hour without new events still anchors (same size, new timestamp). Each anchor
//! commits to the previous one (`prev-anchor`), and a new anchor is only ever chained onto a
//! predecessor that verifies with our key.

use crate::audit_client;
use crate::core::audit::{
    anchor_genesis, open_checkpoint, sign_checkpoint, AuditError, Checkpoint, Hash32, NoteSigner,
    NoteVerifier,
};
use crate::obs::Logger;
use crate::store::anchors::{self, AnchorRow, NewAnchor};
use crate::store::audit_r2::{self, PutOnce};
use crate::store::runs::{self, RunStatus};
use serde_json::{json, Value};
use worker::Env;

/// The cron expression this job runs on.
pub const CRON: &str = "0 * * * *";

/// The job's name in the `runs` table.
pub const JOB: &str = "audit_anchor";

/// The secret holding the Ed25519 seed.
const SIGNING_KEY_SECRET: &str = "AUDIT_SIGNING_KEY";

/// The `[vars]` setting naming the log (checkpoint origin and key name).
pub const ORIGIN_VAR: &str = "AUDIT_LOG_ORIGIN";

/// The origin when `AUDIT_LOG_ORIGIN` is unset.
pub const DEFAULT_ORIGIN: &str = "paul-p/audit";

/// Prefix of the checkpoint copies in R2_AUDIT.
pub const CHECKPOINT_PREFIX: &str = "audit/checkpoints/";

const HOUR_MS: i64 = 3_600_000;

/// Why the signing key cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyProblem {
    /// `AUDIT_SIGNING_KEY` is not set.
    Missing,
    /// It is set but unusable (or the origin is not a valid key name).
    Invalid(AuditError),
}

impl KeyProblem {
    pub fn code(&self) -> &'static str {
        match self {
            KeyProblem::Missing => "AUDIT_SIGNING_KEY_MISSING",
            KeyProblem::Invalid(e) => e.code(),
        }
    }

    /// Safe to show: never contains key material.
    pub fn message(&self) -> String {
        match self {
            KeyProblem::Missing => "AUDIT_SIGNING_KEY is not set; anchors cannot be signed or \
                                    verified"
                .into(),
            KeyProblem::Invalid(e) => e.to_string(),
        }
    }
}

/// The checkpoint origin (also the signing key's name).
pub fn origin(env: &Env) -> String {
    crate::bindings::var(env, ORIGIN_VAR).unwrap_or_else(|| DEFAULT_ORIGIN.to_string())
}

fn signer(env: &Env) -> Result<NoteSigner, KeyProblem> {
    let secret = env
        .secret(SIGNING_KEY_SECRET)
        .map(|s| s.to_string())
        .ok()
        .filter(|s| !s.trim().is_empty())
        .ok_or(KeyProblem::Missing)?;
    NoteSigner::from_secret(&origin(env), &secret).map_err(KeyProblem::Invalid)
}

/// The public key anchors are checked against (derived from the signing key).
pub fn verifier(env: &Env) -> Result<NoteVerifier, KeyProblem> {
    signer(env).map(|s| s.verifier())
}

/// What `GET /audit/checkpoint/key` publishes, or why it cannot.
pub fn public_key(env: &Env) -> Result<Value, KeyProblem> {
    let verifier = verifier(env)?;
    Ok(json!({
        "origin": verifier.name(),
        "key_id": format!("{:08x}", verifier.key_id()),
        "algorithm": "ed25519",
        "verifier_key": verifier.to_string(),
    }))
}

/// The hour an instant falls in, as hours since the Unix epoch (UTC).
pub fn hour_bucket(at_ms: i64) -> i64 {
    at_ms.div_euclid(HOUR_MS)
}

/// An anchor's timestamp: now, but always after its predecessor's.
pub fn anchor_timestamp(now_ms: i64, previous_ms: Option<i64>) -> i64 {
    previous_ms.map_or(now_ms, |p| now_ms.max(p + 1))
}

/// R2_AUDIT key of an anchor's copy. The tree size alone would collide when an hour has no new
/// events, so the timestamp follows it: `audit/checkpoints/{tree_size:012}-{timestamp_ms}`.
pub fn checkpoint_object_key(tree_size: u64, timestamp_ms: i64) -> String {
    format!("{CHECKPOINT_PREFIX}{tree_size:012}-{timestamp_ms}")
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Anchored {
        tree_size: u64,
        key: String,
        r2: &'static str,
    },
    AlreadyAnchored {
        hour_bucket: i64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Failure {
    code: &'static str,
    detail: String,
}

fn failure(code: &'static str, detail: impl ToString) -> Failure {
    Failure {
        code,
        detail: detail.to_string(),
    }
}

/// Writes the R2 copy of an anchor (write-once; a no-op when it is there).
async fn copy_to_r2(env: &Env, row_key: &str, note: &str, log: &Logger) -> &'static str {
    let result = async {
        let bucket = env.bucket(audit_r2::BUCKET)?;
        audit_r2::put_once(
            &bucket,
            row_key,
            note.as_bytes(),
            "text/plain; charset=utf-8",
        )
        .await
    }
    .await;
    match result {
        Ok(PutOnce::Created) => "written",
        Ok(PutOnce::AlreadyThere) => "present",
        Ok(PutOnce::Conflict) => {
            log.error("audit_anchor_copy_conflict", json!({"key": row_key}));
            "conflict"
        }
        Err(e) => {
            log.error(
                "audit_anchor_copy_failed",
                json!({"key": row_key, "detail": e.to_string()}),
            );
            "failed"
        }
    }
}

/// The predecessor's hash and time, verified with our key.
fn predecessor(
    latest: Option<&AnchorRow>,
    verifier: &NoteVerifier,
) -> Result<(Hash32, Option<i64>), Failure> {
    match latest {
        None => Ok((anchor_genesis(), None)),
        Some(row) => {
            let checkpoint = open_checkpoint(&row.note, verifier).map_err(|e| {
                failure(
                    "AUDIT_ANCHOR_PREDECESSOR_INVALID",
                    format!("latest anchor #{} does not verify: {}", row.id, e.code()),
                )
            })?;
            Ok((checkpoint.anchor_hash(), Some(checkpoint.timestamp_ms())))
        }
    }
}

async fn anchor(env: &Env, now_ms: i64, log: &Logger) -> Result<Outcome, Failure> {
    let hour = hour_bucket(now_ms);
    let db = anchors::db(env).map_err(|e| failure("AUDIT_ANCHORS_UNAVAILABLE", e))?;
    if anchors::exists_for_hour(&db, hour)
        .await
        .map_err(|e| failure("AUDIT_ANCHORS_UNAVAILABLE", e))?
    {
        // Still make sure the newest anchor has its R2 copy (an earlier run may have failed
        // after writing the row).
        if let Ok(Some(latest)) = anchors::latest(&db).await {
            copy_to_r2(env, &latest.r2_key, &latest.note, log).await;
        }
        return Ok(Outcome::AlreadyAnchored { hour_bucket: hour });
    }
    let signer = signer(env).map_err(|p| failure(p.code(), p.message()))?;
    let head = audit_client::head(env)
        .await
        .map_err(|e| failure("AUDIT_UNAVAILABLE", e))?;
    let latest = anchors::latest(&db)
        .await
        .map_err(|e| failure("AUDIT_ANCHORS_UNAVAILABLE", e))?;
    let (prev, prev_ms) = predecessor(latest.as_ref(), &signer.verifier())?;
    let timestamp = anchor_timestamp(now_ms, prev_ms);
    let checkpoint = Checkpoint::new(
        signer.name(),
        head.size,
        head.root,
        head.chain_head,
        prev,
        timestamp,
    )
    .map_err(|e| failure(e.code(), e))?;
    let note = sign_checkpoint(&checkpoint, &signer).map_err(|e| failure(e.code(), e))?;
    let key = checkpoint_object_key(head.size, timestamp);
    let row = NewAnchor {
        hour_bucket: hour,
        tree_size: head.size,
        root: head.root.to_hex(),
        chain_head: head.chain_head.to_hex(),
        prev_anchor: prev.to_hex(),
        anchor_hash: checkpoint.anchor_hash().to_hex(),
        timestamp_ms: timestamp,
        key_id: format!("{:08x}", signer.key_id()),
        note: note.clone(),
        r2_key: key.clone(),
    };
    // The database decides: one anchor per hour, one successor per anchor.
    if !anchors::insert(&db, &row)
        .await
        .map_err(|e| failure("AUDIT_ANCHORS_UNAVAILABLE", e))?
    {
        return Ok(Outcome::AlreadyAnchored { hour_bucket: hour });
    }
    let r2 = copy_to_r2(env, &key, &note, log).await;
    Ok(Outcome::Anchored {
        tree_size: head.size,
        key,
        r2,
    })
}

/// Runs the hourly anchoring and records its outcome (log line + `runs` row).
pub async fn run(env: &Env, log: &Logger) {
    let started = crate::clock::now();
    let now_ms = started.timestamp_millis();
    let run_id = format!("{JOB}:{}", hour_bucket(now_ms));
    let outcome = anchor(env, now_ms, log).await;
    let (status, detail) = match &outcome {
        Ok(Outcome::Anchored { tree_size, key, r2 }) => {
            log.info(
                "audit_anchored",
                json!({"tree_size": tree_size, "r2_key": key, "r2_copy": r2}),
            );
            (
                RunStatus::Success,
                json!({"tree_size": tree_size, "r2_key": key, "r2_copy": r2}),
            )
        }
        Ok(Outcome::AlreadyAnchored { hour_bucket }) => {
            log.info("audit_anchor_skipped", json!({"hour_bucket": hour_bucket}));
            (
                RunStatus::Skipped,
                json!({"reason": "ALREADY_ANCHORED_THIS_HOUR", "hour_bucket": hour_bucket}),
            )
        }
        Err(f) => {
            log.error(
                "audit_anchor_failed",
                json!({"code": f.code, "detail": f.detail}),
            );
            (RunStatus::Fail, json!({"code": f.code, "detail": f.detail}))
        }
    };
    runs::record_cron_run(env, log, &run_id, JOB, CRON, started, status, &detail).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_buckets_split_at_the_hour() {
        let h = 493_673; // 2026-04-26T17:00:00Z / 1 h
        assert_eq!(hour_bucket(h * HOUR_MS), h);
        assert_eq!(hour_bucket(h * HOUR_MS + HOUR_MS - 1), h);
        assert_eq!(hour_bucket(h * HOUR_MS + HOUR_MS), h + 1);
    }

    #[test]
    fn anchor_times_always_move_forward() {
        assert_eq!(anchor_timestamp(1_000, None), 1_000);
        assert_eq!(anchor_timestamp(1_000, Some(500)), 1_000);
        assert_eq!(anchor_timestamp(1_000, Some(1_000)), 1_001);
        assert_eq!(anchor_timestamp(1_000, Some(5_000)), 5_001);
    }

    #[test]
    fn checkpoint_keys_carry_size_and_time_so_quiet_hours_do_not_collide() {
        assert_eq!(
            checkpoint_object_key(200, 1_767_229_200_000),
            "audit/checkpoints/000000000200-1767229200000"
        );
        assert_ne!(
            checkpoint_object_key(200, 1_767_229_200_000),
            checkpoint_object_key(200, 1_767_232_800_000)
        );
    }

    #[test]
    fn a_predecessor_must_verify_with_our_key() {
        let ours = NoteSigner::from_seed(DEFAULT_ORIGIN, &[5; 32]).unwrap();
        let theirs = NoteSigner::from_seed(DEFAULT_ORIGIN, &[6; 32]).unwrap();
        let checkpoint = Checkpoint::new(
            DEFAULT_ORIGIN,
            3,
            Hash32::sha256(&[b"r"]),
            Hash32::sha256(&[b"c"]),
            anchor_genesis(),
            7,
        )
        .unwrap();
        let row = |note: String| AnchorRow {
            id: 1,
            hour_bucket: 1,
            tree_size: 3,
            root: String::new(),
            chain_head: String::new(),
            prev_anchor: String::new(),
            anchor_hash: String::new(),
            timestamp_ms: 7,
            key_id: String::new(),
            note,
            r2_key: String::new(),
        };
        assert_eq!(
            predecessor(None, &ours.verifier()).unwrap(),
            (anchor_genesis(), None)
        );
        let good = row(sign_checkpoint(&checkpoint, &ours).unwrap());
        assert_eq!(
            predecessor(Some(&good), &ours.verifier()).unwrap(),
            (checkpoint.anchor_hash(), Some(7))
        );
        let forged = row(sign_checkpoint(&checkpoint, &theirs).unwrap());
        assert_eq!(
            predecessor(Some(&forged), &ours.verifier())
                .unwrap_err()
                .code,
            "AUDIT_ANCHOR_PREDECESSOR_INVALID"
        );
    }
}
