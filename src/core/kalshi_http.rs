//! What a Kalshi portfolio answer means, decided purely so every branch is unit-tested: the
//! outcome of an order submission, when a 429 may be retried and after how long, and how a
//! refusal of our credentials is told apart from a refusal of the order.
//!
//! The rule that matters most: only an answer that proves the order was *not* placed makes it
//! `rejected`. A timeout, a dropped connection, a 5xx or a 2xx whose body cannot be read may
//! have placed it, so the order becomes `unknown` and its market is blocked until
//! reconciliation reads the venue's order list (see `core::orders`).

use crate::core::orders::OrderEvent;
use crate::venues::kalshi::{parse_error_body, parse_order_response, VenueOrder};
use std::fmt;

/// Retries of a request the venue answered 429 (so it was not processed).
pub const MAX_RATE_LIMIT_RETRIES: u32 = 2;
/// The longest single wait after a 429, whatever `Retry-After` asks.
pub const MAX_RETRY_WAIT_MS: u64 = 5_000;
/// The wait when a 429 carries no (readable) `Retry-After`: 500 ms, doubling per attempt.
pub const DEFAULT_RETRY_WAIT_MS: u64 = 500;

/// A transport-level failure: no HTTP answer at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoAnswer {
    Timeout,
    Network(String),
    /// The outbound policy refused the URL: nothing was sent.
    Refused(String),
}

/// An HTTP answer as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer<'a> {
    pub status: u16,
    pub retry_after: Option<&'a str>,
    pub body: &'a [u8],
}

/// The venue's verdict on a `POST /portfolio/orders`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// 201 with a readable order.
    Accepted(VenueOrder),
    /// 409 `order_already_exists`: an order with this client order id exists (maybe ours from
    /// a submission whose answer was lost). The caller reads it by client order id.
    Duplicate,
    /// 429: not processed; retry after the wait or give up (then nothing was placed).
    RateLimited { wait_ms: u64 },
    /// 401/403: the venue refused our credentials; nothing was placed.
    CredentialsRefused { status: u16, code: String },
    /// Another 4xx: the venue refused the order; nothing was placed.
    Rejected { status: u16, code: String },
    /// No answer, 5xx, or an unreadable 2xx: the order may exist.
    Unknown { reason: String },
    /// Nothing was sent (the outbound policy refused the URL).
    NotSent { reason: String },
}

impl SubmitOutcome {
    /// The order-lifecycle event for outcomes that settle the submission by themselves;
    /// `None` for `Duplicate` and `RateLimited`, which need another request first.
    pub fn order_event(&self) -> Option<OrderEvent> {
        match self {
            SubmitOutcome::Accepted(order) => Some(OrderEvent::Accepted(order.view())),
            SubmitOutcome::CredentialsRefused { status, code }
            | SubmitOutcome::Rejected { status, code } => Some(OrderEvent::VenueRejected {
                status: *status,
                code: code.clone(),
            }),
            SubmitOutcome::Unknown { reason } => Some(OrderEvent::OutcomeUnknown {
                reason: reason.clone(),
            }),
            SubmitOutcome::NotSent { reason } => Some(OrderEvent::VenueRejected {
                status: 0,
                code: reason.clone(),
            }),
            SubmitOutcome::Duplicate | SubmitOutcome::RateLimited { .. } => None,
        }
    }
}

/// The venue's error code for a non-2xx body (`-` when the body is not a Kalshi error).
pub fn error_code(body: &[u8]) -> String {
    parse_error_body(body)
        .ok()
        .and_then(|e| e.code.or(Some(e.message)).filter(|c| !c.is_empty()))
        .map(|c| c.chars().take(80).collect())
        .unwrap_or_else(|| "-".to_string())
}

/// How long to wait before retry `attempt` (0-based) after a 429: `Retry-After` seconds when
/// readable, else [`DEFAULT_RETRY_WAIT_MS`] doubled per attempt; never above
/// [`MAX_RETRY_WAIT_MS`].
pub fn retry_wait_ms(retry_after: Option<&str>, attempt: u32) -> u64 {
    let asked = retry_after
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| s.saturating_mul(1_000));
    let default = DEFAULT_RETRY_WAIT_MS.saturating_mul(1u64 << attempt.min(16));
    asked.unwrap_or(default).min(MAX_RETRY_WAIT_MS)
}

/// Classifies the answer (or its absence) to a `POST /portfolio/orders`.
pub fn classify_submit(result: Result<Answer<'_>, NoAnswer>, attempt: u32) -> SubmitOutcome {
    let answer = match result {
        Ok(a) => a,
        Err(NoAnswer::Timeout) => {
            return SubmitOutcome::Unknown {
                reason: "SUBMIT_TIMEOUT".into(),
            }
        }
        Err(NoAnswer::Network(_)) => {
            return SubmitOutcome::Unknown {
                reason: "SUBMIT_NO_ANSWER".into(),
            }
        }
        Err(NoAnswer::Refused(code)) => return SubmitOutcome::NotSent { reason: code },
    };
    match answer.status {
        200..=299 => match parse_order_response(answer.body) {
            Ok(order) => SubmitOutcome::Accepted(order),
            Err(e) => SubmitOutcome::Unknown {
                reason: format!(
                    "SUBMIT_UNREADABLE_ANSWER: status={} {}",
                    answer.status,
                    e.code()
                ),
            },
        },
        401 | 403 => SubmitOutcome::CredentialsRefused {
            status: answer.status,
            code: error_code(answer.body),
        },
        409 => SubmitOutcome::Duplicate,
        429 => SubmitOutcome::RateLimited {
            wait_ms: retry_wait_ms(answer.retry_after, attempt),
        },
        400..=499 => SubmitOutcome::Rejected {
            status: answer.status,
            code: error_code(answer.body),
        },
        status => SubmitOutcome::Unknown {
            reason: format!("SUBMIT_VENUE_{status}: code={}", error_code(answer.body)),
        },
    }
}

/// A failed read of the venue (balance, an order, a page of a listing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadFailure {
    CredentialsRefused { status: u16, code: String },
    Status { status: u16, code: String },
    NoAnswer(NoAnswer),
    Body(String),
    RateLimited,
}

impl ReadFailure {
    pub fn code(&self) -> &'static str {
        match self {
            ReadFailure::CredentialsRefused { .. } => "KALSHI_CREDENTIALS_REFUSED",
            ReadFailure::Status { .. } => "KALSHI_READ_FAILED",
            ReadFailure::NoAnswer(NoAnswer::Timeout) => "KALSHI_TIMEOUT",
            ReadFailure::NoAnswer(NoAnswer::Refused(_)) => "KALSHI_OUTBOUND_REFUSED",
            ReadFailure::NoAnswer(NoAnswer::Network(_)) => "KALSHI_UNREACHABLE",
            ReadFailure::Body(_) => "KALSHI_BODY_REFUSED",
            ReadFailure::RateLimited => "KALSHI_RATE_LIMITED",
        }
    }
}

impl fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code();
        match self {
            ReadFailure::CredentialsRefused { status, code: c }
            | ReadFailure::Status { status, code: c } => {
                write!(f, "{code}: status={status} venue_code={c}")
            }
            ReadFailure::NoAnswer(NoAnswer::Refused(c)) => write!(f, "{code}: {c}"),
            ReadFailure::Body(c) => write!(f, "{code}: {c}"),
            _ => f.write_str(code),
        }
    }
}

/// Classifies a read's answer: `Ok(body)` for a 200, `Err(Some(wait))` for a retryable 429,
/// `Err(None)`-free failures as [`ReadFailure`].
pub fn classify_read<'a>(
    result: Result<Answer<'a>, NoAnswer>,
    attempt: u32,
) -> Result<&'a [u8], Result<ReadFailure, u64>> {
    let answer = result.map_err(|e| Ok(ReadFailure::NoAnswer(e)))?;
    match answer.status {
        200 => Ok(answer.body),
        401 | 403 => Err(Ok(ReadFailure::CredentialsRefused {
            status: answer.status,
            code: error_code(answer.body),
        })),
        429 if attempt < MAX_RATE_LIMIT_RETRIES => {
            Err(Err(retry_wait_ms(answer.retry_after, attempt)))
        }
        429 => Err(Ok(ReadFailure::RateLimited)),
        status => Err(Ok(ReadFailure::Status {
            status,
            code: error_code(answer.body),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::orders::VenueStatus;

    const ORDER: &[u8] = br#"{"order":{"action":"buy","client_order_id":"c-1","fill_count_fp":"2.00","initial_count_fp":"2.00","maker_fees_dollars":"0.0000","no_price_dollars":"0.4800","order_id":"o-1","remaining_count_fp":"0.00","side":"yes","status":"executed","taker_fees_dollars":"0.0400","ticker":"T-1","yes_price_dollars":"0.5200"}}"#;
    const AUTH_401: &[u8] = br#"{"error":{"code":"authentication_error","message":"authentication failed","details":"INCORRECT_API_KEY_SIGNATURE"}}"#;

    fn answer(status: u16, body: &'static [u8]) -> Result<Answer<'static>, NoAnswer> {
        Ok(Answer {
            status,
            retry_after: None,
            body,
        })
    }

    #[test]
    fn only_answers_that_prove_nothing_was_placed_reject_the_order() {
        match classify_submit(answer(201, ORDER), 0) {
            SubmitOutcome::Accepted(o) => {
                assert_eq!(
                    (o.order_id.as_str(), o.status),
                    ("o-1", VenueStatus::Executed)
                )
            }
            other => panic!("{other:?}"),
        }
        let unknown = |o: SubmitOutcome| matches!(o, SubmitOutcome::Unknown { .. });
        assert!(unknown(classify_submit(Err(NoAnswer::Timeout), 0)));
        assert!(unknown(classify_submit(
            Err(NoAnswer::Network("reset".into())),
            0
        )));
        for status in [500, 502, 503, 504] {
            assert!(unknown(classify_submit(answer(status, b"<html>"), 0)));
        }
        // A 2xx we cannot read may still have placed the order.
        assert!(unknown(classify_submit(answer(201, b"{\"order\":"), 0)));
        assert!(unknown(classify_submit(answer(200, b"{}"), 0)));

        assert_eq!(
            classify_submit(
                answer(400, br#"{"error":{"code":"invalid_price","message":"x"}}"#),
                0
            ),
            SubmitOutcome::Rejected {
                status: 400,
                code: "invalid_price".into()
            }
        );
        assert_eq!(
            classify_submit(
                answer(409, br#"{"error":{"code":"order_already_exists"}}"#),
                0
            ),
            SubmitOutcome::Duplicate
        );
        assert_eq!(
            classify_submit(answer(401, AUTH_401), 0),
            SubmitOutcome::CredentialsRefused {
                status: 401,
                code: "authentication_error".into()
            }
        );
        assert_eq!(
            classify_submit(
                Err(NoAnswer::Refused("OUTBOUND_HOST_NOT_ALLOWED".into())),
                0
            ),
            SubmitOutcome::NotSent {
                reason: "OUTBOUND_HOST_NOT_ALLOWED".into()
            }
        );
    }

    #[test]
    fn outcomes_map_onto_the_order_lifecycle() {
        let ev = |o: SubmitOutcome| o.order_event();
        assert!(matches!(
            ev(classify_submit(Err(NoAnswer::Timeout), 0)),
            Some(OrderEvent::OutcomeUnknown { .. })
        ));
        assert!(matches!(
            ev(classify_submit(answer(201, ORDER), 0)),
            Some(OrderEvent::Accepted(v)) if v.order_id == "o-1"
        ));
        assert_eq!(
            ev(classify_submit(answer(401, AUTH_401), 0)),
            Some(OrderEvent::VenueRejected {
                status: 401,
                code: "authentication_error".into()
            })
        );
        assert_eq!(ev(SubmitOutcome::Duplicate), None);
        assert_eq!(ev(SubmitOutcome::RateLimited { wait_ms: 1 }), None);
    }

    #[test]
    fn rate_limit_waits_follow_retry_after_and_are_bounded() {
        assert_eq!(retry_wait_ms(Some("1"), 0), 1_000);
        assert_eq!(retry_wait_ms(Some(" 2 "), 5), 2_000);
        assert_eq!(retry_wait_ms(Some("3600"), 0), MAX_RETRY_WAIT_MS);
        assert_eq!(
            retry_wait_ms(Some("18446744073709551615"), 0),
            MAX_RETRY_WAIT_MS
        );
        // An HTTP date or garbage falls back to the doubling default.
        assert_eq!(retry_wait_ms(Some("Wed, 21 Oct 2015 07:28:00 GMT"), 0), 500);
        assert_eq!(retry_wait_ms(None, 0), 500);
        assert_eq!(retry_wait_ms(None, 1), 1_000);
        assert_eq!(retry_wait_ms(None, 2), 2_000);
        assert_eq!(retry_wait_ms(None, 40), MAX_RETRY_WAIT_MS);
        let limited = classify_submit(
            Ok(Answer {
                status: 429,
                retry_after: Some("2"),
                body: b"",
            }),
            0,
        );
        assert_eq!(limited, SubmitOutcome::RateLimited { wait_ms: 2_000 });
    }

    #[test]
    fn reads_retry_429_a_bounded_number_of_times_and_fail_otherwise() {
        assert_eq!(classify_read(answer(200, b"{}"), 0), Ok(&b"{}"[..]));
        assert_eq!(classify_read(answer(429, b""), 0), Err(Err(500)));
        assert_eq!(
            classify_read(answer(429, b""), MAX_RATE_LIMIT_RETRIES),
            Err(Ok(ReadFailure::RateLimited))
        );
        let code = |r: Result<&[u8], Result<ReadFailure, u64>>| match r {
            Err(Ok(f)) => f.code(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            code(classify_read(answer(401, AUTH_401), 0)),
            "KALSHI_CREDENTIALS_REFUSED"
        );
        assert_eq!(
            code(classify_read(answer(503, b"x"), 0)),
            "KALSHI_READ_FAILED"
        );
        assert_eq!(
            code(classify_read(Err(NoAnswer::Timeout), 0)),
            "KALSHI_TIMEOUT"
        );
        let refused = ReadFailure::CredentialsRefused {
            status: 401,
            code: error_code(AUTH_401),
        };
        assert_eq!(
            refused.to_string(),
            "KALSHI_CREDENTIALS_REFUSED: status=401 venue_code=authentication_error"
        );
        assert_eq!(error_code(b"<html>"), "-");
        assert_eq!(error_code(br#"{"msg":"bad limit"}"#), "bad limit");
    }
}
