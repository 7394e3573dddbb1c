//! Encryption at rest (issue 14), tested as an attacker holding the bucket would: every stored
//! byte searched for what the documents say and who they belong to, every kind of object
//! damaged, swapped or opened with the wrong password.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use imvault::jobs::records::{ContainerRecord, STREAM_VERSIONS, VersionRecord};
use imvault::repo::backend::keys;
use imvault::repo::verify::{ReadData, VerifyOptions, VerifyProgress};
use imvault::repo::{
    Credential, MetaStreamWriter, RepoError, Repository, SessionOptions, SnapshotDraft,
};
use imvault::secret::Secret;
use imvault_sim::{Scale, SimOptions};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::support::env::{TestEnv, version_records};
use crate::support::repo::{TestVersion, key, small_init, text_bytes};

/// Every object of the store: its key and bytes.
pub async fn stored_objects(store: &Arc<dyn ObjectStore>) -> Vec<(Path, Bytes)> {
    let metas: Vec<_> = store.list(None).try_collect().await.expect("list");
    let mut out = Vec::new();
    for m in metas {
        let b = store
            .get(&m.location)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        out.push((m.location, b));
    }
    out
}

/// What a reader of the bucket must not find: pieces of document content, document and
/// workspace names, authors and user ids, library names. Each needle is labelled.
async fn secrets_of(env: &TestEnv) -> Vec<(String, Vec<u8>)> {
    let repo = env.repo().await;
    let mut needles: BTreeMap<Vec<u8>, String> = BTreeMap::new();
    let mut add = |what: &str, s: &[u8]| {
        if s.len() >= 6 {
            needles
                .entry(s.to_vec())
                .or_insert_with(|| what.to_string());
        }
    };
    for snap in repo.list_snapshots(None).await.unwrap() {
        add("library name", snap.manifest.library.as_bytes());
        for (_, r) in version_records(&repo, &snap).await {
            for f in ["name", "author", "operator", "last_user"] {
                if let Some(v) = r.profile.get(f).and_then(|v| v.as_str()) {
                    add(&format!("document {f}"), v.as_bytes());
                }
            }
            let content: Vec<Bytes> = repo.read_content(&r.content).try_collect().await.unwrap();
            let content = content.concat();
            if content.len() >= 96 {
                // A distinctive run of the document: 48 bytes from its middle.
                let mid = content.len() / 2;
                add("document content", &content[mid..mid + 48]);
            }
        }
        if let Some(meta) = snap.manifest.streams.get("containers") {
            let mut recs =
                std::pin::pin!(repo.read_meta_stream::<ContainerRecord>("containers", meta));
            while let Some(r) = recs.next().await {
                let r = r.unwrap();
                for f in ["name", "owner"] {
                    if let Some(v) = r.profile.get(f).and_then(|v| v.as_str()) {
                        add(&format!("workspace/folder {f}"), v.as_bytes());
                    }
                }
                if let Some(acl) = &r.acl {
                    let acl = serde_json::to_value(acl).unwrap();
                    for e in acl["entries"].as_array().into_iter().flatten() {
                        if let Some(id) = e["id"].as_str() {
                            add("user or group id", id.as_bytes());
                        }
                    }
                }
            }
        }
    }
    needles.into_iter().map(|(n, what)| (what, n)).collect()
}

/// The needles found in the stored objects: (what, needle, object key).
fn hits(objects: &[(Path, Bytes)], needles: &[(String, Vec<u8>)]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (what, n) in needles {
        let finder = memchr::memmem::Finder::new(n);
        for (key, bytes) in objects {
            if finder.find(bytes).is_some() {
                out.push((
                    what.clone(),
                    String::from_utf8_lossy(n).into_owned(),
                    key.to_string(),
                ));
            }
        }
    }
    out
}

/// A backup of the simulator's corpus into an encrypted repository leaves no plaintext in any
/// stored byte: no document content, no document, workspace or folder name, author, user id or
/// library name (compression off, so only encryption hides them). The same search over the same
/// backup in an `--insecure-no-encryption` repository finds every kind of needle: the search
/// would see a leak.
pub async fn assert_no_plaintext_after_backup(
    encrypted_store: Option<Arc<dyn ObjectStore>>,
) -> usize {
    let sim = || SimOptions {
        seed: 14,
        scale: Scale::Tiny,
        ..SimOptions::default()
    };
    let clear = TestEnv::with_repository_level(sim(), true, 0).await;
    let outcomes = clear.backup(&Default::default()).await;
    assert!(
        outcomes.iter().all(|o| o.snapshot.is_some()),
        "{outcomes:?}"
    );
    let needles = secrets_of(&clear).await;
    let kinds: std::collections::BTreeSet<&str> = needles.iter().map(|(w, _)| w.as_str()).collect();
    for k in [
        "document content",
        "document name",
        "document author",
        "workspace/folder name",
        "user or group id",
        "library name",
    ] {
        assert!(kinds.contains(k), "no {k} to look for: {kinds:?}");
    }
    let found = hits(&stored_objects(&clear.store).await, &needles);
    let found_kinds: std::collections::BTreeSet<&str> =
        found.iter().map(|(w, _, _)| w.as_str()).collect();
    assert_eq!(
        found_kinds, kinds,
        "the search finds plaintext where there is some"
    );

    let enc = match encrypted_store {
        Some(store) => TestEnv::with_store(sim(), store, 0).await,
        None => TestEnv::with_repository_level(sim(), false, 0).await,
    };
    let outcomes = enc.backup(&Default::default()).await;
    assert!(
        outcomes.iter().all(|o| o.snapshot.is_some()),
        "{outcomes:?}"
    );
    assert_eq!(
        secrets_of(&enc).await.len(),
        needles.len(),
        "both repositories hold the same corpus"
    );
    let objects = stored_objects(&enc.store).await;
    assert!(objects.len() > 5, "{}", objects.len());
    let leaks = hits(&objects, &needles);
    assert!(
        leaks.is_empty(),
        "plaintext in the encrypted repository: {leaks:?}"
    );
    // Object names say nothing either (library names are hashed in checkpoint keys).
    for (k, _) in &objects {
        for (what, n) in &needles {
            assert!(
                !k.as_ref()
                    .as_bytes()
                    .windows(n.len())
                    .any(|w| w == n.as_slice()),
                "{what} in object name {k}"
            );
        }
    }
    needles.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_the_corpus_leaves_no_plaintext_in_the_repository() {
    let n = assert_no_plaintext_after_backup(None).await;
    println!("{n} needles searched, 0 found");
}

/// A repository holding one object of every kind: packs of content and metadata, index objects,
/// a snapshot, a checkpoint record, prune marks, a key slot and the config.
pub async fn repository_with_every_kind(
    store: Arc<dyn ObjectStore>,
) -> (Vec<Vec<u8>>, imvault::repo::SnapshotId) {
    let repo =
        crate::support::repo::init_indexed(store.clone(), crate::support::repo::small_init()).await;
    let datas: Vec<Vec<u8>> = (0..3).map(|i| text_bytes(90_000, 40 + i)).collect();
    let session = repo.backup_session(SessionOptions::default());
    let mut versions = MetaStreamWriter::new(&session, "versions");
    for (i, d) in datas.iter().enumerate() {
        let c = session.add_bytes(Bytes::from(d.clone())).await.unwrap();
        versions
            .push(&TestVersion {
                doc: format!("Privileged memo {i}"),
                version: 1,
                content: c,
            })
            .await
            .unwrap();
    }
    session
        .checkpoint(Some((
            "CONFIDENTIAL",
            serde_json::json!({"run": "Privileged"}),
        )))
        .await
        .unwrap();
    let mut draft = SnapshotDraft {
        library: "CONFIDENTIAL".into(),
        ..Default::default()
    };
    draft
        .streams
        .insert("versions".into(), versions.finish().await.unwrap());
    let id = session.finish(draft).await.unwrap();
    let marks = BTreeMap::from([(imvault::repo::PackId([9; 32]), chrono::Utc::now())]);
    imvault::repo::marks::write(repo.objects(), &marks)
        .await
        .unwrap();
    // A legal hold naming a privileged matter.
    imvault::repo::holds::place(
        repo.objects(),
        imvault::repo::holds::HoldScope::Client {
            client: "Privileged client".into(),
            matter: Some("CONFIDENTIAL merger".into()),
            library: Some("CONFIDENTIAL".into()),
        },
        "Privileged litigation",
        "Privileged reader",
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    // An audit record whose parameters name the library.
    let auditor = imvault::audit::Auditor::new(
        repo.objects().clone(),
        "0123456789abcdef0123456789abcdef".into(),
        imvault::audit::Actor::User {
            name: "Privileged reader".into(),
            uid: None,
        },
        "host".into(),
        None,
    );
    let p = auditor
        .start(imvault::audit::Action::Restore {
            what: "document CONFIDENTIAL!1 (Privileged memo 0)".into(),
            library: Some("CONFIDENTIAL".into()),
            at: None,
            snapshot: None,
            target: imvault::audit::RestoreTarget::Original,
        })
        .await
        .unwrap();
    p.finish(imvault::audit::Outcome::Ok, Default::default())
        .await
        .unwrap();
    (datas, id)
}

async fn open(
    store: &Arc<dyn ObjectStore>,
) -> Result<Repository<imvault::repo::Indexed>, RepoError> {
    Repository::open(store.clone(), key())
        .await?
        .load_index()
        .await
}

/// Reads everything back the ordinary way: every snapshot, its records and content, the
/// checkpoint records.
async fn read_everything(store: &Arc<dyn ObjectStore>) -> Result<(), RepoError> {
    let repo = open(store).await?;
    repo.checkpoints("CONFIDENTIAL").await?;
    for s in repo.list_snapshots(None).await? {
        let meta = &s.manifest.streams["versions"];
        let recs: Vec<TestVersion> = repo
            .read_meta_stream("versions", meta)
            .try_collect()
            .await?;
        for r in recs {
            let _: Vec<Bytes> = repo.read_content(&r.content).try_collect().await?;
        }
    }
    Ok(())
}

async fn put(store: &Arc<dyn ObjectStore>, key: &Path, bytes: Bytes) {
    store.put(key, PutPayload::from(bytes)).await.unwrap();
}

/// A flipped byte in any object (each kind, at its start, middle and end: nonce, ciphertext,
/// tag; a pack's blobs and its header) is detected on read: the error names the object and says
/// it failed authentication. `verify` reports damaged packs, index objects and snapshots.
/// Nothing is repaired by guessing: once the byte is back, everything reads again.
pub async fn assert_flipped_bytes_are_detected(store: Arc<dyn ObjectStore>) {
    repository_with_every_kind(store.clone()).await;
    read_everything(&store).await.unwrap();
    let objects = stored_objects(&store).await;
    let mut kinds_seen = std::collections::BTreeSet::new();
    for (key, orig) in &objects {
        let kind = key.as_ref().split('/').next().unwrap().to_string();
        kinds_seen.insert(kind.clone());
        let len = orig.len();
        let spots = if kind == "packs" {
            // The first blob, the middle, the sealed header (before the 4-byte trailer).
            vec![0, 20, len / 2, len - 10]
        } else {
            vec![0, len / 2, len - 1]
        };
        for at in spots {
            let mut bad = orig.to_vec();
            bad[at] ^= 0x20;
            put(&store, key, Bytes::from(bad)).await;
            let err = match kind.as_str() {
                // A key slot is read only to open the repository.
                "keys" | "config" | "index" | "marks" => {
                    open(&store).await.map(|_| ()).unwrap_err()
                }
                // A pack's header is read only to rebuild the index or show the pack.
                "audit" => {
                    imvault::audit::chain::read_record(open(&store).await.unwrap().objects(), key)
                        .await
                        .map(|_| ())
                        .unwrap_err()
                }
                "holds" => {
                    match imvault::repo::holds::list(open(&store).await.unwrap().objects()).await {
                        Err(imvault::repo::holds::HoldError::Repo { source, .. }) => *source,
                        other => panic!("{key} byte {at}: {other:?}"),
                    }
                }
                "packs" => match read_everything(&store).await {
                    Err(e) => e,
                    Ok(()) => {
                        let id = key.filename().unwrap().parse().unwrap();
                        open(&store).await.unwrap().cat_pack(&id).await.unwrap_err()
                    }
                },
                _ => read_everything(&store).await.unwrap_err(),
            };
            let msg = imvault::repo::error_chain(&err);
            assert!(
                matches!(err, RepoError::Authentication { .. }),
                "{key} byte {at}: {msg}"
            );
            assert!(
                msg.contains(key.as_ref()),
                "{key} byte {at} not named: {msg}"
            );
            assert!(
                msg.contains("failed authentication"),
                "{key} byte {at}: {msg}"
            );
            if matches!(kind.as_str(), "packs" | "snapshots") {
                let repo = open(&store).await.unwrap();
                let report = repo
                    .verify(
                        &VerifyOptions {
                            read_data: ReadData::All,
                            ..Default::default()
                        },
                        &VerifyProgress::default(),
                    )
                    .await
                    .unwrap();
                assert!(
                    report
                        .problems
                        .iter()
                        .any(|p| p.object == key.as_ref()
                            && p.detail.contains("failed authentication")),
                    "verify misses {key} byte {at}: {:?}",
                    report.problems
                );
            }
            put(&store, key, orig.clone()).await;
        }
    }
    for k in [
        "config",
        "keys",
        "packs",
        "index",
        "snapshots",
        "checkpoints",
        "marks",
        "audit",
        "holds",
    ] {
        assert!(
            kinds_seen.contains(k),
            "no {k} object tested: {kinds_seen:?}"
        );
    }
    read_everything(&store).await.unwrap();
}

#[tokio::test]
async fn a_flipped_byte_in_every_object_kind_fails_authentication() {
    assert_flipped_bytes_are_detected(Arc::new(object_store::memory::InMemory::new())).await;
}

/// A valid object moved to another object's name (one snapshot over another, one index over
/// another), or truncated, is refused naming it; nothing is taken for what it is not.
#[tokio::test]
async fn swapped_and_truncated_objects_are_refused() {
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    repository_with_every_kind(store.clone()).await;
    {
        let repo = open(&store).await.unwrap();
        let s2 = repo.backup_session(SessionOptions::default());
        let mut draft = SnapshotDraft {
            library: "OTHER".into(),
            ..Default::default()
        };
        let mut w = MetaStreamWriter::new(&s2, "versions");
        w.push(&serde_json::json!({"x": 1})).await.unwrap();
        draft
            .streams
            .insert("versions".into(), w.finish().await.unwrap());
        s2.finish(draft).await.unwrap();
    }
    let objects = stored_objects(&store).await;
    let of = |dir: &str| -> Vec<(Path, Bytes)> {
        objects
            .iter()
            .filter(|(k, _)| k.as_ref().starts_with(&format!("{dir}/")))
            .cloned()
            .collect()
    };
    for dir in ["snapshots", "index"] {
        let objs = of(dir);
        assert!(objs.len() >= 2, "{dir}: {}", objs.len());
        let (a, a_bytes) = &objs[0];
        let (b, b_bytes) = &objs[1];
        put(&store, b, a_bytes.clone()).await;
        let err = match dir {
            "index" => open(&store).await.map(|_| ()).unwrap_err(),
            _ => open(&store)
                .await
                .unwrap()
                .list_snapshots(None)
                .await
                .map(|_| ())
                .unwrap_err(),
        };
        let msg = err.to_string();
        assert!(matches!(err, RepoError::Authentication { .. }), "{msg}");
        assert!(msg.contains(b.as_ref()) && msg.contains("swapped"), "{msg}");
        put(&store, b, b_bytes.slice(..b_bytes.len() - 5)).await;
        let err = match dir {
            "index" => open(&store).await.map(|_| ()).unwrap_err(),
            _ => open(&store)
                .await
                .unwrap()
                .list_snapshots(None)
                .await
                .map(|_| ())
                .unwrap_err(),
        };
        assert!(matches!(err, RepoError::Authentication { .. }), "{err}");
        put(&store, b, b_bytes.clone()).await;
        let _ = a;
    }
    // A snapshot sealed by another repository (another key) does not open here.
    let other: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    repository_with_every_kind(other.clone()).await;
    let (foreign_key, foreign) = stored_objects(&other)
        .await
        .into_iter()
        .find(|(k, _)| k.as_ref().starts_with("snapshots/"))
        .unwrap();
    put(&store, &foreign_key, foreign).await;
    let err = open(&store)
        .await
        .unwrap()
        .list_snapshots(None)
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::Authentication { .. }), "{err}");
    assert!(err.to_string().contains(foreign_key.as_ref()), "{err}");
}

/// Nothing readable is left in the clear: the config, pack headers and object names of an
/// encrypted repository show no format detail beyond what FORMAT.md lists (sizes, counts, times).
#[tokio::test]
async fn config_pack_headers_and_names_are_sealed() {
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    repository_with_every_kind(store.clone()).await;
    let objects = stored_objects(&store).await;
    for (k, b) in &objects {
        let k = k.as_ref();
        assert!(!k.contains("CONFIDENTIAL"), "{k}");
        for needle in [
            &b"IMVPACK1"[..],
            b"IMVIDX01",
            b"format_version",
            b"Privileged",
            b"CONFIDENTIAL",
            b"chunker",
        ] {
            assert!(
                memchr::memmem::find(b, needle).is_none(),
                "{k} shows {}",
                String::from_utf8_lossy(needle)
            );
        }
    }
    let key_slots: Vec<_> = objects
        .iter()
        .filter(|(k, _)| k.as_ref().starts_with("keys/"))
        .collect();
    assert_eq!(key_slots.len(), 1);
    let slot: serde_json::Value = serde_json::from_slice(&key_slots[0].1).unwrap();
    assert_eq!(slot["kdf"]["algorithm"], "argon2id");
    assert!(slot["kdf"]["memory_kib"].as_u64().is_some(), "{slot}");
    assert!(
        !key_slots[0].1.windows(8).any(|w| w == b"test rep"),
        "password in the slot"
    );
}

/// A wrong password opens nothing, writes nothing and says so; a missing one names where to set
/// it; an unencrypted repository is refused when a password is configured (its config may
/// have been replaced).
#[tokio::test]
async fn wrong_or_missing_password_is_refused_and_nothing_is_written() {
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    repository_with_every_kind(store.clone()).await;
    let before = stored_objects(&store).await;
    let wrong = Credential::Password(Secret::new("test repository passworD"));
    let err = Repository::open(store.clone(), Some(&wrong))
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::WrongPassword { .. }), "{err}");
    assert!(
        err.to_string().contains("wrong repository password"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("passworD"), "{err:?}");
    let err = Repository::open(store.clone(), None).await.unwrap_err();
    assert!(matches!(err, RepoError::PasswordRequired), "{err}");
    assert!(err.to_string().contains("IMVAULT_PASSWORD"), "{err}");
    assert_eq!(stored_objects(&store).await, before, "nothing was written");

    let clear: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let opts = imvault::repo::InitOptions {
        insecure_no_encryption: true,
        ..small_init()
    };
    let repo = Repository::init(clear.clone(), opts, None).await.unwrap();
    assert!(!repo.is_encrypted());
    let err = Repository::open(clear.clone(), key()).await.unwrap_err();
    assert!(matches!(err, RepoError::NotEncrypted { .. }), "{err}");
    Repository::open(clear, None).await.unwrap();
}

/// Writes a format 1 repository into `store`, object by object as that format says
/// (plain zstd objects, unkeyed blob ids, plain pack headers): one snapshot of library ACTIVE
/// with one version, and a checkpoint record. Returns the content and the snapshot's id.
pub async fn write_format_1_repository(
    store: &Arc<dyn ObjectStore>,
) -> (Vec<u8>, imvault::repo::SnapshotId) {
    use imvault::repo::blob::{self, BlobKind};
    use imvault::repo::pack::PackWriter;
    let plain = imvault::repo::Crypto::plaintext();
    let content = text_bytes(50_000, 7);
    let cid = imvault::repo::BlobId::of(&content);
    let record = serde_json::to_vec(&TestVersion {
        doc: "ACTIVE!1".into(),
        version: 1,
        content: imvault::repo::ContentRef {
            size: content.len() as u64,
            blobs: vec![cid],
        },
    })
    .unwrap();
    let mut line = record.clone();
    line.push(b'\n');
    let mid = imvault::repo::BlobId::of(&line);
    let mut body = Vec::new();
    let mut packs = Vec::new();
    for (kind, id, raw) in [
        (BlobKind::Data, cid, content.clone()),
        (BlobKind::Meta, mid, line.clone()),
    ] {
        let mut w = PackWriter::new();
        w.add(&blob::encode(&plain, id, kind, Bytes::from(raw), 3).unwrap());
        let sealed = w.seal(&plain).unwrap();
        assert_eq!(sealed.id, imvault::repo::PackId::of(&sealed.bytes));
        put(store, &keys::pack(&sealed.id), sealed.bytes.clone()).await;
        packs.push((sealed.id, sealed.entries));
    }
    body.extend_from_slice(&(packs.len() as u32).to_le_bytes());
    for (p, entries) in &packs {
        body.extend_from_slice(p.as_bytes());
        body.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for e in entries {
            body.extend_from_slice(e.id.as_bytes());
            body.push(e.kind as u8);
            body.push(e.compression as u8);
            body.extend_from_slice(&e.offset.to_le_bytes());
            body.extend_from_slice(&e.stored_len.to_le_bytes());
            body.extend_from_slice(&e.raw_len.to_le_bytes());
        }
    }
    let mut index = b"IMVIDX01".to_vec();
    index.extend_from_slice(&zstd::bulk::compress(&body, 3).unwrap());
    put(
        store,
        &keys::index(&imvault::repo::IndexId::of(&index)),
        Bytes::from(index),
    )
    .await;
    let manifest = serde_json::json!({
        "format_version": 1,
        "time": "2026-11-25T01:00:00Z",
        "finished": "2026-11-25T01:02:00Z",
        "library": "ACTIVE",
        "host": "backup01",
        "tool_version": "0.1.0",
        "parent": null,
        "counts": {"versions": 1},
        "streams": {"versions": {"records": 1, "bytes": line.len(), "blobs": [mid]}},
        "session": {},
        "summary": {"state": "completed"}
    });
    let manifest = serde_json::to_vec_pretty(&manifest).unwrap();
    let sid = imvault::repo::SnapshotId::of(&manifest);
    put(store, &keys::snapshot(&sid), Bytes::from(manifest)).await;
    let checkpoint = serde_json::to_vec(&serde_json::json!({
        "library": "ACTIVE", "time": "2026-11-25T01:01:00Z", "record": {"parent": null}
    }))
    .unwrap();
    put(
        store,
        &Path::from("checkpoints/ACTIVE/20261125T010100.000000000Z-0123456789abcdef"),
        Bytes::from(checkpoint),
    )
    .await;
    let config = serde_json::json!({
        "format_version": 1,
        "id": "9f0c0000000000000000000000000001",
        "created": "2026-11-25T00:00:00Z",
        "chunker": {"min_size": 262144, "avg_size": 1048576, "max_size": 4194304},
        "pack_size": 16777216,
        "zstd_level": 3
    });
    put(
        store,
        &keys::config(),
        Bytes::from(serde_json::to_vec_pretty(&config).unwrap()),
    )
    .await;
    (content, sid)
}

/// Issue 14, "Format 1 repositories stay readable": a repository written in format 1 (the
/// layout of docs/FORMAT.md §2-§9 before encryption: clear JSON config and manifests, BLAKE3
/// blob ids, plain pack headers) is written here object by object as that format says, then
/// read back (snapshots, records, content, verify), and every write into it is refused with a
/// message naming the format and what to do.
#[tokio::test]
async fn a_format_1_repository_stays_readable_and_is_read_only() {
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let (content, sid) = write_format_1_repository(&store).await;

    // Read with or without a configured password: format 1 has none.
    for cred in [None, key()] {
        let repo = Repository::open(store.clone(), cred).await.unwrap();
        assert_eq!(repo.config().format_version, 1);
        assert!(!repo.is_encrypted());
        let snaps = repo.list_snapshots(None).await.unwrap();
        assert_eq!(snaps.len(), 1);
        assert_eq!(snaps[0].id, sid);
        assert_eq!(repo.checkpoints("ACTIVE").await.unwrap().len(), 1);
        let repo = repo.load_index().await.unwrap();
        let recs: Vec<TestVersion> = repo
            .read_meta_stream("versions", &snaps[0].manifest.streams["versions"])
            .try_collect()
            .await
            .unwrap();
        assert_eq!(recs.len(), 1);
        let back: Vec<Bytes> = repo
            .read_content(&recs[0].content)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(back.concat(), content);
        let report = repo
            .verify(
                &VerifyOptions {
                    read_data: ReadData::All,
                    ..Default::default()
                },
                &VerifyProgress::default(),
            )
            .await
            .unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        // Writing is refused, naming the format and what to do.
        let before = stored_objects(&store).await;
        let session = repo.backup_session(SessionOptions::default());
        let err = match session.add_bytes(Bytes::from(text_bytes(300_000, 9))).await {
            Err(e) => e,
            Ok(_) => session
                .finish(SnapshotDraft {
                    library: "ACTIVE".into(),
                    ..Default::default()
                })
                .await
                .unwrap_err(),
        };
        let msg = imvault::repo::error_chain(&err);
        assert!(
            msg.contains("format 1") && msg.contains("read-only"),
            "{msg}"
        );
        assert!(msg.contains("imvault init"), "{msg}");
        assert_eq!(stored_objects(&store).await, before, "nothing written");
    }
}

/// `verify` and `stats` keep the version records: the corpus restores from an encrypted
/// repository byte for byte (the ordinary restore tests run against encrypted repositories,
/// this one checks the sizes the records promise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_reads_back_from_an_encrypted_repository() {
    let env = TestEnv::tiny(21).await;
    let outcomes = env.backup(&Default::default()).await;
    assert!(
        outcomes.iter().all(|o| o.snapshot.is_some()),
        "{outcomes:?}"
    );
    let repo = env.repo().await;
    assert!(repo.is_encrypted());
    let snaps = repo.list_snapshots(None).await.unwrap();
    assert!(!snaps.is_empty());
    let mut n = 0;
    for s in &snaps {
        let recs = std::pin::pin!(repo.read_meta_stream::<VersionRecord>(
            STREAM_VERSIONS,
            &s.manifest.streams[STREAM_VERSIONS]
        ));
        let recs: Vec<VersionRecord> = recs.try_collect().await.unwrap();
        for r in recs {
            let parts: Vec<Bytes> = repo.read_content(&r.content).try_collect().await.unwrap();
            assert_eq!(parts.concat().len() as u64, r.content.size);
            n += 1;
        }
    }
    assert!(n > 10, "{n}");
}

/// The same attacker's checks against S3 (moto): a backup of the corpus leaves no plaintext in
/// any stored object, and a flipped byte in every object kind fails authentication, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_no_plaintext_is_stored_and_every_flipped_byte_is_detected() {
    let Some(cfg) = crate::support::s3::s3_backend("enc").await else {
        return;
    };
    let store = imvault::repo::open_backend(&cfg).unwrap();
    let n = assert_no_plaintext_after_backup(Some(store)).await;
    assert!(n > 10, "{n}");
    let Some(cfg) = crate::support::s3::s3_backend("flip").await else {
        return;
    };
    assert_flipped_bytes_are_detected(imvault::repo::open_backend(&cfg).unwrap()).await;
}

/// `verify` lists a damaged checkpoint record and a damaged key slot by name and kind (the
/// report is not ok, so the command exits non-zero); a damaged prune marks object, read with
/// the index, stops verify with an error naming it. Nothing is repaired: with the byte back,
/// verify is clean again.
#[tokio::test]
async fn verify_names_damaged_checkpoints_key_slots_and_prune_marks() {
    use imvault::repo::verify::ProblemKind;
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    repository_with_every_kind(store.clone()).await;
    // A second slot (a key file), so that the repository still opens with one slot damaged.
    let other =
        imvault::repo::Credential::KeyFile(imvault::secret::SecretBytes::new(vec![7u8; 32]));
    open(&store)
        .await
        .unwrap()
        .add_key_slot(&other, &crate::support::repo::fast_kdf())
        .await
        .unwrap();
    let verify = || async {
        open(&store)
            .await?
            .verify(&VerifyOptions::default(), &VerifyProgress::default())
            .await
    };
    assert!(verify().await.unwrap().is_ok());
    let objects = stored_objects(&store).await;
    let first = |dir: &str| {
        objects
            .iter()
            .find(|(k, _)| k.as_ref().starts_with(&format!("{dir}/")))
            .cloned()
            .unwrap_or_else(|| panic!("no {dir} object"))
    };
    let slots = imvault::repo::keyslot::read_all(&store).await.unwrap();
    let other_slot = imvault::repo::keyslot::describe(&slots, None)
        .into_iter()
        .find(|s| s.kind == Some(imvault::repo::SlotKind::KeyFile))
        .unwrap();
    let slot_key = imvault::repo::keyslot::key_of(&other_slot.id);
    let slot = objects
        .iter()
        .find(|(k, _)| *k == slot_key)
        .cloned()
        .unwrap();
    for ((key, orig), kind) in [
        (first("checkpoints"), ProblemKind::CorruptCheckpoint),
        (slot, ProblemKind::CorruptKeySlot),
    ] {
        let mut bad = orig.to_vec();
        let at = bad.len() / 2;
        bad[at] ^= 0x20;
        put(&store, &key, Bytes::from(bad)).await;
        let report = verify().await.unwrap();
        assert!(!report.is_ok(), "{key}");
        let p = report
            .problems
            .iter()
            .find(|p| p.object == key.as_ref())
            .unwrap_or_else(|| panic!("verify misses {key}: {:?}", report.problems));
        assert_eq!(p.kind, kind, "{p:?}");
        assert!(p.detail.contains("failed authentication"), "{p:?}");
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        put(&store, &key, orig.clone()).await;
        assert!(verify().await.unwrap().is_ok(), "{key} restored");
    }
    // Prune marks: read with the index, so verify stops, naming the object and its kind.
    let (key, orig) = first("marks");
    let mut bad = orig.to_vec();
    bad[0] ^= 0x20;
    put(&store, &key, Bytes::from(bad)).await;
    let err = verify().await.unwrap_err();
    let msg = imvault::repo::error_chain(&err);
    assert!(msg.contains(key.as_ref()), "{msg}");
    assert!(msg.contains("prune marks"), "{msg}");
    assert!(msg.contains("failed authentication"), "{msg}");
    assert_eq!(
        store.get(&key).await.unwrap().bytes().await.unwrap()[0],
        orig[0] ^ 0x20,
        "nothing repaired"
    );
    put(&store, &key, orig).await;
    assert!(verify().await.unwrap().is_ok());
}

/// Issue 14: `forget` and `prune` on a format 1 repository are refused before anything is
/// written (no audit record, no lock, no deletion), naming format 1 and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_and_prune_refuse_a_format_1_repository_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("repo");
    let store = imvault::repo::open_backend(&imvault::repo::BackendConfig::local(repo_dir.clone()))
        .unwrap();
    write_format_1_repository(&store).await;
    let config = crate::support::maint::repo_only_config(dir.path(), &repo_dir);
    let before = stored_objects(&store).await;
    for (args, action) in [
        (&["forget", "--keep-last", "1"][..], "forgetting snapshots"),
        (&["prune"][..], "pruning"),
    ] {
        let (code, out, err) = crate::support::maint::imvault(&config, args, &[]);
        assert_ne!(code, 0, "{args:?}: {out}");
        assert!(
            err.contains("repository format 1") && err.contains("read-only"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(&format!("{action} is refused")),
            "{args:?}: {err}"
        );
        assert!(err.contains("imvault init"), "says what to do: {err}");
        assert_eq!(
            stored_objects(&store).await,
            before,
            "{args:?} wrote or deleted something"
        );
    }
}

/// Issue 14: `catalog rebuild` works on a format 1 repository. Format 1's objects are those of an
/// unencrypted format 2 repository (`seal(ad, p) = p`, plain BLAKE3 blob ids, the same pack and
/// index layouts: docs/FORMAT.md §1, §17) except `config`, which has no `encryption` field, and
/// the checkpoint records' names: the corpus is backed up unencrypted, `config` is written back
/// as format 1 wrote it, the checkpoint records are removed, and the catalog, deleted, is rebuilt
/// from that repository alone: the same catalog, every document found again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_rebuild_works_on_a_format_1_repository() {
    use crate::support::restore::{
        assert_exit, backup, catalog, cli, folder_with_subfolders, latest,
    };
    let env = TestEnv::with_repository(
        SimOptions {
            seed: 193,
            scale: Scale::Tiny,
            ..SimOptions::default()
        },
        true,
    )
    .await;
    backup(&env).await;
    let (dump, documents) = {
        let cat = catalog(&env);
        let docs = folder_with_subfolders(&cat, &latest(&cat), 2).documents;
        assert!(!docs.is_empty());
        (cat.canonical_dump().unwrap(), docs)
    };
    let repo_dir = env.dir.path().join("repo");
    let config_file = repo_dir.join("config");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_file).unwrap()).unwrap();
    assert_eq!(config["encryption"], "none", "{config}");
    config["format_version"] = 1.into();
    config.as_object_mut().unwrap().remove("encryption");
    std::fs::write(&config_file, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(repo_dir.join("checkpoints"));
    let store = imvault::repo::open_backend(&imvault::repo::BackendConfig::local(repo_dir.clone()))
        .unwrap();
    let repo = Repository::open(store, key()).await.unwrap();
    assert_eq!(repo.config().format_version, 1);

    let state = env.dir.path().join("state");
    for f in std::fs::read_dir(&state).unwrap() {
        let f = f.unwrap().path();
        if f.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("catalog.db")
        {
            std::fs::remove_file(f).unwrap();
        }
    }
    let out = cli(&env, &["catalog", "rebuild"]);
    assert_exit(&out, 0);
    let cat = catalog(&env);
    assert_eq!(cat.canonical_dump().unwrap(), dump, "the same catalog");
    let again = folder_with_subfolders(&cat, &latest(&cat), 2).documents;
    assert_eq!(
        again.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        documents.iter().map(|d| d.id.clone()).collect::<Vec<_>>()
    );
}
