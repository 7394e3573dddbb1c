//! `imvault prune [--dry-run] [--max-repack PERCENT] [--grace DURATION]`.
//!
//! Test hook (debug builds only): `IMVAULT_TEST_PRUNE_ABORT_AFTER=N` aborts the process (as a
//! kill -9 would) after N of prune's writes or deletes, to test crash safety.

use std::path::Path;

use anyhow::Context as _;

use super::runtime;
use super::verify::maintenance_env;
use super::{Exit, load_settings_offline};
use crate::app::cli_job::CliJob;
use crate::app::repository::open_indexed;
use crate::catalog::{JobKind, JobState};
use crate::cli::PruneArgs;
use crate::jobs::prune::{self, PruneRequest};
use crate::repo::prune::PruneOptions;
use crate::repo::retention::KeepWithin;

/// `0`, or a duration such as `24h`, `2d`, in seconds.
pub fn parse_grace(s: &str) -> anyhow::Result<u64> {
    if s.trim() == "0" {
        return Ok(0);
    }
    let w: KeepWithin = s.parse()?;
    let now = chrono::Utc::now();
    Ok((now - w.cutoff(now)).num_seconds().max(0) as u64)
}

pub fn run(config: Option<&Path>, args: &PruneArgs) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    if !(0.0..=100.0).contains(&args.max_repack) {
        anyhow::bail!(
            "--max-repack {} is out of range (0 to 100)",
            args.max_repack
        );
    }
    let grace_secs = parse_grace(&args.grace).context("reading --grace")?;
    runtime()?.block_on(async {
        let repo = open_indexed(&settings.repository.for_maintenance()).await?;
        let audit =
            super::start_changing_audit(&settings, &repo, args.dry_run, "pruning", || {
                Ok(crate::audit::Action::Prune {
                    max_repack_percent: args.max_repack,
                    grace_secs,
                })
            })
            .await?;
        let r = prune_with(&settings, repo, args, grace_secs).await;
        let r = super::finish_audit(audit, r, |r| crate::audit::Figures {
            bytes: Some(r.bytes_deleted),
            ..Default::default()
        })
        .await;
        let r = r?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
            return Ok(Exit::Success);
        }
        let mb = |b: u64| b as f64 / 1e6;
        let would = if r.dry_run { "would be " } else { "" };
        println!(
            "{} snapshots, {} packs ({:.1} MB), {} blobs in use",
            r.snapshots,
            r.packs,
            mb(r.pack_bytes),
            r.blobs_referenced
        );
        println!(
            "{} packs {would}marked unused ({:.1} MB); {} partly used packs {would}repacked ({:.1} MB) into {} new packs ({:.1} MB)",
            r.packs_marked,
            mb(r.bytes_marked),
            r.packs_repacked,
            mb(r.bytes_repacked),
            r.new_packs,
            mb(r.new_pack_bytes)
        );
        println!(
            "{} marked packs {would}deleted ({:.1} MB), {} recovered, {} waiting for the grace period; {} stale checkpoint records {would}removed; {:.1} s",
            r.packs_deleted,
            mb(r.bytes_deleted),
            r.packs_recovered,
            r.packs_waiting,
            r.checkpoints_removed,
            r.seconds
        );
        for h in &r.held_snapshots {
            let ids: Vec<String> = h.active_holds.iter().map(|i| i.short()).collect();
            match ids.is_empty() {
                true => println!(
                    "held snapshot {} ({} {}) {}removed: its legal holds are released",
                    h.snapshot.short(),
                    h.library,
                    h.time.format("%Y-%m-%d %H:%M:%S"),
                    would
                ),
                false => println!(
                    "kept for legal holds {}: {} versions of {} {} (held snapshot {})",
                    ids.join(", "),
                    h.versions,
                    h.library,
                    h.time.format("%Y-%m-%d %H:%M:%S"),
                    h.snapshot.short()
                ),
            }
        }
        if let Some(d) = &r.deferred {
            println!("deletion deferred: {d}");
        }
        let at = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default()
        };
        if let Some(w) = &r.retention_wait {
            println!(
                "{} packs ({:.1} MB) {would}kept under Object Lock retention: deleted by a prune after {} (the first after {})",
                w.packs,
                mb(w.bytes),
                at(w.latest),
                at(w.earliest)
            );
        }
        if let Some(x) = &r.retention_extended {
            println!(
                "Object Lock retention of {} objects extended (to {}; {} of {} objects checked)",
                x.extended,
                at(x.until),
                x.checked,
                x.objects
            );
        }
        Ok(Exit::Success)
    })
}

/// Takes the maintenance lock (unless a dry run), prunes, releases it.
async fn prune_with(
    settings: &crate::config::Settings,
    repo: crate::repo::Repository<crate::repo::Indexed>,
    args: &PruneArgs,
    grace_secs: u64,
) -> anyhow::Result<crate::repo::prune::PruneReport> {
    // A dry run changes nothing and needs no lock.
    let lock = match args.dry_run {
        true => None,
        false => Some(super::maintenance_lock(repo.objects(), "prune", args.force_unlock).await?),
    };
    let env = maintenance_env(settings, repo, args.json);
    #[allow(unused_mut)]
    let mut options = PruneOptions {
        dry_run: args.dry_run,
        max_repack_percent: args.max_repack,
        grace_secs,
        ..PruneOptions::default()
    };
    #[cfg(debug_assertions)]
    {
        options.abort_after_steps = std::env::var("IMVAULT_TEST_PRUNE_ABORT_AFTER")
            .ok()
            .and_then(|v| v.parse().ok());
    }
    let job = CliJob::start(
        settings,
        JobKind::Prune,
        serde_json::json!({
            "dry_run": options.dry_run,
            "max_repack_percent": options.max_repack_percent,
            "grace_secs": options.grace_secs,
        }),
    );
    let r = prune::run(&env, &PruneRequest { options }, chrono::Utc::now()).await;
    if let Some(lock) = lock {
        lock.release().await?;
    }
    if let Some(job) = job {
        job.finish(match &r {
            Ok(r) => Ok((JobState::Completed, serde_json::to_value(r)?)),
            Err(e) => Err(crate::repo::error_chain(e)),
        });
    }
    r.map_err(|e| anyhow::Error::new(e).context(format!("pruning {}", settings.repository.url)))
}
