//! [`Hash32`]: a SHA-256 digest, with the hex and base64 spellings the log uses.

use super::error::AuditError;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;

/// A 32-byte SHA-256 digest.
///
/// Text forms: lowercase hex (64 chars) in JSON, storage keys and logs; standard padded
/// base64 (44 chars) inside checkpoints, as C2SP tlog-checkpoint requires. Serde uses hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash32([u8; 32]);

impl Hash32 {
    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Hash32(bytes)
    }

    /// The raw digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// SHA-256 of the concatenation of `parts` (no separators added).
    pub fn sha256(parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        Hash32(hasher.finalize().into())
    }

    /// Copies a slice that must be exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, AuditError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| AuditError::HashMalformed {
            detail: format!("expected 32 bytes, got {}", bytes.len()),
        })?;
        Ok(Hash32(array))
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits (either case); anything else is `AUDIT_HASH_MALFORMED`.
    pub fn from_hex(s: &str) -> Result<Self, AuditError> {
        if s.len() != 64 {
            return Err(AuditError::HashMalformed {
                detail: format!("expected 64 hex digits, got {} characters", s.len()),
            });
        }
        let bytes = hex::decode(s).map_err(|e| AuditError::HashMalformed {
            detail: format!("not hex: {e}"),
        })?;
        Hash32::from_slice(&bytes)
    }

    /// Standard padded base64, 44 characters.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// Parses standard padded base64 of exactly 32 bytes; anything else is
    /// `AUDIT_HASH_MALFORMED`.
    pub fn from_base64(s: &str) -> Result<Self, AuditError> {
        let bytes = BASE64.decode(s).map_err(|e| AuditError::HashMalformed {
            detail: format!("not base64: {e}"),
        })?;
        Hash32::from_slice(&bytes)
    }
}

impl AsRef<[u8]> for Hash32 {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({})", self.to_hex())
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Hash32::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_nothing_is_the_well_known_digest() {
        assert_eq!(
            Hash32::sha256(&[]).to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hex_and_base64_round_trip() {
        let h = Hash32::sha256(&[b"abc"]);
        assert_eq!(Hash32::from_hex(&h.to_hex()).unwrap(), h);
        assert_eq!(Hash32::from_hex(&h.to_hex().to_uppercase()).unwrap(), h);
        assert_eq!(Hash32::from_base64(&h.to_base64()).unwrap(), h);
        assert_eq!(h.to_base64().len(), 44);
    }

    #[test]
    fn wrong_lengths_and_alphabets_are_malformed() {
        for bad in ["", "00", &"0".repeat(63), &"g".repeat(64)] {
            assert_eq!(
                Hash32::from_hex(bad).unwrap_err().code(),
                "AUDIT_HASH_MALFORMED"
            );
        }
        assert_eq!(
            Hash32::from_base64("ZG9uJ3QgY2FyZSAy").unwrap_err().code(),
            "AUDIT_HASH_MALFORMED"
        );
        assert_eq!(
            Hash32::from_base64("not base64!").unwrap_err().code(),
            "AUDIT_HASH_MALFORMED"
        );
    }

    #[test]
    fn serde_uses_lowercase_hex() {
        let h = Hash32::sha256(&[b"abc"]);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", h.to_hex()));
        assert_eq!(serde_json::from_str::<Hash32>(&json).unwrap(), h);
        assert!(serde_json::from_str::<Hash32>("\"abcd\"").is_err());
    }
}
