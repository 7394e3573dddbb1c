//! Shared helpers of the restore tests: a backed-up simulator, the catalog, and running a
//! restore through the library entry point or the real binary.

use std::process::{Command, Output};
use std::sync::Arc;

use imvault::catalog::{Catalog, ContainerRow, RestorePlanRows, SnapshotInfo};
use imvault::imanage::Client;
use imvault::imanage::model::{ContainerKind, LibraryId};
use imvault::jobs::JobState;
use imvault::jobs::backup::BackupRequest;
use imvault::jobs::progress::Counters;
use imvault::restore::{self, RestoreEnv, RestoreReport, RestoreRequest};
use tokio_util::sync::CancellationToken;

use crate::support::env::TestEnv;

pub const LIB: &str = "ACTIVE";

/// A tiny simulator, backed up once (every library completed).
pub async fn backed_up(seed: u64) -> TestEnv {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("imvault=warn")
        .with_test_writer()
        .try_init();
    let env = TestEnv::tiny(seed).await;
    backup(&env).await;
    env
}

pub async fn backup(env: &TestEnv) {
    for o in env.backup(&BackupRequest::default()).await {
        assert_eq!(o.state, JobState::Completed, "{o:?}");
    }
}

pub fn catalog(env: &TestEnv) -> Catalog {
    Catalog::open(env.dir.path().join("state/catalog.db")).expect("open catalog")
}

pub fn library() -> LibraryId {
    LIB.parse().unwrap()
}

pub fn latest(cat: &Catalog) -> SnapshotInfo {
    cat.latest_snapshot(&library())
        .unwrap()
        .expect("a snapshot of ACTIVE")
}

/// Every container of the library in a snapshot, breadth first.
pub fn all_containers(cat: &Catalog, snap: &SnapshotInfo) -> Vec<ContainerRow> {
    let mut out = Vec::new();
    let mut queue = cat.children(&snap.row.id, None).unwrap().containers;
    while let Some(c) = queue.pop() {
        if c.kind != ContainerKind::SearchFolder {
            queue.extend(cat.children(&snap.row.id, Some(&c.id)).unwrap().containers);
        }
        out.push(c);
    }
    out
}

/// A folder whose subtree holds at least one sub-folder and `min_docs` documents, the smallest
/// such (by versions) to keep tests quick.
pub fn folder_with_subfolders(
    cat: &Catalog,
    snap: &SnapshotInfo,
    min_docs: usize,
) -> RestorePlanRows {
    all_containers(cat, snap)
        .into_iter()
        .filter(|c| matches!(c.kind, ContainerKind::Folder | ContainerKind::Tab))
        .filter_map(|c| cat.subtree(&snap.row.id, &c.id).unwrap())
        .filter(|p| {
            p.containers
                .iter()
                .filter(|c| c.kind != ContainerKind::SearchFolder)
                .count()
                >= 2
                && p.documents.len() >= min_docs
        })
        .min_by_key(|p| p.documents.iter().map(|d| d.versions.len()).sum::<usize>())
        .expect("a folder with sub-folders and documents")
}

pub async fn run_restore(
    env: &TestEnv,
    req: &RestoreRequest,
    client: Option<Client>,
) -> Result<RestoreReport, restore::RestoreError> {
    run_restore_until(env, req, client, CancellationToken::new()).await
}

/// [`run_restore`], cancelled by `cancel`.
pub async fn run_restore_until(
    env: &TestEnv,
    req: &RestoreRequest,
    client: Option<Client>,
    cancel: CancellationToken,
) -> Result<RestoreReport, restore::RestoreError> {
    let ctx = RestoreEnv::new(
        env.repo().await,
        env.dir.path().join("state/catalog.db"),
        client,
    );
    restore::run(&ctx, req, Arc::new(Counters::default()), cancel).await
}

/// Runs the real binary with the test configuration.
pub fn cli(env: &TestEnv, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imvault"))
        .arg("--config")
        .arg(&env.config_path)
        .args(args)
        .env("IMVAULT_LOG", "warn")
        .output()
        .expect("run imvault")
}

/// Asserts the binary's exit code, showing its stderr when it differs.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn json_of(out: &Output) -> serde_json::Value {
    assert!(
        out.status.code().is_some(),
        "killed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); status {:?}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Every file under `dir`, relative, sorted.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}
