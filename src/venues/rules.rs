//! A fingerprint of a market's resolution rules, so an approved cross-venue pair can be
//! invalidated the moment either venue edits the wording its settlement depends on.
//!
//! Canonical bytes (version 1), all UTF-8, `\n` = LF:
//!
//! ```text
//! paulp.rules.v1\n
//! venue:<venue>\n
//! <name>:<byte length of text>\n<text>\n        (once per part, in the venue's fixed order)
//! ```
//!
//! Kalshi parts are `rules_primary`, `rules_secondary`; Polymarket parts are `description`,
//! `resolutionSource` (absent = empty). Texts are hashed exactly as received — no trimming, no
//! Unicode or line-ending normalisation — so any edit, even whitespace, changes the hash and
//! forces a re-approval. Length prefixes make the encoding unambiguous (text cannot migrate
//! between parts without changing the hash); the venue tag keeps equal texts on two venues apart.

use sha2::{Digest, Sha256};
use std::fmt;

/// The version tag at the start of the canonical bytes; bump it if the encoding ever changes.
pub const RULES_HASH_VERSION: &str = "paulp.rules.v1";

/// A market whose resolution rules can be fingerprinted.
pub trait RulesText {
    /// `kalshi` or `polymarket`.
    fn venue(&self) -> &'static str;
    /// The rules texts as `(name, text)` in the venue's fixed order.
    fn rules_parts(&self) -> Vec<(&'static str, &str)>;
}

/// SHA-256 of a market's canonical rules bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RulesHash([u8; 32]);

impl RulesHash {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for RulesHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The canonical bytes described in the module documentation.
pub fn canonical_rules_bytes<M: RulesText + ?Sized>(market: &M) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(RULES_HASH_VERSION.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(b"venue:");
    out.extend_from_slice(market.venue().as_bytes());
    out.push(b'\n');
    for (name, text) in market.rules_parts() {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(text.len().to_string().as_bytes());
        out.push(b'\n');
        out.extend_from_slice(text.as_bytes());
        out.push(b'\n');
    }
    out
}

/// SHA-256 over [`canonical_rules_bytes`].
pub fn rules_hash<M: RulesText + ?Sized>(market: &M) -> RulesHash {
    RulesHash(Sha256::digest(canonical_rules_bytes(market)).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(&'static str, &'static str);

    impl RulesText for Fake {
        fn venue(&self) -> &'static str {
            "kalshi"
        }
        fn rules_parts(&self) -> Vec<(&'static str, &str)> {
            vec![("rules_primary", self.0), ("rules_secondary", self.1)]
        }
    }

    #[test]
    fn canonical_bytes_are_length_prefixed_and_versioned() {
        assert_eq!(
            canonical_rules_bytes(&Fake("ab", "")),
            b"paulp.rules.v1\nvenue:kalshi\nrules_primary:2\nab\nrules_secondary:0\n\n".to_vec()
        );
        // The hash of those bytes, computed independently (`printf … | sha256sum`).
        assert_eq!(
            rules_hash(&Fake("ab", "")).to_hex(),
            "ceaf11ea97f11b9231f22f9138b44fe6dbce812546c814d348def61f32b0c4b8"
        );
    }

    #[test]
    fn moving_text_between_parts_or_touching_whitespace_changes_the_hash() {
        let base = rules_hash(&Fake("ab", "c"));
        assert_ne!(base, rules_hash(&Fake("a", "bc")));
        assert_ne!(base, rules_hash(&Fake("ab ", "c")));
        assert_ne!(base, rules_hash(&Fake("ab", "c\n")));
        assert_eq!(base, rules_hash(&Fake("ab", "c")));
    }
}
