//! The audit event, its canonical bytes, and where its immutable copy lives in R2.

use super::canonical::to_canonical_vec;
use super::error::AuditError;
use super::hash::Hash32;
use super::merkle::leaf_hash;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// A sequence number in the audit log: 1-based, gapless, never reused.
///
/// Event `seq` is the leaf at Merkle index `seq − 1`; a tree of size `n` holds events
/// `1..=n`, so an anchor's tree size is the seq of the last event it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seq(u64);

impl Seq {
    /// The first event of every log.
    pub const FIRST: Seq = Seq(1);

    /// `Some` for `n >= 1`; there is no event 0.
    pub const fn new(n: u64) -> Option<Seq> {
        if n == 0 {
            None
        } else {
            Some(Seq(n))
        }
    }

    /// The number itself.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Zero-based Merkle leaf index of this event.
    pub const fn leaf_index(self) -> u64 {
        self.0 - 1
    }

    /// The following sequence number.
    pub const fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One audit event, as hashed and stored.
///
/// Canonical bytes are RFC 8785 JSON of exactly these members (integers only, see
/// [`super::canonical`]); `evidence_hash` is omitted when absent, never `null`.
/// `at` is **milliseconds since the Unix epoch, UTC**, as an integer: one spelling per
/// instant (an RFC 3339 string has many), and the same unit as `Date.now()` in the Worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// Position in the log, assigned by the single writer.
    pub seq: Seq,
    /// When the event was decided, in ms since the Unix epoch (UTC).
    pub at: i64,
    /// Who caused it (operator email, service token name, `cron:…`, `system`). Non-empty.
    pub actor: String,
    /// What happened, as a stable code (`BREAKER_TRANSITION`, `RISK_REFUSED`, …). Non-empty.
    pub kind: String,
    /// Kind-specific detail; any JSON whose numbers are integers.
    pub payload: Value,
    /// SHA-256 of raw evidence bytes in R2_EVIDENCE this event rests on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_hash: Option<Hash32>,
}

impl AuditEvent {
    /// The canonical bytes that are hashed and stored.
    ///
    /// Errors: `AUDIT_EVENT_MALFORMED` for an empty actor or kind; the canonical-JSON codes for
    /// a float or an out-of-range integer anywhere (including `at`).
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, AuditError> {
        if self.actor.is_empty() {
            return Err(AuditError::EventMalformed {
                detail: "actor is empty".into(),
            });
        }
        if self.kind.is_empty() {
            return Err(AuditError::EventMalformed {
                detail: "kind is empty".into(),
            });
        }
        let value = serde_json::to_value(self).map_err(|e| AuditError::EventMalformed {
            detail: e.to_string(),
        })?;
        to_canonical_vec(&value)
    }

    /// RFC 6962 leaf hash of the canonical bytes: SHA-256(0x00 ‖ bytes).
    pub fn leaf_hash(&self) -> Result<Hash32, AuditError> {
        Ok(leaf_hash(&self.canonical_bytes()?))
    }

    /// Reads an event back from stored bytes, accepting only its canonical spelling, so that
    /// every accepted object re-hashes to the leaf it claims to be.
    ///
    /// Errors: `AUDIT_EVENT_MALFORMED` (not JSON, unknown or missing member, seq 0, empty actor
    /// or kind), the canonical-JSON codes (a float or huge integer inside),
    /// `AUDIT_EVENT_NOT_CANONICAL` (valid, but spelled differently).
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<AuditEvent, AuditError> {
        let event: AuditEvent =
            serde_json::from_slice(bytes).map_err(|e| AuditError::EventMalformed {
                detail: e.to_string(),
            })?;
        if event.seq.get() == 0 {
            return Err(AuditError::EventMalformed {
                detail: "seq is 0".into(),
            });
        }
        if event.canonical_bytes()? != bytes {
            return Err(AuditError::EventNotCanonical);
        }
        Ok(event)
    }
}

/// Prefix of the per-event objects in R2_AUDIT.
pub const EVENT_OBJECT_PREFIX: &str = "audit/events/";

/// R2_AUDIT key of an event's immutable copy: `audit/events/{seq:012}.json`.
pub fn event_object_key(seq: Seq) -> String {
    format!("{EVENT_OBJECT_PREFIX}{:012}.json", seq.get())
}

/// The seq an R2 key names, if it is exactly a key [`event_object_key`] would produce.
pub fn parse_event_object_key(key: &str) -> Option<Seq> {
    let digits = key
        .strip_prefix(EVENT_OBJECT_PREFIX)?
        .strip_suffix(".json")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq = Seq::new(digits.parse().ok()?)?;
    (event_object_key(seq) == key).then_some(seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> AuditEvent {
        AuditEvent {
            seq: Seq::new(42).unwrap(),
            at: 1_767_225_600_000,
            actor: "ops@example.com".into(),
            kind: "BREAKER_TRANSITION".into(),
            payload: json!({"to": "HALT", "from": "NORMAL", "loss_micros": -1_250_000}),
            evidence_hash: None,
        }
    }

    #[test]
    fn canonical_bytes_sort_members_and_omit_absent_evidence() {
        let bytes = event().canonical_bytes().unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"actor":"ops@example.com","at":1767225600000,"kind":"BREAKER_TRANSITION","payload":{"from":"NORMAL","loss_micros":-1250000,"to":"HALT"},"seq":42}"#
        );
    }

    #[test]
    fn evidence_hash_is_lowercase_hex_between_at_and_kind() {
        let mut e = event();
        e.evidence_hash = Some(Hash32::sha256(&[b"raw venue bytes"]));
        let text = String::from_utf8(e.canonical_bytes().unwrap()).unwrap();
        let hex = e.evidence_hash.unwrap().to_hex();
        assert!(text.contains(&format!(
            r#""at":1767225600000,"evidence_hash":"{hex}","kind""#
        )));
    }

    #[test]
    fn leaf_hash_is_sha256_of_zero_byte_then_canonical_bytes() {
        let e = event();
        let bytes = e.canonical_bytes().unwrap();
        assert_eq!(e.leaf_hash().unwrap(), Hash32::sha256(&[&[0u8], &bytes]));
    }

    #[test]
    fn canonical_bytes_parse_back_to_the_same_event() {
        let mut e = event();
        e.evidence_hash = Some(Hash32::sha256(&[b"x"]));
        let bytes = e.canonical_bytes().unwrap();
        assert_eq!(AuditEvent::from_canonical_bytes(&bytes).unwrap(), e);
    }

    #[test]
    fn non_canonical_spellings_of_a_valid_event_are_refused() {
        let pretty = serde_json::to_vec_pretty(&event()).unwrap();
        assert_eq!(
            AuditEvent::from_canonical_bytes(&pretty).unwrap_err(),
            AuditError::EventNotCanonical
        );
    }

    #[test]
    fn malformed_objects_are_refused_with_a_code() {
        let cases: [&[u8]; 4] = [
            b"not json",
            br#"{"actor":"a","at":1,"kind":"K","payload":null,"seq":1,"extra":1}"#,
            br#"{"actor":"a","at":1,"kind":"K","payload":null}"#,
            br#"{"actor":"a","at":1,"kind":"K","payload":null,"seq":0}"#,
        ];
        for bytes in cases {
            assert_eq!(
                AuditEvent::from_canonical_bytes(bytes).unwrap_err().code(),
                "AUDIT_EVENT_MALFORMED"
            );
        }
    }

    #[test]
    fn floats_in_payload_cannot_be_hashed() {
        let mut e = event();
        e.payload = json!({"price": 0.52});
        assert_eq!(
            e.canonical_bytes().unwrap_err(),
            AuditError::NonIntegerNumber {
                path: "/payload/price".into()
            }
        );
    }

    #[test]
    fn empty_actor_or_kind_is_malformed() {
        let mut e = event();
        e.actor.clear();
        assert_eq!(
            e.canonical_bytes().unwrap_err().code(),
            "AUDIT_EVENT_MALFORMED"
        );
        let mut e = event();
        e.kind.clear();
        assert_eq!(
            e.canonical_bytes().unwrap_err().code(),
            "AUDIT_EVENT_MALFORMED"
        );
    }

    #[test]
    fn object_keys_are_zero_padded_and_parse_back_only_when_exact() {
        let seq = Seq::new(7).unwrap();
        assert_eq!(event_object_key(seq), "audit/events/000000000007.json");
        assert_eq!(
            parse_event_object_key("audit/events/000000000007.json"),
            Some(seq)
        );
        let big = Seq::new(1_234_567_890_123).unwrap();
        assert_eq!(parse_event_object_key(&event_object_key(big)), Some(big));
        for bad in [
            "audit/events/7.json",
            "audit/events/000000000000.json",
            "audit/events/0000000000007.json",
            "audit/events/000000000007.json.bak",
            "audit/events/00000000000x.json",
            "audit/events/.json",
            "audit/checkpoints/000000000007",
        ] {
            assert_eq!(parse_event_object_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn seq_zero_does_not_exist() {
        assert_eq!(Seq::new(0), None);
        assert_eq!(Seq::FIRST.leaf_index(), 0);
        assert_eq!(Seq::FIRST.next().get(), 2);
    }
}
