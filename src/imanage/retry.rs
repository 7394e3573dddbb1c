//! Backoff with jitter (after object_store `client/backoff.rs`): exponential from `base` to `cap`,
//! "full jitter" (a uniform draw in `[0, ceiling]`), and a bounded number of retries.

use std::time::Duration;

use super::error::RetryClass;

/// What the retry loop does after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Give up and return the error.
    Fail,
    /// Sleep this long, then try again.
    RetryAfter(Duration),
    /// Refresh the token, then try again at once.
    Reauth,
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so at most `max_retries + 1` attempts).
    pub max_retries: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 8,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// The backoff ceiling before retry number `retry` (0-based): `base * 2^retry`, at most `cap`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(30));
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A jittered delay in `[ceiling/2, ceiling]` (half jitter keeps progress steady while still
    /// spreading a thundering herd).
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        let half = ceiling / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// Decide what to do after attempt number `retries_done + 1` failed with `class`.
    /// `reauthed` says whether this call already refreshed its token once.
    pub fn decide(&self, class: RetryClass, retries_done: u32, reauthed: bool) -> Decision {
        match class {
            RetryClass::Never => Decision::Fail,
            RetryClass::Reauth if reauthed => Decision::Fail,
            RetryClass::Reauth => Decision::Reauth,
            _ if retries_done >= self.max_retries => Decision::Fail,
            RetryClass::Backoff => Decision::RetryAfter(self.backoff(retries_done)),
            // Honour Retry-After, plus a little jitter so callers do not return in lockstep.
            RetryClass::After(d) => {
                Decision::RetryAfter(d + Duration::from_millis(fastrand::u64(0..=250)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(0), Duration::from_millis(100));
        assert_eq!(p.ceiling(3), Duration::from_millis(800));
        assert_eq!(p.ceiling(20), Duration::from_secs(15));
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(15));
        for retry in 0..12 {
            let c = p.ceiling(retry);
            for _ in 0..50 {
                let d = p.backoff(retry);
                assert!(
                    d >= c / 2 && d <= c,
                    "retry {retry}: {d:?} outside [{:?}, {c:?}]",
                    c / 2
                );
            }
        }
    }

    #[test]
    fn decisions_are_bounded_and_never_retry_permanent_errors() {
        let p = RetryPolicy {
            max_retries: 2,
            ..Default::default()
        };
        assert_eq!(p.decide(RetryClass::Never, 0, false), Decision::Fail);
        assert_eq!(p.decide(RetryClass::Reauth, 0, false), Decision::Reauth);
        assert_eq!(p.decide(RetryClass::Reauth, 0, true), Decision::Fail);
        assert!(matches!(
            p.decide(RetryClass::Backoff, 1, false),
            Decision::RetryAfter(_)
        ));
        assert_eq!(p.decide(RetryClass::Backoff, 2, false), Decision::Fail);
        match p.decide(RetryClass::After(Duration::from_secs(3)), 0, false) {
            Decision::RetryAfter(d) => {
                assert!(d >= Duration::from_secs(3) && d <= Duration::from_millis(3250))
            }
            other => panic!("expected a wait, got {other:?}"),
        }
        assert_eq!(
            p.decide(RetryClass::After(Duration::from_secs(3)), 2, false),
            Decision::Fail
        );
    }
}
