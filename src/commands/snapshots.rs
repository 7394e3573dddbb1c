//! `imvault snapshots`: list snapshots, oldest first.

use std::path::Path;

use super::runtime;
use super::{Exit, load_settings_offline};
use crate::app::repository::open_repo;
use crate::cli::SnapshotsArgs;
use crate::repo::Snapshot;

pub fn run(config: Option<&Path>, args: &SnapshotsArgs) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
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
