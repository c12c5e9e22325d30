//! Full verification of the log from its independent copies, in resumable pages.
//!
//! Three sources are cross-checked, each against the next-stronger one:
//! 1. the **R2 objects** (one per event) against the **log's records** (leaf and chain hash per
//!    seq, kept by the single writer): re-hash every object, find missing and unknown ones;
//! 2. the records against themselves: every chain link is recomputed;
//! 3. the records against the **signed anchors**: the Merkle root and chain head recomputed at
//!    each anchor's size must be the ones it signed, and the anchors must form one history.
//!
//! After a mismatch the walk continues from the stronger value (an edited object is reported,
//! then its record's leaf is used), so one fault is reported once, at its own seq, instead of
//! at every later event. Anchor problems are reported at the anchor's tree size, i.e. at the
//! seq of the last event it covers.
//!
//! [`Verifier`] is plain data (serde), so a Worker can check a page of events, store the
//! verifier, and resume within the next CPU budget.

use super::chain::{chain_hash, LeafRecord, LogHead};
use super::checkpoint::{
    anchor_genesis, handover_key, open_checkpoint, read_checkpoint_unverified, Checkpoint,
    NoteVerifier,
};
use super::error::AuditError;
use super::event::{event_object_key, parse_event_object_key, AuditEvent, Seq};
use super::hash::Hash32;
use super::merkle::leaf_hash;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Most problems a report lists; the rest are only counted (`problems_omitted`), so a
/// wholesale rewrite cannot blow up the verifier's stored state.
pub const MAX_PROBLEMS: usize = 1_000;

/// What is wrong, as a stable code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProblemCode {
    /// The event object's bytes do not hash to the leaf the log recorded (edited object).
    EventHashMismatch,
    /// The object hashes right but is not the canonical event for its key.
    EventMalformed,
    /// A recorded chain value is not SHA-256(previous chain value ‖ leaf).
    ChainBroken,
    /// Events missing while later ones exist (deleted objects, or a hole in the log's records);
    /// reported at the first missing seq of each run.
    SequenceGap,
    /// A validly signed anchor's root or chain head differs from the recomputed one.
    AnchorRootMismatch,
    /// An anchor's signature does not verify with the trusted key (or it has none from it).
    AnchorSignatureInvalid,
    /// An anchor is not a checkpoint of this log in our format.
    AnchorMalformed,
    /// Validly signed anchors disagree: broken `prev-anchor` link, shrinking size, two roots
    /// for one size, or time going backwards.
    AnchorInconsistent,
    /// The newest events are gone: objects missing up to the log's end, or an anchor covers
    /// more events than the log has.
    Truncated,
    /// An object under the events prefix that the log does not know.
    UnknownObject,
}

impl ProblemCode {
    /// The code as it appears in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemCode::EventHashMismatch => "EVENT_HASH_MISMATCH",
            ProblemCode::EventMalformed => "EVENT_MALFORMED",
            ProblemCode::ChainBroken => "CHAIN_BROKEN",
            ProblemCode::SequenceGap => "SEQUENCE_GAP",
            ProblemCode::AnchorRootMismatch => "ANCHOR_ROOT_MISMATCH",
            ProblemCode::AnchorSignatureInvalid => "ANCHOR_SIGNATURE_INVALID",
            ProblemCode::AnchorMalformed => "ANCHOR_MALFORMED",
            ProblemCode::AnchorInconsistent => "ANCHOR_INCONSISTENT",
            ProblemCode::Truncated => "TRUNCATED",
            ProblemCode::UnknownObject => "UNKNOWN_OBJECT",
        }
    }
}

/// One finding. `seq` is the event it is at (an anchor's tree size for anchor problems);
/// `None` when no event can be named (an unparseable object key, an anchor of size 0 or
/// unreadable size). `detail` says more (object key, anchor index, run end).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Where.
    pub seq: Option<Seq>,
    /// What.
    pub code: ProblemCode,
    /// Human-readable context; absent when the code and seq say it all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The verdict of a verification run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// True only if no problem of any kind was found.
    pub valid: bool,
    /// Number of events checked.
    pub checked: u64,
    /// Lowest seq among the problems.
    pub first_bad_seq: Option<Seq>,
    /// Problems ordered by seq (those without a seq last), at most [`MAX_PROBLEMS`].
    pub problems: Vec<Problem>,
    /// Problems found beyond [`MAX_PROBLEMS`].
    pub problems_omitted: u64,
}

/// What a validly signed anchor commits to, to be compared during the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorTarget {
    /// Tree size.
    pub size: u64,
    /// Signed Merkle root at `size`.
    pub root: Hash32,
    /// Signed chain value after event `size`.
    pub chain_head: Hash32,
}

/// The outcome of checking the anchors among themselves, ready for the event walk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorReview {
    /// Commitments of the validly signed anchors, by size, duplicates removed.
    pub targets: Vec<AnchorTarget>,
    /// Signature, format and consistency problems.
    pub problems: Vec<Problem>,
    /// Largest tree size among the validly signed anchors.
    pub latest_size: Option<u64>,
}

/// The keys anchors are checked with: the current signing key's verifier and, during a key
/// rotation (before the handover anchor exists), the previous one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorKeys {
    /// The verifier of the key anchoring now (`AUDIT_SIGNING_KEY`).
    pub current: NoteVerifier,
    /// The key being retired (`AUDIT_SIGNING_KEY_PREVIOUS`), trusted only for the newest
    /// anchors, until an anchor signed by the current key appears.
    pub previous: Option<NoteVerifier>,
}

impl AnchorKeys {
    /// Only the current key.
    pub fn current(current: NoteVerifier) -> Self {
        AnchorKeys {
            current,
            previous: None,
        }
    }
}

/// Which key each anchor (oldest first) must verify with, found by walking back from the
/// newest: the newest anchors are the current key's (or, during a rotation, the previous
/// key's until a current-key anchor is met); a valid handover anchor hands trust to the key it
/// names for everything before it ([`handover_key`]). Trust thus only ever flows from the
/// current key backwards, through signatures of the keys themselves.
pub fn anchor_key_schedule<S: AsRef<str>>(notes: &[S], keys: &AnchorKeys) -> Vec<NoteVerifier> {
    let mut trusted = keys.current.clone();
    let mut rotating = keys.previous.clone();
    let mut schedule = Vec::with_capacity(notes.len());
    for note in notes.iter().rev() {
        let note = note.as_ref();
        let mut used = trusted.clone();
        match open_checkpoint(note, &trusted) {
            Ok(checkpoint) => {
                rotating = None;
                if let Some(previous) = handover_key(note, &checkpoint, &trusted) {
                    trusted = previous;
                }
            }
            Err(_) => {
                if let Some(previous) = rotating.clone() {
                    if let Ok(checkpoint) = open_checkpoint(note, &previous) {
                        used = previous.clone();
                        trusted = previous;
                        rotating = None;
                        if let Some(older) = handover_key(note, &checkpoint, &trusted) {
                            trusted = older;
                        }
                    }
                }
            }
        }
        schedule.push(used);
    }
    schedule.reverse();
    schedule
}

/// A key the log's anchors retired, and the handover anchor that did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetiredKey {
    /// Position of the handover anchor among all anchors, oldest first, from 0.
    pub anchor_index: usize,
    /// The handover anchor's checkpoint.
    pub handover: Checkpoint,
    /// The key that signed the anchors before it.
    pub key: NoteVerifier,
}

/// The keys a log's anchors hand over from, newest first, as established by
/// [`anchor_key_schedule`].
pub fn retired_keys<S: AsRef<str>>(notes: &[S], keys: &AnchorKeys) -> Vec<RetiredKey> {
    let schedule = anchor_key_schedule(notes, keys);
    let mut retired = Vec::new();
    for (index, (note, key)) in notes.iter().zip(&schedule).enumerate().rev() {
        let note = note.as_ref();
        if let Ok(checkpoint) = open_checkpoint(note, key) {
            if let Some(previous) = handover_key(note, &checkpoint, key) {
                retired.push(RetiredKey {
                    anchor_index: index,
                    handover: checkpoint,
                    key: previous,
                });
            }
        }
    }
    retired
}

/// Checks every anchor (signed note) in the order they were issued: signature with
/// `verifier`, format, origin, and that each validly signed anchor links to the one before
/// (`prev-anchor`, starting at [`anchor_genesis`]), never shrinks, keeps one root per size,
/// and moves forward in time. Pass **all** anchors, oldest first.
///
/// After an anchor that fails its signature, the next anchor's link is not checked (the
/// genuine predecessor is unknown), so a forged anchor is reported once.
pub fn review_anchors<S: AsRef<str>>(notes: &[S], verifier: &NoteVerifier) -> AnchorReview {
    review_anchors_with(notes, &AnchorKeys::current(verifier.clone()))
}

/// [`review_anchors`] across key rotations: each anchor is checked with the key
/// [`anchor_key_schedule`] gives it, and a handover anchor the retired key did not sign is a
/// signature problem.
pub fn review_anchors_with<S: AsRef<str>>(notes: &[S], keys: &AnchorKeys) -> AnchorReview {
    enum Link {
        Genesis,
        After(Hash32),
        Unknown,
    }
    let schedule = anchor_key_schedule(notes, keys);
    let mut problems = Vec::new();
    let mut targets = Vec::new();
    let mut link = Link::Genesis;
    let mut last_valid: Option<Checkpoint> = None;
    for (index, (note, verifier)) in notes.iter().zip(&schedule).enumerate() {
        let note = note.as_ref();
        let opened = open_checkpoint(note, verifier).and_then(|checkpoint| {
            match checkpoint.previous_key() {
                Some(_) if handover_key(note, &checkpoint, verifier).is_none() => {
                    Err(AuditError::NoteUnverified)
                }
                _ => Ok(checkpoint),
            }
        });
        let checkpoint = match opened {
            Ok(checkpoint) => checkpoint,
            Err(err) => {
                let code = match err {
                    AuditError::NoteUnverified | AuditError::NoteSignatureInvalid => {
                        ProblemCode::AnchorSignatureInvalid
                    }
                    _ => ProblemCode::AnchorMalformed,
                };
                let seq = read_checkpoint_unverified(note).and_then(|c| Seq::new(c.size()));
                problems.push(Problem {
                    seq,
                    code,
                    detail: Some(format!("anchor #{index}: {}", err.code())),
                });
                link = Link::Unknown;
                continue;
            }
        };
        let expected_prev = match link {
            Link::Genesis => Some(anchor_genesis()),
            Link::After(hash) => Some(hash),
            Link::Unknown => None,
        };
        let mut why = None;
        if expected_prev.is_some_and(|h| h != checkpoint.prev_anchor()) {
            why = Some("prev-anchor does not match the anchor before it");
        } else if let Some(last) = &last_valid {
            if checkpoint.size() < last.size() {
                why = Some("tree size shrank");
            } else if checkpoint.size() == last.size()
                && (checkpoint.root() != last.root()
                    || checkpoint.chain_head() != last.chain_head())
            {
                why = Some("two different heads for one tree size");
            } else if checkpoint.timestamp_ms() <= last.timestamp_ms() {
                why = Some("timestamp did not increase");
            }
        }
        if let Some(why) = why {
            problems.push(Problem {
                seq: Seq::new(checkpoint.size()),
                code: ProblemCode::AnchorInconsistent,
                detail: Some(format!("anchor #{index}: {why}")),
            });
        }
        targets.push(AnchorTarget {
            size: checkpoint.size(),
            root: checkpoint.root(),
            chain_head: checkpoint.chain_head(),
        });
        link = Link::After(checkpoint.anchor_hash());
        last_valid = Some(checkpoint);
    }
    let latest_size = targets.iter().map(|t| t.size).max();
    targets.sort_by_key(|t| (t.size, t.root, t.chain_head));
    targets.dedup();
    AnchorReview {
        targets,
        problems,
        latest_size,
    }
}

/// A verification in progress: feed it the log's records in seq order with their R2 objects,
/// then [`Verifier::finish`]. Serialise it between pages to resume later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verifier {
    /// Frontier and chain value over the events checked so far.
    head: LogHead,
    /// Next seq expected.
    next: u64,
    /// Last seq this run checks.
    through: u64,
    /// Number of events the log says it has.
    log_size: u64,
    latest_anchor_size: Option<u64>,
    /// Anchors still ahead of the walk, by size.
    targets: VecDeque<AnchorTarget>,
    /// First seq of the current run of records whose objects are missing.
    missing_from: Option<u64>,
    /// Set when the log's own records skip seqs: roots can no longer be recomputed.
    merkle_lost: bool,
    checked: u64,
    problems: Vec<Problem>,
    problems_omitted: u64,
}

impl Verifier {
    /// Starts a run that checks events `start.size() + 1 ..= through` of a log holding
    /// `log_size` events. `start` is [`LogHead::genesis`] for a full run, or the head after
    /// event `from − 1` (frontier via `Frontier::from_store`, chain value from the record) for
    /// a partial one. Anchors at sizes outside the range are not compared.
    ///
    /// Errors: `AUDIT_VERIFIER_INPUT_OUT_OF_ORDER` unless
    /// `start.size() <= through <= log_size`.
    pub fn new(
        start: LogHead,
        through: u64,
        log_size: u64,
        anchors: AnchorReview,
    ) -> Result<Self, AuditError> {
        if through < start.size() || through > log_size {
            return Err(AuditError::VerifierInputOutOfOrder {
                detail: format!(
                    "range {}..={through} does not fit a log of size {log_size}",
                    start.size() + 1
                ),
            });
        }
        let start_size = start.size();
        let mut verifier = Verifier {
            next: start_size + 1,
            head: start,
            through,
            log_size,
            latest_anchor_size: anchors.latest_size,
            targets: anchors
                .targets
                .into_iter()
                .filter(|t| t.size >= start_size && t.size <= through)
                .collect(),
            missing_from: None,
            merkle_lost: false,
            checked: 0,
            problems: Vec::new(),
            problems_omitted: 0,
        };
        for problem in anchors.problems {
            verifier.push(problem);
        }
        verifier.compare_anchors_at(start_size);
        Ok(verifier)
    }

    /// The next seq the verifier expects, or `None` when the range is done.
    pub fn next_seq(&self) -> Option<Seq> {
        (self.next <= self.through).then(|| Seq::new(self.next).expect("next is at least 1"))
    }

    /// Checks one event: `record` is what the log holds for the next seq (the log's records
    /// must be fed in increasing seq order; a skipped seq is a hole in the log and is
    /// reported), `object` the bytes of its R2 object, or `None` if there is none.
    ///
    /// Errors (caller bugs, state unchanged): `AUDIT_VERIFIER_INPUT_OUT_OF_ORDER` for a seq
    /// already checked or beyond the range.
    pub fn check_event(
        &mut self,
        record: &LeafRecord,
        object: Option<&[u8]>,
    ) -> Result<(), AuditError> {
        let seq = record.seq.get();
        if seq < self.next || seq > self.through {
            return Err(AuditError::VerifierInputOutOfOrder {
                detail: format!(
                    "record {seq} fed while expecting {}..={}",
                    self.next, self.through
                ),
            });
        }
        let mut link_known = true;
        if seq > self.next {
            // The log's own records skip seqs: nothing can stand in for their leaves.
            self.close_missing_run(self.next);
            self.report(
                self.next,
                ProblemCode::SequenceGap,
                Some(format!("log has no record for {}..={}", self.next, seq - 1)),
            );
            self.merkle_lost = true;
            link_known = false;
            self.next = seq;
        }
        match object {
            Some(bytes) => {
                self.close_missing_run(seq);
                if leaf_hash(bytes) != record.leaf_hash {
                    self.report(seq, ProblemCode::EventHashMismatch, None);
                } else {
                    match AuditEvent::from_canonical_bytes(bytes) {
                        Ok(event) if event.seq == record.seq => {}
                        Ok(event) => self.report(
                            seq,
                            ProblemCode::EventMalformed,
                            Some(format!("object holds seq {}", event.seq)),
                        ),
                        Err(err) => self.report(
                            seq,
                            ProblemCode::EventMalformed,
                            Some(err.code().to_string()),
                        ),
                    }
                }
            }
            None => {
                self.missing_from.get_or_insert(seq);
            }
        }
        if link_known && chain_hash(&self.head.chain_head, &record.leaf_hash) != record.chain_hash {
            self.report(seq, ProblemCode::ChainBroken, None);
        }
        // Continue from the log's values, so each fault is reported where it is.
        self.head.chain_head = record.chain_hash;
        if !self.merkle_lost {
            self.head.frontier.append(record.leaf_hash);
        }
        self.checked += 1;
        self.next = seq + 1;
        self.compare_anchors_at(seq);
        Ok(())
    }

    /// Records an object under the events prefix that the log does not know (its key does
    /// not parse, or names a seq beyond the log's size).
    pub fn unknown_object(&mut self, key: &str) {
        self.push(Problem {
            seq: parse_event_object_key(key),
            code: ProblemCode::UnknownObject,
            detail: Some(key.to_string()),
        });
    }

    /// Checks a page: consecutive `records` from the log and the R2 objects listed for the
    /// same key range (any order, any keys). Objects matching a record are checked with it;
    /// keys that are not event keys, or name a seq beyond the log's size or in a hole of the
    /// log's records, are unknown objects.
    ///
    /// Errors (state unchanged): `AUDIT_VERIFIER_INPUT_OUT_OF_ORDER` if records are not in
    /// increasing order from the next expected seq, or an object names a seq of the log that
    /// lies outside this page.
    pub fn check_page(
        &mut self,
        records: &[LeafRecord],
        objects: &[(&str, &[u8])],
    ) -> Result<(), AuditError> {
        let out_of_order = |detail: String| AuditError::VerifierInputOutOfOrder { detail };
        let mut last = self.next.saturating_sub(1);
        for record in records {
            let seq = record.seq.get();
            if seq <= last || seq > self.through {
                return Err(out_of_order(format!("record {seq} out of order or range")));
            }
            last = seq;
        }
        let page = self.next..=last;
        let mut matched: BTreeMap<u64, &[u8]> = BTreeMap::new();
        let mut unknown: Vec<&str> = Vec::new();
        for (key, bytes) in objects {
            match parse_event_object_key(key).map(Seq::get) {
                Some(seq) if page.contains(&seq) => {
                    matched.insert(seq, bytes);
                }
                Some(seq) if seq <= self.log_size => {
                    return Err(out_of_order(format!("object {key} is outside this page")));
                }
                _ => unknown.push(key),
            }
        }
        for record in records {
            let object = matched.remove(&record.seq.get());
            self.check_event(record, object)?;
        }
        for key in unknown {
            self.unknown_object(key);
        }
        // Left over: objects at seqs the log's records skip.
        for seq in matched.into_keys() {
            let key = event_object_key(Seq::new(seq).expect("page seqs are >= 1"));
            self.unknown_object(&key);
        }
        Ok(())
    }

    /// Ends the run and gives the verdict.
    ///
    /// Errors: `AUDIT_VERIFIER_INPUT_OUT_OF_ORDER` if events of the range were never fed
    /// (a run must not look valid for what it did not check).
    pub fn finish(mut self) -> Result<VerifyReport, AuditError> {
        if self.next <= self.through {
            return Err(AuditError::VerifierInputOutOfOrder {
                detail: format!("events {}..={} were not checked", self.next, self.through),
            });
        }
        if let Some(first) = self.missing_from.take() {
            let detail = Some(format!("objects {first}..={} missing", self.through));
            // At the log's end nothing follows the missing objects: the log was cut.
            let code = if self.through == self.log_size {
                ProblemCode::Truncated
            } else {
                ProblemCode::SequenceGap
            };
            self.report(first, code, detail);
        }
        if let Some(latest) = self.latest_anchor_size.filter(|&s| s > self.log_size) {
            self.report(
                self.log_size + 1,
                ProblemCode::Truncated,
                Some(format!(
                    "an anchor covers {latest} events, the log has {}",
                    self.log_size
                )),
            );
        }
        let mut problems = self.problems;
        problems.sort_by_key(|p| (p.seq.is_none(), p.seq, p.code));
        let first_bad_seq = problems.iter().filter_map(|p| p.seq).min();
        Ok(VerifyReport {
            valid: problems.is_empty() && self.problems_omitted == 0,
            checked: self.checked,
            first_bad_seq,
            problems,
            problems_omitted: self.problems_omitted,
        })
    }

    /// Compares every anchor at tree size `size` with the walk's head, dropping those passed.
    fn compare_anchors_at(&mut self, size: u64) {
        let mut root = None;
        while let Some(target) = self.targets.front().copied() {
            if target.size > size {
                break;
            }
            self.targets.pop_front();
            if target.size < size || self.merkle_lost {
                continue;
            }
            let root = *root.get_or_insert_with(|| self.head.root());
            if target.root != root || target.chain_head != self.head.chain_head {
                let which = if target.root != root {
                    "root"
                } else {
                    "chain head"
                };
                self.push(Problem {
                    seq: Seq::new(size),
                    code: ProblemCode::AnchorRootMismatch,
                    detail: Some(format!("signed {which} differs from the recomputed one")),
                });
            }
        }
    }

    /// Reports a run of missing objects that ends before `seq` as a gap.
    fn close_missing_run(&mut self, seq: u64) {
        if let Some(first) = self.missing_from.take() {
            self.report(
                first,
                ProblemCode::SequenceGap,
                Some(format!("objects {first}..={} missing", seq - 1)),
            );
        }
    }

    fn report(&mut self, seq: u64, code: ProblemCode, detail: Option<String>) {
        self.push(Problem {
            seq: Seq::new(seq),
            code,
            detail,
        });
    }

    fn push(&mut self, problem: Problem) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        } else {
            self.problems_omitted += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::audit::checkpoint::{sign_checkpoint, sign_handover, NoteSigner};
    use crate::core::audit::merkle::{Frontier, MemoryTree};
    use serde_json::json;

    const ORIGIN: &str = "paul-p.example/audit";
    const HOUR_MS: i64 = 3_600_000;

    fn signer() -> NoteSigner {
        NoteSigner::from_seed(ORIGIN, &[3u8; 32]).unwrap()
    }

    /// A log as the Worker would hold it: the object's records, the R2 objects, anchors.
    struct Fixture {
        records: Vec<LeafRecord>,
        objects: BTreeMap<String, Vec<u8>>,
        anchors: Vec<String>,
        tree: MemoryTree,
        heads: Vec<LogHead>,
        keys: AnchorKeys,
    }

    /// Who signs an anchor in a rotation fixture.
    #[derive(Clone, Copy)]
    enum By {
        Old,
        /// The handover: names the old key, signed by old then new.
        Handover,
        New,
        /// Names the old key but only the new key signs (an attempt to skip the old key).
        FakeHandover,
    }

    fn new_signer() -> NoteSigner {
        NoteSigner::from_seed(ORIGIN, &[8u8; 32]).unwrap()
    }

    impl Fixture {
        /// `n` events, anchored (signed) after each size in `anchor_sizes`, in that order.
        fn new(n: u64, anchor_sizes: &[u64]) -> Self {
            let mut head = LogHead::genesis();
            let mut records = Vec::new();
            let mut objects = BTreeMap::new();
            let mut tree = MemoryTree::new();
            let mut heads = vec![head.clone()];
            for seq in 1..=n {
                let event = AuditEvent {
                    seq: Seq::new(seq).unwrap(),
                    at: 1_767_225_600_000 + seq as i64 * 1_000,
                    actor: "system".into(),
                    kind: "RISK_REFUSED".into(),
                    payload: json!({"order": format!("o-{seq}"), "notional_micros": seq * 10}),
                    evidence_hash: None,
                };
                let (record, bytes) = head.append(&event).unwrap();
                tree.push(record.leaf_hash);
                records.push(record);
                objects.insert(event_object_key(event.seq), bytes);
                heads.push(head.clone());
            }
            let signer = signer();
            let mut prev = anchor_genesis();
            let mut anchors = Vec::new();
            for (hour, &size) in anchor_sizes.iter().enumerate() {
                let at = &heads[size as usize];
                let checkpoint = Checkpoint::new(
                    ORIGIN,
                    size,
                    at.root(),
                    at.chain_head,
                    prev,
                    1_767_229_200_000 + hour as i64 * HOUR_MS,
                )
                .unwrap();
                prev = checkpoint.anchor_hash();
                anchors.push(sign_checkpoint(&checkpoint, &signer).unwrap());
            }
            Fixture {
                records,
                objects,
                anchors,
                tree,
                heads,
                keys: AnchorKeys::current(signer.verifier()),
            }
        }

        /// `n` events with anchors at `plan` (size, signer), checked with the new key as
        /// current and `previous` as the key being retired.
        fn rotated(n: u64, plan: &[(u64, By)], previous: Option<NoteVerifier>) -> Self {
            let mut f = Fixture::new(n, &[]);
            let (old, new) = (signer(), new_signer());
            let mut prev = anchor_genesis();
            for (hour, &(size, by)) in plan.iter().enumerate() {
                let at = &f.heads[size as usize];
                let mut checkpoint = Checkpoint::new(
                    ORIGIN,
                    size,
                    at.root(),
                    at.chain_head,
                    prev,
                    1_767_229_200_000 + hour as i64 * HOUR_MS,
                )
                .unwrap();
                if matches!(by, By::Handover | By::FakeHandover) {
                    checkpoint = checkpoint.with_previous_key(old.verifier()).unwrap();
                }
                prev = checkpoint.anchor_hash();
                f.anchors.push(match by {
                    By::Old => sign_checkpoint(&checkpoint, &old).unwrap(),
                    By::New | By::FakeHandover => sign_checkpoint(&checkpoint, &new).unwrap(),
                    By::Handover => sign_handover(&checkpoint, &old, &new).unwrap(),
                });
            }
            f.keys = AnchorKeys {
                current: new.verifier(),
                previous,
            };
            f
        }

        fn log_size(&self) -> u64 {
            self.records.len() as u64
        }

        /// Full verification in pages of `page` events, storing and reloading the verifier
        /// between pages as the Worker would. Objects after the last record are reported as
        /// unknown at the end.
        fn verify_in_pages(&self, page: usize) -> VerifyReport {
            let review = review_anchors_with(&self.anchors, &self.keys);
            let mut stored = serde_json::to_string(
                &Verifier::new(LogHead::genesis(), self.log_size(), self.log_size(), review)
                    .unwrap(),
            )
            .unwrap();
            let mut start = 0;
            for chunk in self.records.chunks(page) {
                let first = chunk[0].seq;
                let last = chunk[chunk.len() - 1].seq;
                let (lo, hi) = (event_object_key(first), event_object_key(last));
                // The R2 listing of this page's key range (unknown keys included).
                let objects: Vec<(&str, &[u8])> = self
                    .objects
                    .range(lo..=hi)
                    .map(|(k, v)| (k.as_str(), v.as_slice()))
                    .collect();
                let mut verifier: Verifier = serde_json::from_str(&stored).unwrap();
                verifier.check_page(chunk, &objects).unwrap();
                stored = serde_json::to_string(&verifier).unwrap();
                start += chunk.len();
            }
            assert_eq!(start, self.records.len());
            let mut verifier: Verifier = serde_json::from_str(&stored).unwrap();
            let after = self
                .records
                .last()
                .map_or_else(String::new, |r| event_object_key(r.seq));
            for key in self.objects.keys().filter(|k| **k > after) {
                verifier.unknown_object(key);
            }
            verifier.finish().unwrap()
        }

        fn verify(&self) -> VerifyReport {
            let whole = self.verify_in_pages(usize::MAX >> 1);
            assert_eq!(self.verify_in_pages(3), whole, "paging changes the verdict");
            whole
        }

        fn key(seq: u64) -> String {
            event_object_key(Seq::new(seq).unwrap())
        }
    }

    /// (seq, code) pairs of a report, for exact assertions.
    fn found(report: &VerifyReport) -> Vec<(Option<u64>, ProblemCode)> {
        report
            .problems
            .iter()
            .map(|p| (p.seq.map(Seq::get), p.code))
            .collect()
    }

    fn assert_only(report: &VerifyReport, seq: u64, code: ProblemCode) {
        assert_eq!(found(report), vec![(Some(seq), code)], "{report:#?}");
        assert!(!report.valid);
        assert_eq!(report.first_bad_seq.map(Seq::get), Some(seq));
    }

    #[test]
    fn untouched_log_with_hourly_anchors_is_valid() {
        // Size 0 before any event, an hour with no new events (20 twice).
        let f = Fixture::new(20, &[0, 5, 10, 15, 20, 20]);
        let report = f.verify();
        assert!(report.valid, "{report:#?}");
        assert_eq!(report.checked, 20);
        assert_eq!(report.first_bad_seq, None);
        assert!(report.problems.is_empty());
    }

    #[test]
    fn edited_event_is_reported_once_at_its_seq() {
        let mut f = Fixture::new(20, &[5, 10, 15, 20]);
        let key = Fixture::key(7);
        let edited = String::from_utf8(f.objects[&key].clone())
            .unwrap()
            .replace("\"notional_micros\":70", "\"notional_micros\":7");
        f.objects.insert(key, edited.into_bytes());
        assert_only(&f.verify(), 7, ProblemCode::EventHashMismatch);
    }

    #[test]
    fn deleted_event_is_a_sequence_gap_at_its_seq() {
        let mut f = Fixture::new(20, &[5, 10, 15, 20]);
        f.objects.remove(&Fixture::key(7));
        assert_only(&f.verify(), 7, ProblemCode::SequenceGap);
    }

    #[test]
    fn deleted_run_is_one_gap_at_its_first_seq() {
        let mut f = Fixture::new(20, &[5, 10, 15, 20]);
        for seq in 7..=9 {
            f.objects.remove(&Fixture::key(seq));
        }
        let report = f.verify();
        assert_only(&report, 7, ProblemCode::SequenceGap);
        assert_eq!(
            report.problems[0].detail.as_deref(),
            Some("objects 7..=9 missing")
        );
    }

    #[test]
    fn removed_newest_objects_are_truncation_at_the_first_removed() {
        let mut f = Fixture::new(20, &[5, 10, 15, 20]);
        for seq in 18..=20 {
            f.objects.remove(&Fixture::key(seq));
        }
        assert_only(&f.verify(), 18, ProblemCode::Truncated);
    }

    #[test]
    fn log_shorter_than_its_latest_anchor_is_truncated_after_its_end() {
        let mut f = Fixture::new(20, &[5, 10, 15, 20]);
        f.records.truncate(17);
        for seq in 18..=20 {
            f.objects.remove(&Fixture::key(seq));
        }
        assert_only(&f.verify(), 18, ProblemCode::Truncated);
    }

    #[test]
    fn objects_the_log_does_not_know_are_unknown() {
        let mut f = Fixture::new(20, &[20]);
        f.objects.insert(Fixture::key(21), b"{}".to_vec());
        f.objects
            .insert("audit/events/000000000007.json.bak".into(), b"x".to_vec());
        let report = f.verify();
        assert_eq!(
            found(&report),
            vec![
                (Some(21), ProblemCode::UnknownObject),
                (None, ProblemCode::UnknownObject)
            ]
        );
        assert_eq!(report.first_bad_seq.map(Seq::get), Some(21));
        assert_eq!(
            report.problems[1].detail.as_deref(),
            Some("audit/events/000000000007.json.bak")
        );
    }

    #[test]
    fn forged_anchor_signature_is_reported_at_its_size() {
        let mut f = Fixture::new(20, &[5, 10, 15, 20]);
        let note = f.anchors[1].clone();
        let (head, b64) = note.trim_end().rsplit_once(' ').unwrap();
        use base64::Engine;
        let engine = base64::engine::general_purpose::STANDARD;
        let mut blob = engine.decode(b64).unwrap();
        blob[20] ^= 0x80;
        f.anchors[1] = format!("{head} {}\n", engine.encode(blob));
        assert_only(&f.verify(), 10, ProblemCode::AnchorSignatureInvalid);
    }

    #[test]
    fn anchor_with_a_rewritten_root_fails_its_signature_only() {
        let mut f = Fixture::new(20, &[5, 10, 15, 20]);
        let checkpoint =
            Checkpoint::parse_body(signer().verifier().open(&f.anchors[1]).unwrap()).unwrap();
        let forged_root = Hash32::sha256(&[b"attacker's root"]).to_base64();
        f.anchors[1] = f.anchors[1].replace(&checkpoint.root().to_base64(), &forged_root);
        assert_only(&f.verify(), 10, ProblemCode::AnchorSignatureInvalid);
    }

    #[test]
    fn a_rotated_key_keeps_the_old_anchors_verifiable_through_the_handover() {
        let f = Fixture::rotated(
            20,
            &[
                (5, By::Old),
                (10, By::Old),
                (12, By::Handover),
                (15, By::New),
                (20, By::New),
            ],
            None,
        );
        let report = f.verify();
        assert!(report.valid, "{report:#?}");
        let schedule = anchor_key_schedule(&f.anchors, &f.keys);
        let ids: Vec<u32> = schedule.iter().map(NoteVerifier::key_id).collect();
        let (old, new) = (signer().key_id(), new_signer().key_id());
        assert_eq!(ids, vec![old, old, new, new, new]);
        let retired = retired_keys(&f.anchors, &f.keys);
        assert_eq!(retired.len(), 1);
        assert_eq!(retired[0].anchor_index, 2);
        assert_eq!(retired[0].key, signer().verifier());
        assert_eq!(retired[0].handover.size(), 12);
        // The same log with only the new key and no handover anchor: the old anchors fail.
        let mut skipped = Fixture::rotated(
            20,
            &[(5, By::Old), (10, By::Old), (15, By::New), (20, By::New)],
            None,
        );
        let report = skipped.verify();
        assert_eq!(
            found(&report),
            vec![
                (Some(5), ProblemCode::AnchorSignatureInvalid),
                (Some(10), ProblemCode::AnchorSignatureInvalid),
            ],
            "{report:#?}"
        );
        // An operator who configured the retired key still cannot vouch for old anchors once
        // the new key has anchored without a handover.
        skipped.keys.previous = Some(signer().verifier());
        assert!(!skipped.verify().valid);
    }

    #[test]
    fn during_a_rotation_the_previous_key_covers_the_newest_anchors_until_the_handover() {
        // AUDIT_SIGNING_KEY is already the new key, AUDIT_SIGNING_KEY_PREVIOUS the old one,
        // and the next hourly anchor (the handover) has not been made yet.
        let pending = Fixture::rotated(
            20,
            &[(5, By::Old), (10, By::Old), (20, By::Old)],
            Some(signer().verifier()),
        );
        assert!(pending.verify().valid);
        // Without the previous key configured, the new key alone cannot vouch for them.
        let mut unconfigured = pending;
        unconfigured.keys.previous = None;
        let report = unconfigured.verify();
        assert_eq!(report.problems.len(), 3, "{report:#?}");
        assert!(report
            .problems
            .iter()
            .all(|p| p.code == ProblemCode::AnchorSignatureInvalid));
    }

    #[test]
    fn a_handover_the_old_key_did_not_sign_hands_over_nothing() {
        // Someone holding only a new key names the old key as previous and signs alone.
        let f = Fixture::rotated(
            20,
            &[(5, By::Old), (10, By::FakeHandover), (20, By::New)],
            None,
        );
        let report = f.verify();
        assert_eq!(
            found(&report),
            vec![
                (Some(5), ProblemCode::AnchorSignatureInvalid),
                (Some(10), ProblemCode::AnchorSignatureInvalid),
            ],
            "{report:#?}"
        );
        assert!(retired_keys(&f.anchors, &f.keys).is_empty());
    }

    #[test]
    fn two_rotations_chain_back_to_the_first_key() {
        // old → new (handover at 10), then new → newest (handover at 15).
        let newest = NoteSigner::from_seed(ORIGIN, &[9u8; 32]).unwrap();
        let mut f = Fixture::rotated(20, &[(5, By::Old), (10, By::Handover), (12, By::New)], None);
        let latest =
            Checkpoint::parse_body(new_signer().verifier().open(&f.anchors[2]).unwrap()).unwrap();
        let at = &f.heads[15];
        let second = Checkpoint::new(
            ORIGIN,
            15,
            at.root(),
            at.chain_head,
            latest.anchor_hash(),
            latest.timestamp_ms() + HOUR_MS,
        )
        .unwrap()
        .with_previous_key(new_signer().verifier())
        .unwrap();
        f.anchors
            .push(sign_handover(&second, &new_signer(), &newest).unwrap());
        f.keys = AnchorKeys::current(newest.verifier());
        let report = f.verify();
        assert!(report.valid, "{report:#?}");
        let retired: Vec<(usize, u32)> = retired_keys(&f.anchors, &f.keys)
            .iter()
            .map(|r| (r.anchor_index, r.key.key_id()))
            .collect();
        assert_eq!(
            retired,
            vec![(3, new_signer().key_id()), (1, signer().key_id())]
        );
    }

    #[test]
    fn anchor_signed_by_another_key_is_a_signature_problem() {
        let mut f = Fixture::new(20, &[5, 10]);
        let impostor = NoteSigner::from_seed(ORIGIN, &[4u8; 32]).unwrap();
        let checkpoint =
            Checkpoint::parse_body(signer().verifier().open(&f.anchors[1]).unwrap()).unwrap();
        f.anchors[1] = sign_checkpoint(&checkpoint, &impostor).unwrap();
        assert_only(&f.verify(), 10, ProblemCode::AnchorSignatureInvalid);
    }

    #[test]
    fn history_rewritten_consistently_in_objects_and_records_is_caught_by_anchors() {
        // An attacker with write access to both the R2 objects and the log's records edits
        // event 7 and recomputes every later leaf and chain value: only the signed anchors
        // can tell, from the first anchor at or after 7 on.
        let mut f = Fixture::new(20, &[5, 10, 15, 20]);
        let mut head = LogHead::genesis();
        for record in &f.records[..6] {
            head.append_leaf(record.leaf_hash);
        }
        for seq in 7..=20u64 {
            let key = Fixture::key(seq);
            let mut event = AuditEvent::from_canonical_bytes(&f.objects[&key]).unwrap();
            if seq == 7 {
                event.payload = json!({"order": "o-7", "notional_micros": 1});
            }
            let (record, bytes) = head.append(&event).unwrap();
            f.records[seq as usize - 1] = record;
            f.objects.insert(key, bytes);
        }
        let report = f.verify();
        assert_eq!(
            found(&report),
            vec![
                (Some(10), ProblemCode::AnchorRootMismatch),
                (Some(15), ProblemCode::AnchorRootMismatch),
                (Some(20), ProblemCode::AnchorRootMismatch),
            ]
        );
        assert_eq!(report.first_bad_seq.map(Seq::get), Some(10));
    }

    #[test]
    fn tampered_chain_value_in_the_records_breaks_the_chain_there() {
        let mut f = Fixture::new(20, &[]);
        f.records[6].chain_hash = Hash32::sha256(&[b"forged"]);
        let report = f.verify();
        // The link into 7 and the link out of 7 are both wrong.
        assert_eq!(
            found(&report),
            vec![
                (Some(7), ProblemCode::ChainBroken),
                (Some(8), ProblemCode::ChainBroken)
            ]
        );
    }

    #[test]
    fn deleted_anchor_breaks_the_next_anchors_link() {
        let mut f = Fixture::new(20, &[5, 10, 15, 20]);
        f.anchors.remove(1);
        assert_only(&f.verify(), 15, ProblemCode::AnchorInconsistent);
    }

    #[test]
    fn anchor_for_a_shrunken_log_is_inconsistent() {
        // A validly signed anchor at 15 issued after the one at 20 (a rolled-back log).
        let mut f = Fixture::new(20, &[5, 10, 20]);
        let signer = signer();
        let last = Checkpoint::parse_body(signer.verifier().open(&f.anchors[2]).unwrap()).unwrap();
        let mut head = LogHead::genesis();
        for r in &f.records[..15] {
            head.append_leaf(r.leaf_hash);
        }
        let rolled_back = Checkpoint::new(
            ORIGIN,
            15,
            head.root(),
            head.chain_head,
            last.anchor_hash(),
            last.timestamp_ms() + HOUR_MS,
        )
        .unwrap();
        f.anchors
            .push(sign_checkpoint(&rolled_back, &signer).unwrap());
        assert_only(&f.verify(), 15, ProblemCode::AnchorInconsistent);
    }

    #[test]
    fn object_that_hashes_right_but_is_not_its_canonical_event_is_malformed() {
        let mut f = Fixture::new(5, &[5]);
        // The writer recorded the hash of non-canonical bytes (a writer bug, not tampering).
        let key = Fixture::key(3);
        let event = AuditEvent::from_canonical_bytes(&f.objects[&key]).unwrap();
        let pretty = serde_json::to_vec_pretty(&event).unwrap();
        let mut head = LogHead::genesis();
        for r in &f.records[..2] {
            head.append_leaf(r.leaf_hash);
        }
        for seq in 3..=5u64 {
            let k = Fixture::key(seq);
            let leaf = if seq == 3 {
                leaf_hash(&pretty)
            } else {
                leaf_hash(&f.objects[&k])
            };
            f.records[seq as usize - 1] = head.append_leaf(leaf);
        }
        f.objects.insert(key, pretty);
        f.anchors.clear();
        let report = f.verify();
        assert_only(&report, 3, ProblemCode::EventMalformed);
        assert_eq!(
            report.problems[0].detail.as_deref(),
            Some("AUDIT_EVENT_NOT_CANONICAL")
        );
    }

    #[test]
    fn hole_in_the_log_records_is_a_gap_and_its_object_is_unknown() {
        let mut f = Fixture::new(12, &[]);
        f.records.remove(7); // seq 8
        let review = review_anchors::<&str>(&[], &signer().verifier());
        let mut v = Verifier::new(LogHead::genesis(), 12, 12, review).unwrap();
        let objects: Vec<(&str, &[u8])> = f
            .objects
            .iter()
            .map(|(k, b)| (k.as_str(), b.as_slice()))
            .collect();
        v.check_page(&f.records, &objects).unwrap();
        let report = v.finish().unwrap();
        assert_eq!(
            found(&report),
            vec![
                (Some(8), ProblemCode::SequenceGap),
                (Some(8), ProblemCode::UnknownObject)
            ]
        );
    }

    #[test]
    fn partial_run_starts_from_a_stored_head() {
        let f = Fixture::new(20, &[5, 10, 15, 20]);
        let start = LogHead {
            frontier: Frontier::from_store(&f.tree, 10).unwrap(),
            chain_head: f.records[9].chain_hash,
        };
        let review = review_anchors(&f.anchors, &signer().verifier());
        let mut v = Verifier::new(start, 15, 20, review).unwrap();
        assert_eq!(v.next_seq().map(Seq::get), Some(11));
        let objects: Vec<(&str, &[u8])> = f
            .objects
            .range(Fixture::key(11)..=Fixture::key(15))
            .map(|(k, b)| (k.as_str(), b.as_slice()))
            .collect();
        v.check_page(&f.records[10..15], &objects).unwrap();
        assert_eq!(v.next_seq(), None);
        let report = v.finish().unwrap();
        assert!(report.valid, "{report:#?}");
        assert_eq!(report.checked, 5);
    }

    #[test]
    fn finishing_before_the_range_is_fed_is_refused() {
        let f = Fixture::new(4, &[]);
        let review = review_anchors::<&str>(&[], &signer().verifier());
        let mut v = Verifier::new(LogHead::genesis(), 4, 4, review).unwrap();
        v.check_event(&f.records[0], Some(&f.objects[&Fixture::key(1)]))
            .unwrap();
        assert_eq!(
            v.finish().unwrap_err().code(),
            "AUDIT_VERIFIER_INPUT_OUT_OF_ORDER"
        );
    }

    #[test]
    fn out_of_order_input_is_refused_without_changing_state() {
        let f = Fixture::new(6, &[]);
        let review = review_anchors::<&str>(&[], &signer().verifier());
        let mut v = Verifier::new(LogHead::genesis(), 6, 6, review).unwrap();
        v.check_page(&f.records[..2], &[]).unwrap();
        let before = v.clone();
        let stray = Fixture::key(5);
        let object = f.objects[&stray].as_slice();
        assert!(v.check_page(&f.records[2..4], &[(&stray, object)]).is_err());
        assert!(v.check_event(&f.records[0], None).is_err());
        assert!(v.check_page(&[f.records[3], f.records[2]], &[]).is_err());
        assert_eq!(v, before);
        assert!(Verifier::new(
            LogHead::genesis(),
            7,
            6,
            review_anchors::<&str>(&[], &signer().verifier())
        )
        .is_err());
    }

    #[test]
    fn report_serialises_with_the_documented_field_names_and_codes() {
        let mut f = Fixture::new(3, &[3]);
        f.objects.remove(&Fixture::key(2));
        let json = serde_json::to_value(f.verify()).unwrap();
        assert_eq!(
            json,
            json!({
                "valid": false,
                "checked": 3,
                "first_bad_seq": 2,
                "problems": [
                    {"seq": 2, "code": "SEQUENCE_GAP", "detail": "objects 2..=2 missing"}
                ],
                "problems_omitted": 0
            })
        );
        assert_eq!(ProblemCode::SequenceGap.as_str(), "SEQUENCE_GAP");
    }

    #[test]
    fn problem_list_is_capped_and_the_rest_counted() {
        let n = MAX_PROBLEMS as u64 + 5;
        let mut f = Fixture::new(n, &[]);
        for seq in 1..=n {
            let key = Fixture::key(seq);
            let mut bytes = f.objects[&key].clone();
            bytes.push(b' ');
            f.objects.insert(key, bytes);
        }
        let report = f.verify_in_pages(500);
        assert_eq!(report.problems.len(), MAX_PROBLEMS);
        assert_eq!(report.problems_omitted, 5);
        assert!(!report.valid);
    }
}
