//! Kalshi error bodies. Three layouts are recorded on the wire and all are read:
//! - nested `{"error":{"code","message","details"?,"service"?}}` (auth, order and exchange errors);
//! - flat `{"code","message","details"?}` (the OpenAPI `ErrorResponse`; JSON-decode 400s);
//! - bare `{"msg":"…"}` (parameter-validation 400s), which carries no code.

use crate::venues::json::{self, Object};
use crate::venues::{BodyError, RejectReason};

/// Which of the three layouts the body used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorLayout {
    Nested,
    Flat,
    Msg,
}

/// A venue error as the venue stated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueError {
    pub layout: ErrorLayout,
    /// The venue's own code (`order_already_exists`, `authentication_error`, …); `None` for the
    /// bare `{"msg"}` layout, which has none.
    pub code: Option<String>,
    /// Empty when the venue sent no message.
    pub message: String,
    pub details: Option<String>,
    pub service: Option<String>,
}

/// Reads an error body in any of the three layouts. A body that is none of them (no `error`,
/// `code`, `message` or `msg`) is refused with `BODY_MISSING_FIELD:error`.
pub fn parse_error_body(body: &[u8]) -> Result<VenueError, BodyError> {
    let env = json::parse_envelope(body)?;
    if let Some(raw) = env.get("error") {
        let inner = Object::parse(raw).map_err(|_| BodyError::WrongType {
            field: "error",
            expected: "object",
        })?;
        return Ok(fields(&inner, ErrorLayout::Nested)?);
    }
    if env.has("code") || env.has("message") {
        return Ok(fields(&env, ErrorLayout::Flat)?);
    }
    if env.has("msg") {
        return Ok(VenueError {
            layout: ErrorLayout::Msg,
            code: None,
            message: env.required_string("msg")?,
            details: None,
            service: None,
        });
    }
    Err(BodyError::MissingField("error"))
}

fn fields(obj: &Object<'_>, layout: ErrorLayout) -> Result<VenueError, RejectReason> {
    let code = obj.non_empty_string("code")?;
    let message = obj.string("message")?.unwrap_or_default();
    if code.is_none() && message.is_empty() {
        return Err(RejectReason::MissingField("code"));
    }
    Ok(VenueError {
        layout,
        code,
        message,
        details: obj.non_empty_string("details")?,
        service: obj.non_empty_string("service")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_three_layouts_are_read() {
        let nested = parse_error_body(
            br#"{"error":{"code":"order_already_exists","message":"order already exists","service":"exchange"}}"#,
        )
        .unwrap();
        assert_eq!(nested.layout, ErrorLayout::Nested);
        assert_eq!(nested.code.as_deref(), Some("order_already_exists"));
        assert_eq!(nested.service.as_deref(), Some("exchange"));

        let flat =
            parse_error_body(br#"{"code":"bad_request","message":"bad request","details":"x"}"#)
                .unwrap();
        assert_eq!(
            (flat.layout, flat.code.as_deref(), flat.details.as_deref()),
            (ErrorLayout::Flat, Some("bad_request"), Some("x"))
        );

        let msg = parse_error_body(br#"{"msg":"Parameter validation failed"}"#).unwrap();
        assert_eq!((msg.layout, msg.code), (ErrorLayout::Msg, None));
        assert_eq!(msg.message, "Parameter validation failed");
    }

    #[test]
    fn bodies_that_are_not_errors_are_refused() {
        let code = |b: &[u8]| parse_error_body(b).unwrap_err().code();
        assert_eq!(code(br#"{"markets":[]}"#), "BODY_MISSING_FIELD:error");
        assert_eq!(code(br#"{"error":"boom"}"#), "BODY_WRONG_TYPE:error");
        assert_eq!(code(br#"{"error":{}}"#), "MISSING_FIELD:code");
        assert_eq!(code(br#"{"msg":5}"#), "WRONG_TYPE:msg");
        assert_eq!(code(b"<html>502</html>"), "BODY_INVALID_JSON");
    }
}
