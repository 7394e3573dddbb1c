//! `imvault restore`: what, as of when, where to.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AclArg {
    /// Re-apply the ACL the items had in the snapshot
    #[default]
    Keep,
    /// Leave the target's security as it is
    Inherit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IntoArg {
    /// Where the items were: new versions of existing documents, missing ones recreated
    Original,
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["document", "folder", "workspace", "library"])))]
#[command(group(clap::ArgGroup::new("dest").required(true).args(["to", "into", "into_folder"])))]
#[command(disable_version_flag = true)]
pub struct RestoreArgs {
    /// A document (all its versions, or --version)
    #[arg(long, value_name = "LIB!N")]
    pub document: Option<String>,
    /// Only this version of --document
    #[arg(long, requires = "document", value_name = "V")]
    pub version: Option<u32>,
    /// A folder or tab with everything under it
    #[arg(long, value_name = "LIB!N")]
    pub folder: Option<String>,
    /// A workspace with everything under it
    #[arg(long, value_name = "LIB!N")]
    pub workspace: Option<String>,
    /// A whole library
    #[arg(long, short = 'l', value_name = "LIB")]
    pub library: Option<String>,
    /// As of this time: RFC 3339 or `YYYY-MM-DD[ HH:MM]` (local time); default: the newest snapshot
    #[arg(long, conflicts_with = "snapshot", value_name = "TIME")]
    pub at: Option<String>,
    /// From this snapshot (id or unique prefix)
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<String>,
    /// Export into this directory (must be empty unless --merge)
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// With --to: add to a non-empty directory (existing files are never overwritten), or write
    /// into one that other users may write to or own
    #[arg(long, requires = "to")]
    pub merge: bool,
    /// Back into iManage where the items were
    #[arg(long, value_enum)]
    pub into: Option<IntoArg>,
    /// Into iManage, as new documents under this folder
    #[arg(long, value_name = "LIB!N")]
    pub into_folder: Option<String>,
    /// ACLs of restored items
    #[arg(long, value_enum, default_value_t = AclArg::Keep)]
    pub acl: AclArg,
    /// Show what would be restored; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print a JSON summary on stdout instead of progress bars and a table
    #[arg(long)]
    pub json: bool,
}
