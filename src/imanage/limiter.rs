//! Politeness towards the tenant: a `governor` token bucket at the current rate, a window of at
//! most `concurrency` requests in flight, and AIMD adaptation of both.
//!
//! - A 429 lowers the rate multiplicatively (halves it, at most once per second so a burst of
//!   429s from requests already in flight counts once), halves the concurrency window too (a
//!   429 for too many requests in flight looks the same), and pauses every caller until the
//!   server's `Retry-After` has passed.
//! - Successes raise them again additively (the rate by 5% of the setting per second's worth
//!   of successes, the window by one per window's worth), never above the settings.
//!
//! The bucket runs on tokio's clock, so tests can drive it with `tokio::time::pause()`.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

use super::window::{Window, WindowPermit};

/// A `governor` clock that reads tokio's (pausable) time.
#[derive(Debug, Clone)]
pub struct TokioClock {
    origin: Instant,
}

impl TokioClock {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::from(Instant::now().saturating_duration_since(self.origin))
    }
}

type Bucket = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>;

/// The lowest rate AIMD may fall to, in requests per second.
const MIN_RATE: f64 = 1.0;
/// Halve at most once per this long.
const DECREASE_GUARD: Duration = Duration::from_secs(1);

struct State {
    rate: f64,
    bucket: Arc<Bucket>,
    bucket_rate: f64,
    successes: u64,
    pause_until: Option<Instant>,
    last_decrease: Option<Instant>,
}

/// Holds a place in the concurrency limit; dropped when the request (and its body) is done.
#[derive(Debug)]
pub struct Permit {
    _permit: WindowPermit,
}

pub struct Limiter {
    max_rate: f64,
    step: f64,
    clock: TokioClock,
    window: Arc<Window>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("max_rate", &self.max_rate)
            .field("rate", &self.rate())
            .field("concurrency", &self.window.width())
            .finish()
    }
}

/// Tokens the bucket may hold: 20 ms worth of requests, at least two. With a burst of one, a
/// caller woken late by the timer (≈1 ms granularity, a busy runtime) loses that time for good,
/// and the run falls ~10% short of the rate at 100 requests/s; a second token absorbs it, and
/// the long-run rate stays the setting.
fn burst_for(rate: f64) -> NonZeroU32 {
    let n = (rate.max(MIN_RATE) * 0.02)
        .ceil()
        .clamp(2.0, f64::from(u32::MAX)) as u32;
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn bucket_for(rate: f64, clock: &TokioClock) -> Arc<Bucket> {
    let period = Duration::from_secs_f64(1.0 / rate.max(MIN_RATE));
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst_for(rate));
    Arc::new(RateLimiter::direct_with_clock(quota, clock.clone()))
}

impl Limiter {
    /// `requests_per_second` and `concurrency` are clamped to at least 1.
    pub fn new(requests_per_second: u32, concurrency: usize) -> Self {
        let max_rate = f64::from(requests_per_second.max(1));
        let clock = TokioClock::new();
        Self {
            max_rate,
            step: (max_rate * 0.05).max(1.0),
            window: Window::new(concurrency),
            state: Mutex::new(State {
                rate: max_rate,
                bucket: bucket_for(max_rate, &clock),
                bucket_rate: max_rate,
                successes: 0,
                pause_until: None,
                last_decrease: None,
            }),
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current (adapted) number of requests allowed in flight.
    pub fn concurrency(&self) -> usize {
        self.window.width()
    }

    /// The current (adapted) rate in requests per second.
    pub fn rate(&self) -> f64 {
        self.lock().rate
    }

    pub fn max_rate(&self) -> f64 {
        self.max_rate
    }

    /// Wait for a place in the concurrency limit, any `Retry-After` pause, and a token.
    pub async fn acquire(&self) -> Permit {
        let permit = self.window.acquire().await;
        loop {
            let (bucket, pause) = {
                let s = self.lock();
                (s.bucket.clone(), s.pause_until)
            };
            if let Some(until) = pause
                && until > Instant::now()
            {
                tokio::time::sleep_until(until).await;
                continue;
            }
            match bucket.check() {
                Ok(()) => break,
                Err(not_until) => {
                    tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
                }
            }
        }
        Permit { _permit: permit }
    }

    /// A request succeeded: raise the rate additively, at most to the setting.
    pub fn on_success(&self) {
        self.window.on_success();
        let mut s = self.lock();
        if s.rate >= self.max_rate {
            return;
        }
        s.successes += 1;
        if s.successes as f64 >= s.rate {
            s.successes = 0;
            s.rate = (s.rate + self.step).min(self.max_rate);
            self.rebuild(&mut s);
        }
    }

    /// The server answered 429: halve the rate (once per second) and pause everyone until
    /// `retry_after` has passed.
    pub fn on_throttled(&self, retry_after: Duration) {
        let now = Instant::now();
        let mut s = self.lock();
        let until = now + retry_after;
        if s.pause_until.is_none_or(|p| p < until) {
            s.pause_until = Some(until);
        }
        s.successes = 0;
        if s.last_decrease
            .is_none_or(|t| now.saturating_duration_since(t) >= DECREASE_GUARD)
        {
            s.last_decrease = Some(now);
            s.rate = (s.rate / 2.0).max(MIN_RATE);
            self.window.narrow();
            self.rebuild(&mut s);
        }
    }

    fn rebuild(&self, s: &mut State) {
        if (s.rate - s.bucket_rate).abs() > f64::EPSILON {
            s.bucket = bucket_for(s.rate, &self.clock);
            s.bucket_rate = s.rate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_paces_requests_at_the_rate() {
        let lim = Limiter::new(10, 100);
        let start = Instant::now();
        for _ in 0..21 {
            let _p = lim.acquire().await;
        }
        // 21 requests at 10/s with a burst of two: the 21st cannot start before 1.9 s.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(1900), "took {took:?}");
        assert!(took < Duration::from_millis(2000), "took {took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn callers_arriving_with_jitter_still_get_the_whole_rate() {
        // 100/s; callers come back 15 ms, then 5 ms after their request (10 ms on average,
        // like timer wake-ups that are sometimes late): a second token absorbs the late ones,
        // so 200 requests take ≈2 s. With a single token every late arrival is lost: ≈2.5 s.
        let lim = Limiter::new(100, 100);
        let start = Instant::now();
        for i in 0..200 {
            let _p = lim.acquire().await;
            let gap = if i % 2 == 0 { 15 } else { 5 };
            tokio::time::advance(Duration::from_millis(gap)).await;
        }
        let took = start.elapsed();
        assert!(took < Duration::from_millis(2100), "took {took:?}");
        assert!(took >= Duration::from_millis(1990), "took {took:?}");
    }

    #[test]
    fn the_burst_is_20_ms_of_requests_and_at_least_two() {
        assert_eq!(burst_for(0.5).get(), 2);
        assert_eq!(burst_for(100.0).get(), 2);
        assert_eq!(burst_for(1000.0).get(), 20);
    }

    #[tokio::test(start_paused = true)]
    async fn aimd_halves_on_429_and_climbs_back_to_the_setting() {
        let lim = Limiter::new(40, 4);
        lim.on_throttled(Duration::from_secs(2));
        assert_eq!(lim.rate(), 20.0);
        // A second 429 from a request already in flight does not halve again.
        lim.on_throttled(Duration::from_secs(2));
        assert_eq!(lim.rate(), 20.0);
        // Everyone waits out Retry-After.
        let start = Instant::now();
        drop(lim.acquire().await);
        assert!(start.elapsed() >= Duration::from_secs(2));
        tokio::time::advance(Duration::from_secs(1)).await;
        lim.on_throttled(Duration::from_secs(1));
        assert_eq!(lim.rate(), 10.0);
        let mut rates = vec![];
        for _ in 0..400 {
            lim.on_success();
            rates.push(lim.rate());
        }
        assert!(
            rates.windows(2).all(|w| w[1] >= w[0]),
            "additive increase is monotone"
        );
        assert_eq!(lim.rate(), 40.0, "climbs back to the setting");
        for _ in 0..100 {
            lim.on_success();
        }
        assert_eq!(lim.rate(), 40.0, "never above the setting");
        for _ in 0..20 {
            tokio::time::advance(Duration::from_secs(2)).await;
            lim.on_throttled(Duration::ZERO);
        }
        assert_eq!(lim.rate(), MIN_RATE, "never below the floor");
    }

    #[tokio::test(start_paused = true)]
    async fn semaphore_bounds_requests_in_flight() {
        let lim = Arc::new(Limiter::new(1000, 3));
        let held: Vec<Permit> = futures::future::join_all((0..3).map(|_| lim.acquire())).await;
        let l2 = lim.clone();
        let waiter = tokio::spawn(async move { l2.acquire().await });
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(!waiter.is_finished(), "a fourth request must wait");
        drop(held);
        let p = waiter.await.expect("waiter task");
        drop(p);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// In any window, the bucket lets through at most `rate × window + burst` requests.
        #[test]
        fn bucket_never_exceeds_its_rate(rate in 1u32..200, n in 2usize..120) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .expect("runtime");
            let starts = rt.block_on(async {
                let lim = Limiter::new(rate, 16);
                let mut starts = Vec::with_capacity(n);
                for _ in 0..n {
                    drop(lim.acquire().await);
                    starts.push(Instant::now());
                }
                starts
            });
            let period = 1.0 / f64::from(rate);
            let burst = burst_for(f64::from(rate)).get() as usize;
            // Any `burst + k` consecutive requests span at least `k` periods.
            for i in 0..n {
                for j in (i + burst)..n {
                    let span = starts[j].duration_since(starts[i]).as_secs_f64();
                    let k = (j - i + 1 - burst) as f64;
                    proptest::prop_assert!(
                        span + 1e-6 >= period * k,
                        "requests {i}..={j} within {span} s, less than {k} periods of {period}"
                    );
                }
            }
        }
    }
}
