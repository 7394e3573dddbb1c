//! S3 Object Lock on every write (issue 15, docs/FORMAT.md §20), against moto: with
//! `[repository] object_lock` on, every object imvault writes carries a retain-until of now +
//! the lock, a version imvault wrote cannot be deleted (governance, no bypass), `locks/` stays
//! writable, and `init` and backups refuse a bucket without versioning or Object Lock, naming
//! the setting to change and writing nothing. Bad settings are configuration errors.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::TryStreamExt;
use imvault::config::{Env, Settings};
use imvault::repo::BackendConfig;
use imvault::repo::s3_native::{LockMode, S3Native};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::support::maint::imvault;
use crate::support::s3::{s3_backend, s3_locked_backend, s3_versioned_backend};

/// The `[repository]` table of `cfg` with Object Lock `mode` and `extra` lines.
fn repository_toml(cfg: &BackendConfig, mode: &str, extra: &str) -> String {
    format!(
        "[repository]\nurl = \"{}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\nallow_http = true\naccess_key_id = \"testing\"\nsecret_access_key = \"testing\"\npassword = \"{}\"\nobject_lock = \"{mode}\"\n{extra}",
        cfg.url,
        cfg.endpoint.as_deref().unwrap(),
        crate::support::repo::TEST_PASSWORD,
    )
}

/// The environment of the tests: `lock_seconds` (a test-only setting) is honoured.
fn test_env() -> Env {
    Env {
        test_settings: true,
        ..Env::default()
    }
}

fn settings(text: &str) -> Settings {
    Settings::from_toml(text, std::path::Path::new("test.toml"), &test_env())
        .expect("config parses")
}

async fn keys_in(store: &Arc<dyn ObjectStore>) -> Vec<Path> {
    let mut keys: Vec<Path> = store
        .list(None)
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_object_imvault_writes_is_locked_until_now_plus_the_lock() {
    let Some(cfg) = s3_locked_backend("repo").await else {
        return;
    };
    let s = settings(&repository_toml(&cfg, "governance", "lock_days = 2\n"));
    let lock = s.repository.object_lock.expect("object lock on");
    assert_eq!(lock.mode, LockMode::Governance);
    assert_eq!(lock.retain_secs, 2 * 86_400);
    imvault::app::repository::check_object_lock(&s.repository)
        .await
        .expect("a locked bucket is accepted");
    let store = imvault::app::repository::open_store(&s.repository).unwrap();
    let before = Utc::now();
    super::encryption::repository_with_every_kind(store.clone()).await;
    // The maintenance lock is imvault's own object too, and stays writable.
    let objects = imvault::repo::Repository::open(store.clone(), crate::support::repo::key())
        .await
        .unwrap()
        .objects()
        .clone();
    let held = imvault::repo::maint_lock::MaintenanceLock::acquire(
        objects.clone(),
        "prune",
        Duration::from_secs(600),
    )
    .await
    .unwrap();
    let after = Utc::now();

    let s3 = S3Native::from_config(&imvault::app::repository::backend_config(&s.repository))
        .unwrap()
        .unwrap();
    let keys = keys_in(&store).await;
    let kinds: std::collections::BTreeSet<&str> = keys
        .iter()
        .map(|k| k.as_ref().split('/').next().unwrap())
        .collect();
    for kind in [
        "config",
        "keys",
        "packs",
        "index",
        "snapshots",
        "checkpoints",
        "marks",
        "audit",
        "holds",
        "locks",
    ] {
        assert!(
            kinds.contains(kind),
            "a {kind} object was written: {keys:?}"
        );
    }
    for key in &keys {
        let retention = s3.retention(key, None).await.unwrap();
        if key.as_ref().starts_with("locks/") {
            assert_eq!(retention, None, "{key}: the lock object has no retention");
            continue;
        }
        let r = retention.unwrap_or_else(|| panic!("{key} has a retention"));
        assert_eq!(r.mode, LockMode::Governance, "{key}");
        let lo = before + chrono::Duration::days(2) - chrono::Duration::seconds(2);
        let hi = after + chrono::Duration::days(2) + chrono::Duration::seconds(2);
        assert!(
            r.until >= lo && r.until <= hi,
            "{key}: retain-until {} is now + 2 days",
            r.until
        );
    }

    // No version imvault wrote can be deleted (governance, no bypass): not a pack, not the
    // config, not an audit record.
    for key in keys.iter().filter(|k| !k.as_ref().starts_with("locks/")) {
        let head = s3.head(key).await.unwrap().unwrap();
        let version = head.version_id.expect("versioned");
        let e = s3.delete(key, Some(&version), false).await.unwrap_err();
        assert_eq!(e.status(), Some(403), "{key}: {e}");
    }
    // Deleting through the repository's store only hides a retained object behind a delete
    // marker: its version is still there.
    let pack = keys
        .iter()
        .find(|k| k.as_ref().starts_with("packs/"))
        .unwrap();
    let version = s3.head(pack).await.unwrap().unwrap().version_id.unwrap();
    store.delete(pack).await.unwrap();
    assert!(s3.head(pack).await.unwrap().is_none(), "hidden");
    assert!(
        s3.retention(pack, Some(&version)).await.unwrap().is_some(),
        "the locked version is still stored"
    );

    // The lock is released (deleted) as usual.
    held.release().await.unwrap();
    assert_eq!(
        imvault::repo::maint_lock::read(&objects).await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_and_backup_refuse_a_bucket_without_versioning_or_object_lock() {
    let Some(plain) = s3_backend("repo").await else {
        return;
    };
    let versioned = s3_versioned_backend("repo").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (cfg, wanted) in [
        (&plain, "put-bucket-versioning"),
        (&versioned, "ObjectLockEnabled"),
    ] {
        let text = format!(
            "{}\n[catalog]\npath = \"{}\"\n",
            repository_toml(cfg, "compliance", "lock_days = 30\n"),
            dir.path().join("state/catalog.db").display()
        );
        let config = dir.path().join("imvault.toml");
        std::fs::write(&config, &text).unwrap();
        let (code, _out, err) = imvault(&config, &["init"], &[]);
        assert_ne!(code, 0, "init refuses: {err}");
        let bucket = cfg.url["s3://".len()..].split('/').next().unwrap();
        assert!(err.contains(wanted), "{err}");
        assert!(err.contains(bucket), "the bucket is named: {err}");
        assert!(!err.contains("testing\""), "{err}");
        // The backup path (command line and daemon) refuses the same way.
        let s = settings(&text);
        let e = imvault::app::repository::open_indexed_for_backup(&s.repository)
            .await
            .map(|_| ())
            .unwrap_err();
        let chain = imvault::repo::error_chain(&e);
        assert!(chain.contains(wanted), "{chain}");
        // Nothing was written.
        let store = imvault::repo::open_backend(&BackendConfig {
            object_lock: None,
            ..(*cfg).clone()
        })
        .unwrap();
        assert_eq!(keys_in(&store).await, Vec::<Path>::new());
    }
}

#[test]
fn object_lock_settings_are_checked() {
    let base = "[repository]\nurl = \"s3://bucket/p\"\npassword = \"x\"\n";
    let bad = |extra: &str| {
        Settings::from_toml(
            &format!("{base}{extra}"),
            std::path::Path::new("/etc/imvault/imvault.toml"),
            &Env::default(),
        )
        .map(|_| ())
        .unwrap_err()
        .to_string()
    };
    for days in ["0", "36501", "-1"] {
        let e = bad(&format!(
            "object_lock = \"governance\"\nlock_days = {days}\n"
        ));
        assert!(e.contains("line 5"), "{e}");
        assert!(e.contains("lock_days"), "{e}");
    }
    let e = bad("object_lock = \"sometimes\"\nlock_days = 3\n");
    assert!(e.contains("line 4") && e.contains("object_lock"), "{e}");
    let e = bad("object_lock = \"governance\"\n");
    assert!(
        e.contains("repository.lock_days") && e.contains("required"),
        "{e}"
    );
    let e = bad("lock_days = 3\n");
    assert!(
        e.contains("repository.lock_days") && e.contains("off"),
        "{e}"
    );
    // `lock_seconds` is for tests only: a production file (no IMVAULT_TEST_SETTINGS=1) cannot
    // shorten the lock to seconds.
    let e = bad("object_lock = \"governance\"\nlock_seconds = 1\n");
    assert!(
        e.contains("repository.lock_seconds")
            && e.contains("tests only")
            && e.contains("lock_days")
            && e.contains("/etc/imvault/imvault.toml"),
        "{e}"
    );
    let with_switch = |extra: &str| {
        Settings::from_toml(
            &format!("{base}{extra}"),
            std::path::Path::new("x.toml"),
            &test_env(),
        )
    };
    let e = with_switch("object_lock = \"governance\"\nlock_seconds = 3153600001\n")
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("lock_seconds")
            && e.contains("between 1 and 3153600000")
            && e.contains("3153600001"),
        "{e}"
    );
    let e = with_switch("object_lock = \"governance\"\nlock_seconds = 0\n")
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("between 1 and"), "{e}");
    let ok = with_switch("object_lock = \"governance\"\nlock_seconds = 5\n").unwrap();
    assert_eq!(ok.repository.object_lock.unwrap().retain_secs, 5);
    let e = Settings::from_toml(
        "[repository]\nurl = \"file:///tmp/r\"\nobject_lock = \"compliance\"\nlock_days = 3\n",
        std::path::Path::new("x.toml"),
        &Env::default(),
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("repository.object_lock") && e.contains("s3://"),
        "{e}"
    );
    let ok = Settings::from_toml(
        &format!("{base}object_lock = \"compliance\"\nlock_days = 36500\n"),
        std::path::Path::new("x.toml"),
        &Env::default(),
    )
    .unwrap();
    assert_eq!(
        ok.repository.object_lock.unwrap().retain_secs,
        36_500 * 86_400
    );
}

/// A repository on a locked bucket with Object Lock `lock_seconds`, opened the way the commands
/// open it (retention control attached).
async fn locked_repository(
    cfg: &BackendConfig,
    lock_seconds: u64,
) -> (Settings, imvault::repo::Repository<imvault::repo::Indexed>) {
    let s = settings(&repository_toml(
        cfg,
        "governance",
        &format!("lock_seconds = {lock_seconds}\n"),
    ));
    let store = imvault::app::repository::open_store(&s.repository).unwrap();
    imvault::repo::Repository::init(
        store,
        crate::support::repo::small_init(),
        crate::support::repo::key(),
    )
    .await
    .unwrap();
    let repo = imvault::app::repository::open_indexed(&s.repository)
        .await
        .unwrap();
    assert!(
        repo.retention().is_some(),
        "the retention control is attached"
    );
    (s, repo)
}

fn prune_now() -> imvault::repo::prune::PruneOptions {
    imvault::repo::prune::PruneOptions {
        grace_secs: 0,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_waits_for_the_lock_to_end_then_deletes() {
    use crate::support::maint::{contents_of, snapshot_of};
    use crate::support::repo::random_bytes;
    let Some(cfg) = s3_locked_backend("repo").await else {
        return;
    };
    let (s, repo) = locked_repository(&cfg, 3).await;
    // Prune's clock for the first run: before anything below was written, so what it finds
    // is retained whatever the machine's load (S3's own clock decides the deletions).
    let t0 = Utc::now();
    let keep = vec![random_bytes(50_000, 1)];
    let gone = vec![random_bytes(60_000, 2), random_bytes(70_000, 3)];
    let kept = snapshot_of(&repo, "A", &keep, None).await;
    let forgotten = snapshot_of(&repo, "B", &gone, None).await;
    repo.remove_snapshot(&forgotten).await.unwrap();
    let native = repo.retention().unwrap().s3().clone();
    let packs_before: Vec<Path> = keys_in(repo.store())
        .await
        .into_iter()
        .filter(|k| k.as_ref().starts_with("packs/"))
        .collect();

    // The first prune marks B's packs and, past the (zero) grace period, would delete them: but
    // they are retained, so they wait, and the report says until when.
    let repo = imvault::app::repository::open_indexed(&s.repository)
        .await
        .unwrap();
    let r = repo
        .prune(&prune_now(), t0, &Default::default())
        .await
        .unwrap();
    let wait = r.retention_wait.clone().expect("packs wait for their lock");
    assert!(wait.packs >= 1, "{r:?}");
    assert!(wait.bytes >= 130_000, "{r:?}");
    assert_eq!(r.packs_deleted, 0, "{r:?}");
    assert!(r.packs_waiting >= wait.packs, "{r:?}");
    let latest = wait.latest.unwrap();
    assert!(
        latest > t0 && latest <= Utc::now() + chrono::Duration::seconds(4),
        "retain-until is write time + 3 s: {wait:?}"
    );
    assert!(wait.earliest.unwrap() <= latest);
    for p in &packs_before {
        assert!(native.head(p).await.unwrap().is_some(), "{p} is kept");
    }

    // Once the lock has ended, the next prune deletes them for good (the version is gone,
    // not hidden).
    crate::support::wait::wait_for("the retention to end", Duration::from_secs(30), || {
        Utc::now() > latest
    })
    .await;
    let repo = imvault::app::repository::open_indexed(&s.repository)
        .await
        .unwrap();
    let r = repo
        .prune(&prune_now(), Utc::now(), &Default::default())
        .await
        .unwrap();
    assert_eq!(r.retention_wait, None, "{r:?}");
    assert_eq!(r.packs_deleted, wait.packs, "{r:?}");
    assert_eq!(r.bytes_deleted, wait.bytes, "{r:?}");
    let packs_after: Vec<Path> = keys_in(repo.store())
        .await
        .into_iter()
        .filter(|k| k.as_ref().starts_with("packs/"))
        .collect();
    assert_eq!(
        packs_after.len() as u64 + wait.packs,
        packs_before.len() as u64,
        "{packs_after:?}"
    );
    for p in packs_before.iter().filter(|p| !packs_after.contains(p)) {
        assert!(native.head(p).await.unwrap().is_none(), "{p} deleted");
        let e = native.retention(p, None).await.unwrap_err();
        assert_eq!(e.status(), Some(404), "no version of {p} is left: {e}");
    }
    let repo = crate::support::maint::fresh(repo.store()).await;
    assert_eq!(contents_of(&repo, &kept).await, keep);
    let v = crate::support::maint::verify_all(repo.store()).await;
    assert!(v.problems.is_empty(), "{:?}", v.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_extends_the_retention_of_what_live_snapshots_need() {
    use crate::support::maint::snapshot_of;
    use crate::support::repo::random_bytes;
    let Some(cfg) = s3_locked_backend("repo").await else {
        return;
    };
    let (_s, repo) = locked_repository(&cfg, 600).await;
    let id = snapshot_of(&repo, "A", &[random_bytes(40_000, 9)], None).await;
    let control = repo.retention().unwrap().clone();
    let store = repo.store().clone();
    let keys = keys_in(&store).await;
    let mut before = std::collections::BTreeMap::new();
    for k in &keys {
        if let Some(r) = control.s3().retention(k, None).await.unwrap() {
            before.insert(k.clone(), r.until);
        }
    }
    let snapshot_key = Path::from(format!("snapshots/{}", id.to_hex()));
    assert!(before.contains_key(&snapshot_key));
    assert!(before.keys().any(|k| k.as_ref().starts_with("packs/")));

    // Seven minutes on (a test clock for prune; S3's own clock has not moved): less than half
    // of the 10-minute lock is left, so prune extends it to its now + 10 minutes.
    let later = Utc::now() + chrono::Duration::seconds(420);
    let state = tempfile::tempdir().unwrap();
    let r = repo
        .prune(
            &imvault::repo::prune::PruneOptions {
                state_dir: Some(state.path().to_path_buf()),
                ..Default::default()
            },
            later,
            &Default::default(),
        )
        .await
        .unwrap();
    let x = r.retention_extended.expect("retention extended");
    assert!(x.extended as usize >= before.len(), "{x:?} of {before:?}");
    assert_eq!(
        x.checked, x.objects,
        "a first run asks about every object: {x:?}"
    );
    for (k, until) in &before {
        let now = control
            .s3()
            .retention(k, None)
            .await
            .unwrap()
            .unwrap()
            .until;
        assert!(now > *until, "{k}: {now} is later than {until}");
        assert!(
            (now - (later + chrono::Duration::seconds(600)))
                .num_seconds()
                .abs()
                <= 1,
            "{k}: {now}"
        );
    }

    // Right after, nothing is due again, and this host's ledger knows it without asking S3:
    // no HeadObject, no PutObjectRetention (the cost of a nightly prune does not grow with
    // the repository).
    let none = imvault::repo::prune::MarkedPacks::default();
    let x = repo
        .extend_retention(&none, Some(state.path()), later)
        .await
        .unwrap()
        .expect("object lock on");
    assert_eq!((x.checked, x.extended), (0, 0), "{x:?}");
    assert!(x.objects as usize >= before.len(), "{x:?}");
    // A host without the ledger asks again (and finds nothing to do).
    let elsewhere = tempfile::tempdir().unwrap();
    let x = repo
        .extend_retention(&none, Some(elsewhere.path()), later)
        .await
        .unwrap()
        .expect("object lock on");
    assert_eq!(x.checked, x.objects, "{x:?}");
    assert_eq!(x.extended, 0, "{x:?}");
    // A quarter of the lock later it is due again: every object is asked about and extended.
    let much_later = later + chrono::Duration::seconds(400);
    let x = repo
        .extend_retention(&none, Some(state.path()), much_later)
        .await
        .unwrap()
        .expect("object lock on");
    assert!(x.extended as usize >= before.len(), "{x:?}");
    // A damaged ledger costs questions, not a failure.
    let ledger_dir = state.path().join("lock-ledger");
    for f in std::fs::read_dir(&ledger_dir).unwrap() {
        std::fs::write(
            f.unwrap().path(),
            b"garbage, not a database at all ............",
        )
        .unwrap();
    }
    let x = repo
        .extend_retention(&none, Some(state.path()), much_later)
        .await
        .unwrap()
        .expect("object lock on");
    assert_eq!(x.checked, x.objects, "{x:?}");
    assert_eq!(x.extended, 0, "{x:?}");
}

/// The retain-until of every pack of the repository.
async fn pack_retention(
    repo: &imvault::repo::Repository<imvault::repo::Indexed>,
) -> std::collections::BTreeMap<Path, chrono::DateTime<Utc>> {
    let control = repo.retention().unwrap();
    let mut out = std::collections::BTreeMap::new();
    for k in keys_in(repo.store()).await {
        if k.as_ref().starts_with("packs/") {
            let r = control.s3().retention(&k, None).await.unwrap().unwrap();
            out.insert(k, r.until);
        }
    }
    out
}

/// A pack prune marks stays recoverable for the grace period: a backup that loaded the index
/// before the mark may still write a snapshot that needs it, and the next prune then recovers
/// it. So its retention is extended like any needed object's while it is within its grace
/// period (it would otherwise run out unseen, and anyone holding the backup credentials could
/// delete it); a marked pack past its grace period is left to expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marked_pack_stays_locked_while_it_may_be_recovered() {
    use crate::support::maint::snapshot_of;
    use crate::support::repo::random_bytes;
    for (grace_secs, extended) in [(3600, true), (0, false)] {
        let Some(cfg) = s3_locked_backend("repo").await else {
            return;
        };
        let (_s, repo) = locked_repository(&cfg, 600).await;
        let gone = snapshot_of(&repo, "B", &[random_bytes(80_000, 11)], None).await;
        snapshot_of(&repo, "A", &[random_bytes(30_000, 12)], None).await;
        repo.remove_snapshot(&gone).await.unwrap();
        let prune = |grace_secs: u64, at| {
            let repo = &repo;
            async move {
                repo.prune(
                    &imvault::repo::prune::PruneOptions {
                        grace_secs,
                        ..Default::default()
                    },
                    at,
                    &Default::default(),
                )
                .await
                .unwrap()
            }
        };
        // A first prune marks B's pack (an hour of grace: nothing is deleted).
        let first = Utc::now() + chrono::Duration::seconds(60);
        let r = prune(3600, first).await;
        assert!(r.packs_marked >= 1, "{r:?}");
        let marks = imvault::repo::marks::load(repo.objects()).await.unwrap();
        let marked: Vec<Path> = marks
            .marks
            .keys()
            .map(imvault::repo::backend::keys::pack)
            .collect();
        assert!(!marked.is_empty(), "{r:?}");
        let before = pack_retention(&repo).await;
        // Seven minutes on: less than half of the 10-minute lock is left.
        let later = Utc::now() + chrono::Duration::seconds(420);
        let r = prune(grace_secs, later).await;
        let after = pack_retention(&repo).await;
        for (k, until) in &after {
            if marked.contains(k) && !extended {
                // Past its grace period (grace 0): left to expire, deleted once it has.
                assert_eq!(until, &before[k], "{k} left as it was");
                assert!(r.retention_wait.is_some(), "{r:?}");
            } else {
                // Live, or marked within its grace period: retained a full lock from `later`
                // (half a lock after the grace period ends, at most a lock from now).
                assert!(
                    (*until - (later + chrono::Duration::seconds(600)))
                        .num_seconds()
                        .abs()
                        <= 1,
                    "{k} (marked: {}): {until}, was {}",
                    marked.contains(k),
                    before[k]
                );
            }
        }
    }
}

/// A key imvault does not write (planted by whoever holds the backup credentials, or left by
/// another tool) is not asked about: S3 may refuse to answer about it, and that must not stop
/// the retention of the repository's own objects from being extended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_key_does_not_stop_retention_from_being_extended() {
    use crate::support::maint::snapshot_of;
    use crate::support::repo::random_bytes;
    let Some(cfg) = s3_locked_backend("repo").await else {
        return;
    };
    let (_s, repo) = locked_repository(&cfg, 600).await;
    snapshot_of(&repo, "A", &[random_bytes(30_000, 13)], None).await;
    let planted = Path::from("0-planted");
    repo.store()
        .put(&planted, bytes::Bytes::from_static(b"not imvault's").into())
        .await
        .unwrap();
    let later = Utc::now() + chrono::Duration::seconds(420);
    let none = imvault::repo::prune::MarkedPacks::default();
    let x = repo
        .extend_retention(&none, None, later)
        .await
        .unwrap()
        .expect("object lock on");
    assert!(x.extended >= 1, "{x:?}");
    assert_eq!(
        x.checked,
        x.objects - 1,
        "every object but the planted one: {x:?}"
    );
    let control = repo.retention().unwrap();
    let r = control
        .s3()
        .retention(&planted, None)
        .await
        .unwrap()
        .unwrap();
    // Written through the locked store a moment ago (now + 600 s), not extended to later + 600 s.
    assert!(
        r.until < later + chrono::Duration::seconds(300),
        "the planted key was left alone: {r:?}"
    );
}

/// A locked write (through aws-sdk-s3) rides out a storage outage like every other call: the
/// endpoint is down when it is sent, the write waits, and completes, locked, once the endpoint
/// is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_write_waits_for_the_store_to_come_back() {
    let Some(mut cfg) = s3_locked_backend("repo").await else {
        return;
    };
    let mut proxy = crate::support::s3::S3Outage::start(cfg.endpoint.as_deref().unwrap()).await;
    cfg.endpoint = Some(proxy.endpoint());
    cfg.outage_wait_secs = Some(120);
    cfg.object_lock = Some(imvault::repo::object_lock::ObjectLockConfig {
        mode: LockMode::Governance,
        retain_secs: 3600,
    });
    let store = imvault::repo::open_backend(&cfg).unwrap();
    let key = Path::from("packs/ab/abcdef");
    proxy.stop().await;
    let write = {
        let store = store.clone();
        let key = key.clone();
        tokio::spawn(async move {
            imvault::repo::backend::put_content_addressed(
                store.as_ref(),
                &key,
                bytes::Bytes::from_static(b"written during an outage"),
            )
            .await
        })
    };
    // Once the store is waited for, the SDK's own retries have given up: without the outage
    // wait around the locked store the write would have failed by now.
    crate::support::wait::wait_for(
        "the write to wait for the store",
        Duration::from_secs(60),
        || imvault::repo::outage::status().waiting_secs >= 1,
    )
    .await;
    assert!(!write.is_finished(), "the write waits instead of failing");
    proxy.resume();
    write
        .await
        .unwrap()
        .expect("the write completes once the store is back");
    let s3 = S3Native::from_config(&cfg).unwrap().unwrap();
    let r = s3.retention(&key, None).await.unwrap().expect("locked");
    assert!(
        r.until > Utc::now() + chrono::Duration::minutes(55),
        "{r:?}"
    );
}

/// `imvault prune` on a locked repository says, in text and in `--json`, how many packs and
/// bytes wait for their lock and until when; nothing is deleted meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prune_command_reports_what_waits_for_its_lock() {
    use crate::support::maint::snapshot_of;
    use crate::support::repo::random_bytes;
    let Some(cfg) = s3_locked_backend("repo").await else {
        return;
    };
    let (s, repo) = locked_repository(&cfg, 600).await;
    let gone = snapshot_of(&repo, "B", &[random_bytes(80_000, 5)], None).await;
    snapshot_of(&repo, "A", &[random_bytes(30_000, 6)], None).await;
    repo.remove_snapshot(&gone).await.unwrap();
    let packs = keys_in(repo.store())
        .await
        .into_iter()
        .filter(|k| k.as_ref().starts_with("packs/"))
        .count();
    drop(s);

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("imvault.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[catalog]\npath = \"{}\"\n",
            repository_toml(&cfg, "governance", "lock_seconds = 600\n"),
            dir.path().join("state/catalog.db").display()
        ),
    )
    .unwrap();
    let test_settings = [("IMVAULT_TEST_SETTINGS", "1")];
    let (code, out, err) = imvault(
        &config,
        &["prune", "--grace", "0", "--json"],
        &test_settings,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let wait = &r["retention_wait"];
    assert!(wait["packs"].as_u64().unwrap() >= 1, "{r:#}");
    assert!(wait["bytes"].as_u64().unwrap() >= 80_000, "{r:#}");
    let latest: chrono::DateTime<Utc> = wait["latest"].as_str().unwrap().parse().unwrap();
    assert!(
        latest > Utc::now() + chrono::Duration::seconds(400),
        "{r:#}"
    );
    assert_eq!(r["packs_deleted"], 0, "{r:#}");

    let (code, out, err) = imvault(&config, &["prune", "--grace", "0"], &test_settings);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("kept under Object Lock retention: deleted by a prune after"),
        "{out}"
    );
    assert_eq!(
        keys_in(repo.store())
            .await
            .iter()
            .filter(|k| k.as_ref().starts_with("packs/"))
            .count(),
        packs,
        "no pack was deleted"
    );
}

/// A backup job (the one `imvault backup` and the daemon run) into a locked bucket: it
/// completes, and everything it stored carries its retention.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_into_a_locked_bucket_stores_every_object_locked() {
    let Some(cfg) = s3_locked_backend("repo").await else {
        return;
    };
    let s = settings(&repository_toml(&cfg, "compliance", "lock_days = 1\n"));
    let store = imvault::app::repository::open_store(&s.repository).unwrap();
    let env = crate::support::env::TestEnv::with_store(
        imvault_sim::SimOptions {
            seed: 151,
            scale: imvault_sim::Scale::Tiny,
            ..Default::default()
        },
        store.clone(),
        imvault::repo::config::DEFAULT_ZSTD_LEVEL,
    )
    .await;
    let before = Utc::now();
    let out = env
        .backup(&imvault::jobs::backup::BackupRequest::default())
        .await;
    assert!(!out.is_empty());
    assert!(out.iter().all(|o| o.snapshot.is_some()), "{out:?}");
    let s3 = S3Native::from_config(&imvault::app::repository::backend_config(&s.repository))
        .unwrap()
        .unwrap();
    let keys = keys_in(&store).await;
    assert!(keys.iter().any(|k| k.as_ref().starts_with("snapshots/")));
    for key in &keys {
        let r = s3
            .retention(key, None)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} is locked"));
        assert_eq!(r.mode, LockMode::Compliance, "{key}");
        assert!(
            r.until > before + chrono::Duration::hours(23),
            "{key}: {}",
            r.until
        );
    }
}
