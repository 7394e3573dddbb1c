//! `imvault jobs`: the daemon's jobs (`imvault serve` takes no arguments of its own).

use clap::{Args, Subcommand};

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
