//! Raw command-line arguments (clap types only). Resolution into settings lives in `config`,
//! the work of each command in `commands/`. This module holds the top level (`Cli`, `Command`,
//! the global options); each command group's arguments live in their own file and are
//! re-exported here, so `crate::cli::BackupArgs` names them all alike.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::logging::LogFormat;

mod backup;
mod catalog;
mod daemon;
mod holds;
mod keys;
mod repository;
mod restore;
mod setup;

pub use backup::{BackupArgs, CheckArgs, StrategyArg};
pub use catalog::{CatalogCommand, FindArgs, LsArgs, SnapshotsArgs, VersionsArgs};
pub use daemon::{JobIdArgs, JobsCommand, JobsListArgs};
pub use holds::{AuditArgs, HoldAddArgs, HoldCommand, HoldReleaseArgs};
pub use keys::{KeyAddArgs, KeyCommand, KeyRemoveArgs};
pub use repository::{
    CatArgs, CatKind, ForgetArgs, InitArgs, PruneArgs, RecoverArgs, RepairCommand, VerifyArgs,
};
pub use restore::{AclArg, IntoArg, RestoreArgs};
pub use setup::{CompletionsArgs, ConfigCommand, DemoArgs, ManpageArgs, SimArgs, UserTypeArg};

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
    /// Make a repository on a versioned S3 bucket as it was at a time again, after its objects were deleted or overwritten (an attack)
    Recover(RecoverArgs),
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

#[derive(Debug, Clone, Copy, Args)]
pub struct JsonFlag {
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}
#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

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
