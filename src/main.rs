//! The `imvault` binary: parse arguments, set up logging, run one command, print errors once.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use imvault::cli::{Cli, Command};
use imvault::commands::{self, Exit};
use imvault::logging::LogFormat;

/// Rust ignores SIGPIPE, so writing to a closed pipe (`imvault find … | head`) is an error,
/// and `println!` panics on it. Such a panic ends the process the Unix way instead — by
/// SIGPIPE, with no message — as `head`'s other writers do. SIGPIPE itself stays ignored: a
/// network peer closing a connection must not kill a backup.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            commands::end_on_closed_pipe();
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    // Before anything creates a file: everything this process writes is private (0600/0700).
    imvault::private_fs::restrict_umask();
    // SAFETY: first thing in main: no other thread runs yet.
    unsafe { imvault::allocator::tune() };
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    let format =
        cli.log_format
            .map(LogFormat::from)
            .unwrap_or(if std::io::stderr().is_terminal() {
                LogFormat::Text
            } else {
                LogFormat::Json
            });
    let level = match cli.verbose {
        // On a terminal, long jobs show progress bars; info lines would scroll through them.
        0 if cli.command.is_long_running() && !std::io::stderr().is_terminal() => {
            "warn,imvault=info"
        }
        0 => "warn",
        1 => "info",
        2 => "debug,hyper=info,h2=info,rustls=info",
        _ => "trace",
    };
    if let Err(e) = imvault::logging::init(format, level) {
        eprintln!("imvault: {e}");
        return Exit::Failure.into();
    }
    match run(cli) {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("imvault: error: {}", imvault::repo::error_chain(e.as_ref()));
            Exit::Failure.into()
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    let config = cli.config.as_deref();
    match &cli.command {
        Command::Config { command } => commands::config::run(config, command),
        Command::Init(a) => commands::init::run(config, a.insecure_no_encryption),
        Command::Demo(args) => commands::demo::run(args),
        Command::Sim(args) => commands::sim::run(args),
        Command::Check(args) => commands::check::run(config, args),
        Command::Backup(args) => commands::backup::run(config, args, cli.verbose > 0),
        Command::Snapshots(args) => commands::snapshots::run(config, args),
        Command::Stats(args) => commands::stats::run(config, args),
        Command::Cat(args) => commands::cat::run(config, args),
        Command::Catalog { command } => commands::catalog::run(config, command),
        Command::Serve => commands::serve::run(config),
        Command::Jobs { command } => commands::jobs::run(config, command),
        Command::Verify(args) => commands::verify::run(config, args),
        Command::Forget(args) => commands::forget::run(config, args),
        Command::Prune(args) => commands::prune::run(config, args),
        Command::Recover(args) => commands::recover::run(config, args),
        Command::Repair { command } => commands::repair::run(config, command),
        Command::Key { command } => commands::key::run(config, command),
        Command::Hold { command } => commands::hold::run(config, command),
        Command::Restore(args) => commands::restore::run(config, args),
        Command::Audit(args) => commands::audit::run(config, args),
        Command::Ls(args) => commands::ls::run(config, args),
        Command::Find(args) => commands::find::run(config, args),
        Command::Versions(args) => commands::versions::run(config, args),
        Command::Completions(args) => commands::completions::completions(args),
        Command::Manpage(args) => commands::completions::manpage(args),
    }
}
