//! `/readyz`'s repository check, kept. Opening the repository unlocks its key (Argon2id: about
//! 0.4 s and 64 MiB), which a probe anyone can send must not cost on every call: the result is
//! kept per settings (a reload checks again at once) for [`OK_TTL`], a failure for
//! [`RETRY_AFTER`], and concurrent probes wait for the one check running.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Settings;

/// A repository that opened is checked again after this.
pub const OK_TTL: Duration = Duration::from_secs(60);
/// A repository that did not open is checked again on the first call after this.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Kept {
    /// The settings it was checked with (a reload replaces them).
    settings: Arc<Settings>,
    at: Instant,
    result: Result<(), String>,
}

/// The last repository check; one check at a time.
#[derive(Debug)]
pub struct RepositoryProbe {
    last: tokio::sync::Mutex<Option<Kept>>,
    checks: AtomicU64,
    ok_ttl: Duration,
    retry_after: Duration,
}

impl Default for RepositoryProbe {
    fn default() -> Self {
        Self::new(OK_TTL, RETRY_AFTER)
    }
}

impl RepositoryProbe {
    pub fn new(ok_ttl: Duration, retry_after: Duration) -> Self {
        Self {
            last: tokio::sync::Mutex::new(None),
            checks: AtomicU64::new(0),
            ok_ttl,
            retry_after,
        }
    }

    /// How many times the repository was checked (opened) by this process.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    /// The kept result for `settings` while fresh, else the result of `check` (run by one caller
    /// while the others wait for it).
    pub async fn get<F, Fut>(&self, settings: &Arc<Settings>, check: F) -> Result<(), String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let mut last = self.last.lock().await;
        if let Some(k) = last.as_ref() {
            let ttl = if k.result.is_ok() {
                self.ok_ttl
            } else {
                self.retry_after
            };
            if Arc::ptr_eq(&k.settings, settings) && k.at.elapsed() < ttl {
                return k.result.clone();
            }
        }
        self.checks.fetch_add(1, Ordering::Relaxed);
        let result = check().await;
        *last = Some(Kept {
            settings: settings.clone(),
            at: Instant::now(),
            result: result.clone(),
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn settings() -> Arc<Settings> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("imvault.toml");
        std::fs::write(
            &path,
            format!(
                "[repository]\nurl = \"file://{}/repo\"\npassword = \"p\"\n\n[catalog]\npath = \"{}/c.db\"\n",
                dir.path().display(),
                dir.path().display()
            ),
        )
        .unwrap();
        Arc::new(Settings::load(&path, &crate::config::Env::default()).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_probes_share_one_check_and_a_fresh_result_is_kept() {
        let probe = Arc::new(RepositoryProbe::default());
        let s = settings();
        let opened = Arc::new(AtomicU64::new(0));
        let mut calls = Vec::new();
        for _ in 0..20 {
            let (probe, s, opened) = (probe.clone(), s.clone(), opened.clone());
            calls.push(tokio::spawn(async move {
                probe
                    .get(&s, || async {
                        opened.fetch_add(1, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        Ok(())
                    })
                    .await
            }));
        }
        for c in calls {
            assert_eq!(c.await.unwrap(), Ok(()));
        }
        assert_eq!(opened.load(Ordering::SeqCst), 1);
        assert_eq!(probe.checks(), 1);
        tokio::time::advance(OK_TTL - Duration::from_secs(1)).await;
        let kept = probe.get(&s, || async { Err("broken".into()) }).await;
        assert_eq!(kept, Ok(()), "still fresh");
        assert_eq!(probe.checks(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_repository_that_breaks_is_reported_after_the_ttl_or_a_reload() {
        let probe = RepositoryProbe::default();
        let s = settings();
        let broken = AtomicBool::new(false);
        let check = || async {
            if broken.load(Ordering::SeqCst) {
                Err("no repository here".to_string())
            } else {
                Ok(())
            }
        };
        assert_eq!(probe.get(&s, check).await, Ok(()));
        broken.store(true, Ordering::SeqCst);
        assert_eq!(probe.get(&s, check).await, Ok(()), "kept");
        tokio::time::advance(OK_TTL).await;
        assert!(
            probe.get(&s, check).await.is_err(),
            "re-checked after the TTL"
        );
        assert_eq!(probe.checks(), 2);

        // A failure is kept only briefly: fixed, it is seen after RETRY_AFTER.
        broken.store(false, Ordering::SeqCst);
        assert!(probe.get(&s, check).await.is_err());
        assert_eq!(probe.checks(), 2);
        tokio::time::advance(RETRY_AFTER).await;
        assert_eq!(probe.get(&s, check).await, Ok(()));
        assert_eq!(probe.checks(), 3);

        // New settings (a reload) are checked at once.
        broken.store(true, Ordering::SeqCst);
        let reloaded = settings();
        assert!(probe.get(&reloaded, check).await.is_err());
        assert_eq!(probe.checks(), 4);
    }
}
