//! Canonical JSON: RFC 8785 (JCS) restricted to integers.
//!
//! What is hashed must have exactly one byte spelling, so that anyone re-serialising the same
//! value gets the same hash. RFC 8785 fixes that spelling: object members sorted by the UTF-16
//! code units of their names, no insignificant whitespace, minimal string escaping, and numbers
//! in ECMAScript form. We add one rule: **numbers must be integers within ±(2^53 − 1)**. Money is
//! fixed-point integers everywhere in this system, so a float in an audit payload is a bug to
//! refuse, not a value to round; and in that integer range the ECMAScript form of a number is
//! simply its decimal digits, so our output is valid RFC 8785 output. A number that serde_json
//! holds as a float is refused even when it is integral (`1.0`, `1e3`): the producer meant a
//! float.

use super::error::AuditError;
use serde_json::{Map, Value};

/// Largest integer magnitude RFC 8785 (IEEE-754 doubles) represents exactly: 2^53 − 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Serialises `value` in canonical form.
///
/// Errors: `AUDIT_CANONICAL_NON_INTEGER` for a non-integer number,
/// `AUDIT_CANONICAL_INTEGER_RANGE` for an integer beyond ±(2^53 − 1); both carry the JSON
/// Pointer of the offending value.
pub fn to_canonical_vec(value: &Value) -> Result<Vec<u8>, AuditError> {
    let mut out = Vec::with_capacity(128);
    write_value(value, &mut out).map_err(|err| err.into_error())?;
    Ok(out)
}

/// [`to_canonical_vec`] as a `String` (canonical JSON is always UTF-8).
pub fn to_canonical_string(value: &Value) -> Result<String, AuditError> {
    let bytes = to_canonical_vec(value)?;
    // Only whole `str`s and ASCII are ever written, so this cannot fail.
    Ok(String::from_utf8(bytes).expect("canonical JSON is UTF-8"))
}

/// An error on its way out of the recursion, collecting its JSON Pointer in reverse.
struct PathError {
    integer_out_of_range: bool,
    reversed_segments: Vec<String>,
}

impl PathError {
    fn at(mut self, segment: String) -> Self {
        self.reversed_segments.push(segment);
        self
    }

    fn into_error(self) -> AuditError {
        let mut path = String::new();
        for segment in self.reversed_segments.iter().rev() {
            path.push('/');
            // JSON Pointer escaping (RFC 6901).
            path.push_str(&segment.replace('~', "~0").replace('/', "~1"));
        }
        if self.integer_out_of_range {
            AuditError::IntegerOutOfRange { path }
        } else {
            AuditError::NonIntegerNumber { path }
        }
    }
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), PathError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            let text = if let Some(i) = n.as_i64() {
                (i.unsigned_abs() <= MAX_SAFE_INTEGER).then(|| i.to_string())
            } else if let Some(u) = n.as_u64() {
                (u <= MAX_SAFE_INTEGER).then(|| u.to_string())
            } else {
                return Err(PathError {
                    integer_out_of_range: false,
                    reversed_segments: Vec::new(),
                });
            };
            match text {
                Some(text) => out.extend_from_slice(text.as_bytes()),
                None => {
                    return Err(PathError {
                        integer_out_of_range: true,
                        reversed_segments: Vec::new(),
                    })
                }
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out).map_err(|e| e.at(i.to_string()))?;
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, out)?,
    }
    Ok(())
}

fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) -> Result<(), PathError> {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    // RFC 8785 §3.2.3: compare names as arrays of UTF-16 code units. This differs from byte
    // (UTF-8) order for characters above U+FFFF, which sort before U+E000..U+FFFF.
    members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    out.push(b'{');
    for (i, (name, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(name, out);
        out.push(b':');
        write_value(value, out).map_err(|e| e.at(name.clone()))?;
    }
    out.push(b'}');
    Ok(())
}

/// RFC 8785 §3.2.2.2: escape `"` and `\`, the five control characters with short forms, the
/// other controls as `\u00xx` (lowercase hex); everything else verbatim.
fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            0x08 => Some(b"\\b"),
            0x09 => Some(b"\\t"),
            0x0A => Some(b"\\n"),
            0x0C => Some(b"\\f"),
            0x0D => Some(b"\\r"),
            _ => None,
        };
        if short.is_none() && b >= 0x20 {
            continue;
        }
        // Bytes below 0x80 never occur inside a multi-byte UTF-8 sequence, so slicing here
        // keeps whole characters.
        out.extend_from_slice(&bytes[start..i]);
        match short {
            Some(escaped) => out.extend_from_slice(escaped),
            None => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0x0F)],
            ]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: &Value) -> String {
        to_canonical_string(v).unwrap()
    }

    #[test]
    fn literals_and_nesting_have_no_whitespace() {
        let v = json!({"b": [true, false, null, {}, []], "a": {"z": 1, "y": -2}});
        assert_eq!(
            canon(&v),
            r#"{"a":{"y":-2,"z":1},"b":[true,false,null,{},[]]}"#
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units_as_in_rfc8785_example() {
        // RFC 8785 §3.2.3 sorting example; the emoji (surrogate pair D83D DE00) sorts before
        // U+FB33 even though its code point is larger.
        let v: Value = serde_json::from_str(
            r#"{
                "\u20ac": "Euro Sign",
                "\r": "Carriage Return",
                "\ufb33": "Hebrew Letter Dalet With Dagesh",
                "1": "One",
                "\ud83d\ude00": "Emoji: Grinning Face",
                "\u0080": "Control",
                "\u00f6": "Latin Small Letter O With Diaeresis"
            }"#,
        )
        .unwrap();
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
                        \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\
                        \"\u{20ac}\":\"Euro Sign\",\"\u{1f600}\":\"Emoji: Grinning Face\",\
                        \"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canon(&v), expected);
    }

    #[test]
    fn strings_escape_minimally_as_in_rfc8785_example() {
        // RFC 8785 §3.2.2.2: "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/"
        let v: Value =
            serde_json::from_str(r#""\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/""#).unwrap();
        assert_eq!(canon(&v), "\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"");
    }

    #[test]
    fn every_control_character_has_its_rfc8785_spelling() {
        let all: String = (0u8..0x20).map(char::from).collect();
        let out = canon(&Value::String(all));
        assert_eq!(
            out,
            "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\
             \\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\
             \\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\""
        );
        // DEL, U+2028 and non-ASCII pass through unescaped.
        assert_eq!(
            canon(&json!("\u{7f}\u{2028}é")),
            "\"\u{7f}\u{2028}é\"".to_string()
        );
    }

    #[test]
    fn integers_print_as_plain_decimal_up_to_the_safe_limit() {
        let v = json!([0, -1, 9_007_199_254_740_991_i64, -9_007_199_254_740_991_i64]);
        assert_eq!(
            canon(&v),
            "[0,-1,9007199254740991,-9007199254740991]".to_string()
        );
    }

    #[test]
    fn floats_are_refused_with_their_json_pointer() {
        let v = json!({"order": {"legs": [{"price": 0.52}]}});
        let err = to_canonical_vec(&v).unwrap_err();
        assert_eq!(err.code(), "AUDIT_CANONICAL_NON_INTEGER");
        assert_eq!(
            err,
            AuditError::NonIntegerNumber {
                path: "/order/legs/0/price".into()
            }
        );
        // Integral floats are floats too.
        let integral: Value = serde_json::from_str(r#"{"a/b~c": 1.0}"#).unwrap();
        assert_eq!(
            to_canonical_vec(&integral).unwrap_err(),
            AuditError::NonIntegerNumber {
                path: "/a~1b~0c".into()
            }
        );
        let exponent: Value = serde_json::from_str("[1e3]").unwrap();
        assert!(to_canonical_vec(&exponent).is_err());
    }

    #[test]
    fn integers_beyond_two_to_the_53_are_refused() {
        for v in [
            json!(9_007_199_254_740_992_u64),
            json!(-9_007_199_254_740_992_i64),
            json!(u64::MAX),
        ] {
            assert_eq!(
                to_canonical_vec(&json!({ "n": v })).unwrap_err(),
                AuditError::IntegerOutOfRange { path: "/n".into() }
            );
        }
    }

    #[test]
    fn canonical_form_is_a_fixed_point() {
        let v = json!({"k": "v\n", "a": [1, {"c": null, "b": "\u{1f600}"}], "é": true});
        let once = canon(&v);
        let reparsed: Value = serde_json::from_str(&once).unwrap();
        assert_eq!(canon(&reparsed), once);
        assert_eq!(reparsed, v);
    }
}
