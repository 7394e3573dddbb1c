//! The tenant's limits and the injected trouble: request rate and concurrency (→ 429 with
//! `Retry-After`), latency, and seeded 502/503/504 faults and truncated downloads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use tokio::time::Instant;

use super::error::ApiError;
use super::hash::{self, tag};
use super::stats::Stats;

/// A token bucket: `rate` requests per second, bursts of up to one second's worth.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, now: Instant) -> Result<u64, u64> {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.capacity);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(self.tokens as u64)
        } else {
            Err(((1.0 - self.tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// Holds one unit of concurrency; released on drop (for downloads: when the body ends).
#[derive(Debug)]
pub struct InFlight {
    stats: Arc<Stats>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What fault, if any, to inject into one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Status(StatusCode),
    /// Downloads only: send fewer bytes than `Content-Length` says, then drop the connection.
    Truncate,
}

#[derive(Debug)]
pub struct Limits {
    bucket: Option<Mutex<Bucket>>,
    max_concurrent: Option<u64>,
    fault_rate_bits: AtomicU64,
    latency: Duration,
    seed: u64,
    counter: AtomicU64,
    /// Hash of the object whose download was truncated last (0: none).
    last_truncated: AtomicU64,
    stats: Arc<Stats>,
}

impl Limits {
    pub fn new(
        rate: Option<f64>,
        max_concurrent: Option<usize>,
        fault_rate: f64,
        latency: Duration,
        seed: u64,
        stats: Arc<Stats>,
    ) -> Self {
        Self {
            bucket: rate.filter(|r| *r > 0.0).map(|rate| {
                Mutex::new(Bucket {
                    rate,
                    capacity: rate.max(1.0),
                    tokens: rate.max(1.0),
                    at: Instant::now(),
                })
            }),
            max_concurrent: max_concurrent.map(|m| m as u64),
            fault_rate_bits: AtomicU64::new(fault_rate.clamp(0.0, 1.0).to_bits()),
            latency,
            seed,
            counter: AtomicU64::new(0),
            last_truncated: AtomicU64::new(0),
            stats,
        }
    }

    pub fn set_fault_rate(&self, p: f64) {
        self.fault_rate_bits
            .store(p.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    pub fn fault_rate(&self) -> f64 {
        f64::from_bits(self.fault_rate_bits.load(Ordering::Relaxed))
    }

    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// Admit one request, or answer 429. On success returns the concurrency guard and the
    /// remaining rate budget (if a rate is configured).
    pub fn admit(&self) -> Result<(InFlight, Option<u64>), ApiError> {
        let now_in = self.stats.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        let guard = InFlight {
            stats: self.stats.clone(),
        };
        if let Some(max) = self.max_concurrent
            && now_in > max
        {
            self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::RateLimited { retry_after: 1 });
        }
        let remaining = match &self.bucket {
            Some(b) => {
                let mut b = b.lock().unwrap_or_else(|p| p.into_inner());
                match b.take(Instant::now()) {
                    Ok(r) => Some(r),
                    Err(retry_after) => {
                        self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                        return Err(ApiError::RateLimited { retry_after });
                    }
                }
            }
            None => None,
        };
        self.stats.peak.fetch_max(now_in, Ordering::Relaxed);
        Ok((guard, remaining))
    }

    /// A truncation is transient: the download of `object` may be cut short unless it was the
    /// very last one cut, so a single retry of a truncated download can succeed.
    pub fn may_truncate(&self, object: &str) -> bool {
        let key = hash::str64(object) | 1;
        self.last_truncated.swap(key, Ordering::Relaxed) != key
    }

    /// A seeded draw for this request: a 5xx, a truncated download, or nothing.
    pub fn draw_fault(&self, download: bool) -> Fault {
        let p = self.fault_rate();
        if p <= 0.0 {
            return Fault::None;
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let x = hash::h(self.seed, &[tag::FAULT, n]);
        if hash::unit(x) >= p {
            return Fault::None;
        }
        let which = hash::below(hash::mix(x), if download { 4 } else { 3 });
        match which {
            0 => Fault::Status(StatusCode::BAD_GATEWAY),
            1 => Fault::Status(StatusCode::SERVICE_UNAVAILABLE),
            2 => Fault::Status(StatusCode::GATEWAY_TIMEOUT),
            _ => Fault::Truncate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refuses_past_its_rate_and_refills() {
        let t0 = Instant::now();
        let mut b = Bucket {
            rate: 2.0,
            capacity: 2.0,
            tokens: 2.0,
            at: t0,
        };
        assert!(b.take(t0).is_ok());
        assert!(b.take(t0).is_ok());
        assert_eq!(b.take(t0), Err(1));
        assert!(b.take(t0 + Duration::from_millis(600)).is_ok());
    }
}
