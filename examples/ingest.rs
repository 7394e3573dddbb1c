//! Drives the repository engine on a directory, for `benches/compare_restic.sh`.
//!
//! ```text
//! cargo run --release --example ingest -- gen     <dir> <MiB>      # document-like corpus
//! cargo run --release --example ingest -- backup  <dir> <repo>     # one snapshot of <dir>
//! cargo run --release --example ingest -- restore <repo> <out>     # latest snapshot to <out>
//! ```
//! `backup` and `restore` print one JSON line of figures (bytes, seconds, MB/s, peak RSS).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use imvault::repo::*;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

#[derive(Serialize, Deserialize)]
struct FileRecord {
    path: String,
    content: ContentRef,
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

async fn backup(src: &Path, repo_dir: &Path) -> Result<()> {
    let store = open_backend(&BackendConfig::local(repo_dir))?;
    let opened = match Repository::open(
        store.clone(),
        Some(&imvault::repo::Credential::Password(
            imvault::secret::Secret::new("bench password"),
        )),
    )
    .await
    {
        Ok(r) => r,
        Err(RepoError::NotARepository { .. }) => {
            Repository::init(
                store,
                InitOptions::default(),
                Some(&imvault::repo::Credential::Password(
                    imvault::secret::Secret::new("bench password"),
                )),
            )
            .await?
        }
        Err(e) => return Err(e.into()),
    };
    let repo = opened.load_index().await?;
    let mut files = Vec::new();
    walk(src, &mut files)?;
    files.sort();
    let t0 = Instant::now();
    let session = repo.backup_session(SessionOptions::default());
    let results: Vec<(PathBuf, ContentRef)> = futures::stream::iter(files)
        .map(|p| {
            let session = &session;
            async move {
                let f = tokio::fs::File::open(&p)
                    .await
                    .with_context(|| format!("opening {}", p.display()))?;
                let c = session
                    .add_reader(f)
                    .await
                    .with_context(|| format!("storing {}", p.display()))?;
                anyhow::Ok((p, c))
            }
        })
        .buffered(4)
        .try_collect()
        .await?;
    let mut w = MetaStreamWriter::new(&session, "files");
    for (p, c) in &results {
        let rel = p
            .strip_prefix(src)
            .unwrap_or(p)
            .to_string_lossy()
            .to_string();
        w.push(&FileRecord {
            path: rel,
            content: c.clone(),
        })
        .await?;
    }
    let mut draft = SnapshotDraft {
        library: "bench".into(),
        ..Default::default()
    };
    draft.counts.insert("files".into(), results.len() as u64);
    draft.streams.insert("files".into(), w.finish().await?);
    let st = session.stats();
    let id = session.finish(draft).await?;
    let secs = t0.elapsed().as_secs_f64();
    let stats = repo.stats().await?;
    println!(
        "{}",
        serde_json::json!({
            "op": "backup", "snapshot": id.to_string(), "files": results.len(),
            "bytes": st.logical_bytes, "seconds": secs,
            "mb_per_s": st.logical_bytes as f64 / 1e6 / secs,
            "new_raw_bytes": st.new_raw_bytes, "new_stored_bytes": st.new_stored_bytes,
            "packs": st.packs_written, "repo_pack_bytes": stats.pack_bytes,
            "dedup_ratio": stats.dedup_ratio, "compression_ratio": stats.compression_ratio,
            "index_bytes_per_blob": repo.index().memory_bytes() as f64 / repo.index().len().max(1) as f64,
            "peak_rss_kib": peak_rss_kib(),
        })
    );
    Ok(())
}

async fn restore(repo_dir: &Path, out: &Path) -> Result<()> {
    let store = open_backend(&BackendConfig::local(repo_dir))?;
    let opened = Repository::open(
        store,
        Some(&imvault::repo::Credential::Password(
            imvault::secret::Secret::new("bench password"),
        )),
    )
    .await?;
    let Some(snap) = opened.latest_snapshot("bench", None).await? else {
        bail!("no snapshot of library `bench` in {}", repo_dir.display())
    };
    let repo = opened.load_index().await?;
    let t0 = Instant::now();
    let recs: Vec<FileRecord> = repo
        .read_meta_stream("files", &snap.manifest.streams["files"])
        .try_collect()
        .await?;
    let total: u64 = futures::stream::iter(recs)
        .map(|r| {
            let repo = &repo;
            async move {
                let dest = out.join(&r.path);
                if let Some(d) = dest.parent() {
                    tokio::fs::create_dir_all(d).await?;
                }
                let mut f = tokio::fs::File::create(&dest)
                    .await
                    .with_context(|| format!("creating {}", dest.display()))?;
                let mut s = repo.read_content(&r.content);
                while let Some(b) = s.try_next().await? {
                    f.write_all(&b).await?;
                }
                f.flush().await?;
                anyhow::Ok(r.content.size)
            }
        })
        .buffer_unordered(4)
        .try_fold(0u64, |a, b| async move { Ok(a + b) })
        .await?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "op": "restore", "bytes": total, "seconds": secs,
            "mb_per_s": total as f64 / 1e6 / secs, "peak_rss_kib": peak_rss_kib(),
        })
    );
    Ok(())
}

/// A document-like corpus: text documents with edited versions, PDF-like files with
/// incremental saves (appended sections), and already-compressed files (images, zips).
fn generate(dir: &Path, mib: u64) -> Result<()> {
    const WORDS: &[&str] = &[
        "the",
        "matter",
        "agreement",
        "party",
        "shall",
        "clause",
        "court",
        "hereby",
        "client",
        "counsel",
        "pursuant",
        "to",
        "section",
        "of",
        "and",
        "in",
        "witness",
        "whereof",
        "notice",
        "lease",
        "term",
        "payment",
        "liability",
        "indemnify",
        "schedule",
        "plaintiff",
        "defendant",
    ];
    let mut rng = fastrand::Rng::with_seed(42);
    let target = mib * 1024 * 1024;
    let mut written = 0u64;
    let mut n = 0u64;
    let text = |rng: &mut fastrand::Rng, len: usize| -> Vec<u8> {
        let mut s = String::with_capacity(len + 16);
        while s.len() < len {
            s.push_str(WORDS[rng.usize(..WORDS.len())]);
            s.push(if rng.u8(..) < 16 { '\n' } else { ' ' });
        }
        s.truncate(len);
        s.into_bytes()
    };
    let random = |rng: &mut fastrand::Rng, len: usize| -> Vec<u8> {
        let mut v = vec![0u8; len];
        rng.fill(&mut v);
        v
    };
    while written < target {
        n += 1;
        let sub = dir.join(format!("matter{:03}", n % 100));
        std::fs::create_dir_all(&sub)?;
        let kind = rng.u8(..100);
        let mut versions: Vec<Vec<u8>> = Vec::new();
        if kind < 85 {
            // Word-processor text, mostly small: 2 KiB .. 1.5 MiB, 1-4 versions with local edits.
            let len = if kind < 70 {
                rng.usize(2_048..200_000)
            } else {
                rng.usize(200_000..1_500_000)
            };
            let mut v = text(&mut rng, len);
            versions.push(v.clone());
            for _ in 0..rng.usize(0..4) {
                let at = rng.usize(..v.len().max(1));
                let l = rng.usize(50..5_000);
                let ins = text(&mut rng, l);
                v.splice(at..at, ins);
                versions.push(v.clone());
            }
        } else if kind < 95 {
            // PDF-like: mostly compressed streams plus some text; versions append.
            let len = rng.usize(500_000..12_000_000);
            let mut v = random(&mut rng, len * 3 / 4);
            v.extend(text(&mut rng, len / 4));
            versions.push(v.clone());
            for _ in 0..rng.usize(0..3) {
                let l = rng.usize(20_000..400_000);
                let extra = random(&mut rng, l);
                v.extend(extra);
                versions.push(v.clone());
            }
        } else {
            // Images / zips: incompressible, single version.
            let l = rng.usize(50_000..4_000_000);
            versions.push(random(&mut rng, l));
        }
        for (i, v) in versions.iter().enumerate() {
            std::fs::write(sub.join(format!("doc{n:06}.v{}", i + 1)), v)?;
            written += v.len() as u64;
        }
    }
    println!(
        "{}",
        serde_json::json!({"op": "gen", "bytes": written, "documents": n})
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") if args.len() == 4 => generate(Path::new(&args[2]), args[3].parse()?),
        Some("backup") if args.len() == 4 => backup(Path::new(&args[2]), Path::new(&args[3])).await,
        Some("restore") if args.len() == 4 => {
            restore(Path::new(&args[2]), Path::new(&args[3])).await
        }
        _ => bail!("usage: ingest gen <dir> <MiB> | backup <dir> <repo> | restore <repo> <out>"),
    }
}
