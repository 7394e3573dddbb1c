//! `imvault snapshots`: list snapshots, oldest first; `--show ID`: one snapshot, with the
//! items it skipped and why.

use std::path::Path;

use futures::StreamExt;

use super::runtime;
use super::{Exit, load_settings_offline};
use crate::app::repository::{open_indexed, open_repo};
use crate::cli::SnapshotsArgs;
use crate::jobs::backup::SKIPPED_SHOWN_MAX;
use crate::jobs::records::{STREAM_SKIPPED, SkippedRecord};
use crate::repo::Snapshot;

pub fn run(config: Option<&Path>, args: &SnapshotsArgs) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    if let Some(id) = &args.show {
        return runtime()?.block_on(show(&settings, id, args.json));
    }
    runtime()?.block_on(async {
        let repo = open_repo(&settings.repository).await?;
        let snaps = match &args.library {
            None => repo.list_snapshots(None).await?,
            Some(wanted) => {
                let all = repo.list_snapshots(None).await?;
                let library =
                    super::known_library(wanted, all.iter().map(|s| s.manifest.library.clone()))?;
                all.into_iter()
                    .filter(|s| s.manifest.library == library)
                    .collect()
            }
        };
        if args.json {
            println!("{}", serde_json::to_string_pretty(&snaps)?);
        } else {
            print_table(&snaps);
        }
        Ok(Exit::Success)
    })
}

pub fn print_table(snaps: &[Snapshot]) {
    println!(
        "{:<16} {:<20} {:<12} {:>9} {:>10} {:>12}  state",
        "id", "time (UTC)", "library", "versions", "new", "size"
    );
    for s in snaps {
        let m = &s.manifest;
        let count = |k: &str| m.counts.get(k).copied().unwrap_or(0);
        let state = m
            .summary
            .get("state")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        println!(
            "{:<16} {:<20} {:<12} {:>9} {:>10} {:>9.1} MB  {state}",
            s.id.short(),
            m.time.format("%Y-%m-%d %H:%M:%S"),
            m.library,
            count("versions"),
            count("versions_downloaded"),
            count("bytes") as f64 / 1e6,
        );
    }
    println!("{} snapshots", snaps.len());
}

/// What `--show` prints: the snapshot and the first skipped items, read from its `skipped`
/// stream (snapshots older than the summary's `skipped_items` have them only there).
#[derive(serde::Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    snapshot: &'a Snapshot,
    /// How many items the run skipped.
    skipped: u64,
    /// The first of them, with what was being done and why.
    skipped_shown: &'a [SkippedRecord],
}

async fn show(settings: &crate::config::Settings, text: &str, json: bool) -> anyhow::Result<Exit> {
    let id = super::cat::resolve_snapshot(&open_repo(&settings.repository).await?, text).await?;
    let repo = open_indexed(&settings.repository).await?;
    let snap = repo.load_snapshot(&id).await?;
    let m = &snap.manifest;
    let mut shown = Vec::new();
    let mut skipped = 0u64;
    if let Some(meta) = m.streams.get(STREAM_SKIPPED) {
        let mut records =
            std::pin::pin!(repo.read_meta_stream::<SkippedRecord>(STREAM_SKIPPED, meta));
        while let Some(r) = records.next().await {
            let r = r.map_err(|e| {
                anyhow::anyhow!(
                    "reading the skipped items of snapshot {id}: {}",
                    crate::repo::error_chain(&e)
                )
            })?;
            skipped += 1;
            if shown.len() < SKIPPED_SHOWN_MAX {
                shown.push(r);
            }
        }
    }
    if json {
        let out = Shown {
            snapshot: &snap,
            skipped,
            skipped_shown: &shown,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(Exit::Success);
    }
    let state = m
        .summary
        .get("state")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    println!("snapshot  {id}");
    println!("time      {} UTC", m.time.format("%Y-%m-%d %H:%M:%S"));
    println!("library   {}", m.library);
    println!("host      {}", m.host);
    if !state.is_empty() {
        println!("state     {state}");
    }
    if let Some(p) = &m.parent {
        println!("parent    {p}");
    }
    for (k, v) in &m.counts {
        println!("  {k:<20} {v}");
    }
    if skipped == 0 {
        println!("nothing skipped");
    } else {
        println!("skipped {skipped} item(s):");
        for r in &shown {
            println!("  {}  {}: {}", r.object, r.action, r.reason);
        }
        if skipped > shown.len() as u64 {
            println!(
                "  … and {} more (the snapshot's `skipped` stream has them all)",
                skipped - shown.len() as u64
            );
        }
    }
    Ok(Exit::Success)
}
