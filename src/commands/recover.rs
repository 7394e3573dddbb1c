//! `imvault recover --as-of TIME [--dry-run] [--force-unlock] [--json]`: the repository on a
//! versioned S3 bucket as it was at TIME (engine: `crate::repo::recover`), with the
//! `[repository.maintenance]` credentials, under the maintenance lock, audited; then the local
//! catalog is rebuilt from what the repository holds now.

use std::path::Path;

use anyhow::Context as _;

use super::{Exit, load_settings_offline, runtime};
use crate::app::repository::{backend_config, credential, open_indexed, open_store};
use crate::cli::RecoverArgs;
use crate::repo::recover::{self, KeyKind, RecoverReport, VersionedBucket};

pub fn run(config: Option<&Path>, args: &RecoverArgs) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    let as_of = crate::restore::when::parse_time(&args.as_of).context("reading --as-of")?;
    runtime()?.block_on(async {
        let r = settings.repository.for_maintenance();
        let bucket = VersionedBucket::open(&backend_config(&r))
            .await
            .with_context(|| format!("recovering {}", r.url))?;
        let listing = bucket.list().await?;
        let plan = recover::plan::plan(listing.clone(), as_of);
        if args.dry_run {
            return print(&recover::dry_run(&plan, &bucket, as_of), args.json);
        }
        let repo = recover::open_as_of(
            &bucket,
            open_store(&r)?,
            &listing,
            &plan,
            as_of,
            credential(&r)?.as_ref(),
        )
        .await?;
        let audit = super::start_changing_audit(&settings, &repo, false, "recovering", || {
            Ok(crate::audit::Action::Recover {
                params: serde_json::json!({
                    "as_of": as_of,
                    "bucket": bucket.bucket(),
                    "prefix": bucket.prefix(),
                }),
            })
        })
        .await?;
        let done = async {
            let lock =
                super::maintenance_lock(repo.objects(), "recover", args.force_unlock).await?;
            let r = recover::execute(&bucket, &plan, as_of).await;
            lock.release().await?;
            Ok::<_, anyhow::Error>(r?)
        }
        .await;
        let report = super::finish_audit(audit, done, |r| crate::audit::Figures {
            markers_removed: Some(r.totals.markers_removed),
            versions_removed: Some(r.totals.versions_removed),
            keys_restored: Some(r.totals.keys_restored),
            keys_removed: Some(r.totals.keys_removed),
            keys_left_alone: Some(r.keys_left_alone),
            ..Default::default()
        })
        .await;
        let mut report = report.with_context(|| format!("recovering {} as of {as_of}", r.url))?;
        report.catalog_rebuilt = rebuild_catalog(&settings).await;
        print(&report, args.json)
    })
}

/// The catalog described snapshots that may be gone now, and lacks those brought back: it is
/// rebuilt (a failure only warns: `imvault catalog rebuild` does it later). The snapshot
/// cache needs nothing (a LIST of `snapshots/` decides what it serves), nor do the backup
/// digests (each is used only for the snapshot it names, and only while that is a library's
/// latest).
async fn rebuild_catalog(settings: &crate::config::Settings) -> bool {
    let rebuilt = async {
        let repo = open_indexed(&settings.repository).await?;
        crate::jobs::catalog_sync::rebuild(&repo, &settings.catalog_path).await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    match rebuilt {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "warning: the catalog {} was not rebuilt ({e:#}); run `imvault catalog rebuild`",
                settings.catalog_path.display()
            );
            false
        }
    }
}

fn print(r: &RecoverReport, json: bool) -> anyhow::Result<Exit> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(Exit::Success);
    }
    let would = if r.dry_run { "would be " } else { "" };
    println!(
        "s3://{}/{} as of {}{}:",
        r.bucket,
        r.prefix,
        r.as_of.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        if r.dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        }
    );
    println!(
        "  {:<11} {:>8} {:>9} {:>9} {:>8} {:>10}",
        "kind", "markers", "versions", "restored", "removed", "unchanged"
    );
    for k in KeyKind::ALL {
        let Some(f) = r.kinds.get(&k) else { continue };
        if *f == Default::default() {
            continue;
        }
        println!(
            "  {:<11} {:>8} {:>9} {:>9} {:>8} {:>10}",
            k.as_str(),
            f.markers_removed,
            f.versions_removed,
            f.keys_restored,
            f.keys_removed,
            f.keys_unchanged
        );
    }
    let t = &r.totals;
    println!(
        "{} delete markers and {} versions {would}removed: {} keys {would}restored to their version of that time, {} keys written since {would}removed, {} unchanged",
        t.markers_removed, t.versions_removed, t.keys_restored, t.keys_removed, t.keys_unchanged
    );
    if r.keys_left_alone > 0 {
        println!(
            "{} keys under the prefix are not imvault's and were left alone{}: {}",
            r.keys_left_alone,
            if r.keys_left_alone as usize > r.left_alone.len() {
                " (the first named)"
            } else {
                ""
            },
            r.left_alone.join(", ")
        );
    }
    for l in &r.locked {
        println!(
            "{}: version {} is kept by Object Lock; {}",
            l.key,
            l.version,
            match l.done {
                recover::LockedFallback::CopiedBack =>
                    "its version of that time was copied over it (now current)",
                recover::LockedFallback::MarkerAdded =>
                    "a delete marker was added (the key did not exist then)",
            }
        );
    }
    for s in &r.skipped {
        println!("{s}: left alone (recover holds the maintenance lock itself)");
    }
    if !r.dry_run {
        println!(
            "{}; done in {:.1} s. Next: `imvault verify --read-data`",
            if r.catalog_rebuilt {
                "the local catalog was rebuilt from the recovered repository"
            } else {
                "the local catalog was NOT rebuilt: run `imvault catalog rebuild`"
            },
            r.seconds
        );
    }
    Ok(Exit::Success)
}
