//! One maintainer at a time across hosts (issue 15): prune and forget take the repository's
//! maintenance lock (`locks/maintenance`, a conditional create). Of several maintainers
//! starting at once exactly one gets it (local directory and S3); a second one is refused
//! with the owner's host id, pid, operation and age; an expired lock is taken over; a live
//! one is removed only on `--force-unlock`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use imvault::repo::maint_lock::{self, LOCK_VERSION, LockRecord, MaintenanceLock};
use imvault::repo::objects::Objects;
use imvault::repo::{BackendConfig, RepoError, Repository, open_backend};
use object_store::ObjectStore;

use crate::support::maint::{imvault, repo_only_config};

/// Several maintainers asking at the same moment: one wins, the others are told who holds it.
async fn only_one_of_many_takes_the_lock(store: Arc<dyn ObjectStore>) {
    let objects = objects_of(store, true).await;
    let tries: Vec<_> = (0..6)
        .map(|_| MaintenanceLock::acquire(objects.clone(), "prune", Duration::from_secs(600)))
        .collect();
    let results = futures::future::join_all(tries).await;
    let mut won = Vec::new();
    for r in results {
        match r {
            Ok(lock) => won.push(lock),
            Err(RepoError::Locked { holder, key }) => {
                assert_eq!(key, "locks/maintenance");
                assert!(holder.contains("prune by "), "{holder}");
                assert!(
                    holder.contains(&format!("pid {}", std::process::id())),
                    "{holder}"
                );
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one maintainer holds the lock");
    let lock = won.pop().unwrap();
    let held = maint_lock::read(&objects).await.unwrap().unwrap();
    assert_eq!(&held, lock.record(), "the stored lock is the winner's");
    lock.release().await.unwrap();
    assert_eq!(maint_lock::read(&objects).await.unwrap(), None);
    // Once released, the next maintainer gets it.
    let again = MaintenanceLock::acquire(objects.clone(), "forget", Duration::from_secs(600))
        .await
        .unwrap();
    again.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_maintainer_at_a_time_on_a_local_repository() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_backend(&BackendConfig::local(dir.path())).unwrap();
    only_one_of_many_takes_the_lock(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_maintainer_at_a_time_on_s3() {
    let Some(cfg) = crate::support::s3::s3_backend("locked").await else {
        return;
    };
    let store = open_backend(&cfg).unwrap();
    only_one_of_many_takes_the_lock(store).await;
}

/// The sealing of a test repository in `store` (created first when `init`).
async fn objects_of(store: Arc<dyn ObjectStore>, init: bool) -> Objects {
    let key = crate::support::repo::key();
    let repo = if init {
        Repository::init(store, crate::support::repo::small_init(), key).await
    } else {
        Repository::open(store, key).await
    };
    repo.expect("test repository").objects().clone()
}

/// Writes a lock as another host's maintainer would.
async fn plant_lock(objects: &Objects, host: &str, expires_in: chrono::Duration) -> LockRecord {
    let now = Utc::now();
    let rec = LockRecord {
        version: LOCK_VERSION,
        host: host.into(),
        pid: 4242,
        token: "other".into(),
        operation: "prune".into(),
        taken: now - chrono::Duration::seconds(95),
        heartbeat: now - chrono::Duration::seconds(5),
        expires: now + expires_in,
    };
    imvault::repo::backend::put_create(
        objects.store().as_ref(),
        &maint_lock::lock_key(),
        rec.seal(objects).await.unwrap(),
    )
    .await
    .unwrap();
    rec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_and_forget_on_another_host_wait_for_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let config = repo_only_config(dir.path(), &root);
    let (code, out, err) = imvault(&config, &["init"], &[]);
    assert_eq!(code, 0, "init: {out}\n{err}");
    let objects = objects_of(open_backend(&BackendConfig::local(&root)).unwrap(), false).await;
    let host_b = [("IMVAULT_HOST_ID", "host-b")];

    // Two prunes of two hosts at once: each ends; one that is refused names the other host.
    let spawn = |host: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_imvault"))
            .arg("--config")
            .arg(&config)
            .args(["prune", "--grace", "0"])
            .env("IMVAULT_LOG", "warn")
            .env("IMVAULT_HOST_ID", host)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("host-a"), spawn("host-b"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let ok = [&a, &b].iter().filter(|o| o.status.success()).count();
    assert!(ok >= 1, "at least one prune runs: {a:?} {b:?}");
    for (o, other) in [(&a, "host-b"), (&b, "host-a")] {
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains(&format!("prune by {other}")), "{err}");
        }
    }
    assert_eq!(
        maint_lock::read(&objects).await.unwrap(),
        None,
        "both released it"
    );

    // A live lock of host-a: prune and forget of host-b are refused with its owner and age,
    // and leave it in place; a dry run needs no lock.
    let planted = plant_lock(&objects, "host-a", chrono::Duration::minutes(10)).await;
    for args in [&["prune"][..], &["forget", "--keep-last", "1"][..]] {
        let (code, out, err) = imvault(&config, args, &host_b);
        assert_ne!(code, 0, "{args:?} refused: {out}");
        for part in ["prune by host-a (pid 4242)", "taken 1m3", "--force-unlock"] {
            assert!(err.contains(part), "{args:?}: {part:?} in {err}");
        }
        assert_eq!(
            maint_lock::read(&objects).await.unwrap().as_ref(),
            Some(&planted),
            "the refused run left the lock alone"
        );
    }
    let (code, out, err) = imvault(&config, &["prune", "--dry-run"], &host_b);
    assert_eq!(code, 0, "a dry run: {out}\n{err}");

    // --force-unlock removes it on request, then runs and releases its own.
    let (code, out, err) = imvault(&config, &["prune", "--force-unlock"], &host_b);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("removed the maintenance lock: prune by host-a"),
        "{err}"
    );
    assert_eq!(maint_lock::read(&objects).await.unwrap(), None);

    // An expired lock (its maintainer died) is taken over without being asked.
    plant_lock(&objects, "host-a", chrono::Duration::seconds(-1)).await;
    let (code, out, err) = imvault(&config, &["forget", "--keep-last", "1"], &host_b);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(maint_lock::read(&objects).await.unwrap(), None);
}

/// Taking over an expired lock replaces exactly the lock read (S3 `If-Match` on its ETag): of
/// several maintainers finding the same dead holder's lock at once, one takes it over, the
/// others are refused naming the winner (a delete-then-create could let two "win").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lock_is_taken_over_by_exactly_one_maintainer_on_s3() {
    let Some(cfg) = crate::support::s3::s3_backend("takeover").await else {
        return;
    };
    let objects = objects_of(open_backend(&cfg).unwrap(), true).await;
    plant_lock(&objects, "host-dead", chrono::Duration::seconds(-1)).await;
    let tries: Vec<_> = (0..4)
        .map(|_| MaintenanceLock::acquire(objects.clone(), "prune", Duration::from_secs(600)))
        .collect();
    let mut won = Vec::new();
    for r in futures::future::join_all(tries).await {
        match r {
            Ok(lock) => won.push(lock),
            Err(RepoError::Locked { holder, .. }) => {
                assert!(!holder.contains("host-dead"), "{holder}");
                assert!(
                    holder.contains(&format!("pid {}", std::process::id())),
                    "refused naming the winner: {holder}"
                );
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(
        won.len(),
        1,
        "exactly one maintainer took the expired lock over"
    );
    let lock = won.pop().unwrap();
    assert_eq!(
        maint_lock::read(&objects).await.unwrap().as_ref(),
        Some(lock.record()),
        "the stored lock is the winner's"
    );
    lock.release().await.unwrap();
    assert_eq!(maint_lock::read(&objects).await.unwrap(), None);
}
