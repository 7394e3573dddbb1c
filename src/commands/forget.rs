//! `imvault forget --keep-… [--library L] [--dry-run]`.

use std::path::Path;

use super::runtime;
use super::verify::maintenance_env;
use super::{Exit, load_settings_offline};
use crate::app::cli_job::CliJob;
use crate::app::repository::open_indexed;
use crate::catalog::{JobKind, JobState};
use crate::cli::ForgetArgs;
use crate::jobs::forget::{self, ForgetRequest};
use crate::repo::retention::KeepPolicy;

/// The policy the flags give, or `None` when no `--keep-*` flag is given.
pub fn policy_from_args(args: &ForgetArgs) -> Option<KeepPolicy> {
    let any = args.keep_last.is_some()
        || args.keep_daily.is_some()
        || args.keep_weekly.is_some()
        || args.keep_monthly.is_some()
        || args.keep_yearly.is_some()
        || args.keep_within.is_some();
    any.then(|| KeepPolicy {
        keep_last: args.keep_last.unwrap_or(0),
        keep_daily: args.keep_daily.unwrap_or(0),
        keep_weekly: args.keep_weekly.unwrap_or(0),
        keep_monthly: args.keep_monthly.unwrap_or(0),
        keep_yearly: args.keep_yearly.unwrap_or(0),
        keep_within: args.keep_within,
    })
}

pub fn run(config: Option<&Path>, args: &ForgetArgs) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    runtime()?.block_on(async {
        let repo = open_indexed(&settings.repository.for_maintenance()).await?;
        let audit = super::start_changing_audit(
            &settings,
            &repo,
            args.dry_run,
            "forgetting snapshots",
            || {
                Ok(crate::audit::Action::Forget {
                    policy: serde_json::to_value(policy_from_args(args))?,
                    library: args.library.clone(),
                })
            },
        )
        .await?;
        let r = forget_with(&settings, repo, args).await;
        let r = super::finish_audit(audit, r, |r| crate::audit::Figures {
            snapshots: Some(r.forgotten),
            ..Default::default()
        })
        .await;
        let r = r?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
            return Ok(Exit::Success);
        }
        for d in &r.decisions {
            let why: Vec<String> = d
                .reasons
                .iter()
                .map(|x| format!("{x:?}").to_lowercase())
                .collect();
            println!(
                "{}  {}  {:<12} {}",
                d.id.short(),
                d.time.format("%Y-%m-%d %H:%M:%S"),
                d.library,
                if d.keep {
                    format!("keep ({})", why.join(", "))
                } else if r.dry_run {
                    "would forget".into()
                } else {
                    "forgotten".into()
                }
            );
        }
        for h in &r.held {
            let by: Vec<String> = h
                .versions_by_hold
                .iter()
                .map(|(id, n)| format!("hold {}: {n}", id.short()))
                .collect();
            println!(
                "{}  {}  {:<12} {} {} versions ({} bytes) for legal holds ({}){}",
                h.from.short(),
                h.time.format("%Y-%m-%d %H:%M:%S"),
                h.library,
                if r.dry_run { "would keep" } else { "kept" },
                h.versions,
                h.bytes,
                by.join(", "),
                match &h.held_snapshot {
                    Some(s) => format!(" in held snapshot {}", s.short()),
                    None => String::new(),
                }
            );
        }
        if r.held_snapshots > 0 {
            println!(
                "{} held snapshots (kept for legal holds) left alone",
                r.held_snapshots
            );
        }
        println!(
            "{} kept, {} {}{}",
            r.kept,
            r.forgotten,
            if r.dry_run {
                "would be forgotten (dry run)"
            } else {
                "forgotten"
            },
            if r.forgotten > 0 && !r.dry_run {
                "; run `imvault prune` to free their data"
            } else {
                ""
            }
        );
        Ok(Exit::Success)
    })
}

/// Takes the maintenance lock (unless a dry run), forgets, releases it.
async fn forget_with(
    settings: &crate::config::Settings,
    repo: crate::repo::Repository<crate::repo::Indexed>,
    args: &ForgetArgs,
) -> anyhow::Result<forget::ForgetReport> {
    let library = match args.library.as_deref() {
        Some(w) => Some(super::known_library(
            w,
            super::repository_libraries(&repo).await?,
        )?),
        None => None,
    };
    // A dry run changes nothing and needs no lock.
    let lock = match args.dry_run {
        true => None,
        false => Some(super::maintenance_lock(repo.objects(), "forget", args.force_unlock).await?),
    };
    let env = maintenance_env(settings, repo, args.json);
    let req = ForgetRequest {
        policy: policy_from_args(args),
        library,
        dry_run: args.dry_run,
    };
    let job = CliJob::start(
        settings,
        JobKind::Forget,
        serde_json::json!({
            "policy": req.policy,
            "library": req.library,
            "dry_run": req.dry_run,
        }),
    );
    let r = forget::run(&env, &req, &settings.retention, chrono::Utc::now()).await;
    if let Some(lock) = lock {
        lock.release().await?;
    }
    if let Some(job) = job {
        job.finish(match &r {
            Ok(r) => Ok((JobState::Completed, serde_json::to_value(r)?)),
            Err(e) => Err(crate::repo::error_chain(e)),
        });
    }
    Ok(r?)
}
