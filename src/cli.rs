//! Raw command-line arguments (clap types only). Resolution into settings lives in `config`,
//! the work of each command in `commands/`.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::config::LogFormat;

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
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Log format on stderr (text on a terminal, json for journald)
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// More log output (-v info, -vv debug, -vvv trace); IMVAULT_LOG overrides
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect the configuration
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration with every secret shown as ***
    Show(JsonFlag),
    /// Check the configuration file and exit 0 when it is valid
    Check,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct JsonFlag {
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}
