//! Backups need no delete permission (issue 15): a full backup, one that fails after writing
//! resume records, the run that resumes it and an incremental run, all through the
//! application's backup environment (`app::env::backup_env`, what `imvault backup` and the
//! daemon's scheduled backups use), send the repository no DELETE and no request that could
//! replace an object: every PUT is `PutMode::Create` (S3 `If-None-Match: *`), and there is no
//! multipart upload, copy or rename. So the backup role's credentials can lack
//! `s3:DeleteObject` (README, "Ransomware-proof storage"). Stale resume records are removed
//! by prune, with the maintenance credentials.

use std::sync::Arc;
use std::time::Duration;

use imvault::app::env::backup_env;
use imvault::jobs::JobState;
use imvault::jobs::backup::{self, BackupRequest, LibraryOutcome};
use imvault::repo::Repository;
use imvault_sim::MutateRequest;
use object_store::ObjectStore;
use tokio_util::sync::CancellationToken;

use crate::support::env::TestEnv;
use crate::support::repo::FaultyStore;

/// One backup of every library, one library after the other, through `counted`.
async fn run(
    env: &TestEnv,
    counted: &Arc<FaultyStore>,
    opts: &BackupRequest,
) -> Vec<LibraryOutcome> {
    let store: Arc<dyn ObjectStore> = counted.clone();
    let repo = Repository::open(store, crate::support::repo::key())
        .await
        .expect("open repo")
        .load_index()
        .await
        .expect("load index");
    let client = env.client().await;
    let libraries: Vec<_> = client.libraries().iter().map(|l| l.id.clone()).collect();
    let benv = backup_env(
        &env.settings,
        client,
        repo,
        imvault::app::progress::log_lines(),
    );
    backup::run(&benv, &libraries, opts, CancellationToken::new()).await
}

fn assert_completed(outcomes: &[LibraryOutcome], what: &str) {
    assert!(!outcomes.is_empty(), "{what}: no library");
    for o in outcomes {
        assert_eq!(o.state, JobState::Completed, "{what}: {o:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_send_no_delete_and_no_overwrite() {
    let env = TestEnv::tiny(73).await;
    let counted = FaultyStore::new(env.store.clone());
    let opts = BackupRequest {
        parallel_libraries: 1,
        // A checkpoint (packs, index, resume record) after every download.
        checkpoint_bytes: 1,
        checkpoint_every: Duration::from_secs(3600),
        ..BackupRequest::default()
    };

    // A run that fails once it has written a resume record (not by a pack count: how many
    // packs come before the first checkpoint depends on timing).
    counted.fail_packs_after_checkpoint();
    let failed = run(&env, &counted, &opts).await;
    assert!(
        failed.iter().any(|o| o.state != JobState::Completed),
        "the injected failure fails a library: {failed:?}"
    );
    let puts = counted.put_log();
    assert!(
        puts.iter().any(|k| k.starts_with("checkpoints/")),
        "the failed run wrote a resume record: {puts:?}"
    );
    counted.heal();

    // The run that resumes it completes; its resume records stay (prune removes them).
    let full = run(&env, &counted, &opts).await;
    assert_completed(&full, "resumed full backup");
    assert!(
        full.iter().map(|o| o.resumed_versions).sum::<u64>() > 0,
        "the second run resumed the first: {full:?}"
    );

    // An incremental run after changes at the source.
    env.sim.mutate(&MutateRequest {
        new_versions: 3,
        profile_edits: 2,
        deletes: 2,
        new_documents: 1,
        ..Default::default()
    });
    counted.reset_counts();
    let incremental = run(&env, &counted, &opts).await;
    assert_completed(&incremental, "incremental backup");
    assert!(
        incremental
            .iter()
            .map(|o| o.counters.versions_downloaded)
            .sum::<u64>()
            > 0,
        "the incremental run stored the changes: {incremental:?}"
    );
    assert!(
        counted
            .put_log()
            .iter()
            .any(|k| k.starts_with("snapshots/")),
        "the incremental run wrote snapshots"
    );

    assert_eq!(
        counted.destructive_log(),
        Vec::<String>::new(),
        "backups delete nothing and overwrite nothing"
    );
}
