//! The single writer's step: give offered events their sequence numbers and times, hash them
//! into the chain and the Merkle tree, and hand storage exactly what must be committed together.
//!
//! Storage sits behind [`LogStore`], whose `commit` must be all-or-nothing. [`append`] is
//! load → [`stage`] → commit with no other step in between, so a writer that runs it as one
//! uninterrupted unit (the Durable Object runs it inside one storage transaction) can neither
//! leave a partial batch behind nor hand out a sequence number twice: a failed commit leaves
//! the stored head where it was, and the next append stages from there again.

use super::chain::{chain_hash, LeafRecord, LogHead};
use super::error::AuditError;
use super::event::{AuditEvent, Seq};
use super::hash::Hash32;
use super::merkle::{leaf_hash, Subtree};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most events one append may carry.
pub const MAX_BATCH_EVENTS: usize = 1_000;

/// Largest canonical event, in bytes.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Longest `actor`, in bytes.
pub const MAX_ACTOR_BYTES: usize = 256;

/// Longest `kind`, in bytes.
pub const MAX_KIND_BYTES: usize = 64;

/// An event as a caller offers it: everything but `seq` and `at`, which the writer assigns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// Who caused it (operator, `cron:…`, `system`). Non-empty, at most [`MAX_ACTOR_BYTES`].
    pub actor: String,
    /// What happened: a stable code — an ASCII letter, then letters, digits, `_`, `.` or `-`;
    /// at most [`MAX_KIND_BYTES`] (`OPERATOR_NOTE`, `risk.breaker_transition`).
    pub kind: String,
    /// Kind-specific detail; JSON whose numbers are integers.
    pub payload: Value,
    /// SHA-256 of the evidence bytes the event rests on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_hash: Option<Hash32>,
}

/// What the writer carries between appends: the log head, and the time of the last event so
/// that event times never go backwards even if the clock does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterState {
    /// Frontier and chain value after the last event.
    pub head: LogHead,
    /// `at` of the last event (ms since the Unix epoch); 0 for the empty log.
    pub last_at: i64,
}

impl WriterState {
    /// The state of the empty log.
    pub fn genesis() -> Self {
        WriterState {
            head: LogHead::genesis(),
            last_at: 0,
        }
    }
}

/// One event ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagedEvent {
    /// Seq, leaf hash and chain hash: what the caller is told.
    pub record: LeafRecord,
    /// The time the writer gave it.
    pub at: i64,
    /// Its kind (kept beside the bytes for listing without parsing).
    pub kind: String,
    /// Its canonical bytes: exactly what is hashed, stored and mirrored.
    pub bytes: Vec<u8>,
}

/// Everything one append commits together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendBatch {
    /// Log size before the batch; the events are `before + 1 ..= before + events.len()`.
    pub before: u64,
    /// The events, in seq order.
    pub events: Vec<StagedEvent>,
    /// Perfect subtrees of two or more leaves that the batch completes.
    pub subtrees: Vec<Subtree>,
    /// The writer state after the batch.
    pub state: WriterState,
}

impl AppendBatch {
    /// The receipts of the batch, in seq order.
    pub fn records(&self) -> Vec<LeafRecord> {
        self.events.iter().map(|e| e.record).collect()
    }
}

/// Why an append did not happen. Either way nothing was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendError {
    /// The batch (`index` = `None`) or one of its events is not acceptable.
    Rejected {
        index: Option<usize>,
        error: AuditError,
    },
    /// Storage could not load the head or commit the batch.
    Store(AuditError),
}

impl AppendError {
    /// The underlying stable code.
    pub fn code(&self) -> &'static str {
        match self {
            AppendError::Rejected { error, .. } | AppendError::Store(error) => error.code(),
        }
    }
}

/// The writer's storage. Implementations must make [`LogStore::commit`] atomic: after it
/// returns `Err` (or the process dies inside it) nothing of the batch is stored.
pub trait LogStore {
    /// The committed writer state ([`WriterState::genesis`] for an empty log). Errors with
    /// `AUDIT_LOG_CORRUPT` if the stored head and rows disagree.
    fn load(&self) -> Result<WriterState, AuditError>;

    /// Stores every event and subtree of `batch` and replaces the head with `batch.state`,
    /// all or nothing.
    fn commit(&self, batch: &AppendBatch) -> Result<(), AuditError>;
}

fn check_kind(kind: &str) -> Result<(), AuditError> {
    let ok = kind.len() <= MAX_KIND_BYTES
        && kind.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(AuditError::EventMalformed {
            detail: format!(
                "kind must be 1–{MAX_KIND_BYTES} characters: a letter, then letters, digits, _ . -"
            ),
        })
    }
}

fn check_actor(actor: &str) -> Result<(), AuditError> {
    if actor.is_empty() || actor.len() > MAX_ACTOR_BYTES || actor.chars().any(char::is_control) {
        return Err(AuditError::EventMalformed {
            detail: format!("actor must be 1–{MAX_ACTOR_BYTES} bytes without control characters"),
        });
    }
    Ok(())
}

/// Stages `events` after `state` at time `now` (ms): sequence numbers continue from the head,
/// every event gets `at = max(now, state.last_at)`, canonical bytes, leaf and chain hashes.
/// Pure; `state` is not modified.
///
/// Errors (`Rejected`): `AUDIT_BATCH_EMPTY`, `AUDIT_BATCH_TOO_LARGE`, and per event
/// `AUDIT_EVENT_MALFORMED` (actor or kind), `AUDIT_EVENT_TOO_LARGE`, the canonical-JSON codes.
pub fn stage(
    state: &WriterState,
    now: i64,
    events: &[NewEvent],
) -> Result<AppendBatch, AppendError> {
    let reject = |index, error| AppendError::Rejected { index, error };
    if events.is_empty() {
        return Err(reject(None, AuditError::BatchEmpty));
    }
    if events.len() > MAX_BATCH_EVENTS {
        return Err(reject(
            None,
            AuditError::BatchTooLarge {
                count: events.len(),
                max: MAX_BATCH_EVENTS,
            },
        ));
    }
    let at = now.max(state.last_at);
    let before = state.head.size();
    let mut head = state.head.clone();
    let mut staged = Vec::with_capacity(events.len());
    let mut subtrees = Vec::new();
    for (index, offered) in events.iter().enumerate() {
        check_actor(&offered.actor).map_err(|e| reject(Some(index), e))?;
        check_kind(&offered.kind).map_err(|e| reject(Some(index), e))?;
        let seq: Seq = head.next_seq();
        let event = AuditEvent {
            seq,
            at,
            actor: offered.actor.clone(),
            kind: offered.kind.clone(),
            payload: offered.payload.clone(),
            evidence_hash: offered.evidence_hash,
        };
        let bytes = event
            .canonical_bytes()
            .map_err(|e| reject(Some(index), e))?;
        if bytes.len() > MAX_EVENT_BYTES {
            return Err(reject(
                Some(index),
                AuditError::EventTooLarge {
                    bytes: bytes.len(),
                    max: MAX_EVENT_BYTES,
                },
            ));
        }
        let leaf = leaf_hash(&bytes);
        head.chain_head = chain_hash(&head.chain_head, &leaf);
        subtrees.extend(head.frontier.append_completing(leaf));
        staged.push(StagedEvent {
            record: LeafRecord {
                seq,
                leaf_hash: leaf,
                chain_hash: head.chain_head,
            },
            at,
            kind: event.kind,
            bytes,
        });
    }
    Ok(AppendBatch {
        before,
        events: staged,
        subtrees,
        state: WriterState { head, last_at: at },
    })
}

/// Appends `events` to the log in `store` at time `now`: load, stage, commit. Returns the
/// receipts only once the commit succeeded; on any error nothing was written.
pub fn append<S: LogStore + ?Sized>(
    store: &S,
    now: i64,
    events: &[NewEvent],
) -> Result<Vec<LeafRecord>, AppendError> {
    let state = store.load().map_err(AppendError::Store)?;
    let batch = stage(&state, now, events)?;
    store.commit(&batch).map_err(AppendError::Store)?;
    Ok(batch.records())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::audit::merkle::{
        inclusion_proof, root_at, verify_inclusion, MemoryTree, TreeStore,
    };
    use serde_json::json;
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;

    /// A log in memory with the same shape as the Durable Object's tables, whose commit can be
    /// made to fail, and which checks the atomicity contract (a commit applies wholly).
    #[derive(Default)]
    pub(crate) struct MemoryLog {
        pub state: RefCell<Option<WriterState>>,
        pub events: RefCell<BTreeMap<u64, StagedEvent>>,
        pub subtrees: RefCell<BTreeMap<(u32, u64), Hash32>>,
        pub fail_next_commit: Cell<bool>,
    }

    impl LogStore for MemoryLog {
        fn load(&self) -> Result<WriterState, AuditError> {
            let state = self
                .state
                .borrow()
                .clone()
                .unwrap_or_else(WriterState::genesis);
            let last = self
                .events
                .borrow()
                .keys()
                .next_back()
                .copied()
                .unwrap_or(0);
            if last != state.head.size() {
                return Err(AuditError::LogCorrupt {
                    detail: format!("head size {} but last event {last}", state.head.size()),
                });
            }
            Ok(state)
        }

        fn commit(&self, batch: &AppendBatch) -> Result<(), AuditError> {
            if self.fail_next_commit.replace(false) {
                return Err(AuditError::StoreUnavailable {
                    detail: "injected".into(),
                });
            }
            let mut events = self.events.borrow_mut();
            for e in &batch.events {
                // A primary key: the same seq can never be stored twice.
                assert!(events.insert(e.record.seq.get(), e.clone()).is_none());
            }
            let mut subtrees = self.subtrees.borrow_mut();
            for s in &batch.subtrees {
                assert!(subtrees.insert((s.level, s.index), s.hash).is_none());
            }
            *self.state.borrow_mut() = Some(batch.state.clone());
            Ok(())
        }
    }

    impl TreeStore for MemoryLog {
        fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash32>, AuditError> {
            let events = self.events.borrow();
            (start + 1..=end)
                .map(|seq| {
                    events.get(&seq).map(|e| e.record.leaf_hash).ok_or_else(|| {
                        AuditError::StoreUnavailable {
                            detail: format!("no event {seq}"),
                        }
                    })
                })
                .collect()
        }

        fn perfect_subtree(&self, level: u32, index: u64) -> Result<Hash32, AuditError> {
            if level == 0 {
                return Ok(self.leaf_hashes(index, index + 1)?[0]);
            }
            self.subtrees
                .borrow()
                .get(&(level, index))
                .copied()
                .ok_or_else(|| AuditError::StoreUnavailable {
                    detail: format!("no subtree {index} at level {level}"),
                })
        }
    }

    pub(crate) fn note(n: u64) -> NewEvent {
        NewEvent {
            actor: "ops@example.com".into(),
            kind: "OPERATOR_NOTE".into(),
            payload: json!({ "text": format!("note {n}") }),
            evidence_hash: None,
        }
    }

    const T0: i64 = 1_767_225_600_000;

    #[test]
    fn batches_get_gapless_seqs_and_the_same_hashes_as_the_log_head() {
        let log = MemoryLog::default();
        let mut reference = LogHead::genesis();
        let mut seqs = Vec::new();
        for (i, size) in [1usize, 3, 1, 7, 20].into_iter().enumerate() {
            let batch: Vec<NewEvent> = (0..size).map(|n| note(n as u64)).collect();
            let receipts = append(&log, T0 + i as i64, &batch).unwrap();
            for (receipt, offered) in receipts.iter().zip(&batch) {
                let event = AuditEvent {
                    seq: reference.next_seq(),
                    at: T0 + i as i64,
                    actor: offered.actor.clone(),
                    kind: offered.kind.clone(),
                    payload: offered.payload.clone(),
                    evidence_hash: None,
                };
                let (expected, bytes) = reference.append(&event).unwrap();
                assert_eq!(*receipt, expected);
                assert_eq!(log.events.borrow()[&receipt.seq.get()].bytes, bytes);
                seqs.push(receipt.seq.get());
            }
        }
        assert_eq!(seqs, (1..=32).collect::<Vec<_>>());
        assert_eq!(log.load().unwrap().head, reference);
    }

    #[test]
    fn stored_subtrees_answer_proofs_like_a_memory_tree() {
        let log = MemoryLog::default();
        let mut tree = MemoryTree::new();
        for chunk in 0..9u64 {
            let batch: Vec<NewEvent> = (0..chunk + 1).map(note).collect();
            for r in append(&log, T0, &batch).unwrap() {
                tree.push(r.leaf_hash);
            }
        }
        let size = tree.size();
        for at in [1, 2, 3, 17, 32, size] {
            assert_eq!(root_at(&log, at).unwrap(), root_at(&tree, at).unwrap());
            for index in [0, at / 2, at - 1] {
                let proof = inclusion_proof(&log, index, at).unwrap();
                assert_eq!(proof, inclusion_proof(&tree, index, at).unwrap());
                let leaf = log.perfect_subtree(0, index).unwrap();
                let root = root_at(&log, at).unwrap();
                verify_inclusion(index, at, leaf.as_bytes(), &proof, root.as_bytes()).unwrap();
            }
        }
    }

    #[test]
    fn a_failed_commit_writes_nothing_and_the_next_append_reuses_its_seqs() {
        let log = MemoryLog::default();
        append(&log, T0, &[note(1), note(2)]).unwrap();
        let before = log.load().unwrap();
        log.fail_next_commit.set(true);
        let err = append(&log, T0 + 5, &[note(3), note(4)]).unwrap_err();
        assert_eq!(err.code(), "AUDIT_STORE_UNAVAILABLE");
        assert_eq!(log.load().unwrap(), before);
        assert_eq!(log.events.borrow().len(), 2);
        let receipts = append(&log, T0 + 6, &[note(5)]).unwrap();
        assert_eq!(receipts[0].seq.get(), 3);
    }

    #[test]
    fn a_bad_event_rejects_the_whole_batch_with_its_index() {
        let log = MemoryLog::default();
        let mut bad = note(2);
        bad.payload = json!({"price": 0.52});
        let err = append(&log, T0, &[note(1), bad]).unwrap_err();
        assert_eq!(
            err,
            AppendError::Rejected {
                index: Some(1),
                error: AuditError::NonIntegerNumber {
                    path: "/payload/price".into()
                }
            }
        );
        assert!(log.events.borrow().is_empty());
        assert_eq!(log.load().unwrap(), WriterState::genesis());
    }

    #[test]
    fn batch_size_kind_actor_and_event_size_are_limited() {
        let state = WriterState::genesis();
        let code = |events: &[NewEvent]| stage(&state, T0, events).unwrap_err().code();
        assert_eq!(code(&[]), "AUDIT_BATCH_EMPTY");
        let many: Vec<NewEvent> = (0..=MAX_BATCH_EVENTS as u64).map(note).collect();
        assert_eq!(code(&many), "AUDIT_BATCH_TOO_LARGE");
        for kind in [
            "",
            "1ST",
            "_X",
            "WITH SPACE",
            "a/b",
            "é",
            &"K".repeat(MAX_KIND_BYTES + 1),
        ] {
            let mut e = note(1);
            e.kind = kind.into();
            assert_eq!(code(&[e]), "AUDIT_EVENT_MALFORMED", "{kind:?}");
        }
        for actor in ["", "a\nb", &"a".repeat(MAX_ACTOR_BYTES + 1)] {
            let mut e = note(1);
            e.actor = actor.into();
            assert_eq!(code(&[e]), "AUDIT_EVENT_MALFORMED", "{actor:?}");
        }
        for kind in ["OPERATOR_NOTE", "risk.breaker_transition", "x-y.Z_1"] {
            let mut e = note(1);
            e.kind = kind.into();
            assert!(stage(&state, T0, &[e]).is_ok(), "{kind}");
        }
        let mut big = note(1);
        big.payload = json!({ "text": "x".repeat(MAX_EVENT_BYTES) });
        assert_eq!(code(&[big]), "AUDIT_EVENT_TOO_LARGE");
    }

    #[test]
    fn event_times_never_go_backwards() {
        let log = MemoryLog::default();
        append(&log, T0 + 1_000, &[note(1)]).unwrap();
        append(&log, T0, &[note(2)]).unwrap();
        let events = log.events.borrow();
        let at = |seq: u64| {
            AuditEvent::from_canonical_bytes(&events[&seq].bytes)
                .unwrap()
                .at
        };
        assert_eq!(at(1), T0 + 1_000);
        assert_eq!(at(2), T0 + 1_000);
    }

    #[test]
    fn a_head_that_disagrees_with_the_rows_refuses_appends() {
        let log = MemoryLog::default();
        append(&log, T0, &[note(1), note(2)]).unwrap();
        log.events.borrow_mut().remove(&2);
        assert_eq!(
            append(&log, T0, &[note(3)]).unwrap_err().code(),
            "AUDIT_LOG_CORRUPT"
        );
    }

    #[test]
    fn new_event_json_rejects_unknown_fields_and_reads_evidence_hash_as_hex() {
        let hash = Hash32::sha256(&[b"evidence"]);
        let e: NewEvent = serde_json::from_value(json!({
            "actor": "system", "kind": "K", "payload": {}, "evidence_hash": hash.to_hex()
        }))
        .unwrap();
        assert_eq!(e.evidence_hash, Some(hash));
        assert!(serde_json::from_value::<NewEvent>(json!({
            "actor": "system", "kind": "K", "payload": {}, "seq": 4
        }))
        .is_err());
    }
}
