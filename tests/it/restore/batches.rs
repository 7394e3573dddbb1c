//! The restore read and write path (restore throughput): batches of documents gathered into
//! windows whose blobs are read once, pack by pack, and written at their offsets into the
//! versions' temporary files, several windows in flight, each made durable with one sync before its
//! files get their final names.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use imvault::catalog::VersionRow;
use imvault::jobs::JobState;
use imvault::jobs::backup::BackupRequest;
use imvault::jobs::progress::Counters;
use imvault::repo::{ContentRef, SessionOptions};
use imvault::restore::export::{ITEMS, MANIFEST};
use imvault::restore::{self, RestoreEnv, RestoreRequest};
use tokio_util::sync::CancellationToken;

use crate::support::env::TestEnv;
use crate::support::restore::*;

fn content(v: &VersionRow) -> ContentRef {
    serde_json::from_value(v.content.clone()).unwrap()
}

/// A library export from a repository of many small packs, cut into many small batches: every
/// version comes back byte for byte; then with one content pack gone, exactly the versions with
/// a blob in it fail (naming the pack), every other version is still restored, and no temporary
/// file is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_packs_many_batches_byte_identical_and_a_lost_pack_fails_only_its_versions() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("imvault=warn")
        .with_test_writer()
        .try_init();
    let env = TestEnv::tiny(71).await;
    backup_in_small_packs(&env).await;
    let cat = catalog(&env);
    let snap = latest(&cat);
    let mut versions: Vec<VersionRow> = Vec::new();
    for ws in cat.children(&snap.row.id, None).unwrap().containers {
        for d in cat
            .subtree(&snap.row.id, &ws.id)
            .unwrap()
            .unwrap()
            .documents
        {
            versions.extend(d.versions);
        }
    }
    let repo = env.repo().await;
    // Which versions use which content pack.
    let mut users: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for v in &versions {
        for b in content(v).blobs {
            let loc = repo.index().get(&b).expect("indexed blob");
            users
                .entry(loc.pack.to_hex())
                .or_default()
                .insert(v.id.to_string());
        }
    }
    assert!(
        users.len() >= 4,
        "the content spans several packs: {}",
        users.len()
    );
    let total_bytes: u64 = versions.iter().map(|v| v.size).sum();
    let all: BTreeSet<String> = versions.iter().map(|v| v.id.to_string()).collect();

    let restore_to = |dir: std::path::PathBuf| {
        let env = &env;
        async move {
            let mut ctx = RestoreEnv::new(
                env.repo().await,
                env.dir.path().join("state/catalog.db"),
                None,
            );
            // Many batches, each a few documents, gathered into several windows (two in
            // flight), each window's blobs read pack by pack.
            ctx.batch_bytes = (total_bytes / 12).max(1);
            ctx.window_bytes = (total_bytes / 3).max(1);
            restore::run(
                &ctx,
                &RestoreRequest {
                    library: Some(library()),
                    to: Some(dir),
                    ..Default::default()
                },
                Arc::new(Counters::default()),
                CancellationToken::new(),
            )
            .await
            .expect("the restore runs to the end")
        }
    };

    // 1. Everything, byte for byte.
    let out1 = env.dir.path().join("export1");
    let report = restore_to(out1.clone()).await;
    assert_eq!(report.state, JobState::Completed, "{report:#?}");
    let restored: BTreeSet<String> = report.items.iter().map(|i| i.version.clone()).collect();
    assert_eq!(restored, all);
    for i in &report.items {
        let v: imvault::imanage::model::VersionId = i.version.parse().unwrap();
        assert!(
            std::fs::read(&i.restored_as).unwrap() == env.sim.version_bytes(&v).unwrap(),
            "{v} differs"
        );
    }
    assert!(out1.join(MANIFEST).is_file());

    // 2. A content pack used by some versions but not all is lost.
    let (victim, expected_failed) = users
        .iter()
        .filter(|(_, u)| u.len() < all.len())
        .max_by_key(|(_, u)| u.len())
        .map(|(p, u)| (p.clone(), u.clone()))
        .expect("a pack not used by every version");
    std::fs::remove_file(
        env.dir
            .path()
            .join("repo/packs")
            .join(&victim[..2])
            .join(&victim),
    )
    .unwrap();
    let out2 = env.dir.path().join("export2");
    let report = restore_to(out2.clone()).await;
    assert_eq!(report.state, JobState::CompletedWithWarnings);
    let failed: BTreeSet<String> = report.failures.iter().map(|f| f.object.clone()).collect();
    // Only versions using the lost pack fail. One of them may still be restored: two
    // concurrent writers can store the same new blob in two packs (seen under load), and the
    // index then prefers the copy in a pack that exists; such a version is checked byte for
    // byte below like every restored one.
    assert!(!failed.is_empty(), "the lost pack fails its versions");
    assert!(
        failed.is_subset(&expected_failed),
        "{failed:?} not all among the pack's users {expected_failed:?}"
    );
    for f in &report.failures {
        assert!(f.error.contains(&victim), "the error names the pack: {f:?}");
    }
    assert_eq!(report.versions as usize, all.len() - failed.len());
    for i in &report.items {
        let v: imvault::imanage::model::VersionId = i.version.parse().unwrap();
        assert!(!failed.contains(&i.version));
        assert!(
            std::fs::read(&i.restored_as).unwrap() == env.sim.version_bytes(&v).unwrap(),
            "{v} differs"
        );
    }
    let files = files_under(&out2);
    assert!(
        !files
            .iter()
            .any(|f| f.to_string_lossy().contains("imvault-tmp")),
        "a temporary file was left: {files:?}"
    );
    for v in &failed {
        let v: imvault::imanage::model::VersionId = v.parse().unwrap();
        let marker = format!("(doc {} v {})", v.document.number, v.version);
        assert!(
            !files.iter().any(|f| f.to_string_lossy().contains(&marker)),
            "{v} was written despite its lost pack"
        );
    }
    let items = std::fs::read_to_string(out2.join(ITEMS)).unwrap();
    assert_eq!(
        items.lines().filter(|l| l.contains("\"failed\"")).count(),
        failed.len()
    );
}

/// A library export from a store read by requests (here in memory, as S3 serves it): each
/// pack is read from the store once, whole, however many windows want blobs of it, once the
/// library's content reaches `whole_packs_from` (whatever its number of workspaces); below
/// that, by ranges. Every version comes back byte for byte and nothing of the local copies is
/// left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_from_a_store_of_requests_reads_each_pack_once() {
    use crate::support::repo::FaultyStore;
    // Several workspaces in ACTIVE: a library restore of several units.
    let mut env = TestEnv::new(imvault_sim::SimOptions {
        seed: 72,
        scale: imvault_sim::Scale::Versions(600),
        ..imvault_sim::SimOptions::default()
    })
    .await;
    let faulty = FaultyStore::new(Arc::new(object_store::memory::InMemory::new()));
    env.store = faulty.clone();
    imvault::repo::Repository::init(
        env.store.clone(),
        crate::support::repo::init_options(),
        crate::support::repo::key(),
    )
    .await
    .expect("init repository");
    backup_in_small_packs(&env).await;
    let scratch = env.dir.path().join("state/tmp-restore");
    std::fs::create_dir_all(&scratch).unwrap();
    let mut ctx = RestoreEnv::new(
        env.repo().await.with_scratch_dir(&scratch),
        env.dir.path().join("state/catalog.db"),
        None,
    );
    // Small windows: each pack is wanted by several of them.
    ctx.batch_bytes = 64 * 1024;
    ctx.window_bytes = 128 * 1024;
    // By ranges: several windows read the same packs.
    ctx.whole_packs_from = u64::MAX;
    let (ranged, content) = export_counting_packs(&env, &ctx, &faulty, "export-ranged").await;
    assert!(
        ranged.values().any(|n| *n > 1),
        "windows share packs: {ranged:?}"
    );
    // The library is restored as several units (one per workspace), the first far smaller
    // than the library: the library's size decides, not the first unit's.
    let workspaces = std::fs::read_dir(env.dir.path().join("export-ranged"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
        .count();
    assert!(workspaces >= 2, "several units: {workspaces}");
    // One byte more than the library holds: by ranges.
    ctx.whole_packs_from = content + 1;
    let (below, _) = export_counting_packs(&env, &ctx, &faulty, "export-below").await;
    assert!(
        below.values().any(|n| *n > 1),
        "below the threshold the packs are read by ranges: {below:?}"
    );
    // Exactly what the library holds: whole packs, each once.
    ctx.whole_packs_from = content;
    let (packs, _) = export_counting_packs(&env, &ctx, &faulty, "export").await;
    assert!(
        packs.len() >= 4,
        "the content spans several packs: {packs:?}"
    );
    assert!(
        packs.values().all(|n| *n == 1),
        "each pack read from the store once: {packs:?}"
    );
    assert!(
        std::fs::read_dir(&scratch).unwrap().next().is_none(),
        "the local copies have no name"
    );
}

/// Exports the library into `to` (under the test's directory), checks every version byte for
/// byte, and counts the GETs of each pack the export made; also returns the bytes of the
/// distinct versions exported (the simulator's sizes).
async fn export_counting_packs(
    env: &TestEnv,
    ctx: &RestoreEnv,
    faulty: &crate::support::repo::FaultyStore,
    to: &str,
) -> (BTreeMap<String, usize>, u64) {
    faulty.reset_counts();
    let report = restore::run(
        ctx,
        &RestoreRequest {
            library: Some(library()),
            to: Some(env.dir.path().join(to)),
            ..Default::default()
        },
        Arc::new(Counters::default()),
        CancellationToken::new(),
    )
    .await
    .expect("the restore runs to the end");
    assert_eq!(report.state, JobState::Completed, "{report:#?}");
    assert!(report.versions >= 20, "{}", report.versions);
    let mut sizes = BTreeMap::new();
    for i in &report.items {
        let v: imvault::imanage::model::VersionId = i.version.parse().unwrap();
        let want = env.sim.version_bytes(&v).unwrap();
        assert!(
            std::fs::read(&i.restored_as).unwrap() == want,
            "{v} differs"
        );
        sizes.insert(i.version.clone(), want.len() as u64);
    }
    let mut packs: BTreeMap<String, usize> = BTreeMap::new();
    for k in faulty.get_log().iter().filter(|k| k.starts_with("packs/")) {
        *packs.entry(k.clone()).or_default() += 1;
    }
    (packs, sizes.values().sum())
}

/// Backs up every library of `env` into packs of ~48 KiB (many packs), cataloguing as it goes.
async fn backup_in_small_packs(env: &TestEnv) {
    let session = SessionOptions {
        pack_size: Some(48 * 1024),
        ..SessionOptions::default()
    };
    for o in env.backup_with(&BackupRequest::default(), session).await {
        assert_eq!(o.state, JobState::Completed, "{o:?}");
    }
}

/// A library export of several workspaces (units) whose batches flow through one pipeline:
/// every version and every document's sidecar (placed after a later batch's sync) is there,
/// each sidecar lists its versions as restored, every directory has its container sidecar, no
/// temporary file is left; a merge into the same directory then overwrites no file (neither a
/// version nor a sidecar) and says the sidecars exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecars_follow_their_files_across_workspaces_and_a_merge_overwrites_nothing() {
    // Big enough for ACTIVE to hold several workspaces (one restore unit each).
    let env = TestEnv::new(imvault_sim::SimOptions {
        seed: 72,
        scale: imvault_sim::Scale::Versions(600),
        ..imvault_sim::SimOptions::default()
    })
    .await;
    backup(&env).await;
    let cat = catalog(&env);
    let snap = latest(&cat);
    let workspaces = cat.children(&snap.row.id, None).unwrap().containers;
    assert!(workspaces.len() >= 2, "several units: {}", workspaces.len());
    let mut docs = Vec::new();
    for ws in &workspaces {
        docs.extend(
            cat.subtree(&snap.row.id, &ws.id)
                .unwrap()
                .unwrap()
                .documents,
        );
    }
    let total_bytes: u64 = docs
        .iter()
        .flat_map(|d| d.versions.iter())
        .map(|v| v.size)
        .sum();
    let total_versions: usize = docs.iter().map(|d| d.versions.len()).sum();
    let out = env.dir.path().join("export");
    let restore = |merge: bool| {
        let (env, out) = (&env, out.clone());
        async move {
            let mut ctx = RestoreEnv::new(
                env.repo().await,
                env.dir.path().join("state/catalog.db"),
                None,
            );
            ctx.batch_bytes = (total_bytes / 20).max(1);
            ctx.window_bytes = (total_bytes / 4).max(1);
            restore::run(
                &ctx,
                &RestoreRequest {
                    library: Some(library()),
                    to: Some(out),
                    merge,
                    ..Default::default()
                },
                Arc::new(Counters::default()),
                CancellationToken::new(),
            )
            .await
            .expect("the restore runs to the end")
        }
    };
    let report = restore(false).await;
    assert_eq!(report.state, JobState::Completed, "{report:#?}");
    assert_eq!(report.versions as usize, total_versions);
    let files = files_under(&out);
    assert!(
        !files
            .iter()
            .any(|f| f.to_string_lossy().contains("imvault-tmp")),
        "a temporary file was left: {files:?}"
    );
    // Each document's sidecar sits next to its versions and lists them all as restored.
    let by_version: BTreeMap<String, std::path::PathBuf> = report
        .items
        .iter()
        .map(|i| (i.version.clone(), std::path::PathBuf::from(&i.restored_as)))
        .collect();
    assert_eq!(by_version.len(), total_versions, "every item is listed");
    let mut sidecars = Vec::new();
    for d in &docs {
        let latest = d.versions.last().unwrap();
        let first = &by_version[&d.versions[0].id.to_string()];
        let sidecar = first
            .parent()
            .unwrap()
            .join(imvault::restore::names::sidecar_file(
                &latest.name,
                d.id.number,
            ));
        let json: serde_json::Value = serde_json::from_slice(
            &std::fs::read(&sidecar).unwrap_or_else(|e| panic!("{}: {e}", sidecar.display())),
        )
        .unwrap();
        assert_eq!(json["document"], d.id.to_string());
        let listed = json["versions"].as_array().unwrap();
        assert_eq!(listed.len(), d.versions.len());
        assert!(listed.iter().all(|v| v["status"] == "restored"), "{json:#}");
        sidecars.push(sidecar);
    }
    // Every directory holds its container sidecar.
    let mut dirs = BTreeSet::new();
    for f in &files {
        let mut p = f.parent();
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(d.to_path_buf());
            p = d.parent();
        }
    }
    for d in &dirs {
        assert!(
            out.join(d)
                .join(imvault::restore::export::CONTAINER_SIDECAR)
                .is_file(),
            "{} has no container sidecar",
            d.display()
        );
    }

    // A merge: nothing overwritten, the sidecars reported as existing.
    std::fs::write(&sidecars[0], b"operator's own sidecar").unwrap();
    let version_file = by_version.values().next().unwrap().clone();
    std::fs::write(&version_file, b"operator's own edit").unwrap();
    let report = restore(true).await;
    assert_eq!(report.versions, 0, "{report:#?}");
    assert_eq!(report.unchanged as usize, total_versions);
    assert_eq!(
        std::fs::read(&sidecars[0]).unwrap(),
        b"operator's own sidecar"
    );
    assert_eq!(
        std::fs::read(&version_file).unwrap(),
        b"operator's own edit"
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("sidecar") && n.contains("exists, not overwritten")),
        "{:?}",
        report.notes
    );
    let after = files_under(&out);
    assert!(
        !after
            .iter()
            .any(|f| f.to_string_lossy().contains("imvault-tmp")),
        "a temporary file was left: {after:?}"
    );
    let merge_sidecars = |files: &[std::path::PathBuf]| {
        files
            .iter()
            .filter(|f| f.to_string_lossy().contains(".imvault-"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(merge_sidecars(&after), Vec::<std::path::PathBuf>::new());

    // A merge that adds a version of a document whose sidecar is there writes its own sidecar
    // beside it (the earlier one untouched), listing what it restored.
    let d = &docs[0];
    let gone = d.versions.last().unwrap().id.to_string();
    std::fs::remove_file(&by_version[&gone]).unwrap();
    let report = restore(true).await;
    assert_eq!(report.versions, 1, "{report:#?}");
    assert_eq!(
        std::fs::read(&sidecars[0]).unwrap(),
        b"operator's own sidecar"
    );
    let added = merge_sidecars(&files_under(&out));
    assert_eq!(added.len(), 1, "{added:?}");
    let added = out.join(&added[0]);
    assert_eq!(added.parent(), sidecars[0].parent());
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&added).unwrap()).unwrap();
    assert_eq!(json["document"], d.id.to_string());
    let listed = json["versions"].as_array().unwrap();
    assert_eq!(listed.len(), d.versions.len());
    let restored: Vec<&serde_json::Value> = listed
        .iter()
        .filter(|v| v["status"] == "restored")
        .collect();
    assert_eq!(restored.len(), 1, "{json:#}");
    assert_eq!(
        restored[0]["version"].as_u64(),
        Some(u64::from(d.versions.last().unwrap().id.version)),
        "{json:#}"
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("this restore's is") && n.contains(".imvault-")),
        "{:?}",
        report.notes
    );
}

/// Every file below `dir` by its path below it, with its bytes (the restore's own manifest and
/// item list, which carry times, left out).
fn files_below(dir: &std::path::Path) -> BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if !p
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("imvault-restore")
            {
                let bytes = std::fs::read(&p).unwrap();
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    out
}

/// Issue 21: a restore whose process may open only a few files (soft and hard limit 48: a
/// window's temporary files do not fit) still restores every version: the versions whose file
/// could not be created for want of a descriptor are streamed on their own after their window,
/// and the tree is the one a restore without the limit writes, byte for byte.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_versions_are_streamed_alone_and_all_restored() {
    use std::os::unix::process::CommandExt as _;
    let env = crate::support::restore::backed_up(173).await;
    let lib = crate::support::restore::library().to_string();
    let free = env.dir.path().join("free");
    let tight = env.dir.path().join("tight");
    let out = crate::support::restore::cli(
        &env,
        &["restore", "--library", &lib, "--to", free.to_str().unwrap()],
    );
    crate::support::restore::assert_exit(&out, 0);

    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_imvault"));
    cmd.arg("--config")
        .arg(&env.config_path)
        .args([
            "restore",
            "--library",
            &lib,
            "--to",
            tight.to_str().unwrap(),
        ])
        .env("IMVAULT_LOG", "imvault::restore=debug");
    // SAFETY: only setrlimit (async-signal-safe) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let rl = libc::rlimit {
                rlim_cur: 48,
                rlim_max: 48,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    crate::support::restore::assert_exit(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("out of file descriptors: versions streamed on their own"),
        "the limit left some versions without a descriptor: {stderr}"
    );
    let (want, got) = (files_below(&free), files_below(&tight));
    assert!(want.len() > 100, "{} files", want.len());
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &want {
        assert!(got[path] == *bytes, "{} differs", path.display());
    }
}

/// A blob several windows of one restore read (a template many documents share) is read from
/// the store by the first two windows that want it and kept by the second: later windows take
/// it from there, verified, without a request, while their other blobs are still read from the
/// store; a blob only one window wants is not kept. From a local repository (ranges are
/// memory maps of its pack files, not requests) nothing is kept: every window reads it. Read
/// whole (a large restore from a store of requests), each pack is read from the store once:
/// the template's by the first window, and nothing again by a last window wanting them all.
#[tokio::test]
async fn a_blob_many_windows_want_is_read_from_the_store_at_most_twice() {
    let memory = || -> Arc<dyn object_store::ObjectStore> {
        Arc::new(object_store::memory::InMemory::new())
    };
    assert_eq!(
        template_reads(memory(), false).await,
        ([true, true, false, false, false, false].to_vec(), 6),
        "by requests: read by the first two windows"
    );
    assert_eq!(
        template_reads(memory(), true).await,
        ([true, false, false, false, false, false].to_vec(), 0),
        "whole packs: each read once"
    );
    let dir = tempfile::tempdir().unwrap();
    let local =
        imvault::repo::open_backend(&imvault::repo::BackendConfig::local(dir.path())).unwrap();
    assert_eq!(
        template_reads(local, true).await,
        ([true; 6].to_vec(), 6),
        "from local pack files: read by every window"
    );
}

/// Six windows of one restore from `store` each want a shared template and a blob of their
/// own (see the test above): whether each window read the template from the store, and how
/// many of the six documents' packs a last window wanting all six blobs read from the store.
/// `whole`: the restore's source reads whole packs ([`Source::whole_packs`]).
async fn template_reads(
    store: Arc<dyn object_store::ObjectStore>,
    whole: bool,
) -> (Vec<bool>, usize) {
    use crate::support::repo::{FaultyStore, init_indexed, open_indexed, random_bytes, small_init};
    use imvault::repo::{BlobId, SnapshotDraft};
    use std::sync::Mutex;

    let repo = init_indexed(store.clone(), small_init()).await;
    // Packs of one blob each (they are cut once they pass a kilobyte).
    let session = repo.backup_session(SessionOptions {
        pack_size: Some(1024),
        ..SessionOptions::default()
    });
    // One small blob each (the chunker's minimum is 4 KiB): the template and one per document.
    let template = bytes::Bytes::from(random_bytes(3_000, 1));
    let docs: Vec<bytes::Bytes> = (0..6)
        .map(|i| bytes::Bytes::from(random_bytes(3_000, 10 + i)))
        .collect();
    let t = session.add_bytes(template.clone()).await.unwrap().blobs;
    assert_eq!(t.len(), 1);
    let mut own: Vec<BlobId> = Vec::new();
    for d in &docs {
        let b = session.add_bytes(d.clone()).await.unwrap().blobs;
        assert_eq!(b.len(), 1);
        own.push(b[0]);
    }
    session
        .finish(SnapshotDraft {
            library: "L".into(),
            summary: serde_json::Value::Null,
            ..Default::default()
        })
        .await
        .unwrap();
    let lookup = open_indexed(store.clone()).await;
    let pack_of = |b: &BlobId| lookup.index().get(b).expect("indexed").pack.to_hex();
    let template_pack = pack_of(&t[0]);
    let faulty = FaultyStore::new(store);
    let repo = open_indexed(faulty.clone()).await;
    let source = match whole {
        true => imvault::restore::source::Source::whole_packs(repo, None),
        false => imvault::restore::source::Source::new(repo),
    };

    // Six windows, each wanting the template and its document's own blob.
    let mut template_read = Vec::new();
    for (w, d) in own.iter().enumerate() {
        let got: Arc<Mutex<Vec<(BlobId, bytes::Bytes)>>> = Arc::default();
        let sink = {
            let got = got.clone();
            Arc::new(move |id: BlobId, b: Result<bytes::Bytes, String>| {
                got.lock().unwrap().push((id, b.expect("verified")));
            })
        };
        faulty.reset_counts();
        let unread = source.read_each(vec![t[0], *d], sink).await;
        assert!(unread.is_empty(), "{unread:?}");
        let mut got = std::mem::take(&mut *got.lock().unwrap());
        got.sort_by_key(|(id, _)| *id != t[0]);
        assert_eq!(got.len(), 2, "window {w}");
        assert_eq!((got[0].0, &got[0].1), (t[0], &template), "window {w}");
        assert_eq!((got[1].0, &got[1].1), (*d, &docs[w]), "window {w}");
        let own_pack = pack_of(d);
        assert_ne!(own_pack, template_pack);
        let gets = faulty.get_log();
        assert_eq!(
            gets.iter().filter(|k| k.contains(&own_pack)).count(),
            1,
            "window {w}: its own blob is read from the store: {gets:?}"
        );
        template_read.push(gets.iter().any(|k| k.contains(&template_pack)));
    }
    // The documents' own blobs were each wanted once: a new window wanting them all reads
    // them from the store again, unless their packs were read whole.
    faulty.reset_counts();
    let sink = Arc::new(|_: BlobId, b: Result<bytes::Bytes, String>| {
        b.expect("verified");
    });
    assert!(source.read_each(own.clone(), sink).await.is_empty());
    let gets = faulty.get_log();
    let again = own
        .iter()
        .filter(|d| gets.iter().any(|k| k.contains(&pack_of(d))))
        .count();
    (template_read, again)
}
