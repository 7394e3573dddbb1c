//! `imvault backup`: back up every configured library (or the named ones) now.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use super::runtime;
use super::{Exit, load_settings};
use crate::app::client::{connect, imanage_settings, select_libraries};
use crate::app::env::backup_env;
use crate::app::repository::open_indexed_for_backup;
use crate::cli::BackupArgs;
use crate::config::Settings;
use crate::imanage::Client;
use crate::jobs::JobState;
use crate::jobs::backup::{self, BackupRequest, LibraryOutcome};

/// `verbose` (`-v`): the outcome lists the ids of the versions gone too.
pub fn run(config: Option<&Path>, args: &BackupArgs, verbose: bool) -> anyhow::Result<Exit> {
    let settings = load_settings(config)?;
    runtime()?.block_on(run_async(&settings, args, verbose))
}

async fn run_async(settings: &Settings, args: &BackupArgs, verbose: bool) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let client = connect(settings).await?;
    let repo = open_indexed_for_backup(&settings.repository).await?;
    let libraries = select_libraries(&client, settings, &args.library)?;
    if libraries.is_empty() {
        anyhow::bail!(
            "no library to back up: the configured libraries/exclude_libraries select none of this account's libraries"
        );
    }
    let opts = BackupRequest {
        libraries: args.library.clone(),
        full: args.full,
        strategy: args.strategy.into(),
        checkpoint_every: Duration::from_secs_f64(args.checkpoint_secs),
        download_concurrency: imanage_settings(settings)?.concurrency.get(),
        full_listing_every: if args.full_listing {
            None
        } else {
            settings.backup.full_listing_every()
        },
        change_margin: settings.backup.change_margin(),
        ..BackupRequest::default()
    };
    let env = backup_env(
        settings,
        client.clone(),
        repo,
        crate::commands::progress::shown(args.json),
    );
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if shutdown_signal().await.is_ok() {
            tracing::warn!("interrupted: finishing in-flight downloads and writing a checkpoint");
            on_signal.cancel();
        }
    });
    let mut outcomes = backup::run(&env, &libraries, &opts, cancel).await;
    if !verbose {
        for o in &mut outcomes {
            o.gone_versions.clear();
        }
    }
    let _ = client.revoke().await;
    let state = backup::overall_state(&outcomes);
    print_outcomes(&outcomes, &client, started.elapsed(), args.json)?;
    Ok(exit_for(state))
}

pub fn exit_for(state: JobState) -> Exit {
    match state {
        JobState::Completed => Exit::Success,
        JobState::CompletedWithWarnings => Exit::Warnings,
        _ => Exit::Failure,
    }
}

/// SIGINT or SIGTERM.
pub async fn shutdown_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for ctrl-c"),
        _ = term.recv() => Ok(()),
    }
}

fn print_outcomes(
    outcomes: &[LibraryOutcome],
    client: &Client,
    elapsed: Duration,
    json: bool,
) -> anyhow::Result<()> {
    let stats = client.stats();
    if json {
        let read: u64 = outcomes.iter().map(|o| o.counters.bytes_read).sum();
        let stored: u64 = outcomes.iter().map(|o| o.session.new_stored_bytes).sum();
        let summary = serde_json::json!({
            "state": backup::overall_state(outcomes),
            "seconds": elapsed.as_secs_f64(),
            "bytes_read": read,
            "bytes_stored": stored,
            "dedup_ratio": if stored > 0 { read as f64 / stored as f64 } else { 0.0 },
            "requests": stats.requests,
            "retries": stats.retries,
            "throttled": stats.throttled,
            "libraries": outcomes,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    for o in outcomes {
        let c = &o.counters;
        let snap = o.snapshot.map(|s| s.short()).unwrap_or_else(|| "-".into());
        println!(
            "{:<12} {:<24} snapshot {snap}  {} versions ({} unchanged, {} downloaded, {} skipped), {} gone ({} documents deleted); read {:.1} MB, stored {:.1} MB new; listed {}; {:.1} s",
            o.library,
            o.state.as_str(),
            c.versions,
            c.versions_unchanged,
            c.versions_downloaded,
            c.skipped,
            o.versions_gone,
            o.documents_gone,
            c.bytes_read as f64 / 1e6,
            o.session.new_stored_bytes as f64 / 1e6,
            o.listing,
            o.seconds
        );
        if !o.gone_versions.is_empty() {
            println!("{:<12} gone: {}", "", o.gone_versions.join(" "));
        }
        for s in &o.skipped_items {
            println!(
                "{:<12} skipped {}  {}: {}",
                "", s.object, s.action, s.reason
            );
        }
        if c.skipped > o.skipped_items.len() as u64 {
            println!(
                "{:<12} … and {} more skipped (`imvault snapshots --show {snap}`)",
                "",
                c.skipped - o.skipped_items.len() as u64
            );
        }
        if let Some(e) = &o.error {
            println!("{:<12} error: {e}", "");
        }
    }
    println!(
        "{} libraries in {:.1} s; {} requests, {} retries, {} throttled (429)",
        outcomes.len(),
        elapsed.as_secs_f64(),
        stats.requests,
        stats.retries,
        stats.throttled
    );
    Ok(())
}

impl From<crate::cli::StrategyArg> for crate::imanage::walk::WalkStrategy {
    fn from(s: crate::cli::StrategyArg) -> Self {
        match s {
            crate::cli::StrategyArg::Auto => Self::Auto,
            crate::cli::StrategyArg::Tree => Self::Tree,
            crate::cli::StrategyArg::Crawl => Self::Crawl,
        }
    }
}
