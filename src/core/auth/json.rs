//! Strict parsing of a top-level JSON object: anything but one object is refused, and so is a
//! repeated member name (RFC 7515 §5.2 lets a JWS parser refuse duplicates; for `ADMIN_TOKENS`
//! a repeated operator would silently drop a token).
//!
//! Errors never carry serde_json's message: it can quote the input, and the input may be a secret.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ObjectError {
    NotJson { line: usize, column: usize },
    NotObject,
    DuplicateKey(String),
}

pub(super) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ObjectError> {
    match serde_json::from_slice::<StrictObject>(bytes) {
        Ok(StrictObject {
            duplicate: Some(key),
            ..
        }) => Err(ObjectError::DuplicateKey(key)),
        Ok(StrictObject { members, .. }) => Ok(members),
        // A type mismatch (array, string, number at the top) is "not an object"; everything else
        // (syntax, truncation, trailing bytes) is "not JSON".
        Err(e) if e.is_data() => Err(ObjectError::NotObject),
        Err(e) => Err(ObjectError::NotJson {
            line: e.line(),
            column: e.column(),
        }),
    }
}

struct StrictObject {
    members: Map<String, Value>,
    /// The first repeated member name, if any. Recorded rather than raised so the caller gets
    /// the key without parsing serde's error text.
    duplicate: Option<String>,
}

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StrictObjectVisitor)
    }
}

struct StrictObjectVisitor;

impl<'de> Visitor<'de> for StrictObjectVisitor {
    type Value = StrictObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
        let mut members = Map::new();
        let mut duplicate = None;
        while let Some(key) = access.next_key::<String>()? {
            let value: Value = access.next_value()?;
            if members.contains_key(&key) {
                duplicate.get_or_insert(key);
            } else {
                members.insert(key, value);
            }
        }
        Ok(StrictObject { members, duplicate })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_with_distinct_members_parses() {
        let map = parse_object(br#"{"a":"x","b":{"a":1,"a":2}}"#).unwrap();
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn repeated_top_level_member_is_refused() {
        assert_eq!(
            parse_object(br#"{"a":"x","a":"y"}"#),
            Err(ObjectError::DuplicateKey("a".into()))
        );
    }

    #[test]
    fn non_objects_are_not_objects() {
        for input in [&br#"["a"]"#[..], br#""secret""#, b"42", b"null", b"true"] {
            assert_eq!(
                parse_object(input),
                Err(ObjectError::NotObject),
                "{input:?}"
            );
        }
    }

    #[test]
    fn syntax_errors_truncation_and_trailing_bytes_are_not_json() {
        for input in [&b"{"[..], b"", b"{\"a\":1} x", b"{'a':1}", b"\xff"] {
            assert!(
                matches!(parse_object(input), Err(ObjectError::NotJson { .. })),
                "{input:?}"
            );
        }
    }
}
