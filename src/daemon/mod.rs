//! `imvault serve`: the long-running agent. A scheduler queues nightly backups, a bounded pool
//! of workers runs queued jobs from the persistent queue (the catalog's `jobs` table), the HTTP
//! API ([`crate::api`]) lets operators see and steer them, and systemd hears about readiness,
//! status and liveness.
//!
//! Shutdown fans out from one [`CancellationToken`]: the API stops accepting, the scheduler
//! stops, workers take no new job and stop their running jobs at a checkpoint; a job stopped
//! that way goes back to `queued` and resumes at the next start.

pub mod audit;
pub mod exec;
pub mod maintenance;
pub mod notify;
pub mod queue;
pub mod scheduler;
pub mod sign_in;
pub mod signals;
pub mod spec;
pub mod workers;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::catalog::{JobId, JobKind};
use crate::config::Settings;
use crate::imanage::Client;
use crate::secret::Secret;

pub use queue::Queue;
pub use workers::RunningJob;

/// Everything the daemon's tasks share.
pub struct DaemonState {
    pub queue: Queue,
    /// The current settings (replaced on SIGHUP).
    pub settings: watch::Sender<Arc<Settings>>,
    /// The signed-in iManage client, once sign-in succeeded.
    pub client: RwLock<Option<Client>>,
    /// Why the last sign-in failed, for `/readyz`.
    pub sign_in_error: RwLock<Option<String>>,
    /// The API's bearer tokens with their names (re-read on SIGHUP).
    pub api_tokens: RwLock<ApiTokens>,
    /// The audit trail as the daemon writes it (opened on first use, again after a reload).
    pub audit: audit::DaemonAudit,
    pub running: Mutex<HashMap<JobId, Arc<RunningJob>>>,
    pub shutdown: CancellationToken,
    pub metrics: Metrics,
    pub started_at: DateTime<Utc>,
    /// When each library's next scheduled backup is due (for `GET /v1/libraries`).
    pub next_runs: Mutex<HashMap<String, Option<DateTime<Utc>>>>,
    /// The running sign-in task, if any (replaced when a reload changes `[imanage]`).
    pub sign_in_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Starts (or restarts) signing in to iManage in the background (see [`sign_in`]).
pub fn spawn_sign_in(state: &Arc<DaemonState>) {
    sign_in::spawn(state);
}

/// Whether two `[imanage]` settings sign in the same way (tenant, account, secrets, limits).
pub fn same_sign_in(
    a: Option<&crate::config::ImanageSettings>,
    b: Option<&crate::config::ImanageSettings>,
) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.url == b.url
                && a.client_id == b.client_id
                && a.username == b.username
                && a.client_secret == b.client_secret
                && a.auth_key == b.auth_key
                && a.requests_per_second == b.requests_per_second
                && a.concurrency == b.concurrency
        }
        _ => false,
    }
}

impl DaemonState {
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.borrow().clone()
    }

    pub fn client(&self) -> Option<Client> {
        self.client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn running_job(&self, id: JobId) -> Option<Arc<RunningJob>> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// The jobs running now.
    pub fn running_jobs(&self) -> Vec<Arc<RunningJob>> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn set_next_run(&self, library: &str, next: Option<DateTime<Utc>>) {
        self.next_runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(library.to_string(), next);
    }

    pub fn next_run(&self, library: &str) -> Option<DateTime<Utc>> {
        self.next_runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(library)
            .copied()
            .flatten()
    }

    /// The libraries the configuration selects among those the account can see (empty when
    /// not signed in).
    pub fn libraries(&self) -> Vec<String> {
        let settings = self.settings();
        let Some(client) = self.client() else {
            return Vec::new();
        };
        client
            .libraries()
            .iter()
            .map(|l| l.id.as_str().to_string())
            .filter(|l| {
                settings
                    .imanage
                    .as_ref()
                    .is_none_or(|im| im.libraries.matches(l))
            })
            .collect()
    }
}

/// In-process figures for `/metrics` (job counts and per-library success times come from the
/// catalog, so they survive restarts).
#[derive(Debug)]
pub struct Metrics {
    bytes_read: AtomicU64,
    bytes_stored: AtomicU64,
    /// Finished jobs' durations by kind.
    durations: prometheus::HistogramVec,
}

/// Upper bounds (seconds) of the job-duration histogram buckets.
pub const DURATION_BUCKETS: &[f64] = &[
    1.0,
    10.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    4.0 * 3600.0,
    12.0 * 3600.0,
];

impl Default for Metrics {
    fn default() -> Self {
        let opts = prometheus::HistogramOpts::new(
            "imvault_job_duration_seconds",
            "Durations of jobs finished by this process.",
        )
        .buckets(DURATION_BUCKETS.to_vec());
        Self {
            bytes_read: AtomicU64::new(0),
            bytes_stored: AtomicU64::new(0),
            durations: prometheus::HistogramVec::new(opts, &["kind"])
                .expect("a valid histogram definition"),
        }
    }
}

impl Metrics {
    pub fn job_finished(&self, kind: JobKind, seconds: f64, bytes_read: u64, bytes_stored: u64) {
        self.bytes_read.fetch_add(bytes_read, Ordering::Relaxed);
        self.bytes_stored.fetch_add(bytes_stored, Ordering::Relaxed);
        self.durations
            .with_label_values(&[kind.as_str()])
            .observe(seconds);
    }

    /// Bytes read from iManage by finished jobs.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// New bytes stored by finished jobs.
    pub fn bytes_stored(&self) -> u64 {
        self.bytes_stored.load(Ordering::Relaxed)
    }

    /// The job-duration histogram (a handle on the same counts).
    pub fn durations(&self) -> prometheus::HistogramVec {
        self.durations.clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("the API needs a bearer token: set token_file in [api] of {config}")]
    NoToken { config: String },
    #[error("cannot read the API token from {path} (set by api.token_file)")]
    TokenRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the API token in {path} is too short ({len} characters; at least 16, e.g. `head -c 32 /dev/urandom | base64`)"
    )]
    TokenShort { path: PathBuf, len: usize },
    #[error(transparent)]
    TokenCredential(Box<crate::config::ConfigError>),
    #[error(
        "the API tokens {first:?} and {second:?} are the same token: give each its own (the name is the caller in the audit trail)"
    )]
    TokenTwice { first: String, second: String },
    #[error("the API token file is refused: {problem}")]
    TokenShared { problem: String },
    #[error("another imvault daemon already runs with this catalog (lock file {path})")]
    AlreadyRunning { path: PathBuf },
    #[error("cannot use the daemon lock file {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Reads the API token of the daemon's command-line clients (`imvault jobs`): the one of
/// `[api] token_file`, else the first of `[api] tokens`.
pub fn read_api_token(settings: &Settings) -> Result<Secret, DaemonError> {
    let tokens = read_api_tokens(settings)?;
    Ok(tokens
        .first()
        .cloned()
        .expect("read_api_tokens returns at least one token"))
}

/// Reads every API token: `[api] token_file` (named `default`) and each of `[api] tokens`.
/// None configured, an unreadable, shared or short file, or one token under two names is an
/// error.
pub fn read_api_tokens(settings: &Settings) -> Result<ApiTokens, DaemonError> {
    let mut tokens = Vec::new();
    if let Some(file) = &settings.api.token_file {
        tokens.push(NamedToken {
            name: crate::config::DEFAULT_TOKEN_NAME.to_string(),
            token: read_token_file(settings, file, "api.token")?,
        });
    }
    for t in &settings.api.tokens {
        let token = read_token_file(settings, &t.token_file, "api.tokens")?;
        if let Some(other) = tokens.iter().find(|o| o.token.expose() == token.expose()) {
            return Err(DaemonError::TokenTwice {
                first: other.name.clone(),
                second: t.name.clone(),
            });
        }
        tokens.push(NamedToken {
            name: t.name.clone(),
            token,
        });
    }
    if tokens.is_empty() {
        return Err(DaemonError::NoToken {
            config: settings
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "the configuration".into()),
        });
    }
    Ok(ApiTokens(tokens))
}

/// Reads one token file (relative paths from systemd's `$CREDENTIALS_DIRECTORY`, like every
/// other secret file).
fn read_token_file(
    settings: &Settings,
    file: &Path,
    key: &'static str,
) -> Result<Secret, DaemonError> {
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY");
    let config = settings.source.clone().unwrap_or_default();
    let path = crate::config::credential_path(
        file,
        credentials.as_deref().map(Path::new),
        &config,
        key,
        "",
    )
    .map_err(|e| DaemonError::TokenCredential(Box::new(e)))?;
    let from_systemd = credentials.is_some_and(|d| path.starts_with(d));
    let text = match crate::config::secret_file::read(&path, from_systemd) {
        Ok(text) => text,
        Err(crate::config::secret_file::SecretFileError::Io(source)) => {
            return Err(DaemonError::TokenRead { path, source });
        }
        Err(e) => {
            return Err(DaemonError::TokenShared {
                problem: e.describe(&path),
            });
        }
    };
    let token = text.trim().to_string();
    if token.len() < 16 {
        return Err(DaemonError::TokenShort {
            path,
            len: token.len(),
        });
    }
    Ok(Secret::new(token))
}

/// One API token and its name (the actor of its calls in the audit trail).
#[derive(Clone)]
pub struct NamedToken {
    pub name: String,
    pub token: Secret,
}

/// The API's bearer tokens.
#[derive(Clone, Default)]
pub struct ApiTokens(Vec<NamedToken>);

impl std::fmt::Debug for ApiTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|t| &t.name))
            .finish()
    }
}

impl ApiTokens {
    pub fn new(tokens: Vec<NamedToken>) -> Self {
        Self(tokens)
    }

    /// The first token (`default` when `[api] token_file` is set).
    pub fn first(&self) -> Option<&Secret> {
        self.0.first().map(|t| &t.token)
    }

    /// The name of the token `header` (`Bearer <token>`) presents, if it is one of them. Every
    /// token is compared, each in constant time.
    pub fn matching(&self, header: Option<&[u8]>) -> Option<&str> {
        use subtle::ConstantTimeEq as _;
        let given = header?.strip_prefix(b"Bearer ")?;
        let mut found = None;
        for t in &self.0 {
            if bool::from(given.ct_eq(t.token.expose().as_bytes())) {
                found = Some(t.name.as_str());
            }
        }
        found
    }
}

/// One daemon per catalog: an exclusive `flock` next to it, released when the process dies.
#[derive(Debug)]
pub struct DaemonLock {
    _file: std::fs::File,
}

impl DaemonLock {
    pub fn acquire(catalog_path: &Path) -> Result<Self, DaemonError> {
        let dir = catalog_path.parent().unwrap_or(Path::new("."));
        let path = dir.join("daemon.lock");
        let io = |source| DaemonError::Lock {
            path: path.clone(),
            source,
        };
        crate::private_fs::create_dir_all(dir).map_err(io)?;
        let file = crate::private_fs::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(DaemonError::AlreadyRunning { path }),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_daemon_per_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = dir.path().join("state/catalog.db");
        let first = DaemonLock::acquire(&catalog).unwrap();
        match DaemonLock::acquire(&catalog) {
            Err(DaemonError::AlreadyRunning { path }) => {
                assert_eq!(path, dir.path().join("state/daemon.lock"))
            }
            other => panic!("{other:?}"),
        }
        drop(first);
        DaemonLock::acquire(&catalog).unwrap();
    }

    /// Issue 16: named tokens next to the default one; each call's token is told by name; one
    /// token under two names, two tokens under one name and a bad name are refused.
    #[cfg(unix)]
    #[test]
    fn named_tokens_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, token: &str| {
            let p = dir.path().join(name);
            crate::private_fs::write(&p, format!("{token}\n")).unwrap();
            p
        };
        let default = write("default", "0123456789abcdef-default");
        let ops = write("ops", "0123456789abcdef-ops-token");
        let same = write("same", "0123456789abcdef-default");
        let settings = |tokens: &str| {
            let text = format!(
                "[repository]\nurl = \"memory://\"\n[api]\ntoken_file = \"{}\"\ntokens = [{tokens}]\n",
                default.display()
            );
            Settings::from_toml(&text, &dir.path().join("t.toml"), &Default::default())
        };
        let s = settings(&format!(
            "{{ name = \"ops\", token_file = \"{}\" }}",
            ops.display()
        ))
        .unwrap();
        let tokens = read_api_tokens(&s).unwrap();
        assert_eq!(
            tokens.matching(Some(b"Bearer 0123456789abcdef-ops-token")),
            Some("ops")
        );
        assert_eq!(
            tokens.matching(Some(b"Bearer 0123456789abcdef-default")),
            Some("default")
        );
        assert_eq!(
            tokens.matching(Some(b"Bearer 0123456789abcdef-ops-toke")),
            None
        );
        assert_eq!(tokens.matching(None), None);
        assert_eq!(
            read_api_token(&s).unwrap().expose(),
            "0123456789abcdef-default"
        );
        let twice = settings(&format!(
            "{{ name = \"again\", token_file = \"{}\" }}",
            same.display()
        ))
        .unwrap();
        let e = read_api_tokens(&twice).unwrap_err().to_string();
        assert!(e.contains("\"default\" and \"again\""), "{e}");
        assert!(!e.contains("0123456789abcdef"), "no token in errors: {e}");
        for bad in [
            format!(
                "{{ name = \"default\", token_file = \"{}\" }}",
                ops.display()
            ),
            format!(
                "{{ name = \"ops team\", token_file = \"{}\" }}",
                ops.display()
            ),
        ] {
            let e = settings(&bad).unwrap_err();
            assert!(
                crate::repo::error_chain(&e).contains("api.tokens[0].name"),
                "{bad}: {e}"
            );
        }
    }

    /// Issue 18: an API token file group or others can read is refused, naming the fix; a
    /// private one is read.
    #[cfg(unix)]
    #[test]
    fn a_token_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("api_token");
        std::fs::write(&token, "0123456789abcdef0123\n").unwrap();
        let text = format!(
            "[repository]\nurl = \"memory://\"\n[api]\ntoken_file = \"{}\"\n",
            token.display()
        );
        let settings =
            Settings::from_toml(&text, &dir.path().join("t.toml"), &Default::default()).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620] {
            std::fs::set_permissions(&token, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = read_api_token(&settings).unwrap_err().to_string();
            assert!(
                e.contains("chmod 600") && e.contains("api_token"),
                "{mode:o}: {e}"
            );
        }
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            read_api_token(&settings).unwrap().expose(),
            "0123456789abcdef0123"
        );
    }
}
