//! What a no-change nightly reads from the repository does not grow with the number of
//! snapshots: manifests are cached locally (repo/snapshot_cache.rs), checked on every read,
//! and a LIST stays the truth of which snapshots exist.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Duration;
use imvault::app::env::backup_env;
use imvault::jobs::JobState;
use imvault::jobs::backup::{self, BackupEnv, BackupRequest, LibraryOutcome};
use imvault::repo::{Repository, SessionOptions, SnapshotDraft, SnapshotId};
use object_store::{ObjectStore, ObjectStoreExt};
use tokio_util::sync::CancellationToken;

use crate::support::env::TestEnv;
use crate::support::repo::FaultyStore;

/// A tiny library backed up through a request-counting store.
struct Nightly {
    env: TestEnv,
    counted: Arc<FaultyStore>,
}

/// What one nightly asked of the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Requests {
    /// GETs by top-level prefix (`snapshots`, `index`, `packs`, ...).
    gets: BTreeMap<String, usize>,
    lists: usize,
}

impl Requests {
    fn gets_of(&self, prefix: &str) -> usize {
        self.gets.get(prefix).copied().unwrap_or(0)
    }
    fn total_gets(&self) -> usize {
        self.gets.values().sum()
    }
}

impl Nightly {
    async fn new(seed: u64) -> Self {
        let env = TestEnv::tiny(seed).await;
        let counted = FaultyStore::new(env.store.clone());
        Self { env, counted }
    }

    fn cache_base(&self) -> PathBuf {
        self.env.dir.path().join("state/cache")
    }

    /// The directory holding this repository's cached manifests.
    async fn cache_dir(&self) -> PathBuf {
        let repo = Repository::open(self.env.store.clone(), crate::support::repo::key())
            .await
            .unwrap();
        self.cache_base().join(&repo.config().id).join("snapshots")
    }

    /// One backup run of every library, as the daemon's nightly (`cached`: the environment the
    /// application makes, `app::env::backup_env`, which caches manifests in the state
    /// directory; else the same without a cache); returns its outcomes and the requests it made.
    async fn run(&self, cached: bool) -> (Vec<LibraryOutcome>, Requests) {
        self.counted.reset_counts();
        let store: Arc<dyn ObjectStore> = self.counted.clone();
        let repo = Repository::open(store, crate::support::repo::key())
            .await
            .expect("open repo")
            .load_index()
            .await
            .expect("load index");
        let client = self.env.client().await;
        let libraries: Vec<_> = client.libraries().iter().map(|l| l.id.clone()).collect();
        let env = if cached {
            backup_env(
                &self.env.settings,
                client,
                repo,
                imvault::app::progress::log_lines(),
            )
        } else {
            BackupEnv {
                client,
                repo,
                lock_dir: self.env.dir.path().join("state/locks"),
                progress: imvault::app::progress::log_lines(),
                session: SessionOptions::default(),
                catalog: Some(self.env.dir.path().join("state/catalog.db")),
            }
        };
        assert_eq!(env.lock_dir, self.env.dir.path().join("state/locks"));
        // One library after the other, so that the counts are exact: libraries backed up at
        // the same time with a cold cache may each read the same manifest.
        let opts = BackupRequest {
            parallel_libraries: 1,
            ..BackupRequest::default()
        };
        let outcomes = backup::run(&env, &libraries, &opts, CancellationToken::new()).await;
        for o in &outcomes {
            assert_eq!(o.state, JobState::Completed, "{o:?}");
        }
        let mut gets = BTreeMap::new();
        for key in self.counted.get_log() {
            let top = key.split('/').next().unwrap_or_default().to_string();
            *gets.entry(top).or_insert(0) += 1;
        }
        let requests = Requests {
            gets,
            lists: self.counted.lists(),
        };
        (outcomes, requests)
    }

    /// A no-change nightly: nothing downloaded, the parent is the last run's snapshot.
    async fn no_change(
        &self,
        last: &[LibraryOutcome],
        cached: bool,
    ) -> (Vec<LibraryOutcome>, Requests) {
        let (outcomes, requests) = self.run(cached).await;
        for o in &outcomes {
            assert_eq!(
                o.counters.versions_downloaded, 0,
                "{}: nothing changed",
                o.library
            );
            let before = last
                .iter()
                .find(|l| l.library == o.library)
                .expect("same libraries");
            assert_eq!(
                o.parent, before.snapshot,
                "{}: the last snapshot is the parent",
                o.library
            );
        }
        (outcomes, requests)
    }

    /// Adds `n` older snapshots to every library (a history of nightlies, written cheaply: the
    /// same streams as the latest snapshot, one day apart before it), straight to the store.
    async fn add_history(&self, latest: &[LibraryOutcome], from: usize, n: usize) {
        let repo = self.env.repo().await;
        for o in latest {
            let snap = repo.load_snapshot(&o.snapshot.unwrap()).await.unwrap();
            for i in from..from + n {
                let m = &snap.manifest;
                let draft = SnapshotDraft {
                    library: m.library.clone(),
                    time: Some(m.time - Duration::days(i as i64 + 1)),
                    host: Some(m.host.clone()),
                    parent: None,
                    counts: m.counts.clone(),
                    streams: m.streams.clone(),
                    summary: serde_json::json!({ "history": i }),
                };
                repo.backup_session(SessionOptions::default())
                    .finish(draft)
                    .await
                    .expect("history snapshot");
            }
        }
    }

    async fn snapshot_count(&self) -> usize {
        self.env
            .repo()
            .await
            .list_snapshots(None)
            .await
            .unwrap()
            .len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_change_nightly_requests_do_not_grow_with_the_snapshot_count() {
    let n = Nightly::new(61).await;
    let (mut last, _) = n.run(true).await;
    let libraries = last.len();
    let mut measured = Vec::new();
    let mut from = 0;
    for history in [6, 18] {
        // 6 older snapshots per library, then 18 more: 4x the history.
        n.add_history(&last, from, history).await;
        from += history;
        // The first run after others wrote snapshots reads each new manifest once.
        let (o, first) = n.no_change(&last, true).await;
        assert!(
            first.gets_of("snapshots") >= history * libraries,
            "new manifests are read once: {first:?}"
        );
        let (o2, steady) = n.no_change(&o, true).await;
        last = o2;
        measured.push((n.snapshot_count().await, steady));
    }
    let (small, large) = (&measured[0], &measured[1]);
    assert!(large.0 >= small.0 + 18 * libraries, "{measured:?}");
    assert_eq!(
        small.1, large.1,
        "a no-change nightly's requests at {} and {} snapshots",
        small.0, large.0
    );
    // Each run reads back only the snapshot it wrote (for the catalog), never the history.
    assert!(large.1.gets_of("snapshots") <= libraries, "{:?}", large.1);
    // Without the cache the same nightly reads every manifest: the test can see growth.
    let (_, uncached) = n.no_change(&last, false).await;
    assert!(
        uncached.gets_of("snapshots") >= n.snapshot_count().await - libraries,
        "{uncached:?}"
    );
    assert!(uncached.total_gets() > large.1.total_gets());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_cached_manifest_is_refused_and_read_again() {
    let n = Nightly::new(62).await;
    let (first, _) = n.run(true).await;
    n.add_history(&first, 0, 3).await;
    let (second, _) = n.no_change(&first, true).await;
    let (third, steady) = n.no_change(&second, true).await;
    // An attacker (or a bad disk) rewrites the cached copy of an old snapshot (sealed as
    // stored: a changed byte of its ciphertext), hoping it is taken for a newer one.
    let dir = n.cache_dir().await;
    let repo = n.env.repo().await;
    let snaps = repo.list_snapshots(Some(&third[0].library)).await.unwrap();
    let old = &snaps[0];
    let path = dir.join(old.id.to_string());
    let stored = std::fs::read(&path).expect("the old manifest is cached");
    let mut forged = stored.clone();
    let mid = forged.len() / 2;
    forged[mid] ^= 0x01;
    std::fs::write(&path, &forged).unwrap();
    // A torn copy of another.
    let torn = dir.join(snaps[1].id.to_string());
    let torn_bytes = std::fs::read(&torn).unwrap();
    std::fs::write(&torn, &torn_bytes[..torn_bytes.len() / 2]).unwrap();

    let (fourth, requests) = n.no_change(&third, true).await;
    assert_eq!(
        requests.gets_of("snapshots"),
        steady.gets_of("snapshots") + 2,
        "both bad copies are read again from the repository: {requests:?}"
    );
    for (id, file) in [(old.id, &path), (snaps[1].id, &torn)] {
        let key = object_store::path::Path::from(format!("snapshots/{id}"));
        let object = n.env.store.get(&key).await.unwrap().bytes().await.unwrap();
        assert_eq!(
            std::fs::read(file).unwrap(),
            object.to_vec(),
            "{id:?} cached again as stored"
        );
    }
    assert_eq!(fourth[0].parent, third[0].snapshot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_cache_costs_gets_and_is_made_again_private() {
    let n = Nightly::new(63).await;
    let (first, _) = n.run(true).await;
    n.add_history(&first, 0, 4).await;
    let (second, _) = n.no_change(&first, true).await;
    let (third, steady) = n.no_change(&second, true).await;
    let dir = n.cache_dir().await;
    std::fs::remove_dir_all(n.cache_base()).unwrap();

    let (fourth, cold) = n.no_change(&third, true).await;
    let snapshots = n.snapshot_count().await;
    // Every manifest listed before this run's own is read once (LIST before the run wrote).
    let listed = snapshots - third.len();
    assert_eq!(
        cold.gets_of("snapshots"),
        steady.gets_of("snapshots") + listed,
        "{cold:?} vs {steady:?}"
    );
    let (_, warm) = n.no_change(&fourth, true).await;
    assert_eq!(warm, steady, "warm again after one run");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&n.cache_base()), 0o700);
        assert_eq!(mode(&dir), 0o700);
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert!(files.len() >= listed, "{} cached of {listed}", files.len());
        for f in files {
            assert!(
                f.file_name()
                    .to_string_lossy()
                    .parse::<SnapshotId>()
                    .is_ok()
            );
            assert_eq!(mode(&f.path()), 0o600, "{:?}", f.path());
        }
    }
}
