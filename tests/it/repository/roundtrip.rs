//! Round trips through the repository engine on memory, a local directory and S3.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use imvault::repo::reader::{RangeLimits, WINDOW, WINDOW_REQUESTS};
use imvault::repo::*;
use object_store::ObjectStore;

use crate::support::repo::*;
use crate::support::s3::s3_backend;

struct Item {
    doc: &'static str,
    version: u32,
    data: Vec<u8>,
}

fn corpus() -> Vec<Item> {
    let v1 = text_bytes(600_000, 11);
    let mut v2 = v1.clone();
    v2.splice(
        300_000..300_000,
        b"An inserted paragraph about the new clause.\n"
            .iter()
            .copied(),
    );
    vec![
        Item {
            doc: "empty",
            version: 1,
            data: Vec::new(),
        },
        Item {
            doc: "one-byte",
            version: 1,
            data: b"x".to_vec(),
        },
        Item {
            doc: "small",
            version: 1,
            data: text_bytes(3_000, 2),
        },
        Item {
            doc: "random-larger-than-pack",
            version: 1,
            data: random_bytes(700_000, 5),
        },
        Item {
            doc: "contract",
            version: 1,
            data: v1.clone(),
        },
        Item {
            doc: "contract",
            version: 2,
            data: v2,
        },
        Item {
            doc: "contract-copy",
            version: 1,
            data: v1,
        },
    ]
}

/// Writes the corpus as one snapshot, reads it back from a freshly opened repository, checks
/// dedup by stored bytes, and a second backup of the same data stores nothing new. Opening
/// it again picks the restore's read limits for how the store serves reads (`window`): pack
/// files of a local directory in [`WINDOW`] ranges, requests in wider ones.
async fn round_trip(store: Arc<dyn ObjectStore>, window: RangeLimits) {
    let repo = Repository::init(store.clone(), small_init(), crate::support::repo::key())
        .await
        .unwrap();
    assert_eq!(repo.window_ranges(), window);
    let reopened = Repository::open(store.clone(), crate::support::repo::key())
        .await
        .unwrap();
    assert_eq!(reopened.window_ranges(), window);
    let err = Repository::init(store.clone(), small_init(), crate::support::repo::key())
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::AlreadyInitialized { .. }), "{err}");
    let repo = repo.load_index().await.unwrap();
    let session = repo.backup_session(SessionOptions::default());
    let items = corpus();
    let mut versions = MetaStreamWriter::new(&session, "versions");
    let mut refs = Vec::new();
    let mut new_raw_after = Vec::new();
    for it in &items {
        // Feed in uneven pieces, as a download would arrive.
        let pieces: Vec<std::io::Result<Bytes>> = it
            .data
            .chunks(7_777)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let c = session
            .add_content(futures::stream::iter(pieces))
            .await
            .unwrap();
        assert_eq!(c.size, it.data.len() as u64);
        versions
            .push(&TestVersion {
                doc: it.doc.into(),
                version: it.version,
                content: c.clone(),
            })
            .await
            .unwrap();
        new_raw_after.push(session.stats().new_raw_bytes);
        refs.push(c);
    }
    assert!(refs[0].blobs.is_empty(), "empty content has no blobs");
    assert_eq!(refs[1].blobs.len(), 1);
    assert_eq!(refs[2].blobs.len(), 1, "a small file is one blob");
    assert!(refs[3].blobs.len() > 5);
    // Dedup, measured in stored bytes: the copy stores nothing, v2 only the changed chunks.
    let v1_new = new_raw_after[4] - new_raw_after[3];
    let v2_new = new_raw_after[5] - new_raw_after[4];
    let copy_new = new_raw_after[6] - new_raw_after[5];
    assert_eq!(copy_new, 0, "identical document stored again");
    assert!(
        v2_new * 4 < v1_new,
        "v2 stored {v2_new} new bytes of {v1_new}"
    );
    assert_eq!(refs[6], refs[4]);

    let mut draft = SnapshotDraft {
        library: "ACTIVE".into(),
        host: Some("test-host".into()),
        summary: serde_json::json!({"note": "round trip"}),
        ..Default::default()
    };
    draft.counts.insert("versions".into(), items.len() as u64);
    // What the snapshot protects, as a backup records it (stats derive the dedup ratio from it).
    draft.counts.insert(
        "bytes".into(),
        items.iter().map(|i| i.data.len() as u64).sum(),
    );
    draft
        .streams
        .insert("versions".into(), versions.finish().await.unwrap());
    let stats1 = session.stats();
    let snap1 = session.finish(draft.clone()).await.unwrap();

    // Read everything back through a fresh handle.
    let repo2 = assert_consistent(store.clone()).await;
    let snaps = repo2.list_snapshots(Some("ACTIVE")).await.unwrap();
    assert_eq!(snaps.len(), 1);
    let s = &snaps[0];
    assert_eq!(s.id, snap1);
    assert_eq!(s.manifest.format_version, FORMAT_VERSION);
    assert_eq!(s.manifest.host, "test-host");
    assert_eq!(s.manifest.counts["versions"], items.len() as u64);
    assert_eq!(
        s.manifest.session.logical_bytes,
        items.iter().map(|i| i.data.len() as u64).sum::<u64>()
    );
    assert!(
        repo2
            .list_snapshots(Some("OTHER"))
            .await
            .unwrap()
            .is_empty()
    );
    let recs: Vec<TestVersion> = repo2
        .read_meta_stream("versions", &s.manifest.streams["versions"])
        .try_collect()
        .await
        .unwrap();
    assert_eq!(recs.len(), items.len());
    for (rec, it) in recs.iter().zip(&items) {
        assert_eq!(rec.doc, it.doc);
        assert_eq!(
            read_all(&repo2, &rec.content).await.unwrap(),
            it.data,
            "{}",
            it.doc
        );
    }
    let st = repo2.stats().await.unwrap();
    assert!(st.dedup_ratio > 1.2, "{st:?}");
    assert!(st.compression_ratio > 1.5, "{st:?}");
    assert!(st.pack_bytes >= st.stored_blob_bytes);
    assert_eq!(st.unique_bytes + st.metadata_bytes, stats1.new_raw_bytes);
    let printed = st.to_string();
    assert!(
        printed.contains("dedup ratio") && printed.contains(&st.pack_objects.to_string()),
        "{printed}"
    );
    let line = s.to_string();
    assert!(
        line.starts_with(&s.id.short()) && line.contains("ACTIVE") && line.contains("versions=7"),
        "{line}"
    );

    // A second backup of the same data stores no new blob and points at its parent.
    let session = repo2.backup_session(SessionOptions::default());
    let mut versions = MetaStreamWriter::new(&session, "versions");
    for (it, r) in items.iter().zip(&refs) {
        let c = session
            .add_bytes(Bytes::from(it.data.clone()))
            .await
            .unwrap();
        assert_eq!(&c, r);
        versions
            .push(&TestVersion {
                doc: it.doc.into(),
                version: it.version,
                content: c,
            })
            .await
            .unwrap();
    }
    let mut draft2 = draft;
    draft2.parent = Some(snap1);
    draft2
        .streams
        .insert("versions".into(), versions.finish().await.unwrap());
    assert_eq!(session.stats().blobs_new, 0);
    let snap2 = session.finish(draft2).await.unwrap();
    let latest = repo2
        .latest_snapshot("ACTIVE", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.manifest.parent, Some(snap1));
    assert!(latest.id == snap2);
    let before = repo2
        .latest_snapshot("ACTIVE", Some(s.manifest.time))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.manifest.time, s.manifest.time);
    assert!(
        repo2
            .latest_snapshot(
                "ACTIVE",
                Some(s.manifest.time - chrono::Duration::seconds(1))
            )
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn round_trip_memory() {
    round_trip(
        Arc::new(object_store::memory::InMemory::new()),
        WINDOW_REQUESTS,
    )
    .await;
}

#[tokio::test]
async fn round_trip_local_dir() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(
        open_backend(&BackendConfig::local(dir.path())).unwrap(),
        WINDOW,
    )
    .await;
}

#[tokio::test]
async fn round_trip_s3() {
    let Some(cfg) = s3_backend("rt").await else {
        return;
    };
    round_trip(open_backend(&cfg).unwrap(), WINDOW_REQUESTS).await;
}

/// Many concurrent adders share packs; memory stays within the packs in flight.
#[tokio::test]
async fn concurrent_adds_dedup_and_round_trip() {
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let repo =
        crate::support::repo::init_indexed(store.clone(), crate::support::repo::small_init()).await;
    let session = repo.backup_session(SessionOptions {
        uploads_in_flight: 2,
        ..Default::default()
    });
    let shared = text_bytes(200_000, 99);
    let datas: Vec<Vec<u8>> = (0..24u64)
        .map(|i| {
            if i % 3 == 0 {
                shared.clone()
            } else {
                random_bytes(50_000 + i as usize * 3_000, i)
            }
        })
        .collect();
    let refs: Vec<ContentRef> = futures::stream::iter(datas.iter())
        .map(|d| session.add_bytes(Bytes::from(d.clone())))
        .buffered(8)
        .try_collect()
        .await
        .unwrap();
    let st = session.stats();
    let unique: u64 = datas
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, d)| d.len() as u64)
        .sum::<u64>()
        + shared.len() as u64;
    assert_eq!(st.new_raw_bytes, unique, "each distinct byte stored once");
    session
        .finish(SnapshotDraft {
            library: "L".into(),
            summary: serde_json::Value::Null,
            ..Default::default()
        })
        .await
        .unwrap();
    let repo = crate::support::repo::open_indexed(store).await;
    for (d, r) in datas.iter().zip(&refs) {
        assert_eq!(&read_all(&repo, r).await.unwrap(), d);
    }
}

/// Large metadata streams are chunked into many blobs and read back in order.
#[tokio::test]
async fn meta_stream_is_chunked_and_dedups() {
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let repo =
        crate::support::repo::init_indexed(store.clone(), crate::support::repo::init_options())
            .await;
    let make = |n: u64, changed: Option<u64>| {
        (0..n)
            .map(|i| {
                let mut m = BTreeMap::new();
                m.insert("id".to_string(), serde_json::json!(i));
                m.insert(
                    "name".to_string(),
                    serde_json::json!(format!("document {i} of the matter")),
                );
                m.insert(
                    "rev".to_string(),
                    serde_json::json!(if Some(i) == changed { 2 } else { 1 }),
                );
                m
            })
            .collect::<Vec<_>>()
    };
    let recs = make(60_000, None);
    let session = repo.backup_session(SessionOptions::default());
    let mut w = MetaStreamWriter::new(&session, "containers");
    for r in &recs {
        w.push(r).await.unwrap();
    }
    let m1 = w.finish().await.unwrap();
    assert_eq!(m1.records, 60_000);
    assert!(
        m1.blobs.len() >= 2,
        "{} blobs for {} bytes",
        m1.blobs.len(),
        m1.bytes
    );
    let new1 = session.stats().blobs_new;
    // One changed record near the end: most blobs are shared with the first stream.
    let recs2 = make(60_000, Some(59_000));
    let mut w = MetaStreamWriter::new(&session, "containers");
    for r in &recs2 {
        w.push(r).await.unwrap();
    }
    let m2 = w.finish().await.unwrap();
    let new2 = session.stats().blobs_new - new1;
    assert!(
        new2 < m2.blobs.len() as u64,
        "new {new2} of {}",
        m2.blobs.len()
    );
    let mut draft = SnapshotDraft {
        library: "L".into(),
        ..Default::default()
    };
    draft.streams.insert("a".into(), m1.clone());
    session.finish(draft).await.unwrap();
    let back: Vec<BTreeMap<String, serde_json::Value>> =
        repo.read_meta_stream("a", &m1).try_collect().await.unwrap();
    assert_eq!(back, recs);
}

use futures::StreamExt;

/// The backup job spawns adders on the runtime: the session is shareable and its futures Send.
#[tokio::test]
async fn session_is_shareable_across_spawned_tasks() {
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let repo =
        crate::support::repo::init_indexed(store.clone(), crate::support::repo::small_init()).await;
    let session = Arc::new(repo.backup_session(SessionOptions::default()));
    let mut tasks = Vec::new();
    for i in 0..4u64 {
        let s = session.clone();
        tasks.push(tokio::spawn(async move {
            let data = random_bytes(300_000, i);
            let c = s.add_bytes(Bytes::from(data.clone())).await.unwrap();
            (data, c)
        }));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    let session = Arc::try_unwrap(session).ok().expect("no other owner left");
    session
        .finish(SnapshotDraft {
            library: "L".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    for (data, c) in got {
        assert_eq!(read_all(&repo, &c).await.unwrap(), data);
    }
}

/// Reading versions that share blobs reads each shared blob from the store once (cache of
/// verified blobs); with the cache off, every read goes to the store.
#[tokio::test]
async fn shared_blobs_are_read_once_with_cache() {
    let faulty = FaultyStore::new(Arc::new(object_store::memory::InMemory::new()));
    let store: Arc<dyn ObjectStore> = faulty.clone();
    let repo =
        crate::support::repo::init_indexed(store.clone(), crate::support::repo::small_init()).await;
    let session = repo.backup_session(SessionOptions::default());
    let v1 = random_bytes(1_200_000, 8); // spans several 256 KiB packs
    let mut v2 = v1.clone();
    v2.extend_from_slice(b"appended page");
    let c1 = session.add_bytes(Bytes::from(v1.clone())).await.unwrap();
    let c2 = session.add_bytes(Bytes::from(v2.clone())).await.unwrap();
    session
        .finish(SnapshotDraft {
            library: "L".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let repo = crate::support::repo::open_indexed(store.clone()).await;
    let before = faulty.gets();
    assert_eq!(read_all(&repo, &c1).await.unwrap(), v1);
    let after_v1 = faulty.gets();
    assert_eq!(read_all(&repo, &c2).await.unwrap(), v2);
    let after_v2 = faulty.gets();
    assert!(after_v1 > before);
    assert!(
        after_v2 - after_v1 <= 2,
        "v2 re-read shared blobs: {} GETs",
        after_v2 - after_v1
    );
    let uncached = repo.with_blob_cache(0);
    let g0 = faulty.gets();
    assert_eq!(read_all(&uncached, &c2).await.unwrap(), v2);
    let uncached_gets = faulty.gets() - g0;
    assert!(uncached_gets >= 4, "{uncached_gets}");
    assert!(uncached_gets > after_v2 - after_v1);
}

/// Two writers (two libraries, overlapping content) on one repository at once, no lock:
/// both snapshots are complete and readable.
#[tokio::test]
async fn concurrent_writers_of_two_libraries_coexist() {
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    Repository::init(store.clone(), small_init(), crate::support::repo::key())
        .await
        .unwrap();
    let shared = text_bytes(300_000, 1);
    let run = |lib: &'static str, seed: u64| {
        let store = store.clone();
        let shared = shared.clone();
        async move {
            let repo = crate::support::repo::open_indexed(store).await;
            let s = repo.backup_session(SessionOptions::default());
            let own = random_bytes(400_000, seed);
            let mut w = MetaStreamWriter::new(&s, "versions");
            for (i, d) in [shared, own].into_iter().enumerate() {
                let c = s.add_bytes(Bytes::from(d)).await.unwrap();
                w.push(&TestVersion {
                    doc: format!("{lib}-{i}"),
                    version: 1,
                    content: c,
                })
                .await
                .unwrap();
            }
            let mut draft = SnapshotDraft {
                library: lib.into(),
                ..Default::default()
            };
            draft
                .streams
                .insert("versions".into(), w.finish().await.unwrap());
            s.finish(draft).await.unwrap()
        }
    };
    let (a, b) = tokio::join!(run("A", 10), run("B", 20));
    let repo = assert_consistent(store).await;
    assert_eq!(repo.list_snapshots(Some("A")).await.unwrap()[0].id, a);
    assert_eq!(repo.list_snapshots(Some("B")).await.unwrap()[0].id, b);
    for id in [a, b] {
        let s = repo.load_snapshot(&id).await.unwrap();
        let recs: Vec<TestVersion> = repo
            .read_meta_stream("versions", &s.manifest.streams["versions"])
            .try_collect()
            .await
            .unwrap();
        assert_eq!(read_all(&repo, &recs[0].content).await.unwrap(), shared);
        assert_eq!(recs[1].content.size, 400_000);
        assert_eq!(
            read_all(&repo, &recs[1].content).await.unwrap().len(),
            400_000
        );
    }
}
