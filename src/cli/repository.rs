//! Repository maintenance: `init`, `cat`, `verify`, `forget`, `prune`, `repair`.

use clap::{Args, Subcommand};

#[derive(Debug, Clone, Copy, Args)]
pub struct InitArgs {
    /// Store everything in the clear: anyone who can read the storage can read every document
    #[arg(long)]
    pub insecure_no_encryption: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CatKind {
    /// The repository's config object
    Config,
    /// A snapshot manifest
    Snapshot,
    /// An index object
    Index,
    /// A pack's header
    Pack,
    /// One blob's content (verified)
    Blob,
}

#[derive(Debug, Clone, Args)]
pub struct CatArgs {
    /// What to print
    #[arg(value_enum)]
    pub kind: CatKind,
    /// The object's id (a unique prefix of a snapshot id is enough); not for `config`
    pub id: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Also download packs and check every blob: all of them, or PERCENT of the packs, a
    /// different share each run (repeated runs cover every pack)
    #[arg(long, value_name = "PERCENT", num_args = 0..=1, require_equals = true, default_missing_value = "100", value_parser = read_data_percent)]
    pub read_data: Option<f64>,
    /// Only the snapshots of this library (and the packs they use)
    #[arg(long, short = 'l', value_name = "LIB")]
    pub library: Option<String>,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ForgetArgs {
    /// Keep the N newest snapshots
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the N newest days
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the N newest ISO weeks
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest months
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest years
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
    /// Keep every snapshot younger than DURATION (e.g. 30d, 2w, 1y6m, 12h)
    #[arg(long, value_name = "DURATION")]
    pub keep_within: Option<crate::repo::retention::KeepWithin>,
    /// Only this library
    #[arg(long, short = 'l', value_name = "LIB")]
    pub library: Option<String>,
    /// Show what would be forgotten, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Remove the repository's maintenance lock first, whoever holds it (only when that
    /// maintainer is known to be dead)
    #[arg(long)]
    pub force_unlock: bool,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Show what would be done, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Repack at most PERCENT of the repository's pack bytes in this run
    #[arg(long, value_name = "PERCENT", default_value_t = 100.0)]
    pub max_repack: f64,
    /// Delete packs marked unused only once their mark is this old (e.g. 24h, 2d); 0 deletes
    /// at once and is only safe when no backup is running
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub grace: String,
    /// Remove the repository's maintenance lock first, whoever holds it (only when that
    /// maintainer is known to be dead)
    #[arg(long)]
    pub force_unlock: bool,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RecoverArgs {
    /// The time to go back to, before the attack: RFC 3339 (2026-12-04T14:02:11Z) or
    /// `YYYY-MM-DD[ HH:MM[:SS]]` in the local time zone, in the storage's clock
    #[arg(long, value_name = "TIME")]
    pub as_of: String,
    /// Show what would be removed and brought back, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Remove the repository's maintenance lock first, whoever holds it (an attacker may have
    /// left one; only when no maintainer is running)
    #[arg(long)]
    pub force_unlock: bool,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RepairCommand {
    /// Write index objects for packs no index names, from their headers (after index loss)
    Index,
}

/// `--read-data=PERCENT`: 0 < PERCENT <= 100, refused before anything runs (or is recorded as
/// a job).
fn read_data_percent(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number (a percentage of the packs)"))?;
    match p > 0.0 && p <= 100.0 {
        true => Ok(p),
        false => Err(format!(
            "{s} is out of range: more than 0 and at most 100 (percent of the packs)"
        )),
    }
}
