//! Trying imvault out and setting it up: `demo`, `sim`, `config`, `completions`, `manpage`.

use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use imvault_sim::{Scale, SimOptions, UserType};

use super::JsonFlag;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration with every secret shown as ***
    Show(JsonFlag),
    /// Check the configuration file and exit 0 when it is valid
    Check,
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
    use clap::Parser;

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
}
