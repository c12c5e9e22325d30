//! Field-by-field access to JSON objects kept as raw text.
//!
//! Records are held as a map from key to the exact JSON text of its value ([`RawValue`]), so a
//! decimal sent as a JSON number (Polymarket's `bestBid: 0.52`) is read from its literal text and
//! never through `f64`, and a bad field refuses one record, not the page.

use super::{BodyError, RejectReason};
use chrono::{DateTime, Utc};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::collections::btree_map::{BTreeMap, Entry};
use std::fmt;

/// The JSON type of a raw value, read from its first byte (serde_json strips leading whitespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

pub(crate) fn kind(raw: &RawValue) -> Kind {
    match raw.get().as_bytes().first() {
        Some(b'n') => Kind::Null,
        Some(b't' | b'f') => Kind::Bool,
        Some(b'"') => Kind::String,
        Some(b'[') => Kind::Array,
        Some(b'{') => Kind::Object,
        _ => Kind::Number,
    }
}

/// Validates a whole body as JSON and returns it as one raw value.
pub(crate) fn parse_body(body: &[u8]) -> Result<&RawValue, BodyError> {
    serde_json::from_slice::<&RawValue>(body).map_err(|e| BodyError::InvalidJson(e.to_string()))
}

/// Reads a body that must be a JSON object (an envelope such as `{"markets":[…],"cursor":…}`).
pub(crate) fn parse_envelope(body: &[u8]) -> Result<Object<'_>, BodyError> {
    let raw = parse_body(body)?;
    match Object::parse(raw) {
        Ok(obj) => Ok(obj),
        Err(RejectReason::DuplicateKey(k)) => Err(BodyError::DuplicateKey(k)),
        Err(_) => Err(BodyError::WrongType {
            field: "(body)",
            expected: "object",
        }),
    }
}

/// Reads a body that must be a JSON array of records.
pub(crate) fn parse_array_body(body: &[u8]) -> Result<Vec<&RawValue>, BodyError> {
    let raw = parse_body(body)?;
    array_items(raw).ok_or(BodyError::WrongType {
        field: "(body)",
        expected: "array",
    })
}

/// The elements of a raw array, or `None` if `raw` is not an array.
pub(crate) fn array_items(raw: &RawValue) -> Option<Vec<&RawValue>> {
    if kind(raw) != Kind::Array {
        return None;
    }
    serde_json::from_str::<Vec<&RawValue>>(raw.get()).ok()
}

/// An envelope's array field, refusing the body when it is absent, `null` or not an array.
pub(crate) fn envelope_array<'a>(
    env: &Object<'a>,
    field: &'static str,
) -> Result<Vec<&'a RawValue>, BodyError> {
    let raw = env.get(field).ok_or(BodyError::MissingField(field))?;
    array_items(raw).ok_or(BodyError::WrongType {
        field,
        expected: "array",
    })
}

/// A pagination cursor: `""`, `null` and absence all mean "no next page".
pub(crate) fn envelope_cursor(
    env: &Object<'_>,
    field: &'static str,
) -> Result<Option<String>, BodyError> {
    let cursor = env.string(field).map_err(|_| BodyError::WrongType {
        field,
        expected: "string",
    })?;
    Ok(cursor.filter(|c| !c.is_empty()))
}

/// A JSON object whose values are kept as raw text. Duplicate keys are remembered, not merged.
#[derive(Debug)]
pub(crate) struct Object<'a> {
    fields: BTreeMap<String, &'a RawValue>,
    duplicate: Option<String>,
}

impl<'a> Object<'a> {
    /// Reads `raw` as an object; refuses anything else and objects with a repeated key.
    pub(crate) fn parse(raw: &'a RawValue) -> Result<Object<'a>, RejectReason> {
        if kind(raw) != Kind::Object {
            return Err(RejectReason::NotAnObject);
        }
        let obj: Object<'a> =
            serde_json::from_str(raw.get()).map_err(|_| RejectReason::NotAnObject)?;
        match obj.duplicate {
            Some(k) => Err(RejectReason::DuplicateKey(k)),
            None => Ok(obj),
        }
    }

    /// The raw value of `field`, treating an explicit `null` as absent.
    pub(crate) fn get(&self, field: &str) -> Option<&'a RawValue> {
        self.fields
            .get(field)
            .copied()
            .filter(|raw| kind(raw) != Kind::Null)
    }

    pub(crate) fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }

    pub(crate) fn string(&self, field: &'static str) -> Result<Option<String>, RejectReason> {
        match self.get(field) {
            None => Ok(None),
            Some(raw) => decode_string(raw).map(Some).ok_or(RejectReason::WrongType {
                field,
                expected: "string",
            }),
        }
    }

    pub(crate) fn required_string(&self, field: &'static str) -> Result<String, RejectReason> {
        self.string(field)?.ok_or(RejectReason::MissingField(field))
    }

    /// A string field where `""` means "not given".
    pub(crate) fn non_empty_string(
        &self,
        field: &'static str,
    ) -> Result<Option<String>, RejectReason> {
        Ok(self.string(field)?.filter(|s| !s.is_empty()))
    }

    /// A required string field that must also be non-empty (identities such as tickers).
    pub(crate) fn required_id(&self, field: &'static str) -> Result<String, RejectReason> {
        self.non_empty_string(field)?
            .ok_or(RejectReason::MissingField(field))
    }

    pub(crate) fn bool(&self, field: &'static str) -> Result<Option<bool>, RejectReason> {
        match self.get(field) {
            None => Ok(None),
            Some(raw) => serde_json::from_str::<bool>(raw.get())
                .map(Some)
                .map_err(|_| RejectReason::WrongType {
                    field,
                    expected: "boolean",
                }),
        }
    }

    pub(crate) fn required_bool(&self, field: &'static str) -> Result<bool, RejectReason> {
        self.bool(field)?.ok_or(RejectReason::MissingField(field))
    }

    /// An integer field (the transitional integer-cent and whole-contract fields).
    pub(crate) fn integer(&self, field: &'static str) -> Result<Option<i64>, RejectReason> {
        match self.get(field) {
            None => Ok(None),
            Some(raw) => serde_json::from_str::<i64>(raw.get())
                .map(Some)
                .map_err(|_| RejectReason::WrongType {
                    field,
                    expected: "integer",
                }),
        }
    }

    /// The text of a decimal sent either as a JSON string or as a JSON number; a number is read
    /// from its literal text, so `0.52` stays exactly `0.52`.
    pub(crate) fn decimal_text(&self, field: &'static str) -> Result<Option<String>, RejectReason> {
        match self.get(field) {
            None => Ok(None),
            Some(raw) => decimal_text_of(raw)
                .map(Some)
                .ok_or(RejectReason::WrongType {
                    field,
                    expected: "decimal string or number",
                }),
        }
    }

    /// An RFC 3339 timestamp, normalised to UTC.
    pub(crate) fn timestamp(
        &self,
        field: &'static str,
    ) -> Result<Option<DateTime<Utc>>, RejectReason> {
        match self.string(field)? {
            None => Ok(None),
            Some(text) => parse_timestamp(&text)
                .map(Some)
                .ok_or(RejectReason::BadTimestamp { field, value: text }),
        }
    }

    pub(crate) fn required_timestamp(
        &self,
        field: &'static str,
    ) -> Result<DateTime<Utc>, RejectReason> {
        self.timestamp(field)?
            .ok_or(RejectReason::MissingField(field))
    }
}

/// The content of a JSON string value, or `None` if `raw` is not a string.
pub(crate) fn decode_string(raw: &RawValue) -> Option<String> {
    if kind(raw) != Kind::String {
        return None;
    }
    serde_json::from_str::<String>(raw.get()).ok()
}

/// The text of a decimal held in a JSON string or written as a JSON number.
pub(crate) fn decimal_text_of(raw: &RawValue) -> Option<String> {
    match kind(raw) {
        Kind::String => decode_string(raw),
        Kind::Number => Some(raw.get().to_string()),
        _ => None,
    }
}

pub(crate) fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl<'de: 'a, 'a> Deserialize<'de> for Object<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for ObjectVisitor<'a> {
            type Value = Object<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Object<'a>, M::Error> {
                let mut fields = BTreeMap::new();
                let mut duplicate = None;
                while let Some(key) = map.next_key::<String>()? {
                    let value: &'de RawValue = map.next_value()?;
                    match fields.entry(key) {
                        Entry::Vacant(slot) => {
                            slot.insert(value);
                        }
                        Entry::Occupied(taken) => {
                            duplicate.get_or_insert_with(|| taken.key().clone());
                        }
                    }
                }
                Ok(Object { fields, duplicate })
            }
        }

        deserializer.deserialize_map(ObjectVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn numbers_are_read_from_their_literal_text() {
        let obj = Object::parse(raw(r#"{"a": 0.1, "b": "0.20", "c": 1e-7, "d": true}"#)).unwrap();
        assert_eq!(obj.decimal_text("a").unwrap().as_deref(), Some("0.1"));
        assert_eq!(obj.decimal_text("b").unwrap().as_deref(), Some("0.20"));
        assert_eq!(obj.decimal_text("c").unwrap().as_deref(), Some("1e-7"));
        assert_eq!(obj.decimal_text("missing").unwrap(), None);
        assert_eq!(
            obj.decimal_text("d").unwrap_err().code(),
            "WRONG_TYPE:d".to_string()
        );
    }

    #[test]
    fn null_counts_as_absent_and_duplicates_are_refused() {
        let obj = Object::parse(raw(r#"{"a": null}"#)).unwrap();
        assert_eq!(obj.string("a").unwrap(), None);
        assert_eq!(
            obj.required_string("a").unwrap_err(),
            RejectReason::MissingField("a")
        );
        assert_eq!(
            Object::parse(raw(r#"{"a": "x", "a": "y"}"#)).err(),
            Some(RejectReason::DuplicateKey("a".to_string()))
        );
        assert_eq!(
            Object::parse(raw("[1]")).err(),
            Some(RejectReason::NotAnObject)
        );
    }

    #[test]
    fn bodies_that_are_not_json_are_refused_whole() {
        assert_eq!(
            parse_envelope(b"{\"markets\": [").unwrap_err().code(),
            "BODY_INVALID_JSON"
        );
        assert_eq!(
            parse_envelope(b"[]").unwrap_err().code(),
            "BODY_WRONG_TYPE:(body)"
        );
        assert_eq!(
            parse_envelope(b"{\"a\":1,\"a\":2}").unwrap_err().code(),
            "BODY_DUPLICATE_KEY"
        );
        assert_eq!(
            parse_envelope(b"{\"a\":\"\xff\"}").unwrap_err().code(),
            "BODY_INVALID_JSON"
        );
    }
}
