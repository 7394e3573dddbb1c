//! `imvault stats`: how much the repository holds and how well it dedups and compresses.

use std::path::Path;

use super::runtime;
use super::{Exit, load_settings_offline};
use crate::app::repository::open_indexed;
use crate::cli::JsonFlag;

pub fn run(config: Option<&Path>, args: &JsonFlag) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    runtime()?.block_on(async {
        let repo = open_indexed(&settings.repository).await?;
        super::warn_if_unencrypted(&repo);
        let s = repo.stats().await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&s)?);
            return Ok(Exit::Success);
        }
        let mb = |b: u64| b as f64 / 1e6;
        println!("snapshots          {}", s.snapshots);
        println!(
            "logical bytes      {:.1} MB (content the kept snapshots' backups read)",
            mb(s.logical_bytes)
        );
        println!(
            "protected bytes    {:.1} MB (all versions of all kept snapshots)",
            mb(s.protected_bytes)
        );
        println!(
            "unique bytes       {:.1} MB (content the kept snapshots reference)",
            mb(s.unique_bytes)
        );
        println!("metadata bytes     {:.1} MB", mb(s.metadata_bytes));
        println!("stored blob bytes  {:.1} MB", mb(s.stored_blob_bytes));
        println!(
            "unreferenced bytes {:.1} MB (only forgotten snapshots used them; `prune` frees them)",
            mb(s.unreferenced_bytes)
        );
        println!(
            "pack objects       {} ({:.1} MB)",
            s.pack_objects,
            mb(s.pack_bytes)
        );
        println!(
            "dedup ratio        {:.2}x (protected bytes / unique bytes)",
            s.dedup_ratio
        );
        println!("compression ratio  {:.2}x", s.compression_ratio);
        println!("total ratio        {:.2}x", s.total_ratio);
        println!(
            "protected ratio    {:.2}x (protected bytes / pack bytes)",
            s.protected_ratio
        );
        Ok(Exit::Success)
    })
}
