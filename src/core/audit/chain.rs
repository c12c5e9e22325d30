//! The hash chain and the log head the single writer keeps.
//!
//! Besides the Merkle tree, every event is linked to all before it:
//! `chain_k = SHA-256(chain_{k−1} ‖ leaf_k)`, starting from [`chain_genesis`]. The chain is the
//! security guide's floor ("each hash including the previous one"); the tree adds O(log n)
//! proofs. Anchors commit to both.

use super::error::AuditError;
use super::event::{AuditEvent, Seq};
use super::hash::Hash32;
use super::merkle::{leaf_hash, Frontier};
use serde::{Deserialize, Serialize};

/// The ASCII label whose SHA-256 is the chain value before event 1.
pub const CHAIN_GENESIS_LABEL: &str = "paul-p/audit/chain/genesis/v1";

/// `SHA-256("paul-p/audit/chain/genesis/v1")`: the chain value of the empty log.
pub fn chain_genesis() -> Hash32 {
    Hash32::sha256(&[CHAIN_GENESIS_LABEL.as_bytes()])
}

/// The next chain value: SHA-256(previous chain value ‖ leaf hash), 64 bytes hashed.
pub fn chain_hash(previous: &Hash32, leaf: &Hash32) -> Hash32 {
    Hash32::sha256(&[previous.as_bytes(), leaf.as_bytes()])
}

/// What the log recorded for one event: the answer `append` returns and the row the
/// verifier cross-checks the R2 object against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafRecord {
    /// The event's sequence number.
    pub seq: Seq,
    /// SHA-256(0x00 ‖ canonical event bytes).
    pub leaf_hash: Hash32,
    /// Chain value after this event.
    pub chain_hash: Hash32,
}

/// The state the single writer carries between appends: Merkle frontier and chain head.
/// `size` events are in; the next is `size + 1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHead {
    /// Right edge of the Merkle tree over all leaves so far.
    pub frontier: Frontier,
    /// Chain value after the last event ([`chain_genesis`] when empty).
    pub chain_head: Hash32,
}

impl Default for LogHead {
    fn default() -> Self {
        LogHead::genesis()
    }
}

impl LogHead {
    /// The head of the empty log.
    pub fn genesis() -> Self {
        LogHead {
            frontier: Frontier::new(),
            chain_head: chain_genesis(),
        }
    }

    /// Number of events in the log.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The sequence number the next event must carry.
    pub fn next_seq(&self) -> Seq {
        Seq::new(self.size() + 1).expect("size + 1 is never 0")
    }

    /// Merkle root of the whole log.
    pub fn root(&self) -> Hash32 {
        self.frontier.root()
    }

    /// Appends `event`, which must carry [`LogHead::next_seq`]; returns its record and the
    /// canonical bytes to store. On error the head is unchanged.
    ///
    /// Errors: `AUDIT_SEQ_OUT_OF_ORDER`, or the event's canonicalisation error.
    pub fn append(&mut self, event: &AuditEvent) -> Result<(LeafRecord, Vec<u8>), AuditError> {
        let expected = self.next_seq();
        if event.seq != expected {
            return Err(AuditError::SeqOutOfOrder {
                expected: expected.get(),
                got: event.seq.get(),
            });
        }
        let bytes = event.canonical_bytes()?;
        let record = self.append_leaf(leaf_hash(&bytes));
        Ok((record, bytes))
    }

    /// Appends a leaf hash whose event bytes were already checked and stored.
    pub fn append_leaf(&mut self, leaf: Hash32) -> LeafRecord {
        let seq = self.next_seq();
        self.chain_head = chain_hash(&self.chain_head, &leaf);
        self.frontier.append(leaf);
        LeafRecord {
            seq,
            leaf_hash: leaf,
            chain_hash: self.chain_head,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::audit::merkle::{empty_root, MemoryTree};
    use serde_json::json;

    fn event(seq: u64) -> AuditEvent {
        AuditEvent {
            seq: Seq::new(seq).unwrap(),
            at: 1_767_225_600_000 + seq as i64,
            actor: "system".into(),
            kind: "TEST".into(),
            payload: json!({ "n": seq }),
            evidence_hash: None,
        }
    }

    #[test]
    fn genesis_is_the_sha256_of_the_documented_label() {
        assert_eq!(
            chain_genesis().to_hex(),
            "e6a0c7c6ed7c6663f1789d83d625692afe855e1f553011f88b0e2005cc3afca8"
        );
    }

    #[test]
    fn empty_log_has_genesis_chain_and_empty_root() {
        let head = LogHead::genesis();
        assert_eq!(head.size(), 0);
        assert_eq!(head.next_seq(), Seq::FIRST);
        assert_eq!(head.chain_head, chain_genesis());
        assert_eq!(head.root(), empty_root());
    }

    #[test]
    fn append_links_each_event_to_the_previous_chain_value() {
        let mut head = LogHead::genesis();
        let mut tree = MemoryTree::new();
        let mut chain = chain_genesis();
        for seq in 1..=5 {
            let e = event(seq);
            let (record, bytes) = head.append(&e).unwrap();
            assert_eq!(bytes, e.canonical_bytes().unwrap());
            assert_eq!(record.seq.get(), seq);
            assert_eq!(record.leaf_hash, e.leaf_hash().unwrap());
            chain = Hash32::sha256(&[chain.as_bytes(), record.leaf_hash.as_bytes()]);
            assert_eq!(record.chain_hash, chain);
            tree.push(record.leaf_hash);
        }
        assert_eq!(head.root(), tree.root());
        assert_eq!(head.chain_head, chain);
    }

    #[test]
    fn append_refuses_a_wrong_seq_and_leaves_the_head_unchanged() {
        let mut head = LogHead::genesis();
        head.append(&event(1)).unwrap();
        let before = head.clone();
        for seq in [1, 3] {
            assert_eq!(
                head.append(&event(seq)).unwrap_err(),
                AuditError::SeqOutOfOrder {
                    expected: 2,
                    got: seq
                }
            );
        }
        let mut float = event(2);
        float.payload = json!({"x": 1.5});
        assert_eq!(
            head.append(&float).unwrap_err().code(),
            "AUDIT_CANONICAL_NON_INTEGER"
        );
        assert_eq!(head, before);
    }

    #[test]
    fn head_round_trips_through_serde() {
        let mut head = LogHead::genesis();
        for seq in 1..=3 {
            head.append(&event(seq)).unwrap();
        }
        let json = serde_json::to_string(&head).unwrap();
        assert_eq!(serde_json::from_str::<LogHead>(&json).unwrap(), head);
    }
}
