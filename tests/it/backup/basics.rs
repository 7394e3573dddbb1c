//! The backup job against the simulator: full, incremental, faults, deletions, resume after kill.

use std::collections::BTreeSet;

use imvault::imanage::model::VersionId;
use imvault::jobs::JobState;
use imvault::jobs::backup::BackupRequest;
use imvault::repo::Snapshot;
use imvault_sim::{MutateRequest, Scale, SimOptions};

use crate::support::env::{TestEnv, versions_of};

async fn latest(env: &TestEnv, library: &str) -> Snapshot {
    env.repo()
        .await
        .latest_snapshot(library, None)
        .await
        .unwrap()
        .expect("a snapshot")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_backup_stores_every_version_byte_for_byte() {
    let env = TestEnv::tiny(11).await;
    let outcomes = env.backup(&BackupRequest::default()).await;
    assert!(!outcomes.is_empty());
    let repo = env.repo().await;
    for o in &outcomes {
        assert_eq!(o.state, JobState::Completed, "{o:?}");
        let snap = latest(&env, &o.library).await;
        assert_eq!(Some(snap.id), o.snapshot);
        let versions = versions_of(&repo, &snap).await;
        assert_eq!(versions.len() as u64, o.counters.versions);
        assert_eq!(
            snap.manifest.counts.get("versions").copied(),
            Some(o.counters.versions)
        );
        for (id, bytes) in &versions {
            let original = env
                .sim
                .version_bytes(id)
                .expect("simulator knows the version");
            assert!(
                original == *bytes,
                "{id}: restored bytes differ from the simulator's"
            );
        }
    }
    let total: u64 = outcomes.iter().map(|o| o.counters.versions).sum();
    assert!(
        total >= 50,
        "tiny corpus has about 100 versions, got {total}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_library_downloads_nothing_and_changes_download_only_themselves() {
    let env = TestEnv::tiny(12).await;
    let first = env.backup(&BackupRequest::default()).await;
    let before = env.sim.stats();
    let second = env.backup(&BackupRequest::default()).await;
    let after = env.sim.stats();
    for o in &second {
        assert_eq!(o.state, JobState::Completed, "{o:?}");
        assert_eq!(
            o.counters.versions_downloaded, 0,
            "{}: nothing changed",
            o.library
        );
        assert_eq!(o.counters.bytes_read, 0);
        assert_eq!(o.versions_gone, 0);
    }
    let downloads = |s: &imvault_sim::SimStats| {
        s.requests
            .iter()
            .filter(|(k, _)| k.contains("download"))
            .map(|(_, v)| *v)
            .sum::<u64>()
    };
    assert_eq!(
        downloads(&after),
        downloads(&before),
        "a no-change incremental sends no download request"
    );
    let v1: u64 = first.iter().map(|o| o.counters.versions).sum();
    let v2: u64 = second.iter().map(|o| o.counters.versions_unchanged).sum();
    assert_eq!(v1, v2);

    let report = env.sim.mutate(&MutateRequest {
        new_versions: 4,
        profile_edits: 3,
        deletes: 2,
        new_documents: 2,
        ..Default::default()
    });
    let third = env.backup(&BackupRequest::default()).await;
    let downloaded: u64 = third.iter().map(|o| o.counters.versions_downloaded).sum();
    // Distinct versions that are new, minus those of documents deleted afterwards. A profile
    // edit moves edit_profile_date only: the profile is read, the content is not (issue 18).
    let changed: BTreeSet<&String> = report
        .new_versions
        .iter()
        .chain(&report.new_documents)
        .collect();
    let expected = changed
        .iter()
        .filter(|v| {
            !report
                .deletes
                .iter()
                .any(|d| v.starts_with(&format!("{d}.")))
        })
        .count() as u64;
    assert_eq!(
        downloaded, expected,
        "exactly the new versions are downloaded, not those with a new profile only: {report:?}"
    );
    // The profile-only edits are in the new snapshot with their new profile and their bytes.
    {
        let repo = env.repo().await;
        let snaps = repo.list_snapshots(Some("ACTIVE")).await.unwrap();
        let newest = versions_of(&repo, snaps.last().unwrap()).await;
        let records = crate::support::env::version_records(&repo, snaps.last().unwrap()).await;
        for id in report.profile_edits.iter().filter(|v| !changed.contains(v)) {
            if report
                .deletes
                .iter()
                .any(|d| id.starts_with(&format!("{d}.")))
            {
                continue;
            }
            let vid: VersionId = id.parse().unwrap();
            assert_eq!(
                newest.get(&vid).map(Vec::as_slice),
                env.sim.version_bytes(&vid).as_deref(),
                "{id}: the stored content is carried"
            );
            let comment = records[&vid].profile["comment"].as_str().unwrap_or("");
            assert!(comment.starts_with("Profile edited"), "{id}: {comment}");
        }
    }
    let gone: u64 = third.iter().map(|o| o.versions_gone).sum();
    assert!(
        gone >= report.deletes.len() as u64,
        "deleted documents are recorded as gone ({gone}): {report:?}"
    );
    // Issue 18: the outcome counts the deleted documents and names every version gone, each
    // of a deleted document.
    let documents_gone: u64 = third.iter().map(|o| o.documents_gone).sum();
    assert_eq!(documents_gone, report.deletes.len() as u64, "{third:#?}");
    let gone_ids: BTreeSet<String> = third
        .iter()
        .flat_map(|o| o.gone_versions.iter().cloned())
        .collect();
    assert_eq!(gone_ids.len() as u64, gone, "{third:#?}");
    for id in &gone_ids {
        assert!(
            report
                .deletes
                .iter()
                .any(|d| id.starts_with(&format!("{d}."))),
            "{id} is gone but was not deleted: {report:?}"
        );
    }

    // The deleted documents are still in the older snapshot, with their bytes.
    let repo = env.repo().await;
    for doc in &report.deletes {
        let lib = doc.split('!').next().unwrap();
        let snaps = repo.list_snapshots(Some(lib)).await.unwrap();
        let older = &snaps[snaps.len() - 2];
        let newest = &snaps[snaps.len() - 1];
        let in_old = versions_of(&repo, older).await;
        let in_new = versions_of(&repo, newest).await;
        let prefix = format!("{doc}.");
        assert!(
            in_old.keys().any(|k| k.to_string().starts_with(&prefix)),
            "{doc} is in the snapshot before the delete"
        );
        for k in in_old.keys().filter(|k| k.to_string().starts_with(&prefix)) {
            assert!(gone_ids.contains(&k.to_string()), "{k} is listed as gone");
        }
        assert!(
            !in_new.keys().any(|k| k.to_string().starts_with(&prefix)),
            "{doc} is absent after the delete"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_truncated_downloads_lose_nothing() {
    let clean = TestEnv::tiny(13).await;
    let reference = clean.backup(&BackupRequest::default()).await;
    let faulty = TestEnv::new(SimOptions {
        seed: 13,
        scale: Scale::Tiny,
        fault_rate: 0.05,
        ..SimOptions::default()
    })
    .await;
    let outcomes = faulty.backup(&BackupRequest::default()).await;
    assert!(
        faulty.sim.stats().faults_5xx + faulty.sim.stats().truncated_downloads > 0,
        "faults were injected"
    );
    let repo_clean = clean.repo().await;
    let repo_faulty = faulty.repo().await;
    for (a, b) in reference.iter().zip(&outcomes) {
        assert_eq!(a.library, b.library);
        assert_ne!(b.state, JobState::Failed, "{b:?}");
        let va = versions_of(&repo_clean, &latest(&clean, &a.library).await).await;
        let vb = versions_of(&repo_faulty, &latest(&faulty, &b.library).await).await;
        let skipped = b.counters.skipped;
        assert_eq!(
            skipped, 0,
            "with retries no version is lost at a 5% fault rate: {b:?}"
        );
        assert_eq!(
            va.keys().collect::<BTreeSet<_>>(),
            vb.keys().collect::<BTreeSet<_>>()
        );
        assert!(va == vb, "same bytes with and without faults");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flag_downloads_everything_again_but_stores_no_new_content() {
    let env = TestEnv::tiny(14).await;
    env.backup(&BackupRequest::default()).await;
    let before = env.repo().await.stats().await.unwrap();
    let again = env
        .backup(&BackupRequest {
            full: true,
            ..BackupRequest::default()
        })
        .await;
    let after = env.repo().await.stats().await.unwrap();
    let mut meta_bytes = 0;
    for o in &again {
        assert_eq!(o.state, JobState::Completed);
        assert_eq!(
            o.counters.versions_downloaded, o.counters.versions,
            "--full downloads every version"
        );
        assert!(o.counters.bytes_read > 0);
        let snap = latest(&env, &o.library).await;
        meta_bytes += snap.manifest.streams.values().map(|m| m.bytes).sum::<u64>();
    }
    let grown = after.unique_bytes - before.unique_bytes;
    let sizes: u64 = again.iter().map(|o| o.counters.bytes_read).sum();
    assert_eq!(
        after.protected_bytes,
        before.protected_bytes + sizes,
        "each snapshot protects the full size of its versions"
    );
    assert!(
        grown <= meta_bytes,
        "only metadata may be new: unique bytes grew by {grown}, metadata is {meta_bytes}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_rebuilt_from_the_repository_equals_the_one_backups_filled() {
    let env = TestEnv::tiny(15).await;
    env.backup(&BackupRequest::default()).await;
    env.sim.mutate(&MutateRequest {
        new_versions: 3,
        profile_edits: 2,
        acl_edits: 2,
        deletes: 1,
        new_documents: 1,
        ..Default::default()
    });
    env.backup(&BackupRequest::default()).await;
    // Nothing changed: every stream is its parent's (the catalog carries the rows over).
    env.backup(&BackupRequest::default()).await;
    env.sim.mutate(&MutateRequest {
        new_versions: 2,
        profile_edits: 3,
        acl_edits: 3,
        deletes: 2,
        ..Default::default()
    });
    env.backup(&BackupRequest::default()).await;
    let path = env.dir.path().join("state/catalog.db");
    let dump = |p: &std::path::Path| {
        imvault::catalog::Catalog::open(p)
            .unwrap()
            .canonical_dump()
            .unwrap()
    };
    let original = dump(&path);
    let snaps = env.repo().await.list_snapshots(None).await.unwrap();
    let cat = imvault::catalog::Catalog::open(&path).unwrap();
    assert_eq!(
        cat.snapshots(None).unwrap().len(),
        snaps.len(),
        "every snapshot was catalogued by its backup"
    );
    drop(cat);

    // Lose the catalog entirely, then rebuild it from the repository alone.
    std::fs::remove_file(&path).unwrap();
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    let _ = std::fs::remove_file(path.with_extension("db-shm"));
    let report = imvault::jobs::catalog_sync::sync_all(&env.repo().await, &path)
        .await
        .unwrap();
    assert_eq!(report.loaded as usize, snaps.len());
    assert_eq!(
        dump(&path),
        original,
        "rebuilt catalog gives the same answers"
    );
    let again = imvault::jobs::catalog_sync::rebuild(&env.repo().await, &path)
        .await
        .unwrap();
    assert!(again.rebuilt);
    assert_eq!(dump(&path), original);
    // Backups and rebuilds load each snapshot as its differences from the parent; reading
    // every record of every snapshot instead must give the same catalog.
    let whole = imvault::jobs::catalog_sync::rebuild_reading_everything(&env.repo().await, &path)
        .await
        .unwrap();
    assert_eq!(whole.loaded as usize, snaps.len());
    assert_eq!(dump(&path), original, "differences and whole loads agree");
    assert_eq!(whole.out_of_step, 0, "no parent is compared with");
    // Streams more than one line out of step with the parent's are loaded in full (what a
    // stream too far out of step to compare in memory gets): the same catalog again.
    let within = imvault::jobs::catalog_sync::rebuild_within(&env.repo().await, &path, 1)
        .await
        .unwrap();
    assert_eq!(within.loaded as usize, snaps.len());
    assert!(within.out_of_step > 0, "the fall-back is taken: {within:?}");
    assert_eq!(
        dump(&path),
        original,
        "differences and full fallback loads agree"
    );
    // A nightly's versions stream is the lines it listed again, then the parent's lines in
    // order: every blob of it differs from the parent's (here each stream is one blob), but
    // the two streams are only a few lines out of step. Compared line for line, no stream
    // needs the fall-back, even with fewer lines in memory than a differing blob holds.
    let limit = 24;
    let mut differing = 0;
    for s in &snaps {
        let Some(parent) = s.manifest.parent else {
            continue;
        };
        let parent = env.repo().await.load_snapshot(&parent).await.unwrap();
        let (new, old) = (
            &s.manifest.streams["versions"],
            &parent.manifest.streams["versions"],
        );
        if new != old && old.records > limit {
            assert_eq!(old.blobs.len(), 1, "one blob: every line of it differs");
            differing += 1;
        }
    }
    assert!(
        differing > 0,
        "a nightly changed a stream of more than {limit} lines"
    );
    let stepped = imvault::jobs::catalog_sync::rebuild_within(&env.repo().await, &path, limit)
        .await
        .unwrap();
    assert_eq!(stepped.out_of_step, 0, "{stepped:?}");
    assert_eq!(dump(&path), original, "line-for-line differences agree");
}

/// The same job against a real S3 server (moto): a full backup and an incremental after a
/// mutation, every version read back from the bucket byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_and_incremental_backup_to_s3_read_back_byte_for_byte() {
    let Some(cfg) = crate::support::s3::s3_backend("vault").await else {
        return;
    };
    let mut env = TestEnv::tiny(17).await;
    env.store = imvault::repo::open_backend(&cfg).expect("S3 store");
    imvault::repo::Repository::init(
        env.store.clone(),
        crate::support::repo::init_options(),
        crate::support::repo::key(),
    )
    .await
    .expect("init repository in the bucket");

    let first = env.backup(&BackupRequest::default()).await;
    assert!(!first.is_empty());
    for o in &first {
        assert_eq!(o.state, JobState::Completed, "{o:?}");
    }
    let report = env.sim.mutate(&MutateRequest {
        new_versions: 3,
        new_documents: 1,
        ..Default::default()
    });
    let second = env.backup(&BackupRequest::default()).await;
    let downloaded: u64 = second.iter().map(|o| o.counters.versions_downloaded).sum();
    let changed: BTreeSet<&String> = report
        .new_versions
        .iter()
        .chain(&report.new_documents)
        .collect();
    assert_eq!(
        downloaded,
        changed.len() as u64,
        "the incremental downloads exactly the new versions: {report:?}"
    );

    let repo = env.repo().await;
    let mut checked = 0;
    for o in &second {
        assert_eq!(o.state, JobState::Completed, "{o:?}");
        let snap = latest(&env, &o.library).await;
        for (id, bytes) in versions_of(&repo, &snap).await {
            let original = env.sim.version_bytes(&id).expect("simulator knows it");
            assert!(original == bytes, "{id}: bytes read from S3 differ");
            checked += 1;
        }
    }
    assert!(
        checked >= 50,
        "tiny corpus read back from S3: {checked} versions"
    );
}

/// Checkpoints written during a run that completed are finished work: the next run (here a
/// `--full` one, which must download everything) does not "resume" from them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_of_a_completed_run_are_not_resumed() {
    let env = TestEnv::tiny(18).await;
    let first = env
        .backup(&BackupRequest {
            checkpoint_every: std::time::Duration::from_millis(5),
            download_concurrency: 1,
            ..BackupRequest::default()
        })
        .await;
    let repo = env.repo().await;
    let mut checkpoints = 0;
    for o in &first {
        assert_eq!(o.state, JobState::Completed, "{o:?}");
        checkpoints += repo.checkpoints(&o.library).await.unwrap().len();
    }
    assert!(
        checkpoints > 0,
        "the first run wrote checkpoints (every 5 ms, one download at a time)"
    );
    for (full, what) in [(false, "incremental"), (true, "--full")] {
        let next = env
            .backup(&BackupRequest {
                full,
                ..BackupRequest::default()
            })
            .await;
        for o in &next {
            assert_eq!(o.state, JobState::Completed, "{o:?}");
            assert_eq!(o.resumed_versions, 0, "{what} after a completed run: {o:?}");
            if full {
                assert_eq!(o.counters.versions_downloaded, o.counters.versions, "{o:?}");
            }
        }
    }
}

/// A snapshot whose metadata cannot be read is not catalogued at all (before, the rows read up
/// to the error were committed as if the snapshot held only those).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_that_cannot_be_read_leaves_the_catalog_without_it() {
    let env = TestEnv::tiny(16).await;
    env.backup(&BackupRequest::default()).await;
    let path = env.dir.path().join("state/catalog.db");
    let repo = env.repo().await;
    // Corrupt one byte in the middle of every pack: every blob read fails verification.
    for pack in crate::support::maint::pack_files(&env.dir.path().join("repo")) {
        let mut bytes = std::fs::read(&pack).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x5a;
        std::fs::write(&pack, bytes).unwrap();
    }
    let err = imvault::jobs::catalog_sync::rebuild(&repo, &path)
        .await
        .expect_err("the rebuild cannot read the snapshots");
    let msg = imvault::repo::error_chain(&err);
    assert!(msg.contains("reading snapshot"), "{msg}");
    let cat = imvault::catalog::Catalog::open(&path).unwrap();
    assert_eq!(
        cat.snapshots(None).unwrap().len(),
        0,
        "no partially read snapshot is catalogued"
    );
}
