//! Counters behind `GET /sim/stats`: requests per endpoint, 429s, faults, peak concurrency.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

/// A snapshot of the simulator's counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SimStats {
    /// Requests per endpoint, keyed like `GET L/documents/{id}/download` (`L` is the library
    /// prefix).
    pub requests: BTreeMap<String, u64>,
    pub total_requests: u64,
    pub rate_limited: u64,
    pub faults_5xx: u64,
    pub truncated_downloads: u64,
    pub unauthorized: u64,
    pub peak_concurrency: u64,
    pub in_flight: u64,
    pub bytes_downloaded: u64,
    pub sign_ins: u64,
    pub failed_sign_ins: u64,
}

#[derive(Debug, Default)]
pub struct Stats {
    per_endpoint: RwLock<HashMap<String, Arc<AtomicU64>>>,
    pub total: AtomicU64,
    pub rate_limited: AtomicU64,
    pub faults: AtomicU64,
    pub truncated: AtomicU64,
    pub unauthorized: AtomicU64,
    pub peak: AtomicU64,
    pub in_flight: AtomicU64,
    pub bytes: AtomicU64,
    pub sign_ins: AtomicU64,
    pub failed_sign_ins: AtomicU64,
}

impl Stats {
    pub fn count(&self, endpoint: &str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let hit = self
            .per_endpoint
            .read()
            .ok()
            .and_then(|m| m.get(endpoint).cloned());
        let counter = match hit {
            Some(c) => c,
            None => {
                let Ok(mut m) = self.per_endpoint.write() else {
                    return;
                };
                m.entry(endpoint.to_string()).or_default().clone()
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> SimStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SimStats {
            requests: self
                .per_endpoint
                .read()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), g(v))).collect())
                .unwrap_or_default(),
            total_requests: g(&self.total),
            rate_limited: g(&self.rate_limited),
            faults_5xx: g(&self.faults),
            truncated_downloads: g(&self.truncated),
            unauthorized: g(&self.unauthorized),
            peak_concurrency: g(&self.peak),
            in_flight: g(&self.in_flight),
            bytes_downloaded: g(&self.bytes),
            sign_ins: g(&self.sign_ins),
            failed_sign_ins: g(&self.failed_sign_ins),
        }
    }
}
