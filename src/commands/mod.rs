//! One module per command: the binary edge, where `anyhow` is allowed. Each `run` returns the
//! process exit status; errors carry their context and are printed once by `main`.

pub mod audit;
pub mod backup;
pub mod cat;
pub mod catalog;
pub mod check;
pub mod completions;
pub mod config;
pub mod demo;
pub mod find;
pub mod forget;
pub mod hold;
pub mod init;
pub mod jobs;
pub mod key;
pub mod ls;
pub mod progress;
pub mod prune;
pub mod recover;
pub mod repair;
pub mod restore;
pub mod serve;
pub mod sim;
pub mod snapshots;
pub mod stats;
pub mod verify;
pub mod versions;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::{CONFIG_ENV, DEFAULT_CONFIG_PATH, Env, Settings};

/// Documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done.
    Success = 0,
    /// Done, but with warnings (skipped items, problems found by verify).
    Warnings = 1,
    /// Nothing or not all of it was done: see the error.
    Failure = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// Says on stderr that the repository is not encrypted, if it is not (`stats`, `verify`).
pub(crate) fn warn_if_unencrypted<S>(repo: &crate::repo::Repository<S>) {
    if !repo.is_encrypted() {
        eprintln!(
            "warning: repository format {} is NOT ENCRYPTED{}: anyone who can read its storage can read every document it holds",
            repo.config().format_version,
            if repo.config().format_version >= 2 {
                " (created with --insecure-no-encryption)"
            } else {
                ""
            }
        );
    }
}

/// The configuration file to read: `--config`, `$IMVAULT_CONFIG` (clap reads it) or the default.
pub fn config_path(cli_path: Option<&Path>) -> PathBuf {
    cli_path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
}

/// Loads and validates the settings; the error says which file and how to fix it.
pub fn load_settings(cli_path: Option<&Path>) -> anyhow::Result<Settings> {
    let path = config_path(cli_path);
    load_settings_offline(cli_path)?
        .require_imanage_secrets()
        .with_context(|| format!("loading configuration {}", path.display()))
}

/// As [`load_settings`], for commands that never reach iManage (or only for some requests):
/// `[imanage]` secrets that cannot be read here (e.g. systemd credentials outside the service)
/// are no error until iManage is needed.
pub fn load_settings_offline(cli_path: Option<&Path>) -> anyhow::Result<Settings> {
    let path = config_path(cli_path);
    if cli_path.is_none() && !path.exists() {
        anyhow::bail!(
            "no configuration file at {} (pass --config FILE or set {CONFIG_ENV}; see config/imvault.example.toml, or try `imvault demo`)",
            path.display()
        );
    }
    let settings = Settings::load_offline(&path, &Env::from_process())
        .with_context(|| format!("loading configuration {}", path.display()))?;
    if let Some(w) = settings.shared_secrets_warning() {
        eprintln!("imvault: warning: {w}");
    }
    Ok(settings)
}

/// `--library` checked against the libraries that have snapshots (`known`, from the repository
/// or the catalog), case-insensitively as the configuration matches libraries; the stored
/// spelling is returned. A mistyped library is an error listing the known ones — never an empty
/// answer that looks like success.
pub fn known_library(
    wanted: &str,
    known: impl IntoIterator<Item = String>,
) -> anyhow::Result<String> {
    let mut known: Vec<String> = known.into_iter().collect();
    known.sort();
    known.dedup();
    if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(wanted)) {
        return Ok(k.clone());
    }
    if known.is_empty() {
        anyhow::bail!("library {wanted:?} has no snapshot: no library has one yet (run a backup)");
    }
    anyhow::bail!(
        "library {wanted:?} has no snapshot here; the libraries with snapshots are: {}",
        known.join(", ")
    )
}

/// As [`known_library`] for an optional `--library`.
pub fn known_library_opt(
    wanted: Option<&str>,
    known: impl FnOnce() -> anyhow::Result<Vec<String>>,
) -> anyhow::Result<Option<String>> {
    wanted.map(|w| known_library(w, known()?)).transpose()
}

/// The libraries the repository has snapshots of.
pub async fn repository_libraries<S>(
    repo: &crate::repo::Repository<S>,
) -> anyhow::Result<Vec<String>> {
    Ok(repo
        .list_snapshots(None)
        .await?
        .into_iter()
        .map(|s| s.manifest.library)
        .collect())
}

/// The libraries the catalog (at `path`) has snapshots of; none is an error naming the catalog
/// and the fix: the commands that browse the catalog alone would otherwise answer "nothing
/// backed up" from a catalog that is new, lost or out of date.
pub fn catalog_libraries(
    cat: &crate::catalog::Catalog,
    path: &Path,
) -> anyhow::Result<Vec<String>> {
    let libraries: Vec<String> = cat
        .snapshots(None)?
        .into_iter()
        .map(|s| s.row.library.to_string())
        .collect();
    if libraries.is_empty() {
        anyhow::bail!(
            "the catalog {} holds no snapshot: bring it up to date with the repository (`imvault catalog sync`), or run a backup if there is none yet",
            path.display()
        );
    }
    Ok(libraries)
}

/// Write `bytes` to stdout in one go (a long listing printed line by line costs a system call
/// per line); a reader gone away ends the process quietly ([`end_on_closed_pipe`]).
pub(crate) fn write_stdout(bytes: &[u8]) -> anyhow::Result<Exit> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => end_on_closed_pipe(),
        r => r.context("writing to stdout").map(|()| Exit::Success),
    }
}

/// Ends the process the way Unix tools end when their reader has gone away (`imvault … |
/// head`): by SIGPIPE, with no message.
pub fn end_on_closed_pipe() -> ! {
    #[cfg(unix)]
    // SAFETY: restores SIGPIPE's default action and raises it: the process ends here.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(Exit::Failure as i32)
}

/// A multi-threaded tokio runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Takes the repository's maintenance lock for `operation` (prune, forget), after removing
/// whatever lock there is when `force_unlock` asks for it. Time to live:
/// `$IMVAULT_MAINTENANCE_LOCK_SECS` (tests) or [`crate::repo::maint_lock::DEFAULT_TTL`].
pub async fn maintenance_lock(
    objects: &crate::repo::objects::Objects,
    operation: &str,
    force_unlock: bool,
) -> anyhow::Result<crate::repo::maint_lock::MaintenanceLock> {
    use crate::repo::maint_lock;
    if force_unlock && let Some(held) = maint_lock::force_unlock(objects).await? {
        eprintln!(
            "removed the maintenance lock: {}",
            held.describe(chrono::Utc::now())
        );
    }
    let ttl = std::env::var("IMVAULT_MAINTENANCE_LOCK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(std::time::Duration::from_secs)
        .unwrap_or(maint_lock::DEFAULT_TTL);
    Ok(maint_lock::MaintenanceLock::acquire(objects.clone(), operation, ttl).await?)
}

/// Records that a command-line action starts (the operating-system user acts), before it does
/// anything: an error means it must not run.
pub(crate) async fn start_audit<S>(
    settings: &Settings,
    repo: &crate::repo::Repository<S>,
    action: crate::audit::Action,
) -> anyhow::Result<crate::audit::Pending> {
    let kind = action.kind();
    let auditor = crate::app::audit::cli_auditor(settings, repo)
        .with_context(|| format!("recording the {kind} in the audit trail: nothing was done"))?;
    auditor
        .start(action)
        .await
        .with_context(|| format!("recording the {kind} in the audit trail: nothing was done"))
}

/// The start of a command that changes the repository (forget, prune): a read-only (format 1)
/// repository is refused before anything, its audit record included, is written; then the
/// action is recorded. A dry run changes nothing and is neither refused nor recorded (`None`).
pub(crate) async fn start_changing_audit<S>(
    settings: &Settings,
    repo: &crate::repo::Repository<S>,
    dry_run: bool,
    what: &'static str,
    action: impl FnOnce() -> anyhow::Result<crate::audit::Action>,
) -> anyhow::Result<Option<crate::audit::Pending>> {
    if dry_run {
        return Ok(None);
    }
    repo.check_writable(what)?;
    Ok(Some(start_audit(settings, repo, action()?).await?))
}

/// Records how an audited action ended (`None`: not audited, e.g. a dry run). The action's
/// own error wins over a failure to record it (which is logged); a successful action whose
/// outcome cannot be recorded fails the command.
pub(crate) async fn finish_audit<T>(
    pending: Option<crate::audit::Pending>,
    result: anyhow::Result<T>,
    figures: impl FnOnce(&T) -> crate::audit::Figures,
) -> anyhow::Result<T> {
    let Some(pending) = pending else {
        return result;
    };
    let f = result.as_ref().map(figures).unwrap_or_default();
    let recorded = pending.finish_with(&result, f).await;
    match (result, recorded) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(e)) => Err(e.into()),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(a)) => {
            tracing::error!(error = %crate::repo::error_chain(&a), "the failed action's outcome is not in the audit trail");
            Err(e)
        }
    }
}
