//! Paging cursors: opaque strings that carry where to resume, the listing they belong to and
//! when they were issued, signed so a forged, stale or foreign cursor is refused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::error::ApiError;

/// Where a paged walk resumes: (object, position inside the object).
pub type Pos = (u64, u64);

/// Issues and checks cursors. `Debug` hides the signing key.
pub struct Cursors {
    key: [u8; 32],
    ttl: Duration,
    start: Instant,
    /// Cursors issued before this generation are expired (`expire_cursors`).
    generation: AtomicU64,
}

impl std::fmt::Debug for Cursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursors")
            .field("ttl", &self.ttl)
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Cursors {
    pub fn new(ttl: Duration) -> Self {
        let mut key = [0u8; 32];
        for b in key.iter_mut() {
            *b = fastrand::u8(..);
        }
        Self {
            key,
            ttl,
            start: Instant::now(),
            generation: AtomicU64::new(0),
        }
    }

    fn mac(&self, scope: &str, body: &str) -> String {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(scope.as_bytes());
        h.update(b"\0");
        h.update(body.as_bytes());
        hex::encode(&h.finalize().as_bytes()[..8])
    }

    pub fn issue(&self, scope: &str, pos: Pos) -> String {
        let issued = self.start.elapsed().as_millis() as u64;
        let generation = self.generation.load(Ordering::Relaxed);
        let body = format!("{:x}-{:x}-{issued:x}-{generation:x}", pos.0, pos.1);
        let mac = self.mac(scope, &body);
        format!("{body}-{mac}")
    }

    pub fn parse(&self, scope: &str, s: &str) -> Result<Pos, ApiError> {
        let (body, mac) = s.rsplit_once('-').ok_or(ApiError::InvalidCursor)?;
        if self.mac(scope, body) != mac {
            return Err(ApiError::InvalidCursor);
        }
        let parts: Vec<u64> = body
            .split('-')
            .map(|p| u64::from_str_radix(p, 16))
            .collect::<Result<_, _>>()
            .map_err(|_| ApiError::InvalidCursor)?;
        let [a, b, issued, generation] = parts[..] else {
            return Err(ApiError::InvalidCursor);
        };
        let now = self.start.elapsed().as_millis() as u64;
        if generation < self.generation.load(Ordering::Relaxed)
            || now.saturating_sub(issued) > self.ttl.as_millis() as u64
        {
            return Err(ApiError::InvalidCursor);
        }
        Ok((a, b))
    }

    /// Every cursor issued so far is expired from now on.
    pub fn expire_all(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_others() {
        let c = Cursors::new(Duration::from_secs(60));
        let s = c.issue("ws:ACTIVE", (42, 7));
        assert_eq!(c.parse("ws:ACTIVE", &s).unwrap(), (42, 7));
        assert!(c.parse("ws:ARCHIVE", &s).is_err());
        assert!(c.parse("ws:ACTIVE", &s.replace("2a", "2b")).is_err());
        assert!(c.parse("ws:ACTIVE", "garbage").is_err());
        c.expire_all();
        assert!(c.parse("ws:ACTIVE", &s).is_err());
    }
}
