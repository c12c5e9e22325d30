//! Hourly anchoring (cron `0 * * * *`): sign the log's current checkpoint and store it in
//! DB_ANCHOR and R2_AUDIT. This is the only module that reads `AUDIT_SIGNING_KEY`; others get
//! the public [`verifier`] only.
//!
//! Idempotent within the hour: the anchor's hour bucket (of the cron's scheduled time) is
//! UNIQUE in DB_ANCHOR, so a second run for the same hour (a re-delivered cron, an operator
//! poking `/__scheduled`) writes nothing. An hour without new events still anchors (same size, new timestamp). Each anchor
//! commits to the previous one (`prev-anchor`), and a new anchor is only ever chained onto a
//! predecessor that verifies with our key.
//!
//! **Key rotation.** Put the new seed in `AUDIT_SIGNING_KEY` and the old one in
//! `AUDIT_SIGNING_KEY_PREVIOUS`. The next anchoring finds its predecessor signed by the previous
//! key and makes a *handover* anchor: it records `AUDIT_SIGNING_KEY_HANDOVER` in the audit log
//! first, then signs a checkpoint naming the previous key with both keys
//! ([`sign_handover`]). From then on the previous secret can be deleted; verification follows
//! the handovers back from the current key ([`crate::core::audit::anchor_key_schedule`]), so
//! old checkpoints stay verifiable. Until the handover exists, the previous key vouches for the
//! newest anchors (see [`keys`]).

use crate::audit_client::{self, AuditRecord};
use crate::core::audit::{
    anchor_genesis, open_checkpoint, retired_keys, sign_checkpoint, sign_handover, AnchorKeys,
    AuditError, Checkpoint, Hash32, NoteSigner, NoteVerifier,
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

/// The secret holding the seed being retired, set only during a key rotation.
const PREVIOUS_KEY_SECRET: &str = "AUDIT_SIGNING_KEY_PREVIOUS";

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
    /// `AUDIT_SIGNING_KEY_PREVIOUS` is set but unusable.
    PreviousInvalid(AuditError),
    /// `AUDIT_SIGNING_KEY_PREVIOUS` holds the same key as `AUDIT_SIGNING_KEY`.
    PreviousSameAsCurrent,
}

impl KeyProblem {
    pub fn code(&self) -> &'static str {
        match self {
            KeyProblem::Missing => "AUDIT_SIGNING_KEY_MISSING",
            KeyProblem::Invalid(e) => e.code(),
            KeyProblem::PreviousInvalid(_) => "AUDIT_SIGNING_KEY_PREVIOUS_MALFORMED",
            KeyProblem::PreviousSameAsCurrent => "AUDIT_SIGNING_KEY_PREVIOUS_SAME",
        }
    }

    /// Safe to show: never contains key material.
    pub fn message(&self) -> String {
        match self {
            KeyProblem::Missing => "AUDIT_SIGNING_KEY is not set; anchors cannot be signed or \
                                    verified"
                .into(),
            KeyProblem::Invalid(e) => e.to_string(),
            KeyProblem::PreviousInvalid(e) => format!("AUDIT_SIGNING_KEY_PREVIOUS: {e}"),
            KeyProblem::PreviousSameAsCurrent => "AUDIT_SIGNING_KEY_PREVIOUS is the current key; \
                                                  a rotation needs a new AUDIT_SIGNING_KEY"
                .into(),
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

/// The key being retired, when a rotation is under way.
fn previous_signer(env: &Env) -> Result<Option<NoteSigner>, KeyProblem> {
    let Some(secret) = env
        .secret(PREVIOUS_KEY_SECRET)
        .map(|s| s.to_string())
        .ok()
        .filter(|s| !s.trim().is_empty())
    else {
        return Ok(None);
    };
    NoteSigner::from_secret(&origin(env), &secret)
        .map(Some)
        .map_err(KeyProblem::PreviousInvalid)
}

/// The public key anchors are checked against (derived from the signing key).
pub fn verifier(env: &Env) -> Result<NoteVerifier, KeyProblem> {
    signer(env).map(|s| s.verifier())
}

/// The keys verification checks anchors with: the current one and, during a rotation, the
/// previous one (trusted only for the newest anchors, until the handover anchor).
pub fn keys(env: &Env) -> Result<AnchorKeys, KeyProblem> {
    let current = verifier(env)?;
    let previous = previous_signer(env)?.map(|s| s.verifier());
    if previous.as_ref() == Some(&current) {
        return Err(KeyProblem::PreviousSameAsCurrent);
    }
    Ok(AnchorKeys { current, previous })
}

/// The keys that signed earlier anchors, newest first, as the anchors' own handovers prove
/// them (each entry: the key, and the tree size and time of the anchor that retired it).
pub async fn key_history(env: &Env) -> Result<Vec<Value>, worker::Error> {
    let Ok(keys) = keys(env) else {
        return Ok(Vec::new());
    };
    let db = anchors::db(env)?;
    let notes = anchors::all_notes(&db).await?;
    Ok(retired_keys(&notes, &keys)
        .into_iter()
        .map(|retired| {
            json!({
                "key_id": format!("{:08x}", retired.key.key_id()),
                "verifier_key": retired.key.to_string(),
                "retired_by_anchor": retired.anchor_index + 1,
                "retired_at_tree_size": retired.handover.size(),
                "retired_at_ms": retired.handover.timestamp_ms(),
            })
        })
        .collect())
}

/// What `GET /audit/checkpoint/key` publishes, or why it cannot. During a rotation it also
/// names the key being retired (`previous`); retired keys of finished rotations are in the
/// handover anchors themselves (their `previous-key` line).
pub fn public_key(env: &Env) -> Result<Value, KeyProblem> {
    let keys = keys(env)?;
    let mut out = json!({
        "origin": keys.current.name(),
        "key_id": format!("{:08x}", keys.current.key_id()),
        "algorithm": "ed25519",
        "verifier_key": keys.current.to_string(),
    });
    if let Some(previous) = &keys.previous {
        out["previous"] = json!({
            "key_id": format!("{:08x}", previous.key_id()),
            "verifier_key": previous.to_string(),
        });
    }
    Ok(out)
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
        /// On a handover anchor, the key id it retired.
        handover_from: Option<String>,
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

/// Records the handover in the audit log before the anchor that makes it exists.
async fn audit_handover(
    env: &Env,
    previous: &NoteSigner,
    current: &NoteSigner,
) -> Result<(), Failure> {
    let record = AuditRecord {
        actor: format!("cron:{CRON}"),
        kind: "AUDIT_SIGNING_KEY_HANDOVER".into(),
        payload: json!({
            "previous_key_id": format!("{:08x}", previous.key_id()),
            "previous_verifier_key": previous.verifier().to_string(),
            "key_id": format!("{:08x}", current.key_id()),
            "verifier_key": current.verifier().to_string(),
        }),
        evidence_hash: None,
    };
    audit_client::append(env, vec![record])
        .await
        .map(|_| ())
        .map_err(|e| failure("AUDIT_UNAVAILABLE", e))
}

async fn anchor(
    env: &Env,
    scheduled_ms: i64,
    now_ms: i64,
    log: &Logger,
) -> Result<Outcome, Failure> {
    let hour = hour_bucket(scheduled_ms);
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
    keys(env).map_err(|p| failure(p.code(), p.message()))?;
    let previous = previous_signer(env).map_err(|p| failure(p.code(), p.message()))?;
    let latest = anchors::latest(&db)
        .await
        .map_err(|e| failure("AUDIT_ANCHORS_UNAVAILABLE", e))?;
    // Our own key first; during a rotation, a predecessor signed by the previous key makes
    // this anchor the handover.
    let (prev, prev_ms, handover) = match predecessor(latest.as_ref(), &signer.verifier()) {
        Ok((prev, ms)) => (prev, ms, None),
        Err(ours) => match &previous {
            Some(old) => {
                let (prev, ms) = predecessor(latest.as_ref(), &old.verifier()).map_err(|_| {
                    failure(
                        ours.code,
                        format!(
                            "{}; nor with AUDIT_SIGNING_KEY_PREVIOUS ({:08x})",
                            ours.detail,
                            old.key_id()
                        ),
                    )
                })?;
                (prev, ms, Some(old))
            }
            None => return Err(ours),
        },
    };
    if let Some(old) = handover {
        audit_handover(env, old, &signer).await?;
    }
    let head = audit_client::head(env)
        .await
        .map_err(|e| failure("AUDIT_UNAVAILABLE", e))?;
    let timestamp = anchor_timestamp(now_ms, prev_ms);
    let mut checkpoint = Checkpoint::new(
        signer.name(),
        head.size,
        head.root,
        head.chain_head,
        prev,
        timestamp,
    )
    .map_err(|e| failure(e.code(), e))?;
    let note = match handover {
        None => sign_checkpoint(&checkpoint, &signer),
        Some(old) => {
            checkpoint = checkpoint
                .with_previous_key(old.verifier())
                .map_err(|e| failure(e.code(), e))?;
            sign_handover(&checkpoint, old, &signer)
        }
    }
    .map_err(|e| failure(e.code(), e))?;
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
        handover_from: handover.map(|old| format!("{:08x}", old.key_id())),
    })
}

/// Runs the hourly anchoring for the cron delivery scheduled at `scheduled_ms` (its hour is
/// the anchor's bucket; the note's timestamp is the real time) and records its outcome (log
/// line + `runs` row).
pub async fn run(env: &Env, log: &Logger, scheduled_ms: i64) {
    let started = crate::clock::now();
    let now_ms = started.timestamp_millis();
    let run_id = format!("{JOB}:{}", hour_bucket(scheduled_ms));
    let outcome = anchor(env, scheduled_ms, now_ms, log).await;
    let (status, detail) = match &outcome {
        Ok(Outcome::Anchored {
            tree_size,
            key,
            r2,
            handover_from,
        }) => {
            let detail = json!({
                "tree_size": tree_size,
                "r2_key": key,
                "r2_copy": r2,
                "handover_from_key_id": handover_from,
            });
            log.info("audit_anchored", detail.clone());
            (RunStatus::Success, detail)
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
