//! The one error envelope every failure is answered with:
//! `{"error":{"code","message","details"}}`.

use serde_json::{json, Value};

/// An error that becomes an HTTP response. `code` is stable and machine-readable; `message` is
/// for people; `details` carries key/value context (never secrets, never internal errors).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            details: json!({}),
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// The single body every failed credential gets, whatever failed.
    pub fn unauthenticated() -> Self {
        ApiError::new(401, "UNAUTHENTICATED", "authentication required")
    }

    /// Operator authentication is not safely configured; admin routes stay closed.
    pub fn auth_misconfigured() -> Self {
        ApiError::new(
            503,
            "AUTH_MISCONFIGURED",
            "operator authentication is not configured safely; admin routes are closed",
        )
    }

    pub fn not_found() -> Self {
        ApiError::new(404, "NOT_FOUND", "no such route")
    }

    pub fn method_not_allowed(allowed: &[&str]) -> Self {
        ApiError::new(
            405,
            "METHOD_NOT_ALLOWED",
            "method not allowed on this route",
        )
        .with_details(json!({ "allowed": allowed }))
    }

    pub fn payload_too_large(limit: usize) -> Self {
        ApiError::new(413, "PAYLOAD_TOO_LARGE", "request body too large")
            .with_details(json!({ "limit_bytes": limit }))
    }

    pub fn unsupported_media_type() -> Self {
        ApiError::new(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "request body must be application/json",
        )
    }

    pub fn invalid_json(reason: impl Into<String>) -> Self {
        ApiError::new(400, "INVALID_JSON", "request body is not valid JSON")
            .with_details(json!({ "reason": reason.into() }))
    }

    /// Well-formed JSON that does not fit the route's schema (unknown field, wrong type, …).
    pub fn invalid_request(reason: impl Into<String>) -> Self {
        ApiError::new(
            400,
            "INVALID_REQUEST",
            "request body does not match the schema",
        )
        .with_details(json!({ "reason": reason.into() }))
    }

    /// Something failed inside; the message never says what (logs do, under the request id).
    pub fn internal() -> Self {
        ApiError::new(500, "INTERNAL", "internal error")
    }

    pub fn unavailable(code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::new(503, code, message)
    }

    /// The envelope as JSON.
    pub fn body(&self) -> Value {
        json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "details": self.details,
            }
        })
    }
}

/// Maps a `serde_json` error from decoding a request body to the right envelope: syntax errors
/// are `INVALID_JSON`, shape errors (unknown field, missing field, wrong type) `INVALID_REQUEST`.
pub fn from_body_error(err: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => invalid_json_at(err),
        Category::Data => ApiError::invalid_request(err.to_string()),
    }
}

fn invalid_json_at(err: &serde_json::Error) -> ApiError {
    ApiError::invalid_json(format!("line {} column {}", err.line(), err.column()))
}

/// Parses a request body: JSON, and a JSON object (every route's body is one; a `null`, an
/// array or a scalar would otherwise read as "no body" or as a struct in sequence form).
pub fn parse_body(bytes: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::invalid_request(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(from_body_error(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        a: u32,
    }

    #[test]
    fn bodies_must_be_json_objects() {
        assert_eq!(parse_body(b"{\"a\":1}").unwrap(), json!({"a": 1}));
        for body in [&b"null"[..], b"[]", b"[1]", b"5", b"\"x\"", b"true"] {
            let e = parse_body(body).unwrap_err();
            assert_eq!(
                (e.status, e.code.as_str()),
                (400, "INVALID_REQUEST"),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(parse_body(b"{").unwrap_err().code, "INVALID_JSON");
    }

    #[test]
    fn envelope_has_code_message_details() {
        let body = ApiError::not_found().body();
        assert_eq!(body["error"]["code"], "NOT_FOUND");
        assert!(body["error"]["message"].is_string());
        assert!(body["error"]["details"].is_object());
    }

    #[test]
    fn syntax_errors_are_invalid_json_and_shape_errors_invalid_request() {
        let syntax = serde_json::from_str::<Probe>("{\"a\":").unwrap_err();
        assert_eq!(from_body_error(&syntax).code, "INVALID_JSON");
        let unknown = serde_json::from_str::<Probe>("{\"a\":1,\"b\":2}").unwrap_err();
        let e = from_body_error(&unknown);
        assert_eq!((e.status, e.code.as_str()), (400, "INVALID_REQUEST"));
        let wrong_type = serde_json::from_str::<Probe>("{\"a\":\"x\"}").unwrap_err();
        assert_eq!(from_body_error(&wrong_type).code, "INVALID_REQUEST");
    }
}
