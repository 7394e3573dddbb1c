//! `imvault demo`: the main job on the embedded default. Starts the simulator in-process, backs
//! up every library into a local repository, changes the corpus, backs up again (incremental),
//! and shows what an operator would look at.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use super::Exit;
use super::runtime;
use crate::app::client::sign_in;
use crate::app::env::backup_env;
use crate::app::repository::{init_options, open_store_creating};
use crate::cli::DemoArgs;
use crate::config::{Env, Settings};
use crate::jobs::backup::{self, BackupRequest, LibraryOutcome};
use crate::repo::Repository;
use imvault_sim::{self as sim, MutateRequest, Scale, SimOptions};

/// Marks a directory as made by `imvault demo`, so a rerun may clear it and nothing else.
const MARKER: &str = ".imvault-demo";

pub fn run(args: &DemoArgs) -> anyhow::Result<Exit> {
    runtime()?.block_on(run_async(args))
}

/// What the simulated users changed, as a readable list (a few ids of each kind).
fn print_changes(r: &sim::MutateReport) {
    println!("\n-- users work in iManage:");
    for (what, ids) in [
        ("new versions", &r.new_versions),
        ("profile edits", &r.profile_edits),
        ("ACL changes", &r.acl_edits),
        ("documents deleted (to the trash bin)", &r.deletes),
        ("new documents", &r.new_documents),
    ] {
        if ids.is_empty() {
            continue;
        }
        let shown: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
        let more = ids.len().saturating_sub(shown.len());
        println!(
            "   {:>3} {what}: {}{}",
            ids.len(),
            shown.join(", "),
            if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            }
        );
    }
}

fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let is_ours = dir.join(MARKER).exists();
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_none();
        if !is_ours && !empty {
            anyhow::bail!(
                "{} exists and was not made by `imvault demo`; choose another --dir",
                dir.display()
            );
        }
        if is_ours {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("clearing the previous demo in {}", dir.display()))?;
        }
    }
    crate::private_fs::create_dir_all(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    crate::private_fs::write(&dir.join(MARKER), "made by imvault demo; safe to delete\n")
        .with_context(|| format!("writing into {}", dir.display()))?;
    Ok(())
}

/// The demo repository's password file, in the demo directory.
const PASSWORD_FILE: &str = "repository.password";

/// Writes a new random password (0600) for the demo repository.
fn write_password_file(dir: &Path) -> anyhow::Result<()> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random password: {e}"))?;
    let path = dir.join(PASSWORD_FILE);
    crate::private_fs::write(&path, format!("{}\n", hex::encode(bytes)))
        .with_context(|| format!("writing {}", path.display()))
}

fn demo_config(dir: &Path, sim_url: &str) -> String {
    format!(
        r#"# Written by `imvault demo`: a configuration pointing at the in-process simulator.
[imanage]
url = "{sim_url}"
client_id = "{client_id}"
client_secret = "{client_secret}"
username = "{username}"
auth_key = "{auth_key}"
requests_per_second = 2000
concurrency = 8
libraries = ["*"]

[repository]
url = "file://{repo}"
# A random password made for this demo (the repository is encrypted with a key it unlocks).
password_file = "{password_file}"

[catalog]
path = "{catalog}"
"#,
        client_id = sim::credentials::CLIENT_ID,
        client_secret = sim::credentials::CLIENT_SECRET,
        username = sim::credentials::USERNAME,
        auth_key = sim::credentials::AUTH_KEY,
        repo = dir.join("repo").display(),
        password_file = dir.join(PASSWORD_FILE).display(),
        catalog = dir.join("catalog.db").display(),
    )
}

async fn run_async(args: &DemoArgs) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let dir: PathBuf = std::path::absolute(&args.dir)
        .with_context(|| format!("resolving {}", args.dir.display()))?;
    prepare_dir(&dir)?;
    let scale: Scale = args.scale.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    let (addr, handle) = sim::Server::start(SimOptions {
        seed: args.seed,
        scale,
        ..SimOptions::default()
    })
    .context("starting the simulator")?;
    let sim_url = format!("http://{addr}");
    println!("== imvault demo in {}", dir.display());
    println!(
        "simulator (seed {}, scale {scale}) listening on {sim_url}",
        args.seed
    );

    let config_path = dir.join("imvault.toml");
    write_password_file(&dir)?;
    let config_text = demo_config(&dir, &sim_url);
    crate::private_fs::write(&config_path, &config_text)
        .with_context(|| format!("writing {}", config_path.display()))?;
    let settings = Settings::from_toml(&config_text, &config_path, &Env::default())?;
    println!(
        "configuration written to {} (use it with --config)",
        config_path.display()
    );

    let store = open_store_creating(&settings.repository)?;
    let credential = crate::app::repository::credential(&settings.repository)?;
    let created = Repository::init(
        store.clone(),
        init_options(&settings.repository),
        credential.as_ref(),
    )
    .await
    .context("creating the demo repository")?;
    let audit = super::start_audit(
        &settings,
        &created,
        crate::audit::Action::Init {
            url: settings.repository.url.to_string(),
            encrypted: created.is_encrypted(),
        },
    )
    .await?;
    super::finish_audit(Some(audit), Ok(()), |_| Default::default()).await?;
    println!("repository created at {}", dir.join("repo").display());

    let im = settings
        .imanage
        .as_ref()
        .context("demo config has [imanage]")?;
    let client = sign_in(im).await.context("signing in to the simulator")?;
    let libraries: Vec<_> = client.libraries().iter().map(|l| l.id.clone()).collect();
    println!(
        "signed in as {} (user_type {:?}); libraries: {}",
        client.user().id,
        client.user().user_type,
        libraries
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let opts = BackupRequest {
        checkpoint_every: std::time::Duration::from_secs(30),
        ..BackupRequest::default()
    };
    let backup_once = |label: &'static str| {
        let client = client.clone();
        let settings = &settings;
        let libraries = &libraries;
        let opts = &opts;
        let store = store.clone();
        let credential = credential.clone();
        async move {
            let repo = Repository::open(store, credential.as_ref())
                .await?
                .load_index()
                .await?;
            let env = backup_env(
                settings,
                client,
                repo,
                crate::commands::progress::shown(false),
            );
            let t = Instant::now();
            let outcomes = backup::run(&env, libraries, opts, CancellationToken::new()).await;
            println!("\n-- {label} backup ({:.1} s)", t.elapsed().as_secs_f64());
            print_outcomes(&outcomes);
            anyhow::Ok(outcomes)
        }
    };

    let full = backup_once("full").await?;
    let before_changes = chrono::Utc::now();
    let mutation = MutateRequest {
        new_versions: 25,
        profile_edits: 10,
        acl_edits: 5,
        deletes: 3,
        new_documents: 5,
        library: None,
    };
    let report = handle.mutate(&mutation);
    print_changes(&report);
    let incr = backup_once("incremental").await?;

    let repo = Repository::open(store.clone(), credential.as_ref())
        .await?
        .load_index()
        .await?;
    println!("\n-- snapshots");
    super::snapshots::print_table(&repo.list_snapshots(None).await?);
    let stats = repo.stats().await?;

    // Point-in-time restore: a document the users changed, as it was before their changes.
    let restored = point_in_time_restore(&handle, &report, &repo, &settings, &dir, before_changes)
        .await
        .context("the demo's point-in-time restore")?;
    let read_full: u64 = full.iter().map(|o| o.counters.bytes_read).sum();
    let read_incr: u64 = incr.iter().map(|o| o.counters.bytes_read).sum();
    let dl_incr: u64 = incr.iter().map(|o| o.counters.versions_downloaded).sum();
    let unchanged: u64 = incr.iter().map(|o| o.counters.versions_unchanged).sum();
    let _ = client.revoke().await;

    let failed = full
        .iter()
        .chain(&incr)
        .any(|o| o.state == crate::jobs::JobState::Failed);
    println!("\n== summary");
    println!(
        "full backup read {:.1} MB; the incremental downloaded only {dl_incr} changed versions ({:.1} MB) and reused {unchanged}",
        read_full as f64 / 1e6,
        read_incr as f64 / 1e6
    );
    println!(
        "repository: {:.1} MB of packs for {:.1} MB of unique content (dedup {:.2}x, compression {:.2}x)",
        stats.pack_bytes as f64 / 1e6,
        stats.unique_bytes as f64 / 1e6,
        stats.dedup_ratio,
        stats.compression_ratio
    );
    println!("{restored}");
    println!("try: imvault --config {} snapshots", config_path.display());
    println!(
        "     imvault --config {} ls --library ACTIVE; imvault --config {} restore --help",
        config_path.display(),
        config_path.display()
    );
    println!("done in {:.1} s", started.elapsed().as_secs_f64());
    if args.keep_running {
        println!(
            "the simulator keeps running on {sim_url} for {}: every command works with it (backup, check, restore --into original); Ctrl-C stops it",
            config_path.display()
        );
        super::backup::shutdown_signal().await?;
        handle.shutdown();
        println!("simulator stopped");
    } else {
        handle.shutdown();
        println!(
            "the simulator has stopped: with {} the commands that read the repository work (snapshots, ls, find, versions, stats, verify, restore --to); those that reach iManage (backup, check, restore --into) need `imvault demo --keep-running`",
            config_path.display()
        );
    }
    Ok(if failed { Exit::Failure } else { Exit::Success })
}

/// Exports, as of `at` (before the demo's changes), the first document the changes gave a new
/// version, checks every restored byte against what the simulator served, and returns the
/// summary line.
async fn point_in_time_restore(
    sim: &sim::SimHandle,
    changes: &sim::MutateReport,
    repo: &Repository<crate::repo::Indexed>,
    settings: &Settings,
    dir: &Path,
    at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<String> {
    use crate::imanage::model::VersionId;
    use crate::restore::{RestoreEnv, RestoreRequest};
    let Some(changed) = changes.new_versions.first() else {
        return Ok("point-in-time restore: skipped (the changes made no new version)".into());
    };
    let changed: VersionId = changed.parse()?;
    let doc = changed.document.clone();
    let target = dir.join("restored");
    let req = RestoreRequest {
        document: Some(doc.clone()),
        at: Some(at),
        to: Some(target.clone()),
        ..RestoreRequest::default()
    };
    let mut ctx = RestoreEnv::new(repo.clone(), settings.catalog_path.clone(), None);
    ctx.progress = crate::commands::progress::shown(false);
    let t = Instant::now();
    let audit = super::start_audit(settings, repo, crate::app::audit::restore_action(&req)).await?;
    let r = crate::restore::run(
        &ctx,
        &req,
        std::sync::Arc::new(crate::jobs::progress::Counters::default()),
        CancellationToken::new(),
    )
    .await;
    let (outcome, figures) = crate::app::audit::restore_outcome(&r);
    audit.finish(outcome, figures).await?;
    let report = r?;
    println!(
        "\n-- point-in-time restore of {doc} as of {} ({:.1} s)",
        at.format("%Y-%m-%d %H:%M:%S UTC"),
        t.elapsed().as_secs_f64()
    );
    super::restore::print_report(&report, false)?;
    let mut identical = 0;
    for item in &report.items {
        let v: VersionId = item.version.parse()?;
        let got = std::fs::read(&item.restored_as)
            .with_context(|| format!("reading back {}", item.restored_as))?;
        if sim.version_bytes(&v).as_deref() == Some(got.as_slice()) {
            identical += 1;
        }
    }
    let newest_now = sim
        .version_bytes(&changed)
        .map(|_| changed.version)
        .unwrap_or_default();
    Ok(format!(
        "point-in-time restore: {doc} as of before the changes (snapshot {}): {} of its versions (v1..v{}, the live document now has v{newest_now}) exported to {}, {identical}/{} byte-identical to what iManage served; {} failed",
        &report.snapshot.to_hex()[..12],
        report.versions,
        report
            .items
            .iter()
            .filter_map(|i| i.version.rsplit('.').next()?.parse::<u32>().ok())
            .max()
            .unwrap_or(0),
        target.display(),
        report.items.len(),
        report.failed
    ))
}

fn print_outcomes(outcomes: &[LibraryOutcome]) {
    for o in outcomes {
        let c = &o.counters;
        println!(
            "{:<10} {:<24} {} versions: {} downloaded, {} unchanged, {} skipped, {} gone; read {:.1} MB, stored {:.1} MB new; listed {}; snapshot {}",
            o.library,
            o.state.as_str(),
            c.versions,
            c.versions_downloaded,
            c.versions_unchanged,
            c.skipped,
            o.versions_gone,
            c.bytes_read as f64 / 1e6,
            o.session.new_stored_bytes as f64 / 1e6,
            o.listing,
            o.snapshot.map(|s| s.short()).unwrap_or_else(|| "-".into()),
        );
        if let Some(e) = &o.error {
            println!("{:<10} error: {e}", "");
        }
    }
}
