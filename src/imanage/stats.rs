//! Counters of what the client did, for `imvault check`, progress lines and tests.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// A snapshot of the client's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClientStats {
    /// HTTP requests sent (every attempt counts, sign-in and refresh included).
    pub requests: u64,
    /// Attempts repeated after a transient failure or a 429.
    pub retries: u64,
    /// 429 answers received.
    pub throttled: u64,
    /// 5xx answers received.
    pub server_errors: u64,
    /// Connection errors, timeouts, truncated bodies.
    pub transport_errors: u64,
    /// Token renewals (proactive or after a 401).
    pub reauths: u64,
    /// Successful password grants (the first sign-in, and any after a refused refresh token).
    pub sign_ins: u64,
    /// Listings restarted after an expired cursor.
    pub listing_restarts: u64,
    /// Content bytes received by downloads.
    pub bytes_downloaded: u64,
    /// The adapted request rate (requests per second) at the time of the snapshot.
    pub current_rate: f64,
    /// The configured ceiling of that rate.
    pub max_rate: f64,
    /// The adapted number of requests allowed in flight.
    pub current_concurrency: usize,
    /// The configured ceiling of that number.
    pub max_concurrency: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
    pub server_errors: AtomicU64,
    pub transport_errors: AtomicU64,
    pub reauths: AtomicU64,
    pub sign_ins: AtomicU64,
    pub listing_restarts: AtomicU64,
    pub bytes_downloaded: AtomicU64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(
        &self,
        (current_rate, max_rate): (f64, f64),
        (current_concurrency, max_concurrency): (usize, usize),
    ) -> ClientStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ClientStats {
            requests: get(&self.requests),
            retries: get(&self.retries),
            throttled: get(&self.throttled),
            server_errors: get(&self.server_errors),
            transport_errors: get(&self.transport_errors),
            reauths: get(&self.reauths),
            sign_ins: get(&self.sign_ins),
            listing_restarts: get(&self.listing_restarts),
            bytes_downloaded: get(&self.bytes_downloaded),
            current_rate,
            max_rate,
            current_concurrency,
            max_concurrency,
        }
    }
}
