//! Raw command-line arguments (clap types only). Resolution into settings lives in `config`,
//! the work of each command in `commands/`.

use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use imvault_sim::{Scale, SimOptions, UserType};

use crate::logging::LogFormat;

/// The help heading of the options every command takes, listed apart from its own.
pub const GLOBAL: &str = "Global options";

#[derive(Debug, Parser)]
#[command(
    name = "imvault",
    version,
    about = "Backup data mover for iManage Work document libraries",
    propagate_version = true
)]
pub struct Cli {
    /// Configuration file [default: /etc/imvault/imvault.toml]
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "IMVAULT_CONFIG",
        value_name = "FILE",
        help_heading = GLOBAL
    )]
    pub config: Option<PathBuf>,
    /// Log format on stderr (text on a terminal, json for journald)
    #[arg(long, global = true, value_enum, help_heading = GLOBAL)]
    pub log_format: Option<LogFormatArg>,
    /// More log output (-v info, -vv debug, -vvv trace); IMVAULT_LOG overrides
    #[arg(short, long, global = true, action = ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormatArg {
    /// Human-readable lines (default on a terminal).
    Text,
    /// One JSON object per line (for the daemon and journald).
    Json,
}

impl From<LogFormatArg> for LogFormat {
    fn from(f: LogFormatArg) -> Self {
        match f {
            LogFormatArg::Text => Self::Text,
            LogFormatArg::Json => Self::Json,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The main job on the embedded default: simulator + local repository, full and incremental backup
    Demo(DemoArgs),
    /// Run the iManage simulator (for tests, benchmarks and trying imvault out)
    Sim(SimArgs),
    /// Sign in, list libraries and count what each holds (walks without downloading)
    Check(CheckArgs),
    /// Back up every configured library now (incremental unless --full)
    Backup(BackupArgs),
    /// Create the repository named in the configuration, encrypted with the configured password (refuses an existing one)
    Init(InitArgs),
    /// List snapshots, oldest first
    Snapshots(SnapshotsArgs),
    /// Show repository sizes: logical, unique, stored; dedup and compression ratios
    Stats(JsonFlag),
    /// Print one repository object, for debugging
    Cat(CatArgs),
    /// Maintain the local catalog (a cache of the repository)
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Inspect the configuration
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Run the daemon: scheduled backups, the job queue and the HTTP API (for systemd)
    Serve,
    /// See and steer the daemon's jobs (through its API, or the catalog when it is down)
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Check the repository's structure and, with --read-data, its data (exit 1 on problems)
    Verify(VerifyArgs),
    /// Remove snapshots a retention policy does not keep (manifests only; see prune)
    Forget(ForgetArgs),
    /// Remove data no snapshot references (two-phase: safe next to running backups)
    Prune(PruneArgs),
    /// Repair repository metadata
    Repair {
        #[command(subcommand)]
        command: RepairCommand,
    },
    /// Manage the repository's key slots: the passwords and key files that open it
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Legal holds: keep every backed-up version of a client, matter, workspace or document whatever forget and prune would do
    Hold {
        #[command(subcommand)]
        command: HoldCommand,
    },
    /// Restore a version, document, folder, workspace or library as of a point in time
    Restore(RestoreArgs),
    /// List the audit trail: who restored, exported, forgot, pruned, held or keyed what, when
    Audit(AuditArgs),
    /// Browse a snapshot: workspaces, folders, documents with their versions
    Ls(LsArgs),
    /// Search every catalogued snapshot for documents
    Find(FindArgs),
    /// Every backed-up version of a document, with the snapshots holding it
    Versions(VersionsArgs),
    /// Print the shell completion script for bash, zsh or fish (see the README to install it)
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one page per command into a directory
    Manpage(ManpageArgs),
}

impl Command {
    /// Jobs that run for a while log their progress at info level by default.
    pub fn is_long_running(&self) -> bool {
        !matches!(
            self,
            Self::Config { .. }
                | Self::Init(_)
                | Self::Key { .. }
                | Self::Hold { .. }
                | Self::Audit(_)
                | Self::Snapshots(_)
                | Self::Stats(_)
                | Self::Cat(_)
                | Self::Completions(_)
                | Self::Manpage(_)
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Load the snapshots the catalog lacks (rebuilds when it cannot catch up)
    Sync,
    /// Empty the catalog and load every snapshot of the repository again
    Rebuild,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration with every secret shown as ***
    Show(JsonFlag),
    /// Check the configuration file and exit 0 when it is valid
    Check,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List the key slots (the one that opened the repository is marked)
    List(JsonFlag),
    /// Add a password slot (or a key-file slot with --new-key-file); every snapshot stays readable
    Add(KeyAddArgs),
    /// Remove a key slot (not the last one, nor the one used to open the repository)
    Remove(KeyRemoveArgs),
    /// Change the password (or key file) that opened the repository: adds the new slot, then removes the old one
    Passwd(KeyAddArgs),
}

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
pub struct KeyAddArgs {
    /// Read the new password from this file (else IMVAULT_NEW_PASSWORD, else a terminal prompt)
    #[arg(long, value_name = "FILE", conflicts_with = "new_key_file")]
    pub new_password_file: Option<PathBuf>,
    /// Write a new random key file here (0600; it must not exist) and use it instead of a password, e.g. for systemd's LoadCredential=
    #[arg(long, value_name = "FILE")]
    pub new_key_file: Option<PathBuf>,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct KeyRemoveArgs {
    /// The slot's id (a unique prefix is enough; see `imvault key list`)
    pub id: String,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct InitArgs {
    /// Store everything in the clear: anyone who can read the storage can read every document
    #[arg(long)]
    pub insecure_no_encryption: bool,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct JsonFlag {
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

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

/// `imvault sim`: one flag per field of the simulator's [`SimOptions`], with its defaults.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Seed of the corpus and of the fault plan.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// tiny | small | medium | large | a number of versions.
    #[arg(long, default_value_t = Scale::Small)]
    pub scale: Scale,
    /// Number of libraries (the last one is hidden when there are several).
    #[arg(long, default_value_t = 3)]
    pub libraries: u32,
    /// Requests per second before 429 (off when absent).
    #[arg(long)]
    pub rate_limit: Option<f64>,
    /// Concurrent requests before 429 (off when absent).
    #[arg(long)]
    pub max_concurrent: Option<usize>,
    /// Probability of a 502/503/504 or a truncated download per API call.
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Added latency per API call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Access token lifetime, in seconds.
    #[arg(long, default_value_t = 1800)]
    pub token_ttl: u64,
    /// Refresh token lifetime, in seconds.
    #[arg(long, default_value_t = 7 * 24 * 3600)]
    pub refresh_ttl: u64,
    /// How long 5 failed sign-ins lock the account, in seconds (10 lock it for good).
    #[arg(long, default_value_t = 900)]
    pub lockout_secs: u64,
    /// Paging cursor lifetime, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub cursor_ttl: u64,
    /// `user_type` of the service account.
    #[arg(long, value_enum, default_value_t = UserTypeArg::System)]
    pub user_type: UserTypeArg,
    /// Divide every document's size by this (at least 1 byte each): the same corpus, ids and
    /// versions with less content, to measure a large library on a small disk.
    #[arg(long, default_value_t = NonZeroU64::MIN)]
    pub size_divisor: NonZeroU64,
}

/// `--user-type` of `imvault sim`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UserTypeArg {
    System,
    Regular,
}

impl From<&SimArgs> for SimOptions {
    fn from(a: &SimArgs) -> Self {
        Self {
            listen: a.listen,
            seed: a.seed,
            scale: a.scale,
            libraries: a.libraries,
            rate_limit: a.rate_limit,
            max_concurrent: a.max_concurrent,
            fault_rate: a.fault_rate,
            latency_ms: a.latency_ms,
            token_ttl: a.token_ttl,
            refresh_ttl: a.refresh_ttl,
            lockout_secs: a.lockout_secs,
            cursor_ttl: a.cursor_ttl,
            user_type: match a.user_type {
                UserTypeArg::System => UserType::System,
                UserTypeArg::Regular => UserType::Regular,
            },
            size_divisor: a.size_divisor,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Work directory for the demo's repository, catalog and config (cleared if a previous demo made it)
    #[arg(long, default_value = "imvault-demo")]
    pub dir: PathBuf,
    /// Simulator corpus size: tiny, small, medium, large or a number of versions
    #[arg(long, default_value = "small")]
    pub scale: String,
    /// Simulator seed
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keep the simulator running after the demo (until Ctrl-C or SIGTERM), so the generated
    /// configuration also works for commands that reach iManage (backup, check, restore --into)
    #[arg(long)]
    pub keep_running: bool,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first
    List(JobsListArgs),
    /// Show one job with its progress
    Show(JobIdArgs),
    /// Cancel a queued job, or stop a running one at its next checkpoint
    Cancel(JobIdArgs),
    /// Follow a job's progress until it ends (exit code: 0 completed, 1 warnings, 2 otherwise)
    Watch(JobIdArgs),
}

#[derive(Debug, Clone, Args)]
pub struct JobsListArgs {
    /// Only jobs in this state (queued, running, completed, completed_with_warnings, failed, cancelled)
    #[arg(long)]
    pub state: Option<String>,
    /// Only jobs of this kind (backup, restore, verify)
    #[arg(long)]
    pub kind: Option<String>,
    /// Only jobs touching this library
    #[arg(long, short = 'l', value_name = "LIB")]
    pub library: Option<String>,
    /// At most this many jobs
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct JobIdArgs {
    /// The job id
    pub id: String,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Also download packs and check every blob: all of them, or PERCENT of the packs, a
    /// different share each run (repeated runs cover every pack)
    #[arg(long, value_name = "PERCENT", num_args = 0..=1, require_equals = true, default_missing_value = "100")]
    pub read_data: Option<f64>,
    /// Only the snapshots of this library (and the packs they use)
    #[arg(long, short = 'l', value_name = "LIB")]
    pub library: Option<String>,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Only actions started at or after T (RFC 3339, or YYYY-MM-DD[ HH:MM] in the local time zone)
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

#[derive(Debug, Subcommand)]
pub enum RepairCommand {
    /// Write index objects for packs no index names, from their headers (after index loss)
    Index,
}

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
    /// As of this time: RFC 3339 or YYYY-MM-DD[ HH:MM] (local time); default: the newest snapshot
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

#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// The library (needed when the catalog holds several and PATH is not an id)
    #[arg(long, short = 'l', value_name = "LIB")]
    pub library: Option<String>,
    /// As of this time: RFC 3339 or YYYY-MM-DD[ HH:MM] (local time)
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
    /// Edited after this time: RFC 3339 or YYYY-MM-DD[ HH:MM] (local time)
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

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Args)]
pub struct ManpageArgs {
    /// Write imvault.1 and one imvault-COMMAND.1 per command into this directory instead of
    /// printing imvault.1 on stdout
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[derive(Parser, Debug)]
    struct SimCli {
        #[command(flatten)]
        sim: SimArgs,
    }

    fn sim_options(args: &[&str]) -> Result<SimOptions, clap::Error> {
        SimCli::try_parse_from(args).map(|c| SimOptions::from(&c.sim))
    }

    #[test]
    fn sim_flag_defaults_equal_the_simulators_defaults_and_flags_parse() {
        let d = SimOptions::default();
        assert_eq!(
            format!("{:?}", sim_options(&["sim"]).unwrap()),
            format!("{d:?}")
        );
        let o = sim_options(&[
            "sim",
            "--listen",
            "127.0.0.1:8080",
            "--scale",
            "12345",
            "--rate-limit",
            "50",
            "--fault-rate",
            "0.1",
            "--user-type",
            "regular",
            "--size-divisor",
            "20",
        ])
        .unwrap();
        assert_eq!(o.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(o.size_divisor.get(), 20);
        assert_eq!(d.size_divisor.get(), 1);
        assert!(sim_options(&["sim", "--size-divisor", "0"]).is_err());
        assert_eq!(o.scale, Scale::Versions(12345));
        assert_eq!(o.rate_limit, Some(50.0));
        assert_eq!(o.fault_rate, 0.1);
        assert_eq!(o.user_type, UserType::Regular);
        assert!(sim_options(&["sim", "--scale", "huge"]).is_err());
        assert!(sim_options(&["sim", "--user-type", "admin"]).is_err());
    }

    /// Every argument of every command, with the command's path.
    fn all_args(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Arg)>) {
        for a in cmd.get_arguments() {
            out.push((path.clone(), a.clone()));
        }
        for sub in cmd.get_subcommands() {
            all_args(sub, format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_flag_and_argument_has_help_text() {
        let mut cmd = super::Cli::command();
        cmd.build();
        let mut args = Vec::new();
        all_args(&cmd, "imvault".into(), &mut args);
        assert!(args.len() > 50, "{} arguments", args.len());
        let missing: Vec<String> = args
            .iter()
            .filter(|(_, a)| !matches!(a.get_id().as_str(), "help" | "version"))
            .filter(|(_, a)| a.get_help().is_none_or(|h| h.to_string().trim().is_empty()))
            .map(|(p, a)| format!("{p} --{}", a.get_id()))
            .collect();
        assert!(missing.is_empty(), "no help text: {missing:?}");
        for cmd in cmd.get_subcommands() {
            assert!(cmd.get_about().is_some(), "{} has no about", cmd.get_name());
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
