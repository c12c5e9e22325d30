//! The orders-per-minute token bucket. It refills continuously with time (the reference
//! implementation's limiter never reset once its cap was hit).
//!
//! Exact integer arithmetic: one token is [`CREDIT_PER_TOKEN`] credit units, so refilling
//! `r` tokens per minute adds exactly `r` units per elapsed millisecond.

use super::limits::OrderRate;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Credit units in one token: the milliseconds in a minute.
pub const CREDIT_PER_TOKEN: i64 = 60_000;

/// The bucket's level, as of `updated_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBucket {
    credit: i64,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    updated_at: DateTime<Utc>,
}

/// No whole token is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    /// Milliseconds until the next whole token, `None` if the bucket never refills.
    pub retry_after_ms: Option<i64>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn full(rate: &OrderRate, now: DateTime<Utc>) -> TokenBucket {
        TokenBucket {
            credit: rate.capacity.saturating_mul(CREDIT_PER_TOKEN),
            updated_at: now,
        }
    }

    /// Whole tokens available as of the last refill.
    pub fn tokens(&self) -> i64 {
        self.credit / CREDIT_PER_TOKEN
    }

    /// Adds the credit earned since the last refill, capped at capacity. A clock that steps
    /// back earns nothing and does not move the bucket's time back.
    pub fn refill(&mut self, rate: &OrderRate, now: DateTime<Utc>) {
        let cap = rate.capacity.saturating_mul(CREDIT_PER_TOKEN);
        let elapsed = (now - self.updated_at).num_milliseconds().max(0);
        let earned = elapsed.saturating_mul(rate.refill_per_minute);
        self.credit = self.credit.saturating_add(earned).min(cap);
        if now > self.updated_at {
            self.updated_at = now;
        }
    }

    /// Takes one token if a whole one is there (after refilling to `now`).
    pub fn try_take(&mut self, rate: &OrderRate, now: DateTime<Utc>) -> Result<(), RateLimited> {
        self.refill(rate, now);
        if self.credit >= CREDIT_PER_TOKEN {
            self.credit -= CREDIT_PER_TOKEN;
            Ok(())
        } else {
            Err(self.shortfall(rate))
        }
    }

    /// Whether a token could be taken now, without taking it.
    pub fn check(&self, rate: &OrderRate, now: DateTime<Utc>) -> Result<(), RateLimited> {
        let mut probe = *self;
        probe.try_take(rate, now)
    }

    fn shortfall(&self, rate: &OrderRate) -> RateLimited {
        let missing = CREDIT_PER_TOKEN - self.credit;
        let retry_after_ms = (rate.refill_per_minute > 0 && rate.capacity > 0)
            .then(|| (missing + rate.refill_per_minute - 1) / rate.refill_per_minute);
        RateLimited { retry_after_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_767_225_600_000 + ms).unwrap()
    }

    const RATE: OrderRate = OrderRate {
        capacity: 2,
        refill_per_minute: 1,
    };

    #[test]
    fn bucket_refills_with_time_after_being_emptied() {
        let mut b = TokenBucket::full(&RATE, t(0));
        assert!(b.try_take(&RATE, t(0)).is_ok());
        assert!(b.try_take(&RATE, t(0)).is_ok());
        let limited = b.try_take(&RATE, t(0)).unwrap_err();
        assert_eq!(limited.retry_after_ms, Some(60_000));
        // One millisecond short of a token: still limited, and says how long to wait.
        assert_eq!(
            b.try_take(&RATE, t(59_999)).unwrap_err().retry_after_ms,
            Some(1)
        );
        assert!(b.try_take(&RATE, t(60_000)).is_ok());
        // Long idle refills to capacity, never beyond it.
        let mut idle = b;
        idle.refill(&RATE, t(86_400_000));
        assert_eq!(idle.tokens(), 2);
    }

    #[test]
    fn a_clock_stepping_back_earns_nothing() {
        let mut b = TokenBucket::full(&RATE, t(120_000));
        b.try_take(&RATE, t(120_000)).unwrap();
        b.try_take(&RATE, t(120_000)).unwrap();
        assert!(b.try_take(&RATE, t(0)).is_err());
        assert!(b.try_take(&RATE, t(179_999)).is_err());
        assert!(b.try_take(&RATE, t(180_000)).is_ok());
    }

    #[test]
    fn a_bucket_without_refill_says_it_never_refills() {
        let rate = OrderRate {
            capacity: 1,
            refill_per_minute: 0,
        };
        let mut b = TokenBucket::full(&rate, t(0));
        b.try_take(&rate, t(0)).unwrap();
        assert_eq!(
            b.try_take(&rate, t(10_000_000)).unwrap_err().retry_after_ms,
            None
        );
    }
}
