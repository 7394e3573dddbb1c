//! Issue 18: a lost pack is not carried forward silently. Versions whose stored content is gone
//! are downloaded again by the next backup (changes-only or full listing), counted and
//! reported, and the new snapshot reads back whole.

use std::collections::{BTreeMap, BTreeSet};

use imvault::imanage::model::VersionId;
use imvault::jobs::backup::BackupRequest;
use imvault::repo::{BlobKind, ContentRef, Indexed, PackId, Repository, Snapshot};
use imvault_sim::{Scale, SimOptions};

use crate::support::env::{TestEnv, version_records, versions_of};

/// Every version of `snap` with its content reference (not read back).
async fn content_refs(
    repo: &Repository<Indexed>,
    snap: &Snapshot,
) -> BTreeMap<VersionId, ContentRef> {
    version_records(repo, snap)
        .await
        .into_iter()
        .map(|(id, r)| (id, r.content))
        .collect()
}

/// Deletes the data pack holding the first blob of the largest version of `snap`; returns the
/// versions of `snap` that needed it.
async fn lose_a_data_pack(env: &TestEnv, snap: &Snapshot) -> BTreeSet<VersionId> {
    let repo = env.repo().await;
    let refs = content_refs(&repo, snap).await;
    let (_, biggest) = refs.iter().max_by_key(|(_, c)| c.size).unwrap();
    let loc = repo.index().get(&biggest.blobs[0]).unwrap();
    assert_eq!(loc.kind, BlobKind::Data);
    let pack: PackId = loc.pack;
    let hex = pack.to_hex();
    std::fs::remove_file(env.dir.path().join("repo/packs").join(&hex[..2]).join(&hex)).unwrap();
    refs.iter()
        .filter(|(_, c)| {
            c.blobs
                .iter()
                .any(|b| repo.index().get(b).is_some_and(|l| l.pack == pack))
        })
        .map(|(v, _)| v.clone())
        .collect()
}

async fn latest(env: &TestEnv) -> Snapshot {
    let repo = env.repo().await;
    repo.list_snapshots(None).await.unwrap().pop().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_of_a_lost_pack_are_downloaded_again_not_carried_forward() {
    let env = TestEnv::new(SimOptions {
        seed: 41,
        scale: Scale::Versions(80),
        libraries: 1,
        ..SimOptions::default()
    })
    .await;
    let first = env.backup(&BackupRequest::default()).await;
    assert!(first[0].snapshot.is_some(), "{first:?}");

    // A changes-only incremental: nothing changed, so every version would be carried from the
    // parent's stream as it is.
    let lost = lose_a_data_pack(&env, &latest(&env).await).await;
    assert!(!lost.is_empty());
    let second = env.backup(&BackupRequest::default()).await;
    let o = &second[0];
    assert_eq!(o.listing, "changes", "{o:?}");
    assert_eq!(o.state, imvault::jobs::JobState::Completed, "{o:?}");
    assert_eq!(o.counters.versions_healed, lost.len() as u64, "{o:?}");
    assert_eq!(o.counters.versions_downloaded, lost.len() as u64, "{o:?}");
    let snap = latest(&env).await;
    assert_eq!(snap.manifest.counts["versions_healed"], lost.len() as u64);
    assert_eq!(snap.manifest.counts["versions"], first[0].counters.versions);
    let repo = env.repo().await;
    for (id, bytes) in versions_of(&repo, &snap).await {
        assert_eq!(
            env.sim.version_bytes(&id).as_deref(),
            Some(&bytes[..]),
            "{id} reads back as the source"
        );
    }

    // A full listing meets the versions one by one: the same check on the unchanged path.
    let lost = lose_a_data_pack(&env, &snap).await;
    let third = env
        .backup(&BackupRequest {
            full_listing_every: None,
            ..BackupRequest::default()
        })
        .await;
    let o = &third[0];
    assert_eq!(o.listing, "full", "{o:?}");
    assert_eq!(o.counters.versions_healed, lost.len() as u64, "{o:?}");
    let snap = latest(&env).await;
    for (id, bytes) in versions_of(&env.repo().await, &snap).await {
        assert_eq!(
            env.sim.version_bytes(&id).as_deref(),
            Some(&bytes[..]),
            "{id}"
        );
    }
    // Healed for good: the next run downloads nothing.
    let fourth = env.backup(&BackupRequest::default()).await;
    assert_eq!(fourth[0].counters.versions_downloaded, 0, "{:?}", fourth[0]);
    assert_eq!(fourth[0].counters.versions_healed, 0);
}
