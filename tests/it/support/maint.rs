//! Helpers for the verify / forget / prune tests: snapshots of known bytes written through the
//! repository API, read back whole (every blob verified), and repository totals.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use imvault::jobs::records::{STREAM_VERSIONS, VersionRecord};
use imvault::repo::verify::{ReadData, VerifyOptions, VerifyProgress, VerifyReport};
use imvault::repo::*;
use object_store::ObjectStore;

use crate::support::repo::TestVersion;

/// Writes one snapshot of `library` holding `datas` (one "version" each).
pub async fn snapshot_of(
    repo: &Repository<Indexed>,
    library: &str,
    datas: &[Vec<u8>],
    time: Option<chrono::DateTime<chrono::Utc>>,
) -> SnapshotId {
    finish_snapshot(
        repo.backup_session(SessionOptions::default()),
        library,
        datas,
        time,
    )
    .await
}

/// Adds `datas` to `session` and finishes it as a snapshot of `library`.
pub async fn finish_snapshot(
    session: BackupSession,
    library: &str,
    datas: &[Vec<u8>],
    time: Option<chrono::DateTime<chrono::Utc>>,
) -> SnapshotId {
    let mut versions = MetaStreamWriter::new(&session, "versions");
    for (i, d) in datas.iter().enumerate() {
        let c = session.add_bytes(Bytes::from(d.clone())).await.unwrap();
        versions
            .push(&TestVersion {
                doc: format!("d{i}"),
                version: 1,
                content: c,
            })
            .await
            .unwrap();
    }
    let meta = versions.finish().await.unwrap();
    let mut draft = SnapshotDraft {
        library: library.into(),
        time,
        ..Default::default()
    };
    draft.streams.insert("versions".into(), meta);
    session.finish(draft).await.unwrap()
}

/// The contents of a snapshot written by [`finish_snapshot`], in order, every blob verified.
pub async fn contents_of(repo: &Repository<Indexed>, id: &SnapshotId) -> Vec<Vec<u8>> {
    let s = repo.load_snapshot(id).await.unwrap();
    let meta = s.manifest.streams.get("versions").unwrap();
    let recs: Vec<TestVersion> = repo
        .read_meta_stream::<TestVersion>("versions", meta)
        .map(|r| r.unwrap())
        .collect()
        .await;
    let mut out = Vec::new();
    for r in recs {
        out.push(
            crate::support::repo::read_all(repo, &r.content)
                .await
                .unwrap(),
        );
    }
    out
}

/// Every version of every snapshot a backup job wrote: (snapshot, version id) → BLAKE3 of
/// the bytes read back (every blob verified on the way).
pub async fn backup_contents(
    repo: &Repository<Indexed>,
) -> BTreeMap<(SnapshotId, String), [u8; 32]> {
    let mut out = BTreeMap::new();
    for s in repo.list_snapshots(None).await.unwrap() {
        let meta = s.manifest.streams.get(STREAM_VERSIONS).unwrap();
        let mut recs =
            std::pin::pin!(repo.read_meta_stream::<VersionRecord>(STREAM_VERSIONS, meta));
        while let Some(r) = recs.next().await {
            let r = r.unwrap();
            let v = r.version().unwrap();
            let mut h = blake3::Hasher::new();
            let mut n = 0u64;
            let mut content = repo.read_content(&r.content);
            while let Some(c) = content.next().await {
                let c = c.unwrap_or_else(|e| {
                    panic!(
                        "{} of snapshot {}: {}",
                        v.id,
                        s.id,
                        imvault::repo::error_chain(&e)
                    )
                });
                n += c.len() as u64;
                h.update(&c);
            }
            assert_eq!(n, r.content.size, "{} size", v.id);
            out.insert((s.id, v.id.to_string()), *h.finalize().as_bytes());
        }
    }
    out
}

/// Opens the repository afresh (empty caches) and loads its index.
pub async fn fresh(store: &Arc<dyn ObjectStore>) -> Repository<Indexed> {
    crate::support::repo::open_indexed(store.clone()).await
}

/// A full verify (structure and every pack) of a fresh handle.
pub async fn verify_all(store: &Arc<dyn ObjectStore>) -> VerifyReport {
    fresh(store)
        .await
        .verify(
            &VerifyOptions {
                read_data: ReadData::All,
                ..Default::default()
            },
            &VerifyProgress::default(),
        )
        .await
        .unwrap()
}

/// Bytes of all pack objects.
pub async fn pack_bytes(store: &Arc<dyn ObjectStore>) -> u64 {
    use futures::TryStreamExt;
    store
        .list(Some(&object_store::path::Path::from("packs")))
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .iter()
        .map(|m| m.size)
        .sum()
}

/// Every pack file of a local repository, sorted.
pub fn pack_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for sub in std::fs::read_dir(dir.join("packs")).unwrap() {
        for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            out.push(f.unwrap().path());
        }
    }
    out.sort();
    out
}

/// A config file for repository-only commands (no [imanage] table).
pub fn repo_only_config(dir: &std::path::Path, repo: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("repo-only.toml");
    std::fs::write(
        &path,
        format!(
            "[repository]\nurl = \"file://{}\"\npassword = \"test repository password\"\n\n[catalog]\npath = \"{}\"\n",
            repo.display(),
            dir.join("state/catalog.db").display()
        ),
    )
    .unwrap();
    path
}

/// Runs the imvault binary with `args` against `config`; returns (exit code, stdout, stderr).
pub fn imvault(
    config: &std::path::Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_imvault"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env("IMVAULT_LOG", "warn");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run imvault");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
