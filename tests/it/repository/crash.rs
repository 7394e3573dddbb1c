//! Crash safety and bad input, named after the MUST rules of docs/FORMAT.md.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use imvault::repo::*;
use object_store::ObjectStore;
use object_store::memory::InMemory;

use crate::support::repo::*;

async fn backup(
    repo: &Repository<Indexed>,
    library: &str,
    datas: &[Vec<u8>],
) -> Result<SnapshotId, RepoError> {
    let session = repo.backup_session(SessionOptions::default());
    let mut versions = MetaStreamWriter::new(&session, "versions");
    for (i, d) in datas.iter().enumerate() {
        let c = session.add_bytes(Bytes::from(d.clone())).await?;
        versions
            .push(&TestVersion {
                doc: format!("d{i}"),
                version: 1,
                content: c,
            })
            .await?;
    }
    let mut draft = SnapshotDraft {
        library: library.into(),
        ..Default::default()
    };
    draft
        .streams
        .insert("versions".into(), versions.finish().await?);
    session.finish(draft).await
}

fn datas(seed: u64, n: usize) -> Vec<Vec<u8>> {
    (0..n as u64)
        .map(|i| {
            if i % 2 == 0 {
                text_bytes(150_000, seed + i)
            } else {
                random_bytes(120_000, seed + i)
            }
        })
        .collect()
}

async fn faulty_repo() -> (Arc<FaultyStore>, Repository<Indexed>) {
    let faulty = FaultyStore::new(Arc::new(InMemory::new()));
    let store: Arc<dyn ObjectStore> = faulty.clone();
    let repo = crate::support::repo::init_indexed(store, crate::support::repo::small_init()).await;
    (faulty, repo)
}

/// MUST: packs, then the index naming them, then the snapshot manifest, last.
#[tokio::test]
async fn snapshot_is_written_last() {
    let (faulty, repo) = faulty_repo().await;
    backup(&repo, "L", &datas(1, 6)).await.unwrap();
    let log = faulty.put_log();
    let pos = |k: &str| log.iter().position(|x| x == k).unwrap();
    let last = log.last().unwrap();
    assert!(last.starts_with("snapshots/"), "last write was {last}");
    assert_eq!(
        log.iter().filter(|k| k.starts_with("snapshots/")).count(),
        1
    );
    // MUST: an index only names packs that were stored before it.
    for idx in repo.list_index_ids().await.unwrap() {
        let ipos = pos(&format!("index/{idx}"));
        for (p, _) in repo.cat_index(&idx).await.unwrap().packs {
            let key = format!("packs/{}/{}", &p.to_hex()[..2], p.to_hex());
            assert!(
                pos(&key) < ipos,
                "pack {p} written after the index naming it"
            );
        }
    }
    assert!(log.iter().filter(|k| k.starts_with("packs/")).count() > 2);
}

/// MUST: a crash after packs but before their index leaves a valid repository (at worst
/// unreferenced packs); no snapshot points to missing data.
#[tokio::test]
async fn crash_between_pack_and_index_leaves_valid_repo() {
    let (faulty, repo) = faulty_repo().await;
    backup(&repo, "L", &datas(1, 3)).await.unwrap();
    faulty.fail_puts_under("index/");
    let err = backup(&repo, "L", &datas(100, 4)).await.unwrap_err();
    assert!(imvault::repo::error_chain(&err).contains("index/"), "{err}");
    faulty.heal();
    let store: Arc<dyn ObjectStore> = faulty.clone();
    let repo2 = assert_consistent(store).await;
    assert_eq!(repo2.list_snapshots(None).await.unwrap().len(), 1);
    let indexed: std::collections::HashSet<PackId> = {
        let mut s = std::collections::HashSet::new();
        for i in repo2.list_index_ids().await.unwrap() {
            s.extend(
                repo2
                    .cat_index(&i)
                    .await
                    .unwrap()
                    .packs
                    .into_iter()
                    .map(|(p, _)| p),
            );
        }
        s
    };
    let all = repo2.list_pack_ids().await.unwrap();
    assert!(
        all.len() > indexed.len(),
        "the failed run left unreferenced packs only"
    );
    // A new run stores the data again and succeeds.
    backup(&repo2, "L", &datas(100, 4)).await.unwrap();
    let store: Arc<dyn ObjectStore> = faulty.clone();
    let repo3 = assert_consistent(store).await;
    assert_eq!(repo3.list_snapshots(None).await.unwrap().len(), 2);
}

/// MUST: a crash after the index but before the snapshot leaves a valid repository; the
/// next run re-uses the indexed blobs without uploading them again.
#[tokio::test]
async fn crash_between_index_and_snapshot_leaves_valid_repo() {
    let (faulty, repo) = faulty_repo().await;
    faulty.fail_puts_under("snapshots/");
    let d = datas(7, 5);
    let err = backup(&repo, "L", &d).await.unwrap_err();
    assert!(
        imvault::repo::error_chain(&err).contains("snapshots/"),
        "{err}"
    );
    faulty.heal();
    let store: Arc<dyn ObjectStore> = faulty.clone();
    let repo2 = assert_consistent(store).await;
    assert!(repo2.list_snapshots(None).await.unwrap().is_empty());
    let packs_before = faulty.packs_put();
    backup(&repo2, "L", &d).await.unwrap();
    assert_eq!(
        faulty.packs_put(),
        packs_before,
        "resumed run uploaded packs again"
    );
    let store: Arc<dyn ObjectStore> = faulty.clone();
    assert_eq!(
        assert_consistent(store)
            .await
            .list_snapshots(None)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// A checkpoint makes the work so far durable: a killed backup resumes without re-uploading,
/// and its resume record is listed (not as a snapshot).
#[tokio::test]
async fn checkpoint_lets_a_killed_backup_resume_without_reupload() {
    let (faulty, repo) = faulty_repo().await;
    let d = datas(3, 8);
    let session = repo.backup_session(SessionOptions::default());
    for x in &d[..4] {
        session.add_bytes(Bytes::from(x.clone())).await.unwrap();
    }
    let info = session
        .checkpoint(Some(("LIB 1", serde_json::json!({"done": 4}))))
        .await
        .unwrap();
    assert!(info.index.id.is_some());
    let first_half: u64 = d[..4].iter().map(|x| x.len() as u64).sum();
    drop(session); // killed
    let store: Arc<dyn ObjectStore> = faulty.clone();
    let reopened = assert_consistent(store).await;
    let cps = reopened.checkpoints("LIB 1").await.unwrap();
    assert_eq!(cps.len(), 1);
    assert_eq!(cps[0].record["done"], 4);
    assert!(reopened.list_snapshots(None).await.unwrap().is_empty());
    let session = reopened.backup_session(SessionOptions::default());
    for x in &d {
        session.add_bytes(Bytes::from(x.clone())).await.unwrap();
    }
    let st = session.stats();
    let total: u64 = d.iter().map(|x| x.len() as u64).sum();
    assert_eq!(
        st.new_raw_bytes,
        total - first_half,
        "checkpointed content stored again"
    );
}

/// A failed pack upload fails the session; later writes are refused; the repository stays valid.
#[tokio::test]
async fn failed_pack_upload_fails_the_session() {
    let (faulty, repo) = faulty_repo().await;
    faulty.fail_packs_after(1);
    let err = backup(&repo, "L", &datas(5, 10)).await.unwrap_err();
    assert!(
        imvault::repo::error_chain(&err).contains("packs/"),
        "{}",
        imvault::repo::error_chain(&err)
    );
    let session = repo.backup_session(SessionOptions::default());
    faulty.heal();
    drop(session);
    let store: Arc<dyn ObjectStore> = faulty.clone();
    let r = assert_consistent(store).await;
    assert!(r.list_snapshots(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn failed_session_refuses_further_writes() {
    let (faulty, repo) = faulty_repo().await;
    faulty.fail_puts_under("packs/");
    let session = repo.backup_session(SessionOptions::default());
    let mut failed = None;
    for d in datas(9, 12) {
        if let Err(e) = session.add_bytes(Bytes::from(d)).await {
            failed = Some(e);
            break;
        }
    }
    let first = match failed {
        Some(e) => e,
        None => session.checkpoint(None).await.unwrap_err(),
    };
    assert!(imvault::repo::error_chain(&first).contains("packs/"));
    let again = session
        .add_bytes(Bytes::from_static(b"more"))
        .await
        .unwrap_err();
    assert!(matches!(again, RepoError::SessionFailed { .. }), "{again}");
}

async fn local_repo_with_data() -> (
    tempfile::TempDir,
    Arc<dyn ObjectStore>,
    Vec<Vec<u8>>,
    SnapshotId,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_backend(&BackendConfig::local(dir.path())).unwrap();
    let repo =
        crate::support::repo::init_indexed(store.clone(), crate::support::repo::small_init()).await;
    let d = datas(21, 4);
    let id = backup(&repo, "L", &d).await.unwrap();
    (dir, store, d, id)
}

fn pack_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for sub in std::fs::read_dir(dir.join("packs")).unwrap() {
        for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            out.push(f.unwrap().path());
        }
    }
    out.sort();
    out
}

async fn read_everything(
    repo: &Repository<Indexed>,
    id: &SnapshotId,
) -> Result<Vec<Vec<u8>>, RepoError> {
    let s = repo.load_snapshot(id).await?;
    let recs: Vec<TestVersion> = repo
        .read_meta_stream("versions", &s.manifest.streams["versions"])
        .try_collect()
        .await?;
    let mut out = Vec::new();
    for r in recs {
        out.push(read_all(repo, &r.content).await?);
    }
    Ok(out)
}

/// MUST: every blob read back is checked against its id; a flipped byte names pack and blob.
#[tokio::test]
async fn flipped_byte_in_pack_is_detected_on_read() {
    let (dir, store, d, id) = local_repo_with_data().await;
    let repo = crate::support::repo::open_indexed(store.clone()).await;
    assert_eq!(read_everything(&repo, &id).await.unwrap(), d);
    let mut caught = 0;
    for f in pack_files(dir.path()) {
        let orig = std::fs::read(&f).unwrap();
        let mut bad = orig.clone();
        bad[10] ^= 0x40;
        std::fs::write(&f, &bad).unwrap();
        // A fresh handle: its cache of verified blobs is empty.
        let repo = crate::support::repo::open_indexed(store.clone()).await;
        let err = read_everything(&repo, &id).await.unwrap_err();
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        let msg = imvault::repo::error_chain(&err);
        assert!(
            msg.contains(&name),
            "error does not name pack {name}: {msg}"
        );
        assert!(
            matches!(
                err,
                RepoError::BlobMismatch { .. }
                    | RepoError::Decompress { .. }
                    | RepoError::Authentication { .. }
            ),
            "{msg}"
        );
        let pid: PackId = name.parse().unwrap();
        let report = repo.check(true).await.unwrap();
        assert!(
            !report.is_ok() && report.problems.iter().any(|p| p.contains(&name)),
            "{report:?}"
        );
        let verr = repo.verify_pack(&pid).await.unwrap_err();
        assert!(verr.to_string().contains(&name), "{verr}");
        // Nothing is repaired: the damaged bytes are still there.
        assert_eq!(std::fs::read(&f).unwrap(), bad);
        std::fs::write(&f, &orig).unwrap();
        caught += 1;
    }
    assert!(caught >= 2);
    let report = repo.check(true).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert!(
        report.packs_read >= 2 && report.blobs_referenced >= 4,
        "{report:?}"
    );
    assert_eq!(read_everything(&repo, &id).await.unwrap(), d);
}

#[tokio::test]
async fn truncated_pack_is_detected() {
    let (dir, store, _d, id) = local_repo_with_data().await;
    let repo = crate::support::repo::open_indexed(store.clone()).await;
    let f = pack_files(dir.path()).into_iter().next().unwrap();
    let name = f.file_name().unwrap().to_str().unwrap().to_string();
    let len = std::fs::metadata(&f).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&f).unwrap();
    file.set_len(len / 2).unwrap();
    let err = read_everything(&repo, &id).await.unwrap_err();
    let msg = imvault::repo::error_chain(&err);
    assert!(msg.contains(&name), "{msg}");
    let err = repo.cat_pack(&name.parse().unwrap()).await.unwrap_err();
    assert!(err.to_string().contains(&name), "{err}");
    assert_eq!(
        std::fs::metadata(&f).unwrap().len(),
        len / 2,
        "nothing repaired"
    );
}

#[tokio::test]
async fn missing_index_gives_clear_error_and_rebuilds_from_packs() {
    let (dir, store, _d, id) = local_repo_with_data().await;
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let repo = crate::support::repo::open_indexed(store.clone()).await;
    assert!(repo.index().is_empty());
    let err = read_everything(&repo, &id).await.unwrap_err();
    assert!(matches!(err, RepoError::BlobNotFound { .. }), "{err}");
    let report = repo.check(false).await.unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains(&format!("snapshots/{id}"))),
        "{report:?}"
    );
    assert!(err.to_string().contains("not in the index"));
    // The packs describe themselves: the index is rebuilt from their headers alone.
    let report = repo.rebuild_index().await.unwrap();
    assert!(
        report.packs_added >= 2 && report.packs_added == report.packs_scanned,
        "{report:?}"
    );
    let repo = crate::support::repo::open_indexed(store).await;
    assert_eq!(read_everything(&repo, &id).await.unwrap(), _d);
    assert_eq!(repo.rebuild_index().await.unwrap().packs_added, 0);
}

#[tokio::test]
async fn corrupt_index_and_snapshot_are_named() {
    let (dir, store, _d, id) = local_repo_with_data().await;
    let idx = std::fs::read_dir(dir.path().join("index"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut b = std::fs::read(&idx).unwrap();
    let n = b.len();
    b[n - 1] ^= 1;
    std::fs::write(&idx, &b).unwrap();
    let err = Repository::open(store.clone(), crate::support::repo::key())
        .await
        .unwrap()
        .load_index()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(idx.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
    let snap = dir.path().join("snapshots").join(id.to_string());
    std::fs::write(&snap, b"{ not json").unwrap();
    let err = Repository::open(store, crate::support::repo::key())
        .await
        .unwrap()
        .list_snapshots(None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!("snapshots/{id}")),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_format_version_is_refused() {
    let (dir, store, _d, _id) = local_repo_with_data().await;
    let cfg_path = dir.path().join("config");
    // The config is sealed: a future release's config is written with the repository's key.
    let repo = Repository::open(store.clone(), crate::support::repo::key())
        .await
        .unwrap();
    let label = imvault::repo::ObjectKind::Config.label();
    let plain = repo
        .crypto()
        .open(label, Bytes::from(std::fs::read(&cfg_path).unwrap()))
        .unwrap();
    let mut cfg: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    cfg["format_version"] = 99.into();
    let sealed = repo
        .crypto()
        .seal(label, Bytes::from(serde_json::to_vec(&cfg).unwrap()))
        .unwrap();
    let bytes = sealed.to_vec();
    std::fs::write(&cfg_path, &bytes).unwrap();
    let err = Repository::open(store.clone(), crate::support::repo::key())
        .await
        .unwrap_err();
    assert!(
        matches!(err, RepoError::UnsupportedFormat { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("`config`"), "{err}");
    // init refuses too, and nothing was rewritten.
    let err = Repository::init(store, small_init(), crate::support::repo::key())
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::AlreadyInitialized { .. }), "{err}");
    assert_eq!(std::fs::read(&cfg_path).unwrap(), bytes);
}

#[tokio::test]
async fn open_without_repository_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_backend(&BackendConfig::local(dir.path())).unwrap();
    let err = Repository::open(store, crate::support::repo::key())
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::NotARepository { .. }), "{err}");
    assert!(err.to_string().contains("config"));
}

#[tokio::test]
async fn s3_missing_bucket_is_named() {
    // Make sure a server is up (skips loudly when none).
    if crate::support::s3::s3_backend("x").await.is_none() {
        return;
    }
    let ep = crate::support::s3::s3_endpoint().unwrap();
    let cfg = crate::support::s3::s3_config(&ep, "imvault-no-such-bucket", "p");
    let store = open_backend(&cfg).unwrap();
    let err = Repository::open(store.clone(), crate::support::repo::key())
        .await
        .unwrap_err();
    let msg = imvault::repo::error_chain(&err);
    println!("open on a missing bucket: {msg}");
    assert!(matches!(err, RepoError::Unreachable { .. }), "{msg}");
    assert!(
        msg.contains("imvault-no-such-bucket") || msg.contains("NoSuchBucket"),
        "{msg}"
    );
    let err = Repository::init(store, small_init(), crate::support::repo::key())
        .await
        .unwrap_err();
    let msg = imvault::repo::error_chain(&err);
    assert!(
        msg.contains("config") && msg.contains("NoSuchBucket"),
        "{msg}"
    );
}

/// A server that refuses every request as S3 does for bad credentials.
#[tokio::test]
async fn s3_wrong_credentials_are_named() {
    use axum::http::StatusCode;
    let app = axum::Router::new().fallback(|| async {
        (
            StatusCode::FORBIDDEN,
            "<?xml version=\"1.0\"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>",
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut cfg = crate::support::s3::s3_config(&format!("http://{addr}"), "bucket", "p");
    cfg.secret_access_key = Some(imvault::secret::Secret::new("wr0ng-secret"));
    let store = open_backend(&cfg).unwrap();
    let err = Repository::open(store, crate::support::repo::key())
        .await
        .unwrap_err();
    let msg = imvault::repo::error_chain(&err);
    assert!(msg.contains("config"), "{msg}");
    println!("open with wrong credentials: {msg}");
    assert!(
        msg.contains("InvalidAccessKeyId") || msg.contains("403"),
        "{msg}"
    );
    assert!(!msg.contains("wr0ng-secret") && !format!("{err:?}").contains("wr0ng-secret"));
}

/// Index memory per blob, as a figure (printed) with a bound: the loaded entries live in a
/// table on disk, memory holds one id per 4 KiB block and the pack ids (FORMAT.md §7).
#[tokio::test]
async fn index_memory_per_blob() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let opened = Repository::init(
        store.clone(),
        crate::support::repo::init_options(),
        crate::support::repo::key(),
    )
    .await
    .unwrap();
    // Index objects written by hand (their plaintext; sealed as the format says) from the layout in docs/FORMAT.md.
    let n_packs = 200u32;
    let per_pack = 500u32;
    let mut rng = fastrand::Rng::with_seed(1);
    for chunk in 0..4u32 {
        let mut body = Vec::new();
        body.extend_from_slice(&(n_packs / 4).to_le_bytes());
        for _ in 0..n_packs / 4 {
            let mut pid = [0u8; 32];
            rng.fill(&mut pid);
            body.extend_from_slice(&pid);
            body.extend_from_slice(&per_pack.to_le_bytes());
            for j in 0..per_pack {
                let mut bid = [0u8; 32];
                rng.fill(&mut bid);
                body.extend_from_slice(&bid);
                body.push(0);
                body.push(1);
                body.extend_from_slice(&(j * 1000).to_le_bytes());
                body.extend_from_slice(&1000u32.to_le_bytes());
                body.extend_from_slice(&2000u32.to_le_bytes());
            }
        }
        let mut obj = b"IMVIDX01".to_vec();
        obj.extend_from_slice(&zstd::bulk::compress(&body, 1).unwrap());
        let _ = chunk;
        opened
            .objects()
            .put(imvault::repo::ObjectKind::Index, None, Bytes::from(obj))
            .await
            .unwrap();
    }
    let repo = crate::support::repo::open_indexed(store).await;
    let blobs = repo.index().len();
    assert_eq!(blobs, (n_packs * per_pack) as usize);
    let per_blob = repo.index().memory_bytes() as f64 / blobs as f64;
    println!("index memory: {per_blob:.1} bytes per blob ({blobs} blobs)");
    assert!(per_blob < 2.0, "{per_blob}");
    let t = repo.index().totals().unwrap();
    assert_eq!(t.raw_bytes, 2000 * blobs as u64);
}
