//! `imvault backup` and `imvault check`: which libraries, how to enumerate them.

use clap::Args;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum StrategyArg {
    /// The sync crawl when the account is a system account, else the tree walk
    #[default]
    Auto,
    /// Paged listings, folder by folder
    Tree,
    /// The bulk sync crawl endpoints (system accounts)
    Crawl,
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Back up only this library (repeatable); default: every configured library
    #[arg(long = "library", short = 'l', value_name = "LIB")]
    pub library: Vec<String>,
    /// Download every version again instead of only new or changed ones
    #[arg(long)]
    pub full: bool,
    /// How to enumerate a library
    #[arg(long, value_enum, default_value_t = StrategyArg::Auto)]
    pub strategy: StrategyArg,
    /// Make progress durable (packs, index, resume record) this often, in seconds (0.05 to
    /// 86400; a checkpoint also comes after every 256 MiB downloaded)
    #[arg(long, default_value_t = 60.0, value_name = "SECS", value_parser = checkpoint_secs)]
    pub checkpoint_secs: f64,
    /// List every version this run, not only what changed since the last snapshot (unchanged
    /// versions are still not downloaded again); see `[backup] full_listing_every_days`
    #[arg(long)]
    pub full_listing: bool,
    /// Print a JSON summary on stdout instead of progress bars and a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Only this library (repeatable)
    #[arg(long = "library", short = 'l', value_name = "LIB")]
    pub library: Vec<String>,
    /// How to enumerate a library
    #[arg(long, value_enum, default_value_t = StrategyArg::Auto)]
    pub strategy: StrategyArg,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

/// `--checkpoint-secs`: a number of seconds from 0.05 to 86400.
fn checkpoint_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if (0.05..=86_400.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be 0.05 to 86400, got {s}"))
    }
}
