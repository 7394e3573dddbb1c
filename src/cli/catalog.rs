//! Browsing what was backed up: `snapshots`, `ls`, `find`, `versions`, and `catalog sync|rebuild`.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Load the snapshots the catalog lacks (rebuilds when it cannot catch up)
    Sync,
    /// Empty the catalog and load every snapshot of the repository again
    Rebuild,
}

#[derive(Debug, Clone, Args)]
pub struct SnapshotsArgs {
    /// Only this library
    #[arg(long, short = 'l', value_name = "LIB")]
    pub library: Option<String>,
    /// Show one snapshot (its id or a unique prefix): state, counts and the items it skipped,
    /// with their reasons
    #[arg(long, value_name = "ID")]
    pub show: Option<String>,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// The library (needed when the catalog holds several and PATH is not an id)
    #[arg(long, short = 'l', value_name = "LIB")]
    pub library: Option<String>,
    /// As of this time: RFC 3339 or `YYYY-MM-DD[ HH:MM]` (local time)
    #[arg(long, conflicts_with = "snapshot", value_name = "TIME")]
    pub at: Option<String>,
    /// This snapshot (id or unique prefix)
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<String>,
    /// A container or document id (LIB!N), or a /-separated path of names; default: the top level
    pub path: Option<String>,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct FindArgs {
    /// Only this library (default: every library in the catalog)
    #[arg(long, short = 'l', value_name = "LIB")]
    pub library: Option<String>,
    /// Shell glob against the name or name.extension (case-insensitive for ASCII)
    #[arg(long, value_name = "GLOB")]
    pub name: Option<String>,
    /// The version's author (user id, case-insensitive)
    #[arg(long, value_name = "USER")]
    pub author: Option<String>,
    /// The workspace's client code (custom1)
    #[arg(long)]
    pub client: Option<String>,
    /// The workspace's matter code (custom2)
    #[arg(long)]
    pub matter: Option<String>,
    /// Edited after this time: RFC 3339 or `YYYY-MM-DD[ HH:MM]` (local time)
    #[arg(long, value_name = "TIME")]
    pub modified_after: Option<String>,
    /// At most this many versions
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct VersionsArgs {
    /// The document (LIB!N)
    #[arg(value_name = "DOC-ID")]
    pub document: String,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}
