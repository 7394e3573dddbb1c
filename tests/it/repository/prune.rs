//! `forget` and `prune` (issue 8): forgetting and pruning shrink the repository while every
//! remaining snapshot still reads back byte for byte; the two-phase scheme keeps a backup that
//! runs during a prune restorable; a prune killed at any step leaves a valid repository.

use std::collections::BTreeMap;
use std::sync::Arc;

use imvault::jobs::backup::BackupRequest;
use imvault::jobs::forget::{self, ForgetRequest};
use imvault::jobs::maintenance::MaintenanceEnv;
use imvault::repo::prune::{PruneOptions, PruneProgress};
use imvault::repo::retention::{KeepPolicy, RetentionPolicies};
use imvault::repo::*;
use imvault_sim::{MutateRequest, Scale, SimOptions};
use object_store::{ObjectStore, ObjectStoreExt};

use crate::support::env::TestEnv;
use crate::support::maint::*;
use crate::support::repo::{random_bytes, small_init, text_bytes};

fn grace0() -> PruneOptions {
    PruneOptions {
        grace_secs: 0,
        ..PruneOptions::default()
    }
}

async fn prune(store: &Arc<dyn ObjectStore>, opts: &PruneOptions) -> prune::PruneReport {
    prune_at(store, opts, chrono::Utc::now()).await
}

/// A prune as if run at `now`.
async fn prune_at(
    store: &Arc<dyn ObjectStore>,
    opts: &PruneOptions,
    now: chrono::DateTime<chrono::Utc>,
) -> prune::PruneReport {
    fresh(store)
        .await
        .prune(opts, now, &PruneProgress::default())
        .await
        .unwrap_or_else(|e| panic!("prune: {}", imvault::repo::error_chain(&e)))
}

/// A simulator library backed up four times with changes (new versions, deletions, new
/// documents) in between.
async fn env_with_history(seed: u64, versions: u64) -> TestEnv {
    let env = TestEnv::new(SimOptions {
        seed,
        scale: Scale::Versions(versions),
        libraries: 1,
        ..SimOptions::default()
    })
    .await;
    for round in 0..4 {
        if round > 0 {
            env.sim.mutate(&MutateRequest {
                new_versions: 6,
                deletes: 8,
                new_documents: 4,
                profile_edits: 3,
                ..Default::default()
            });
        }
        let out = env.backup(&BackupRequest::default()).await;
        assert!(out.iter().all(|o| o.snapshot.is_some()), "{out:?}");
    }
    env
}

fn maint_env(env: &TestEnv, repo: Repository<Indexed>) -> MaintenanceEnv {
    MaintenanceEnv {
        repo,
        state_dir: env.dir.path().join("state"),
        catalog: Some(env.dir.path().join("state/catalog.db")),
        progress: imvault::app::progress::log_lines(),
    }
}

/// Every version of the remaining snapshots still reads back exactly as before, and as the
/// simulator serves it (for documents it still has).
async fn assert_same_contents(env: &TestEnv, before: &BTreeMap<(SnapshotId, String), [u8; 32]>) {
    let repo = fresh(&env.store).await;
    let now = backup_contents(&repo).await;
    let remaining: BTreeMap<_, _> = before
        .iter()
        .filter(|((s, _), _)| now.keys().any(|(s2, _)| s2 == s))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(
        now, remaining,
        "remaining snapshots read back byte for byte"
    );
    let mut compared = 0;
    for ((_, v), h) in &now {
        if let Some(bytes) = env
            .sim
            .version_bytes(v.parse::<imvault::imanage::model::VersionId>().unwrap())
        {
            assert_eq!(blake3::hash(&bytes).as_bytes(), h, "{v} equals the source");
            compared += 1;
        }
    }
    assert!(compared > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_then_prune_shrinks_the_repository_and_keeps_the_rest_restorable() {
    let env = env_with_history(31, 150).await;
    let repo = fresh(&env.store).await;
    let all = repo.list_snapshots(None).await.unwrap();
    assert_eq!(all.len(), 4);
    let before = backup_contents(&repo).await;

    // Forget half: keep the two newest.
    let menv = maint_env(&env, repo);
    let req = ForgetRequest {
        policy: Some(KeepPolicy {
            keep_last: 2,
            ..KeepPolicy::default()
        }),
        ..ForgetRequest::default()
    };
    let dry = forget::run(
        &menv,
        &ForgetRequest {
            dry_run: true,
            ..req.clone()
        },
        &RetentionPolicies::default(),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!((dry.kept, dry.forgotten), (2, 2));
    assert_eq!(
        menv.repo.list_snapshots(None).await.unwrap().len(),
        4,
        "dry run changes nothing"
    );
    let r = forget::run(
        &menv,
        &req,
        &RetentionPolicies::default(),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!((r.kept, r.forgotten), (2, 2));
    assert!(r.catalog_rebuilt);
    let left = menv.repo.list_snapshots(None).await.unwrap();
    assert_eq!(
        left.iter().map(|s| s.id).collect::<Vec<_>>(),
        all[2..].iter().map(|s| s.id).collect::<Vec<_>>(),
        "the two newest remain"
    );
    let cat = imvault::catalog::Catalog::open(env.dir.path().join("state/catalog.db")).unwrap();
    for s in &all {
        let id = s.id;
        assert_eq!(
            cat.has_snapshot(&id).unwrap(),
            left.iter().any(|l| l.id == s.id),
            "catalog lists exactly the remaining snapshots"
        );
    }

    // Phase 1 (default grace): marks and repacks, deletes nothing.
    let size0 = pack_bytes(&env.store).await;
    let dry = prune(
        &env.store,
        &PruneOptions {
            dry_run: true,
            ..PruneOptions::default()
        },
    )
    .await;
    assert!(dry.packs_marked + dry.packs_repacked > 0, "{dry:?}");
    assert_eq!(
        pack_bytes(&env.store).await,
        size0,
        "dry run changes nothing"
    );
    let p1 = prune(&env.store, &PruneOptions::default()).await;
    assert!(p1.packs_marked + p1.packs_repacked > 0, "{p1:?}");
    assert_eq!(
        p1.packs_deleted, 0,
        "nothing deleted within the grace period"
    );
    assert!(verify_all(&env.store).await.is_ok());
    assert_same_contents(&env, &before).await;

    // Phase 2 (grace over): the marked packs go; the repository shrinks.
    let p2 = prune(&env.store, &grace0()).await;
    eprintln!("phase 1: {p1:?}\nphase 2: {p2:?}");
    assert!(p2.packs_deleted > 0, "{p2:?}");
    let size2 = pack_bytes(&env.store).await;
    assert!(size2 < size0, "stored bytes shrink: {size0} -> {size2}");
    assert_eq!(
        size0 - size2 + p1.new_pack_bytes + p2.new_pack_bytes,
        p2.bytes_deleted
    );
    let v = verify_all(&env.store).await;
    assert!(v.is_ok(), "{:?}", v.problems);
    assert_same_contents(&env, &before).await;

    // Nothing left to do.
    let p3 = prune(&env.store, &grace0()).await;
    assert_eq!(
        (p3.packs_marked, p3.packs_repacked, p3.packs_deleted),
        (0, 0, 0),
        "{p3:?}"
    );
    assert_eq!(pack_bytes(&env.store).await, size2);
}

/// The two-phase rule, step by step: a session that loaded its index before a prune marked a
/// pack deduplicates against it; its snapshot, written during the grace period, makes the
/// next prune keep (recover) that pack. A session started after the mark stores its own copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_running_across_a_prune_stays_restorable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_backend(&BackendConfig::local(dir.path())).unwrap();
    Repository::init(store.clone(), small_init(), crate::support::repo::key())
        .await
        .unwrap();
    let x: Vec<Vec<u8>> = vec![text_bytes(200_000, 1), random_bytes(150_000, 2)];
    let y: Vec<Vec<u8>> = vec![text_bytes(180_000, 3), random_bytes(100_000, 4)];
    let repo = fresh(&store).await;
    let s1 = snapshot_of(&repo, "ACTIVE", &x, None).await;
    let _s2 = snapshot_of(&repo, "ACTIVE", &y, None).await;

    // A backup starts (loads the index: x's packs are live) ...
    let early = fresh(&store).await;
    let running = early.backup_session(SessionOptions::default());
    // ... meanwhile s1 is forgotten and a prune marks x's packs.
    fresh(&store).await.remove_snapshot(&s1).await.unwrap();
    let p1 = prune(&store, &PruneOptions::default()).await;
    assert!(p1.packs_marked > 0, "{p1:?}");
    assert_eq!(p1.packs_deleted, 0);
    // The running backup stores x again: it deduplicates against the marked packs.
    let s3 = finish_snapshot(running, "ACTIVE", &x, None).await;
    // A backup started after the mark does not trust marked packs: it stores its own copy.
    let late = fresh(&store).await;
    assert!(late.index().marked_packs() > 0);
    let late_session = late.backup_session(SessionOptions::default());
    let s4 = finish_snapshot(late_session, "ARCHIVE", &x, None).await;
    let s4_new = fresh(&store)
        .await
        .load_snapshot(&s4)
        .await
        .unwrap()
        .manifest
        .session
        .blobs_new;
    assert!(
        s4_new >= 2,
        "content blobs stored again after the mark ({s4_new})"
    );

    // Grace over: the marked packs s3 needs are recovered or their blobs are live elsewhere;
    // nothing any snapshot needs is deleted.
    let p2 = prune(&store, &grace0()).await;
    eprintln!("{p1:?}\n{p2:?}");
    assert!(p2.packs_recovered + p2.packs_deleted > 0, "{p2:?}");
    let v = verify_all(&store).await;
    assert!(v.is_ok(), "{:?}", v.problems);
    let repo = fresh(&store).await;
    assert_eq!(contents_of(&repo, &s3).await, x);
    assert_eq!(contents_of(&repo, &s4).await, x);

    // Without the late copy, the recovered packs are what s3 reads from.
    fresh(&store).await.remove_snapshot(&s4).await.unwrap();
    let p3 = prune(&store, &grace0()).await;
    let v = verify_all(&store).await;
    assert!(v.is_ok(), "{p3:?} {:?}", v.problems);
    assert_eq!(contents_of(&fresh(&store).await, &s3).await, x);
}

/// A real backup job and a prune at the same time: the backup's snapshot restores byte for
/// byte afterwards, including after a later prune past the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_job_during_prune_stays_restorable() {
    let env = env_with_history(32, 120).await;
    let repo = fresh(&env.store).await;
    let snaps = repo.list_snapshots(None).await.unwrap();
    for s in &snaps[..3] {
        repo.remove_snapshot(&s.id).await.unwrap();
    }
    env.sim.mutate(&MutateRequest {
        new_versions: 5,
        new_documents: 5,
        deletes: 3,
        ..Default::default()
    });
    let full = BackupRequest {
        full: true,
        ..BackupRequest::default()
    };
    let store = env.store.clone();
    let (outcomes, pruned) = tokio::join!(env.backup(&full), async move {
        prune(&store, &PruneOptions::default()).await
    });
    assert!(
        outcomes.iter().all(|o| o.snapshot.is_some()),
        "{outcomes:?}"
    );
    assert_eq!(pruned.packs_deleted, 0);
    let v = verify_all(&env.store).await;
    assert!(v.is_ok(), "{:?}", v.problems);
    let before = backup_contents(&fresh(&env.store).await).await;
    let p2 = prune(&env.store, &grace0()).await;
    let v = verify_all(&env.store).await;
    assert!(v.is_ok(), "{p2:?}: {:?}", v.problems);
    assert_same_contents(&env, &before).await;
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Prunes (grace 0) until a run has nothing left to do; returns how many runs that took.
async fn prune_until_done(store: &Arc<dyn ObjectStore>) -> usize {
    for runs in 1..=4 {
        let r = prune(store, &grace0()).await;
        if (r.packs_marked, r.packs_repacked, r.packs_deleted) == (0, 0, 0) {
            return runs;
        }
    }
    panic!("prune does not settle");
}

/// kill -9 at every step of one prune (the binary aborts itself after N writes or deletes, see
/// `commands/prune.rs`), each time from the same starting repository: after each kill the
/// repository verifies and every remaining snapshot reads back byte for byte; a later prune
/// finishes the work and the repository settles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prune_killed_at_any_step_leaves_a_valid_repository() {
    let env = env_with_history(33, 120).await;
    let repo = fresh(&env.store).await;
    let snaps = repo.list_snapshots(None).await.unwrap();
    for s in &snaps[..2] {
        repo.remove_snapshot(&s.id).await.unwrap();
    }
    let before = backup_contents(&fresh(&env.store).await).await;
    let size0 = pack_bytes(&env.store).await;
    let root = env.dir.path().join("repo");
    let pristine = env.dir.path().join("pristine");
    copy_dir(&root, &pristine);
    let mut aborted = 0;
    let mut completed = None;
    for n in 1..200u64 {
        std::fs::remove_dir_all(&root).unwrap();
        copy_dir(&pristine, &root);
        let (code, out, err) = imvault(
            &env.config_path,
            &["prune", "--grace", "0", "--json"],
            &[("IMVAULT_TEST_PRUNE_ABORT_AFTER", &n.to_string())],
        );
        if code == 0 {
            completed = Some(serde_json::from_str::<serde_json::Value>(&out).unwrap());
            break;
        }
        assert_eq!(code, -1, "killed by a signal at step {n}: {out}\n{err}");
        assert!(err.contains("aborting on purpose"), "step {n}: {err}");
        aborted += 1;
        let v = verify_all(&env.store).await;
        assert!(v.is_ok(), "after a kill at step {n}: {:?}", v.problems);
        assert_same_contents(&env, &before).await;
        // The next prune finishes the work.
        let runs = prune_until_done(&env.store).await;
        assert!(runs <= 3, "step {n}: {runs} runs to settle");
        // A pack the killed prune wrote but did not index is not the same bytes as the one the
        // later prune wrote (every pack header is sealed with a fresh nonce): it is removed
        // once older than UNINDEXED_MIN_AGE_HOURS, like any unindexed pack.
        let later =
            chrono::Utc::now() + chrono::Duration::hours(prune::UNINDEXED_MIN_AGE_HOURS + 1);
        prune_at(&env.store, &grace0(), later).await;
        let v = verify_all(&env.store).await;
        assert!(
            v.is_ok(),
            "after recovering from step {n}: {:?}",
            v.problems
        );
        assert_same_contents(&env, &before).await;
        assert!(pack_bytes(&env.store).await < size0, "step {n}");
    }
    let done = completed.expect("a prune finishes once it has fewer steps than allowed");
    eprintln!("{aborted} kills, then: {done}");
    assert!(aborted >= 5, "the prune has several steps ({aborted})");
    assert!(done["packs_deleted"].as_u64().unwrap() > 0, "{done}");
    assert_eq!(prune_until_done(&env.store).await, 1);
    assert!(pack_bytes(&env.store).await < size0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_and_prune_round_trip_on_s3() {
    let Some(cfg) = crate::support::s3::s3_backend("repo").await else {
        return;
    };
    let store = open_backend(&cfg).unwrap();
    Repository::init(store.clone(), small_init(), crate::support::repo::key())
        .await
        .unwrap();
    let a: Vec<Vec<u8>> = vec![text_bytes(220_000, 11), random_bytes(200_000, 12)];
    let b: Vec<Vec<u8>> = vec![text_bytes(150_000, 13), random_bytes(90_000, 14)];
    let repo = fresh(&store).await;
    let s1 = snapshot_of(&repo, "ACTIVE", &a, None).await;
    let s2 = snapshot_of(&repo, "ACTIVE", &b, None).await;
    let clean = verify_all(&store).await;
    assert!(clean.is_ok() && clean.packs_read >= 3, "{clean:?}");

    // Damage on S3 (a pack overwritten with one flipped byte) is detected wherever it is.
    let packs: Vec<object_store::ObjectMeta> = {
        use futures::TryStreamExt;
        store
            .list(Some(&object_store::path::Path::from("packs")))
            .try_collect()
            .await
            .unwrap()
    };
    let mut rng = fastrand::Rng::with_seed(5);
    let mut flips = 0;
    for victim in packs.iter().map(|m| &m.location) {
        let orig = store.get(victim).await.unwrap().bytes().await.unwrap();
        for at in [0, orig.len() - 1, rng.usize(..orig.len())] {
            let mut bad = orig.to_vec();
            bad[at] ^= 1 << rng.u8(..8);
            store.put(victim, bad.into()).await.unwrap();
            let r = verify_all(&store).await;
            assert!(
                r.problems.iter().any(|p| p.object == victim.to_string()),
                "flip at {at} of {victim}: {:?}",
                r.problems
            );
            flips += 1;
        }
        store.put(victim, orig.into()).await.unwrap();
    }
    assert!(flips >= 9);
    assert!(verify_all(&store).await.is_ok());

    // Forget s1, prune: smaller, s2 intact.
    let size0 = pack_bytes(&store).await;
    fresh(&store).await.remove_snapshot(&s1).await.unwrap();
    let p = prune(&store, &grace0()).await;
    assert!(p.packs_deleted > 0, "{p:?}");
    assert!(pack_bytes(&store).await < size0);
    let v = verify_all(&store).await;
    assert!(v.is_ok(), "{:?}", v.problems);
    assert_eq!(contents_of(&fresh(&store).await, &s2).await, b);
}

/// `imvault forget` without --keep-* flags applies the `[retention]` table (with per-library
/// overrides); a bad duration in it is rejected with the key; no policy at all is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_cli_applies_the_retention_table() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let store = open_backend(&BackendConfig::local(&root)).unwrap();
    Repository::init(store.clone(), small_init(), crate::support::repo::key())
        .await
        .unwrap();
    let repo = fresh(&store).await;
    let t = |s: &str| Some(format!("{s}Z").parse().unwrap());
    let mut ids = Vec::new();
    for (lib, at) in [
        ("ACTIVE", "2026-01-01T01:00:00"),
        ("ACTIVE", "2026-01-01T13:00:00"),
        ("ACTIVE", "2026-01-02T01:00:00"),
        ("ACTIVE", "2026-01-03T01:00:00"),
        ("ARCHIVE", "2026-01-01T01:00:00"),
        ("ARCHIVE", "2026-01-02T01:00:00"),
    ] {
        ids.push(snapshot_of(&repo, lib, &[text_bytes(5000, ids.len() as u64)], t(at)).await);
    }
    let config = repo_only_config(dir.path(), &root);
    let base = std::fs::read_to_string(&config).unwrap();

    let (code, _, err) = imvault(&config, &["forget"], &[]);
    assert_eq!(code, 2, "no policy: refused");
    assert!(err.contains("no retention rule"), "{err}");

    std::fs::write(
        &config,
        format!("{base}\n[retention]\nkeep_within = \"3x\"\n"),
    )
    .unwrap();
    let (code, _, err) = imvault(&config, &["forget"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("keep_within") || err.contains("3x"), "{err}");

    std::fs::write(
        &config,
        format!(
            "{base}\n[retention]\nkeep_daily = 2\n\n[retention.libraries.ARCHIVE]\nkeep_last = 1\n"
        ),
    )
    .unwrap();
    let (code, out, err) = imvault(&config, &["forget", "--dry-run", "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (r["kept"].as_u64(), r["forgotten"].as_u64()),
        (Some(3), Some(3)),
        "{r}"
    );
    assert_eq!(
        fresh(&store)
            .await
            .list_snapshots(None)
            .await
            .unwrap()
            .len(),
        6
    );
    let (code, out, err) = imvault(&config, &["forget"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 kept, 3 forgotten"), "{out}");
    let left: Vec<SnapshotId> = fresh(&store)
        .await
        .list_snapshots(None)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    // ACTIVE: the newest of Jan 3 and of Jan 2; ARCHIVE: the newest one.
    let mut want = vec![ids[2], ids[3], ids[5]];
    want.sort();
    let mut got = left.clone();
    got.sort();
    assert_eq!(got, want);
    // Command-line flags win over the table.
    let (code, out, _) = imvault(
        &config,
        &[
            "forget",
            "--keep-last",
            "1",
            "--library",
            "ACTIVE",
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["forgotten"].as_u64(), Some(1), "{r}");
}

/// Issue 18: the resume records a backup writes are stamped later than its snapshot (whose
/// time is the run's start), so a prune right after any backup longer than `checkpoint_secs`
/// took that finished run for a running one and deleted nothing. A nightly routine (backup,
/// forget, prune) must free what forget released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_right_after_a_backup_that_wrote_resume_records_deletes_what_forget_released() {
    let env = TestEnv::new(SimOptions {
        seed: 33,
        scale: Scale::Versions(150),
        libraries: 1,
        ..SimOptions::default()
    })
    .await;
    let out = env.backup(&BackupRequest::default()).await;
    assert!(out.iter().all(|o| o.snapshot.is_some()), "{out:?}");
    env.sim.mutate(&MutateRequest {
        new_versions: 10,
        deletes: 20,
        new_documents: 5,
        ..Default::default()
    });
    // A backup that checkpoints as it goes (as every long backup does): here after every
    // downloaded version.
    let checkpointing = BackupRequest {
        checkpoint_bytes: 1,
        ..BackupRequest::default()
    };
    let out = env.backup(&checkpointing).await;
    let snap = out[0].snapshot.expect("second snapshot");
    let repo = fresh(&env.store).await;
    let manifest = repo.load_snapshot(&snap).await.unwrap().manifest;
    assert!(
        manifest.summary["checkpoints"].as_u64().unwrap_or(0) > 0,
        "{:?}",
        manifest.summary
    );
    let records = repo.checkpoints(&manifest.library).await.unwrap();
    assert!(
        records.iter().any(|r| r.time > manifest.time),
        "the run left resume records written after its snapshot's time"
    );

    // Forget the first snapshot, prune at once (grace 0: the nightly routine's last step).
    let before = backup_contents(&repo).await;
    let menv = maint_env(&env, repo);
    let req = ForgetRequest {
        policy: Some(KeepPolicy {
            keep_last: 1,
            ..KeepPolicy::default()
        }),
        ..ForgetRequest::default()
    };
    let f = forget::run(
        &menv,
        &req,
        &RetentionPolicies::default(),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(f.forgotten, 1);
    let size0 = pack_bytes(&env.store).await;
    let p = prune(&env.store, &grace0()).await;
    assert_eq!(p.deferred, None, "{p:?}");
    assert!(p.packs_deleted > 0, "{p:?}");
    assert!(
        p.checkpoints_removed > 0,
        "the finished run's records go: {p:?}"
    );
    assert!(pack_bytes(&env.store).await < size0, "{p:?}");
    let v = verify_all(&env.store).await;
    assert!(v.is_ok(), "{:?}", v.problems);
    assert_same_contents(&env, &before).await;
}
