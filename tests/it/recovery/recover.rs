//! `imvault recover --as-of TIME` against moto's S3 server (versioning and delete markers): an
//! attacker holding the backup credentials overwrites some objects and deletes every other one;
//! backups and restores then fail; a dry run changes nothing; recover brings the repository
//! back as it was before the attack, leaves keys that are not imvault's alone, is audited, and
//! afterwards `verify --read-data` passes and a document restores byte for byte. A bucket
//! without versioning, and a local repository, are refused with nothing changed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures::TryStreamExt;
use imvault::jobs::JobState;
use imvault::jobs::backup::BackupRequest;
use imvault::repo::recover::{ObjectVersion, VersionedBucket};
use imvault::repo::{BackendConfig, RepoError, Repository, open_backend};
use imvault_sim::{Scale, SimOptions};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::Value;

use crate::support::env::{TestEnv, config_text, versions_of};
use crate::support::maint::{imvault, repo_only_config};
use crate::support::wait::wait_for;

/// The `[repository]` lines of a config for the test bucket `cfg`.
fn s3_repository_lines(cfg: &BackendConfig) -> String {
    format!(
        "url = \"{}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\nallow_http = true\naccess_key_id = \"testing\"\nsecret_access_key = \"testing\"",
        cfg.url,
        cfg.endpoint.as_deref().unwrap()
    )
}

/// A config file of `env` (its simulator and catalog) whose repository is the bucket `cfg`.
fn s3_config_file(env: &TestEnv, cfg: &BackendConfig) -> PathBuf {
    let text = config_text(env.dir.path(), env.addr).replace(
        &format!("url = \"file://{}\"", env.dir.path().join("repo").display()),
        &s3_repository_lines(cfg),
    );
    assert!(text.contains("s3://"), "{text}");
    let path = env.dir.path().join("s3.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every version and delete marker of the bucket, in a stable order.
async fn versions(bucket: &VersionedBucket) -> Vec<ObjectVersion> {
    let mut v = bucket.list().await.unwrap();
    v.sort_by(|a, b| (&a.key, &a.version_id).cmp(&(&b.key, &b.version_id)));
    v
}

async fn keys(store: &dyn ObjectStore) -> Vec<String> {
    let mut k: Vec<String> = store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    k.sort();
    k
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// The bytes each restored version file holds, by version id (`imvault-restore-items.jsonl`).
fn restored_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let items = std::fs::read_to_string(dir.join("imvault-restore-items.jsonl")).unwrap();
    items
        .lines()
        .map(|l| {
            let item = json(l);
            assert_eq!(item["status"], "restored", "{l}");
            let path = dir.join(item["path"].as_str().unwrap());
            (
                item["version"].as_str().unwrap().to_string(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_undoes_an_attackers_deletes_and_overwrites() {
    let Some(cfg) = crate::support::s3::s3_versioned_backend("vault").await else {
        return;
    };
    let store = open_backend(&cfg).unwrap();
    // A key that is not imvault's, there before the backup.
    let notes = Key::from("notes/readme.txt");
    store
        .put(&notes, PutPayload::from_static(b"ours, not imvault's"))
        .await
        .unwrap();
    let env = TestEnv::with_store(
        SimOptions {
            seed: 151,
            scale: Scale::Tiny,
            ..SimOptions::default()
        },
        store.clone(),
        imvault::repo::config::DEFAULT_ZSTD_LEVEL,
    )
    .await;
    for o in env.backup(&BackupRequest::default()).await {
        assert_eq!(o.state, JobState::Completed, "{o:?}");
    }
    let config = s3_config_file(&env, &cfg);
    let repo = env.repo().await;
    let snapshots = repo.list_snapshots(None).await.unwrap();
    let snap = snapshots.last().unwrap().clone();
    let before = versions_of(&repo, &snap).await;
    let document = before.keys().next().unwrap().document.to_string();
    drop(repo);
    let stored = keys(store.as_ref()).await;

    // The attack starts in a later second than TIME (S3 times are to the second).
    let as_of = Utc::now();
    wait_for(
        "the storage clock's next second",
        Duration::from_secs(5),
        || Utc::now().timestamp() > as_of.timestamp(),
    )
    .await;
    // The attacker (backup credentials: PUT, GET, LIST and DELETE of object versions' current
    // state) overwrites the config, a snapshot and a pack, and deletes everything else.
    let snapshot_key = format!("snapshots/{}", snap.id);
    let pack_key = stored
        .iter()
        .find(|k| k.starts_with("packs/"))
        .unwrap()
        .clone();
    let overwritten = ["config".to_string(), snapshot_key.clone(), pack_key.clone()];
    for k in &stored {
        let key = Key::from(k.as_str());
        if overwritten.contains(k) {
            store
                .put(&key, PutPayload::from_static(b"encrypted by ransomware"))
                .await
                .unwrap();
        } else {
            store.delete(&key).await.unwrap();
        }
    }
    let note = Key::from("ransom-note.txt");
    store
        .put(&note, PutPayload::from_static(b"pay us"))
        .await
        .unwrap();
    // Backups and restores fail now.
    let Err(e) = Repository::open(store.clone(), crate::support::repo::key()).await else {
        panic!("the attacked repository opens");
    };
    assert!(
        matches!(
            e,
            RepoError::Authentication { .. } | RepoError::KeySlot { .. }
        ),
        "{e}"
    );
    let (code, _, err) = imvault(&config, &["verify"], &[]);
    assert_ne!(code, 0, "verify of the attacked repository: {err}");

    let bucket = VersionedBucket::open(&imvault::app::repository::backend_config(
        &imvault::config::Settings::load_offline(&config, &imvault::config::Env::default())
            .unwrap()
            .repository,
    ))
    .await
    .unwrap();
    let as_of_arg = as_of.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);

    // A dry run says what it would do and changes nothing.
    let attacked = versions(&bucket).await;
    let (code, out, err) = imvault(
        &config,
        &["recover", "--as-of", &as_of_arg, "--dry-run", "--json"],
        &[],
    );
    assert_eq!(code, 0, "recover --dry-run: {out}\n{err}");
    let dry = json(&out);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        versions(&bucket).await,
        attacked,
        "a dry run changes nothing"
    );
    let deleted = (stored.len() - overwritten.len()) as u64;
    assert_eq!(dry["totals"]["markers_removed"], deleted - 1, "{dry:#}"); // notes: left alone
    assert_eq!(dry["totals"]["versions_removed"], 3, "{dry:#}");
    assert_eq!(dry["kinds"]["config"]["versions_removed"], 1, "{dry:#}");
    assert_eq!(dry["kinds"]["snapshot"]["versions_removed"], 1, "{dry:#}");
    assert_eq!(dry["kinds"]["pack"]["versions_removed"], 1, "{dry:#}");
    assert_eq!(dry["keys_left_alone"], 2, "{dry:#}");

    // Recover.
    let (code, out, err) = imvault(&config, &["recover", "--as-of", &as_of_arg, "--json"], &[]);
    assert_eq!(code, 0, "recover: {out}\n{err}");
    let report = json(&out);
    assert_eq!(report["dry_run"], false);
    assert_eq!(
        report["totals"], dry["totals"],
        "the dry run's figures are the run's"
    );
    assert_eq!(
        report["totals"]["keys_restored"],
        stored.len() as u64 - 1,
        "every key of the repository is back: {report:#}"
    );
    assert_eq!(report["catalog_rebuilt"], true, "{report:#}");
    let mut left: Vec<&str> = report["left_alone"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["notes/readme.txt", "ransom-note.txt"]);
    // Keys that are not imvault's are as the attacker left them.
    assert_eq!(
        store.get(&note).await.unwrap().bytes().await.unwrap(),
        Bytes::from_static(b"pay us")
    );
    assert!(matches!(
        store.get(&notes).await,
        Err(object_store::Error::NotFound { .. })
    ));
    // Every key imvault wrote is current again (plus recover's audit records).
    let now = keys(store.as_ref()).await;
    for k in &stored {
        if k != "notes/readme.txt" {
            assert!(now.contains(k), "{k} is back");
        }
    }

    let (code, out, err) = imvault(&config, &["verify", "--read-data"], &[]);
    assert_eq!(code, 0, "verify --read-data after recover: {out}\n{err}");
    let repo = env.repo().await;
    assert_eq!(
        versions_of(&repo, &repo.load_snapshot(&snap.id).await.unwrap()).await,
        before,
        "every version of the overwritten snapshot reads back byte for byte"
    );
    let to = env.dir.path().join("export");
    let (code, out, err) = imvault(
        &config,
        &[
            "restore",
            "--document",
            &document,
            "--to",
            to.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "restore after recover: {out}\n{err}");
    let files = restored_files(&to);
    assert!(!files.is_empty());
    for (version, bytes) in files {
        let id: imvault::imanage::model::VersionId = version.parse().unwrap();
        assert!(bytes == before[&id], "{version} restores byte for byte");
    }

    // Recover is in the audit trail with its figures.
    let (code, out, err) = imvault(&config, &["audit", "--action", "recover", "--json"], &[]);
    assert_eq!(code, 0, "audit: {err}");
    let entries = json(&out);
    let entries = entries.as_array().unwrap();
    assert_eq!(
        entries.len(),
        1,
        "one recover (the dry run is not recorded): {entries:#?}"
    );
    let e = &entries[0];
    assert_eq!(e["outcome"], "ok", "{e:#}");
    assert_eq!(
        e["figures"]["keys_restored"], report["totals"]["keys_restored"],
        "{e:#}"
    );
    assert_eq!(e["figures"]["keys_left_alone"], 2, "{e:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_refuses_a_bucket_without_versioning_and_a_local_repository() {
    let Some(cfg) = crate::support::s3::s3_backend("plain").await else {
        return;
    };
    let store = open_backend(&cfg).unwrap();
    Repository::init(
        store.clone(),
        crate::support::repo::init_options(),
        crate::support::repo::key(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("s3.toml");
    std::fs::write(
        &config,
        format!(
            "[repository]\n{}\npassword = \"{}\"\n\n[catalog]\npath = \"{}\"\n",
            s3_repository_lines(&cfg),
            crate::support::repo::TEST_PASSWORD,
            dir.path().join("state/catalog.db").display()
        ),
    )
    .unwrap();
    let before = keys(store.as_ref()).await;
    let (code, out, err) = imvault(
        &config,
        &["recover", "--as-of", "2026-01-01T00:00:00Z"],
        &[],
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("has no versioning"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(keys(store.as_ref()).await, before);

    let local = repo_only_config(dir.path(), &dir.path().join("repo"));
    let (code, _, err) = imvault(&local, &["init"], &[]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = imvault(
        &local,
        &["recover", "--as-of", "2026-01-01", "--dry-run"],
        &[],
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("keeps no earlier versions"), "{err}");
}

/// Versions an attacker locked (the backup role may set retention): they cannot be deleted, so
/// recover copies the version of TIME over a locked overwrite and adds a delete marker over a
/// locked key created after TIME; the repository reads back as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_goes_around_versions_under_object_lock() {
    use aws_sdk_s3::primitives::{ByteStream, DateTime as SdkTime};
    use aws_sdk_s3::types::ObjectLockMode;
    use imvault::repo::recover::{self, LockedFallback};
    let Some(cfg) = crate::support::s3::s3_locked_backend("vault").await else {
        return;
    };
    let store = open_backend(&cfg).unwrap();
    let repo =
        crate::support::repo::init_indexed(store.clone(), crate::support::repo::small_init()).await;
    let datas: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 70_000 + usize::from(i)]).collect();
    let snap = crate::support::maint::snapshot_of(&repo, "ACTIVE", &datas, None).await;
    drop(repo);
    let stored = keys(store.as_ref()).await;
    let as_of = Utc::now();
    wait_for(
        "the storage clock's next second",
        Duration::from_secs(5),
        || Utc::now().timestamp() > as_of.timestamp(),
    )
    .await;

    // The attacker overwrites the snapshot and a pack, and plants a snapshot, each locked in
    // compliance mode for a year.
    let s3 = imvault::repo::s3_native::S3Native::from_config(&cfg)
        .unwrap()
        .unwrap();
    let pack = stored.iter().find(|k| k.starts_with("packs/")).unwrap();
    let planted = format!("snapshots/{}", "ab".repeat(32));
    let snapshot_key = format!("snapshots/{snap}");
    for k in [&snapshot_key, pack, &planted] {
        s3.client()
            .put_object()
            .bucket(s3.bucket())
            .key(s3.key_of(&Key::from(k.as_str())))
            .body(ByteStream::from_static(b"locked by ransomware"))
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(SdkTime::from_secs(
                (Utc::now() + chrono::Duration::days(365)).timestamp(),
            ))
            .send()
            .await
            .expect("a locked PUT");
    }
    assert!(
        Repository::open(store.clone(), crate::support::repo::key())
            .await
            .unwrap()
            .load_snapshot(&snap)
            .await
            .is_err(),
        "the overwritten snapshot does not open"
    );

    let bucket = VersionedBucket::open(&cfg).await.unwrap();
    let listing = bucket.list().await.unwrap();
    let plan = recover::plan::plan(listing, as_of);
    let report = recover::execute(&bucket, &plan, as_of).await.unwrap();
    let locked: Vec<(String, LockedFallback)> = report
        .locked
        .iter()
        .map(|l| (l.key.clone(), l.done))
        .collect();
    let mut want = vec![
        (pack.clone(), LockedFallback::CopiedBack),
        (planted.clone(), LockedFallback::MarkerAdded),
        (snapshot_key.clone(), LockedFallback::CopiedBack),
    ];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(locked, want, "{report:#?}");
    assert_eq!(
        report.totals.versions_removed, 0,
        "nothing locked is counted as removed: {report:#?}"
    );
    assert_eq!(
        keys(store.as_ref()).await,
        stored,
        "the planted snapshot is hidden"
    );
    let report = crate::support::maint::verify_all(&store).await;
    assert!(report.is_ok(), "{:?}", report.problems);
    let repo = crate::support::maint::fresh(&store).await;
    assert_eq!(
        crate::support::maint::contents_of(&repo, &snap).await,
        datas,
        "the snapshot reads back byte for byte"
    );
}
