//! The tamper-evident audit log, pure parts: canonical event bytes, RFC 6962 Merkle tree and
//! hash chain, C2SP signed checkpoints, and full verification.
//!
//! - [`canonical`]: RFC 8785 canonical JSON, integers only.
//! - [`event`]: [`AuditEvent`], [`Seq`], the R2 object key of each event.
//! - [`merkle`]: leaf/node hashes, [`Frontier`], [`TreeStore`] + [`MemoryTree`], inclusion and
//!   consistency proofs and their verification.
//! - [`chain`]: chain genesis and links, [`LogHead`] (what the single writer carries).
//! - [`checkpoint`]: anchors as C2SP tlog-checkpoints signed as C2SP signed-notes (Ed25519).
//! - [`verify`]: [`review_anchors`] + the resumable [`Verifier`] producing a [`VerifyReport`].
//! - [`sequencer`]: the single writer's step ([`sequencer::stage`], [`sequencer::append`])
//!   over a [`sequencer::LogStore`] whose commit is atomic.
//! - [`verify_run`]: a [`Verifier`] run paged over the R2 listing ([`verify_run::VerifyRun`]).
//!
//! Nothing here reads a clock, an environment or storage: times, keys and stored bytes are
//! parameters.

pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod error;
pub mod event;
pub mod hash;
pub mod merkle;
pub mod sequencer;
pub mod verify;
pub mod verify_run;

#[cfg(test)]
mod bench;
#[cfg(test)]
mod probe_vectors;

pub use chain::{chain_genesis, chain_hash, LeafRecord, LogHead, CHAIN_GENESIS_LABEL};
pub use checkpoint::{
    anchor_genesis, handover_key, open_checkpoint, sign_checkpoint, sign_handover, Checkpoint,
    NoteSigner, NoteVerifier, ANCHOR_GENESIS_LABEL,
};
pub use error::AuditError;
pub use event::{event_object_key, parse_event_object_key, AuditEvent, Seq};
pub use hash::Hash32;
pub use merkle::{
    consistency_proof, inclusion_proof, root_at, verify_consistency, verify_inclusion, Frontier,
    MemoryTree, Subtree, TreeStore,
};
pub use sequencer::{AppendBatch, AppendError, LogStore, NewEvent, StagedEvent, WriterState};
pub use verify::{
    anchor_key_schedule, retired_keys, review_anchors, review_anchors_with, AnchorKeys, Problem,
    ProblemCode, RetiredKey, Verifier, VerifyReport,
};
