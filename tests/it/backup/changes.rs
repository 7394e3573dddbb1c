//! Incremental backups that list only what changed (the crawl's `edit_date_from`, contract §8)
//! must give the same snapshot as listing every version: compared record for record with a
//! run that lists everything, after changes, deletes, a document back from the trash bin (old
//! dates: only the filings show it) and a version the last snapshot had to skip.

use std::collections::BTreeMap;

use futures::StreamExt;
use imvault::imanage::model::VersionId;
use imvault::jobs::JobState;
use imvault::jobs::backup::prior::PriorVersions;
use imvault::jobs::backup::{BackupRequest, LibraryOutcome};
use imvault::jobs::records::{
    STREAM_CONTAINERS, STREAM_DOCUMENT_ACLS, STREAM_FILINGS, STREAM_SKIPPED, STREAM_VERSIONS,
    SkippedRecord, VersionRecord,
};
use imvault::repo::{MetaStreamWriter, SessionOptions, Snapshot, SnapshotDraft};
use imvault_sim::MutateRequest;
use serde_json::Value;

use crate::support::env::{TestEnv, versions_of};

fn full_listing() -> BackupRequest {
    BackupRequest {
        full_listing_every: None,
        ..BackupRequest::default()
    }
}

fn assert_listing(outcomes: &[LibraryOutcome], listing: &str) {
    assert!(!outcomes.is_empty());
    for o in outcomes {
        assert_eq!(o.state, JobState::Completed, "{o:?}");
        assert_eq!(o.listing, listing, "{}", o.library);
    }
}

async fn snapshot_of(env: &TestEnv, o: &LibraryOutcome) -> Snapshot {
    let id = o.snapshot.expect("a snapshot");
    env.repo().await.load_snapshot(&id).await.unwrap()
}

/// Every record of one stream, as JSON values in a canonical order.
async fn records(env: &TestEnv, snap: &Snapshot, stream: &str) -> Vec<Value> {
    let repo = env.repo().await;
    let Some(meta) = snap.manifest.streams.get(stream) else {
        return vec![];
    };
    let mut out: Vec<Value> = repo
        .read_meta_stream::<Value>(stream, meta)
        .map(|r| r.expect("record"))
        .collect()
        .await;
    out.sort_by_key(|v| v.to_string());
    out
}

/// The local prior cache each run leaves for the next one describes exactly the snapshot it wrote.
async fn assert_digests_match(env: &TestEnv, outcomes: &[LibraryOutcome]) {
    let dir = env.dir.path().join("state/digests");
    let repo = env.repo().await;
    for o in outcomes {
        let snap = snapshot_of(env, o).await;
        let digest = imvault::jobs::backup::prior::cache::load(&dir, &o.library, &snap.id)
            .await
            .unwrap_or_else(|| panic!("{}: a digest of {}", o.library, snap.id));
        let read = PriorVersions::read(&repo, &snap.manifest.streams[STREAM_VERSIONS], &dir)
            .await
            .unwrap();
        assert_eq!(read.len() as u64, snap.manifest.counts["versions"]);
        assert!(
            digest == read,
            "{}: digest differs from the snapshot",
            o.library
        );
    }
}

fn downloads(env: &TestEnv) -> u64 {
    env.sim
        .stats()
        .requests
        .iter()
        .filter(|(k, _)| k.contains("download"))
        .map(|(_, n)| *n)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changes_only_listing_gives_the_same_snapshot_as_listing_everything() {
    let env = TestEnv::tiny(21).await;
    let first = env.backup(&BackupRequest::default()).await;
    assert_listing(&first, "full");
    let mut versions_before: BTreeMap<String, usize> = BTreeMap::new();
    for o in &first {
        for id in versions_of(&env.repo().await, &snapshot_of(&env, o).await)
            .await
            .keys()
        {
            *versions_before.entry(id.document.to_string()).or_default() += 1;
        }
    }
    let report = env.sim.mutate(&MutateRequest {
        new_versions: 4,
        profile_edits: 4,
        acl_edits: 6,
        deletes: 8,
        new_documents: 2,
        ..Default::default()
    });
    let second = env.backup(&BackupRequest::default()).await;
    assert_listing(&second, "changes");
    assert_digests_match(&env, &second).await;
    let gone: u64 = second.iter().map(|o| o.versions_gone).sum();
    assert!(
        gone >= report.deletes.len() as u64,
        "deleted documents are gone from the snapshot ({gone}): {report:?}"
    );
    // Issue 18: a changes-only run counts the deleted documents and names every version gone
    // (all of the deleted documents' versions, nothing else).
    let documents_gone: u64 = second.iter().map(|o| o.documents_gone).sum();
    assert_eq!(documents_gone, report.deletes.len() as u64, "{second:#?}");
    let gone_ids: Vec<&String> = second.iter().flat_map(|o| &o.gone_versions).collect();
    assert_eq!(gone_ids.len() as u64, gone);
    let deleted_versions: usize = report.deletes.iter().map(|d| versions_before[d]).sum();
    assert_eq!(gone, deleted_versions as u64, "{second:#?}");
    assert!(gone_ids.iter().all(|id| {
        report
            .deletes
            .iter()
            .any(|d| id.starts_with(&format!("{d}.")))
    }));

    // A deleted document comes back from the trash bin with its old dates: the changes crawl
    // does not return it; the filings do, and it is listed by itself. Then the profile of its
    // first version is edited: the changes crawl returns that version alone, and the others
    // must still come back with it.
    let back = report
        .deletes
        .iter()
        .max_by_key(|d| versions_before.get(*d).copied().unwrap_or(0))
        .unwrap();
    assert!(
        versions_before[back] >= 2,
        "{back} has several versions: {versions_before:?}"
    );
    let (alias, number) = back.split_once('!').unwrap();
    let number: u64 = number.parse().unwrap();
    let li = env.sim.sim().lib_index(alias).unwrap();
    imvault_sim::writes::set_trashed(env.sim.sim(), li, number, false).unwrap();
    let mut fields = serde_json::Map::new();
    fields.insert("comment".into(), Value::from("edited after coming back"));
    imvault_sim::writes::patch_version(env.sim.sim(), li, number, Some(1), fields).unwrap();
    env.sim.mutate(&MutateRequest {
        new_versions: 2,
        profile_edits: 2,
        acl_edits: 3,
        ..Default::default()
    });
    // This run reads the last snapshots themselves, not the local digests of them.
    std::fs::remove_dir_all(env.dir.path().join("state/digests")).unwrap();
    let third = env.backup(&BackupRequest::default()).await;
    assert_digests_match(&env, &third).await;
    assert_listing(&third, "changes");
    let changes: BTreeMap<String, Snapshot> = {
        let mut m = BTreeMap::new();
        for o in &third {
            m.insert(o.library.clone(), snapshot_of(&env, o).await);
        }
        m
    };
    let repo = env.repo().await;
    let restored = versions_of(&repo, &changes[alias]).await;
    let prefix = format!("{back}.");
    let back_versions: Vec<&VersionId> = restored
        .keys()
        .filter(|k| k.to_string().starts_with(&prefix))
        .collect();
    assert_eq!(
        back_versions.len(),
        versions_before[back],
        "{back}, back from the trash bin, is in the snapshot again with every version"
    );
    for id in back_versions {
        assert_eq!(Some(&restored[id]), env.sim.version_bytes(id).as_ref());
    }

    // The reference: the same library state, every version listed.
    let dl = downloads(&env);
    let reference = env.backup(&full_listing()).await;
    assert_listing(&reference, "full");
    assert_digests_match(&env, &reference).await;
    assert_eq!(
        downloads(&env),
        dl,
        "nothing changed since: nothing downloaded"
    );
    for o in &reference {
        let full = snapshot_of(&env, o).await;
        let ours = &changes[&o.library];
        for stream in [
            STREAM_CONTAINERS,
            STREAM_VERSIONS,
            STREAM_FILINGS,
            STREAM_DOCUMENT_ACLS,
            STREAM_SKIPPED,
        ] {
            let a = records(&env, ours, stream).await;
            let b = records(&env, &full, stream).await;
            assert_eq!(a.len(), b.len(), "{}: {stream} record count", o.library);
            assert!(
                a == b,
                "{}: {stream} differs from a full listing",
                o.library
            );
        }
        // Most versions were taken from the parent, not listed again.
        let carried = ours.manifest.counts.get("versions_carried").copied();
        let all = ours.manifest.counts["versions"];
        // (The simulator mutates one library; the others are carried whole.)
        let max = if o.library == alias { all - 1 } else { all };
        assert!(
            carried.is_some_and(|c| c > all / 2 && c <= max),
            "{}: {carried:?} of {all} versions carried from the parent",
            o.library
        );
        assert_eq!(full.manifest.counts.get("versions_carried"), None);
        for count in ["versions", "document_versions", "email_versions", "bytes"] {
            assert_eq!(
                ours.manifest.counts.get(count),
                full.manifest.counts.get(count),
                "{}: count {count}",
                o.library
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_the_last_snapshot_skipped_is_read_again() {
    let env = TestEnv::tiny(22).await;
    let first = env.backup(&BackupRequest::default()).await;
    assert_listing(&first, "full");
    // Rewrite the newest snapshot of one library as if one version's download had failed:
    // absent from its versions, present in its skipped items. Its dates do not move, so only
    // the skipped list can bring it back.
    let o = &first[0];
    let parent = snapshot_of(&env, o).await;
    let repo = env.repo().await;
    let session = repo.backup_session(SessionOptions::default());
    let mut versions = MetaStreamWriter::new(&session, STREAM_VERSIONS);
    let mut skipped = MetaStreamWriter::new(&session, STREAM_SKIPPED);
    let mut dropped: Option<VersionId> = None;
    let meta = &parent.manifest.streams[STREAM_VERSIONS];
    let mut stream = std::pin::pin!(repo.read_meta_stream::<VersionRecord>(STREAM_VERSIONS, meta));
    while let Some(r) = stream.next().await {
        let r = r.unwrap();
        let v = r.version().unwrap();
        if dropped.is_none() && v.id.version > 1 {
            skipped
                .push(&SkippedRecord {
                    object: v.id.to_string(),
                    action: "download".into(),
                    reason: "test: the download kept failing".into(),
                })
                .await
                .unwrap();
            dropped = Some(v.id);
            continue;
        }
        versions.push(&r).await.unwrap();
    }
    let dropped = dropped.expect("a document with two versions");
    let mut streams = parent.manifest.streams.clone();
    streams.insert(STREAM_VERSIONS.into(), versions.finish().await.unwrap());
    streams.insert(STREAM_SKIPPED.into(), skipped.finish().await.unwrap());
    session
        .finish(SnapshotDraft {
            library: o.library.clone(),
            time: Some(parent.manifest.time + chrono::Duration::seconds(1)),
            host: None,
            parent: Some(parent.id),
            counts: parent.manifest.counts.clone(),
            streams,
            summary: parent.manifest.summary.clone(),
        })
        .await
        .unwrap();

    let dl = downloads(&env);
    let second = env.backup(&BackupRequest::default()).await;
    assert_listing(&second, "changes");
    assert_eq!(downloads(&env) - dl, 1, "exactly the skipped version");
    let mine = second.iter().find(|x| x.library == o.library).unwrap();
    assert_eq!(mine.counters.versions_downloaded, 1);
    let newest = snapshot_of(&env, mine).await;
    let stored = versions_of(&env.repo().await, &newest).await;
    assert_eq!(
        stored.get(&dropped),
        env.sim.version_bytes(&dropped).as_ref(),
        "{dropped} is back, byte for byte"
    );
    assert_eq!(
        newest.manifest.counts.get("versions"),
        parent.manifest.counts.get("versions"),
        "every version of the library is in the snapshot again"
    );
}

/// Issue 18: a 404 on a document's versions is not the only sign of a delete. With a tenant
/// that still answers the versions of a document in the trash bin, a changes-only run finds
/// the deleted documents in the trash bin and records them as gone, as a full listing does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_in_the_trash_bin_is_deleted_even_when_its_versions_answer() {
    let env = TestEnv::tiny(23).await;
    let first = env.backup(&BackupRequest::default()).await;
    assert_listing(&first, "full");
    env.sim
        .sim()
        .trashed_versions_answer
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let report = env.sim.mutate(&MutateRequest {
        deletes: 3,
        ..Default::default()
    });
    assert_eq!(report.deletes.len(), 3, "{report:?}");
    let second = env.backup(&BackupRequest::default()).await;
    assert_listing(&second, "changes");
    let documents_gone: u64 = second.iter().map(|o| o.documents_gone).sum();
    assert_eq!(documents_gone, 3, "{second:#?}");
    let repo = env.repo().await;
    for o in &second {
        let in_new = versions_of(&repo, &snapshot_of(&env, o).await).await;
        for doc in &report.deletes {
            let prefix = format!("{doc}.");
            assert!(
                !in_new.keys().any(|k| k.to_string().starts_with(&prefix)),
                "{doc} was deleted to the trash bin but is still in the snapshot"
            );
        }
    }
}
