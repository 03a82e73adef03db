//! Requests per user per second on `eventpulse local` (OWASP API4): a token bucket per
//! authenticated user, checked right after the token is verified, so a flood from one user
//! gets 429 problems with `Retry-After` and never another user's share. On AWS the API
//! stage's throttle (`ApiThrottleRateLimit`) and usage plans do this.

use eventpulse_contract_rt::{ApiError, Authenticator, Principal};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Users tracked at most; past it, buckets that are full again (idle users) are dropped.
const MAX_TRACKED: usize = 100_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Wraps an [`Authenticator`] with a per-user rate limit.
pub struct RateLimited<A> {
    inner: A,
    /// Requests per second refilled; 0 turns the limit off.
    rate: f64,
    /// Requests a user may make at once after being idle.
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl<A> RateLimited<A> {
    pub fn new(inner: A, per_second: u32) -> Self {
        let rate = f64::from(per_second);
        Self {
            inner,
            rate,
            burst: (rate * 2.0).max(1.0),
            buckets: Mutex::default(),
        }
    }

    /// Takes one token of `user`'s bucket at `now`; the seconds to wait when there is none.
    fn take(&self, user: &str, now: Instant) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(user) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = buckets.entry(user.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

impl<A: Authenticator> Authenticator for RateLimited<A> {
    fn authenticate(&self, parts: &http::request::Parts) -> Result<Principal, ApiError> {
        let principal = self.inner.authenticate(parts)?;
        match self.take(&principal.user_id, Instant::now()) {
            Ok(()) => Ok(principal),
            Err(wait) => Err(ApiError::too_many_requests(
                format!(
                    "You sent more than {} requests per second; retry after {wait} s.",
                    self.rate
                ),
                wait,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Anyone;
    impl Authenticator for Anyone {
        fn authenticate(&self, _: &http::request::Parts) -> Result<Principal, ApiError> {
            unreachable!()
        }
    }

    #[test]
    fn a_burst_then_the_rate_per_user() {
        let l = RateLimited::new(Anyone, 10);
        let t0 = Instant::now();
        for i in 0..20 {
            assert!(l.take("alice", t0).is_ok(), "burst request {i}");
        }
        assert_eq!(l.take("alice", t0), Err(1));
        // Another user has a bucket of their own.
        assert!(l.take("bob", t0).is_ok());
        // 0.5 s refills 5 requests.
        let t1 = t0 + Duration::from_millis(500);
        for i in 0..5 {
            assert!(l.take("alice", t1).is_ok(), "refilled request {i}");
        }
        assert!(l.take("alice", t1).is_err());
        // Off.
        let off = RateLimited::new(Anyone, 0);
        for _ in 0..10_000 {
            assert!(off.take("alice", t0).is_ok());
        }
    }
}
