//! `imvault restore`: point-in-time restore to a directory, the original place or another folder.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use super::backup::{exit_for, shutdown_signal};
use super::runtime;
use super::{Exit, load_settings_offline};
use crate::app::client::connect;
use crate::app::env::restore_env;
use crate::app::repository::open_indexed;
use crate::cli::{AclArg, IntoArg, RestoreArgs};
use crate::jobs::progress::Counters;
use crate::restore::{self, AclMode, IntoPlace, RestoreReport, RestoreRequest};

pub fn run(config: Option<&Path>, args: &RestoreArgs) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    let req = request_from_args(args)?;
    // A request that contradicts itself is said as such, before anything is opened (not as
    // "restoring invalid request: …").
    req.validate()?;
    if let Some(to) = &req.to {
        crate::app::export_target::outside_own_directories(&settings, to)
            .map_err(|why| anyhow::anyhow!("refusing to restore into {}: {why}", to.display()))?;
    }
    runtime()?.block_on(async {
        let repo = open_indexed(&settings.repository).await?;
        // Recorded before anything is read or written; a dry run reads and writes nothing.
        let audit = match req.dry_run {
            true => None,
            false => Some(
                super::start_audit(
                    &settings,
                    &repo,
                    crate::app::audit::restore_action(&req),
                )
                .await?,
            ),
        };
        let r = restore_with(&settings, repo, &req, args.json).await;
        if let Some(pending) = audit {
            let (outcome, figures) = crate::app::audit::restore_outcome(&r);
            let recorded = pending.finish(outcome, figures).await;
            match (&r, recorded) {
                (Ok(_), Err(e)) => return Err(e.into()),
                (Err(_), Err(e)) => {
                    tracing::error!(error = %crate::repo::error_chain(&e), "the failed restore's outcome is not in the audit trail")
                }
                (_, Ok(())) => {}
            }
        }
        let report = r?;
        print_report(&report, args.json)?;
        Ok(exit_for(report.state))
    })
}

async fn restore_with(
    settings: &crate::config::Settings,
    repo: crate::repo::Repository<crate::repo::Indexed>,
    req: &RestoreRequest,
    json: bool,
) -> anyhow::Result<RestoreReport> {
    let needs_client = req.to.is_none();
    let client = if needs_client {
        Some(connect(settings).await?)
    } else {
        None
    };
    let ctx = restore_env(
        settings,
        repo,
        client.clone(),
        crate::commands::progress::shown(json),
    );
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if shutdown_signal().await.is_ok() {
            tracing::warn!("interrupted: stopping the restore after the items in flight");
            on_signal.cancel();
        }
    });
    let report = restore::run(&ctx, req, Arc::new(Counters::default()), cancel)
        .await
        .with_context(|| format!("restoring {}", req.describe()));
    if let Some(c) = &client {
        let _ = c.revoke().await;
    }
    report
}

/// The request the flags describe (ids and times parsed; the engine checks the rest).
pub fn request_from_args(a: &RestoreArgs) -> anyhow::Result<RestoreRequest> {
    Ok(RestoreRequest {
        document: id(&a.document, "document")?,
        version: a.version,
        folder: id(&a.folder, "folder")?,
        workspace: id(&a.workspace, "workspace")?,
        library: id(&a.library, "library")?,
        at: a
            .at
            .as_deref()
            .map(restore::when::parse_time)
            .transpose()
            .context("reading --at")?,
        snapshot: a.snapshot.clone(),
        to: a.to.clone(),
        merge: a.merge,
        into: a.into.map(|IntoArg::Original| IntoPlace::Original),
        into_folder: id(&a.into_folder, "into-folder")?,
        acl: match a.acl {
            AclArg::Keep => AclMode::Keep,
            AclArg::Inherit => AclMode::Inherit,
        },
        dry_run: a.dry_run,
    })
}

fn id<T>(s: &Option<String>, what: &str) -> anyhow::Result<Option<T>>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    s.as_deref()
        .map(|v| v.parse::<T>().with_context(|| format!("reading --{what}")))
        .transpose()
}

pub fn print_report(r: &RestoreReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    println!(
        "{}restore of {} as of snapshot {} ({}) into {}",
        if r.dry_run { "dry run: " } else { "" },
        r.what,
        &r.snapshot.to_hex()[..12],
        r.snapshot_time.format("%Y-%m-%d %H:%M:%S UTC"),
        r.target
    );
    let verb = if r.dry_run {
        "would restore"
    } else {
        "restored"
    };
    println!(
        "{verb} {} versions of {} documents ({:.1} MB) and {} containers ({} created); {} already there; {} failed; {:.1} s, {:.1} MB/s",
        r.versions,
        r.documents,
        r.bytes as f64 / 1e6,
        r.containers,
        r.containers_created,
        r.unchanged,
        r.failed,
        r.seconds,
        r.mb_per_s
    );
    for d in r.deleted_documents.iter().take(20) {
        println!("  {d}");
    }
    let listed = r.deleted_documents.len().min(20) as u64;
    let deleted = r.documents_from_trash_bin + r.documents_recreated;
    if deleted > listed {
        println!(
            "  … and {} more deleted documents ({} back from the trash bin in all, {} created again)",
            deleted - listed,
            r.documents_from_trash_bin,
            r.documents_recreated
        );
    }
    if r.versions <= 20 {
        for i in &r.items {
            println!("  {} -> {}", i.version, i.restored_as);
        }
    }
    for n in r.notes.iter().take(20) {
        println!("  note: {n}");
    }
    for f in &r.failures {
        println!("  FAILED {}: {}: {}", f.object, f.action, f.error);
    }
    if r.failed as usize > r.failures.len() {
        println!(
            "  … and {} more failures",
            r.failed as usize - r.failures.len()
        );
    }
    Ok(())
}
