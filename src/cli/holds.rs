//! Legal holds (`imvault hold`) and the audit trail (`imvault audit`).

use clap::{Args, Subcommand};

use super::JsonFlag;

#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Place a hold: what it covers is kept by forget and prune until it is released
    Add(HoldAddArgs),
    /// List every hold, active and released
    List(JsonFlag),
    /// Release a hold (recorded; the next prune frees what only it kept)
    Release(HoldReleaseArgs),
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["client", "document", "workspace"])))]
pub struct HoldAddArgs {
    /// Every document of the workspaces with this client code (custom1)
    #[arg(long, value_name = "C")]
    pub client: Option<String>,
    /// Only the workspaces with this matter code (custom2) too
    #[arg(long, value_name = "M", requires = "client")]
    pub matter: Option<String>,
    /// One document, every version (LIB!N)
    #[arg(long, value_name = "LIB!N")]
    pub document: Option<String>,
    /// Every document of one workspace (LIB!N)
    #[arg(long, value_name = "LIB!N")]
    pub workspace: Option<String>,
    /// Why (the matter, the litigation, the request): recorded with the hold
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Only this library (with --client)
    #[arg(long, short = 'l', value_name = "LIB", requires = "client")]
    pub library: Option<String>,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct HoldReleaseArgs {
    /// The hold's id (a unique prefix is enough; see `imvault hold list`)
    pub id: String,
    /// Why it is released: recorded with the release
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Only actions started at or after T (RFC 3339, or `YYYY-MM-DD[ HH:MM]` in the local time zone)
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Only actions started at or before T
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// Only this action (export, restore, forget, prune, recover, hold_add, hold_release,
    /// key_add, key_remove, key_passwd, init, config_reload, repair_index, cat, api_call)
    #[arg(long, value_name = "A")]
    pub action: Option<String>,
    /// Only this actor: an operating-system user, an API token's name, or `daemon`
    #[arg(long, value_name = "U")]
    pub actor: Option<String>,
    /// Print machine-readable JSON on stdout
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV (a header row, RFC 4180 quoting) for a spreadsheet
    #[arg(long)]
    pub csv: bool,
}
