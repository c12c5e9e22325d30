//! When to retry a venue call, and how long to wait first: capped exponential backoff on 429,
//! 5xx, timeouts and network errors, a bounded number of attempts, and nothing else retried.
//!
//! Kalshi's 429 carries no `Retry-After`; Anthropic's does. When one is present and parses as
//! whole seconds it lengthens the wait (never beyond the cap); an HTTP-date form is ignored.

/// How a response status is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// 2xx: the body is the answer.
    Success,
    /// 408, 425, 429 and every 5xx (including 529 "overloaded"): worth another attempt.
    Retryable,
    /// Any other status: the request itself is wrong; retrying would repeat the error.
    Fatal,
}

pub fn classify_status(status: u16) -> StatusClass {
    match status {
        200..=299 => StatusClass::Success,
        408 | 425 | 429 | 500..=599 => StatusClass::Retryable,
        _ => StatusClass::Fatal,
    }
}

/// Attempts and delays for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (≥ 1).
    pub max_attempts: u32,
    /// Wait before the first retry; doubles each retry.
    pub base_delay_ms: u64,
    /// No wait is longer than this.
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    /// 4 attempts waiting 250 ms, 500 ms, 1 s: under two seconds lost to a storm per request.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay_ms: 250,
            max_delay_ms: 4_000,
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Retry { delay_ms: u64 },
    GiveUp,
}

impl RetryPolicy {
    /// After `attempts_made` (≥ 1) failed attempts, with the failed response's `Retry-After`
    /// header if any. `retry_budget_left` is how many retries the whole run may still spend;
    /// at zero nothing is retried, so a storm across many pages cannot eat the run.
    pub fn next(
        &self,
        attempts_made: u32,
        retry_after: Option<&str>,
        retry_budget_left: u32,
    ) -> Next {
        if attempts_made >= self.max_attempts || retry_budget_left == 0 {
            return Next::GiveUp;
        }
        let exponent = attempts_made.saturating_sub(1).min(32);
        let backoff = self
            .base_delay_ms
            .saturating_mul(1u64 << exponent)
            .min(self.max_delay_ms);
        let hinted = retry_after
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| s.saturating_mul(1_000))
            .unwrap_or(0);
        Next::Retry {
            delay_ms: backoff.max(hinted).min(self.max_delay_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rate_limits_server_errors_and_timeouts_are_retried() {
        for s in [200, 201, 204] {
            assert_eq!(classify_status(s), StatusClass::Success, "{s}");
        }
        for s in [408, 425, 429, 500, 502, 503, 504, 529] {
            assert_eq!(classify_status(s), StatusClass::Retryable, "{s}");
        }
        for s in [301, 400, 401, 403, 404, 409, 422] {
            assert_eq!(classify_status(s), StatusClass::Fatal, "{s}");
        }
    }

    #[test]
    fn delays_double_up_to_the_cap_and_attempts_are_bounded() {
        let p = RetryPolicy {
            max_attempts: 7,
            base_delay_ms: 250,
            max_delay_ms: 4_000,
        };
        let delays: Vec<Next> = (1..=7).map(|n| p.next(n, None, 100)).collect();
        assert_eq!(
            delays,
            [
                Next::Retry { delay_ms: 250 },
                Next::Retry { delay_ms: 500 },
                Next::Retry { delay_ms: 1_000 },
                Next::Retry { delay_ms: 2_000 },
                Next::Retry { delay_ms: 4_000 },
                Next::Retry { delay_ms: 4_000 },
                Next::GiveUp,
            ]
        );
        assert_eq!(RetryPolicy::default().next(4, None, 100), Next::GiveUp);
    }

    #[test]
    fn retry_after_seconds_lengthen_the_wait_but_never_past_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.next(1, Some("2"), 10), Next::Retry { delay_ms: 2_000 });
        assert_eq!(p.next(1, Some("600"), 10), Next::Retry { delay_ms: 4_000 });
        assert_eq!(p.next(2, Some("0"), 10), Next::Retry { delay_ms: 500 });
        assert_eq!(
            p.next(1, Some("Wed, 21 Oct 2015 07:28:00 GMT"), 10),
            Next::Retry { delay_ms: 250 }
        );
    }

    #[test]
    fn an_exhausted_run_budget_stops_retries() {
        assert_eq!(RetryPolicy::default().next(1, None, 0), Next::GiveUp);
        let huge = RetryPolicy {
            max_attempts: u32::MAX,
            base_delay_ms: u64::MAX,
            max_delay_ms: 10,
        };
        assert_eq!(huge.next(100, None, 1), Next::Retry { delay_ms: 10 });
    }
}
