//! Query and path parameters: parsed strictly, refused with one envelope.

use super::error::ApiError;
use serde_json::json;

/// Largest integer a parameter may carry: 2^53 − 1, exact in JSON and in Durable Object SQL.
pub const MAX_SAFE: u64 = (1 << 53) - 1;

/// `400 INVALID_PARAMETER` naming the parameter and why.
pub fn invalid(name: &str, reason: &str) -> ApiError {
    ApiError::new(400, "INVALID_PARAMETER", "a parameter is not valid")
        .with_details(json!({ "name": name, "reason": reason }))
}

/// An optional non-negative decimal integer no larger than [`MAX_SAFE`], in its plain
/// spelling (digits only; no sign, no spaces, no leading zeros).
pub fn u64_param(name: &str, value: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(text) = value else {
        return Ok(None);
    };
    let plain = !text.is_empty()
        && text.len() <= 16
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !plain {
        return Err(invalid(name, "expected a decimal integer"));
    }
    match text.parse::<u64>() {
        Ok(n) if n <= MAX_SAFE => Ok(Some(n)),
        _ => Err(invalid(name, "out of range")),
    }
}

/// Like [`u64_param`], and at least `min`.
pub fn u64_at_least(name: &str, value: Option<&str>, min: u64) -> Result<Option<u64>, ApiError> {
    match u64_param(name, value)? {
        Some(n) if n < min => Err(invalid(name, &format!("must be at least {min}"))),
        other => Ok(other),
    }
}

/// The `limit` of a list route: `default` when absent, else 1..=`max`. A larger value is refused
/// (`400 INVALID_PARAMETER`), not silently capped, so a caller never reads fewer rows than it
/// asked for without knowing.
pub fn limit(value: Option<&str>, default: u64, max: u64) -> Result<i64, ApiError> {
    match u64_at_least("limit", value, 1)? {
        None => Ok(default as i64),
        Some(n) if n > max => Err(invalid("limit", &format!("at most {max}"))),
        Some(n) => Ok(n as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_integers_parse_and_everything_else_is_invalid_parameter() {
        assert_eq!(u64_param("n", None).unwrap(), None);
        assert_eq!(u64_param("n", Some("0")).unwrap(), Some(0));
        assert_eq!(u64_param("n", Some("42")).unwrap(), Some(42));
        assert_eq!(
            u64_param("n", Some("9007199254740991")).unwrap(),
            Some(MAX_SAFE)
        );
        for bad in [
            "",
            "-1",
            "+1",
            "01",
            "1.0",
            "1e3",
            " 1",
            "x",
            "9007199254740992",
            "99999999999999999",
        ] {
            let e = u64_param("n", Some(bad)).unwrap_err();
            assert_eq!(
                (e.status, e.code.as_str()),
                (400, "INVALID_PARAMETER"),
                "{bad:?}"
            );
            assert_eq!(e.details["name"], "n");
        }
        assert!(u64_at_least("seq", Some("0"), 1).is_err());
        assert_eq!(u64_at_least("seq", Some("1"), 1).unwrap(), Some(1));
    }

    #[test]
    fn limits_default_and_refuse_out_of_range() {
        assert_eq!(limit(None, 100, 500).unwrap(), 100);
        assert_eq!(limit(Some("1"), 100, 500).unwrap(), 1);
        assert_eq!(limit(Some("500"), 100, 500).unwrap(), 500);
        for bad in ["0", "501", "x", ""] {
            let e = limit(Some(bad), 100, 500).unwrap_err();
            assert_eq!(
                (e.status, e.code.as_str()),
                (400, "INVALID_PARAMETER"),
                "{bad}"
            );
            assert_eq!(e.details["name"], "limit");
        }
    }
}
