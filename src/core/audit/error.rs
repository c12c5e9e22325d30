//! [`AuditError`]: every way an audit operation can refuse, each with a stable code.

use std::fmt;

/// Why an audit operation refused. [`AuditError::code`] is stable and safe to show; the
/// `Display` form is `CODE: key=value …` and never contains key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditError {
    /// A number in a value to canonicalise is not an integer (money is integers).
    NonIntegerNumber { path: String },
    /// An integer beyond ±(2^53 − 1), which RFC 8785 cannot carry exactly.
    IntegerOutOfRange { path: String },
    /// A hash was not 32 bytes in the expected spelling.
    HashMalformed { detail: String },
    /// An event object is not a well-formed event (bad JSON, missing or unknown field).
    EventMalformed { detail: String },
    /// An event object parsed, but its bytes are not the canonical form of what they hold.
    EventNotCanonical,
    /// An event was offered out of sequence.
    SeqOutOfOrder { expected: u64, got: u64 },
    /// A proof was asked for or checked with sizes/indices that admit no proof.
    ProofRangeInvalid { detail: String },
    /// A proof has the wrong number of hashes for its sizes.
    ProofLength { detail: String },
    /// A proof element or leaf hash is not 32 bytes.
    ProofHashMalformed,
    /// A proof is well-formed but does not lead to the claimed root(s).
    ProofRootMismatch,
    /// Storage could not provide a hash the computation needs.
    StoreUnavailable { detail: String },
    /// The `AUDIT_SIGNING_KEY` secret is not a 32-byte seed in hex or base64.
    SigningKeyMalformed { detail: String },
    /// A verifier key string is not `name+hexkeyid+base64(0x01‖pubkey)` or its id is wrong.
    VerifierKeyMalformed { detail: String },
    /// A key name is empty or contains a space or `+` (signed-note rules).
    KeyNameInvalid,
    /// Text is not a well-formed signed note.
    NoteMalformed { detail: String },
    /// No signature on the note is from the trusted key.
    NoteUnverified,
    /// A signature claiming to be from the trusted key does not verify.
    NoteSignatureInvalid,
    /// A note's text is not a checkpoint in our format.
    CheckpointMalformed { detail: String },
    /// A checkpoint's origin is not the name of the key that signs or verifies it.
    CheckpointOriginMismatch { origin: String, key_name: String },
    /// A handover anchor was asked for that is not one: the checkpoint does not name the
    /// previous key, or the previous and current keys are the same.
    KeyHandoverInvalid,
    /// The verifier was fed input out of order (a bug in the caller, not in the log).
    VerifierInputOutOfOrder { detail: String },
    /// An append offered no events.
    BatchEmpty,
    /// An append offered more events than one commit may carry.
    BatchTooLarge { count: usize, max: usize },
    /// One event's canonical bytes exceed the per-event limit.
    EventTooLarge { bytes: usize, max: usize },
    /// The stored log contradicts itself (head and rows disagree); the writer refuses to go on.
    LogCorrupt { detail: String },
}

impl AuditError {
    /// Stable code for envelopes, logs and tests.
    pub fn code(&self) -> &'static str {
        match self {
            AuditError::NonIntegerNumber { .. } => "AUDIT_CANONICAL_NON_INTEGER",
            AuditError::IntegerOutOfRange { .. } => "AUDIT_CANONICAL_INTEGER_RANGE",
            AuditError::HashMalformed { .. } => "AUDIT_HASH_MALFORMED",
            AuditError::EventMalformed { .. } => "AUDIT_EVENT_MALFORMED",
            AuditError::EventNotCanonical => "AUDIT_EVENT_NOT_CANONICAL",
            AuditError::SeqOutOfOrder { .. } => "AUDIT_SEQ_OUT_OF_ORDER",
            AuditError::ProofRangeInvalid { .. } => "AUDIT_PROOF_RANGE_INVALID",
            AuditError::ProofLength { .. } => "AUDIT_PROOF_LENGTH",
            AuditError::ProofHashMalformed => "AUDIT_PROOF_HASH_MALFORMED",
            AuditError::ProofRootMismatch => "AUDIT_PROOF_ROOT_MISMATCH",
            AuditError::StoreUnavailable { .. } => "AUDIT_STORE_UNAVAILABLE",
            AuditError::SigningKeyMalformed { .. } => "AUDIT_SIGNING_KEY_MALFORMED",
            AuditError::VerifierKeyMalformed { .. } => "AUDIT_VERIFIER_KEY_MALFORMED",
            AuditError::KeyNameInvalid => "AUDIT_KEY_NAME_INVALID",
            AuditError::NoteMalformed { .. } => "AUDIT_NOTE_MALFORMED",
            AuditError::NoteUnverified => "AUDIT_NOTE_UNVERIFIED",
            AuditError::NoteSignatureInvalid => "AUDIT_NOTE_SIGNATURE_INVALID",
            AuditError::CheckpointMalformed { .. } => "AUDIT_CHECKPOINT_MALFORMED",
            AuditError::CheckpointOriginMismatch { .. } => "AUDIT_CHECKPOINT_ORIGIN_MISMATCH",
            AuditError::KeyHandoverInvalid => "AUDIT_KEY_HANDOVER_INVALID",
            AuditError::VerifierInputOutOfOrder { .. } => "AUDIT_VERIFIER_INPUT_OUT_OF_ORDER",
            AuditError::BatchEmpty => "AUDIT_BATCH_EMPTY",
            AuditError::BatchTooLarge { .. } => "AUDIT_BATCH_TOO_LARGE",
            AuditError::EventTooLarge { .. } => "AUDIT_EVENT_TOO_LARGE",
            AuditError::LogCorrupt { .. } => "AUDIT_LOG_CORRUPT",
        }
    }
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())?;
        match self {
            AuditError::NonIntegerNumber { path } | AuditError::IntegerOutOfRange { path } => {
                write!(f, ": path={path:?}")
            }
            AuditError::HashMalformed { detail }
            | AuditError::EventMalformed { detail }
            | AuditError::ProofRangeInvalid { detail }
            | AuditError::ProofLength { detail }
            | AuditError::StoreUnavailable { detail }
            | AuditError::SigningKeyMalformed { detail }
            | AuditError::VerifierKeyMalformed { detail }
            | AuditError::NoteMalformed { detail }
            | AuditError::CheckpointMalformed { detail }
            | AuditError::VerifierInputOutOfOrder { detail }
            | AuditError::LogCorrupt { detail } => write!(f, ": detail={detail:?}"),
            AuditError::BatchTooLarge { count, max } => write!(f, ": count={count} max={max}"),
            AuditError::EventTooLarge { bytes, max } => write!(f, ": bytes={bytes} max={max}"),
            AuditError::SeqOutOfOrder { expected, got } => {
                write!(f, ": expected={expected} got={got}")
            }
            AuditError::CheckpointOriginMismatch { origin, key_name } => {
                write!(f, ": origin={origin:?} key_name={key_name:?}")
            }
            AuditError::EventNotCanonical
            | AuditError::ProofHashMalformed
            | AuditError::ProofRootMismatch
            | AuditError::KeyNameInvalid
            | AuditError::NoteUnverified
            | AuditError::NoteSignatureInvalid
            | AuditError::KeyHandoverInvalid
            | AuditError::BatchEmpty => Ok(()),
        }
    }
}

impl std::error::Error for AuditError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_starts_with_the_code_and_carries_context() {
        let e = AuditError::SeqOutOfOrder {
            expected: 7,
            got: 9,
        };
        assert_eq!(e.to_string(), "AUDIT_SEQ_OUT_OF_ORDER: expected=7 got=9");
        assert_eq!(
            AuditError::NoteUnverified.to_string(),
            "AUDIT_NOTE_UNVERIFIED"
        );
    }
}
