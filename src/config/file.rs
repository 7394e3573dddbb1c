//! The TOML configuration file as written by the operator (`config/imvault.example.toml`).
//!
//! Every table denies unknown keys and every value is typed, so a typo or a wrong type is
//! rejected by the parser with the file's line and column and the key's name.

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::logging::LogFormat;
use crate::secret::Secret;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub imanage: Option<ImanageFile>,
    #[serde(default)]
    pub repository: RepositoryFile,
    #[serde(default)]
    pub catalog: CatalogFile,
    #[serde(default)]
    pub schedule: ScheduleFile,
    #[serde(default)]
    pub api: ApiFile,
    #[serde(default)]
    pub logging: LoggingFile,
    #[serde(default)]
    pub daemon: DaemonFile,
    #[serde(default)]
    pub retention: RetentionFile,
    #[serde(default)]
    pub backup: BackupFile,
}

/// `[backup]`: how incremental backups list a library.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackupFile {
    /// Incremental runs of a crawling (`system`) account list only what changed since the
    /// last snapshot, and every version at least this often, in days. 0: every run lists
    /// every version.
    #[serde(default = "default_full_listing_days")]
    pub full_listing_every_days: f64,
    /// Taken off the last snapshot's start time for a changes-only listing, in seconds: the
    /// largest clock difference expected between this host and the iManage servers.
    #[serde(default = "default_change_margin_secs")]
    pub change_margin_secs: u64,
}
impl Default for BackupFile {
    fn default() -> Self {
        Self {
            full_listing_every_days: default_full_listing_days(),
            change_margin_secs: default_change_margin_secs(),
        }
    }
}
fn default_full_listing_days() -> f64 {
    7.0
}
fn default_change_margin_secs() -> u64 {
    3_600
}
impl BackupFile {
    /// `BackupRequest::full_listing_every` (`None`: every run lists everything).
    pub fn full_listing_every(&self) -> Option<std::time::Duration> {
        (self.full_listing_every_days > 0.0)
            .then(|| std::time::Duration::from_secs_f64(self.full_listing_every_days * 86_400.0))
    }
    pub fn change_margin(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.change_margin_secs)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImanageFile {
    /// Tenant base URL, e.g. `https://cloudimanage.com`.
    pub url: url::Url,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<PathBuf>,
    pub username: String,
    pub auth_key: Option<Secret>,
    pub auth_key_file: Option<PathBuf>,
    #[serde(default = "default_rps")]
    pub requests_per_second: NonZeroU32,
    #[serde(default = "default_concurrency")]
    pub concurrency: NonZeroUsize,
    #[serde(default = "default_libraries")]
    pub libraries: Vec<String>,
    #[serde(default)]
    pub exclude_libraries: Vec<String>,
}

pub fn default_rps() -> NonZeroU32 {
    NonZeroU32::new(20).expect("20 is not zero")
}
pub fn default_concurrency() -> NonZeroUsize {
    NonZeroUsize::new(8).expect("8 is not zero")
}
fn default_libraries() -> Vec<String> {
    vec!["*".to_string()]
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryFile {
    /// `file:///path` (default) or `s3://bucket/prefix`.
    #[serde(default = "default_repo_url")]
    pub url: url::Url,
    pub endpoint: Option<url::Url>,
    pub region: Option<String>,
    #[serde(default)]
    pub allow_http: bool,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    pub secret_access_key_file: Option<PathBuf>,
    /// The repository password (discouraged: prefer `password_file` or `IMVAULT_PASSWORD`).
    pub password: Option<Secret>,
    /// A file holding the repository password (relative: from `$CREDENTIALS_DIRECTORY`).
    pub password_file: Option<PathBuf>,
    /// A key file (made by `imvault key add --new-key-file`) that opens the repository instead
    /// of a password (relative: from `$CREDENTIALS_DIRECTORY`).
    pub key_file: Option<PathBuf>,
    /// zstd level for new blobs (1–19).
    pub compression_level: Option<i32>,
    /// Target pack size in MiB.
    pub pack_size_mib: Option<NonZeroU32>,
    /// How long a backup waits for an unreachable repository (connection refused, timeouts,
    /// 5xx) before it fails, in seconds (default 600; 0: fail at once).
    pub outage_wait_secs: Option<u64>,
    /// `[repository.maintenance]`: other credentials for the commands that delete (prune,
    /// forget); the ones above then need no delete permission (README, "Ransomware-proof
    /// storage").
    pub maintenance: Option<MaintenanceFile>,
    /// S3 Object Lock on every object imvault writes: `"off"` (default), `"governance"` or
    /// `"compliance"` (docs/FORMAT.md §20; the bucket needs versioning and Object Lock).
    #[serde(default)]
    pub object_lock: crate::repo::object_lock::ObjectLockSetting,
    /// Days each write is retained (1–36500); required when `object_lock` is on.
    pub lock_days: Option<crate::repo::object_lock::LockDays>,
    /// For tests only: the retention in seconds instead of `lock_days` (so a test sees a lock
    /// end without waiting for days). Do not use in production.
    pub lock_seconds: Option<u64>,
}

/// `[repository.maintenance]`: the maintenance role's S3 credentials.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceFile {
    pub access_key_id: String,
    pub secret_access_key: Option<Secret>,
    pub secret_access_key_file: Option<PathBuf>,
}

impl Default for RepositoryFile {
    fn default() -> Self {
        Self {
            url: default_repo_url(),
            endpoint: None,
            region: None,
            allow_http: false,
            access_key_id: None,
            secret_access_key: None,
            secret_access_key_file: None,
            password: None,
            password_file: None,
            key_file: None,
            compression_level: None,
            pack_size_mib: None,
            outage_wait_secs: None,
            maintenance: None,
            object_lock: Default::default(),
            lock_days: None,
            lock_seconds: None,
        }
    }
}

fn default_repo_url() -> url::Url {
    url::Url::parse("file:///var/lib/imvault/repo").expect("constant URL parses")
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    #[serde(default = "default_catalog_path")]
    pub path: PathBuf,
}
impl Default for CatalogFile {
    fn default() -> Self {
        Self {
            path: default_catalog_path(),
        }
    }
}
fn default_catalog_path() -> PathBuf {
    PathBuf::from("/var/lib/imvault/catalog.db")
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    /// Cron expression with seconds: `sec min hour day-of-month month day-of-week`.
    #[serde(default = "default_backup_cron")]
    pub backup: String,
    /// IANA time zone name the cron expression is read in.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Per-library schedules (library id → cron expression, or `"off"`), replacing `backup`.
    #[serde(default)]
    pub libraries: std::collections::BTreeMap<String, String>,
    /// When the daemon runs repository maintenance (forget by `[retention]`, then prune, with
    /// the `[repository.maintenance]` credentials): a cron expression; absent or `"off"`: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<String>,
}
impl Default for ScheduleFile {
    fn default() -> Self {
        Self {
            backup: default_backup_cron(),
            timezone: default_timezone(),
            libraries: Default::default(),
            maintenance: None,
        }
    }
}
fn default_backup_cron() -> String {
    "0 0 1 * * *".to_string()
}
fn default_timezone() -> String {
    "UTC".to_string()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFile {
    #[serde(default = "default_listen")]
    pub listen: std::net::SocketAddr,
    /// The single bearer token of the API, named `default` in the audit trail.
    pub token_file: Option<PathBuf>,
    /// Named tokens (`[{ name = "ops", token_file = "..." }, ...]`): the name is the actor of the
    /// calls made with it in the audit trail.
    #[serde(default)]
    pub tokens: Vec<ApiTokenFile>,
    /// Restores through the API export only below this directory (absolute); never into the
    /// repository, the catalog or the state directory either way.
    pub restore_root: Option<PathBuf>,
}
impl Default for ApiFile {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            token_file: None,
            tokens: Vec::new(),
            restore_root: None,
        }
    }
}

/// One named API token.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenFile {
    pub name: String,
    pub token_file: PathBuf,
}

/// The name of the token of `[api] token_file`.
pub const DEFAULT_TOKEN_NAME: &str = "default";
fn default_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 7300))
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingFile {
    pub format: Option<LogFormat>,
    /// A tracing filter such as `info` or `imvault=debug`.
    pub level: Option<String>,
}

/// `imvault serve`: how the daemon runs its jobs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonFile {
    /// Jobs run at the same time.
    #[serde(default = "default_workers")]
    pub workers: NonZeroUsize,
    /// On SIGTERM, how long running jobs get to reach a checkpoint before the daemon exits.
    #[serde(default = "default_drain_secs")]
    pub drain_timeout_secs: u64,
    /// How often a running backup makes its progress durable (packs, index, resume record).
    #[serde(default = "default_checkpoint_secs")]
    pub checkpoint_secs: f64,
    /// How often a running job's progress counters are written to its job record.
    #[serde(default = "default_progress_secs")]
    pub progress_secs: f64,
    /// Finished jobs are forgotten this many days after they finished.
    #[serde(default = "default_keep_jobs_days")]
    pub keep_jobs_days: u32,
}
impl Default for DaemonFile {
    fn default() -> Self {
        Self {
            workers: default_workers(),
            drain_timeout_secs: default_drain_secs(),
            checkpoint_secs: default_checkpoint_secs(),
            progress_secs: default_progress_secs(),
            keep_jobs_days: default_keep_jobs_days(),
        }
    }
}
fn default_keep_jobs_days() -> u32 {
    90
}
fn default_workers() -> NonZeroUsize {
    NonZeroUsize::new(2).expect("2 is not zero")
}
fn default_drain_secs() -> u64 {
    90
}
fn default_checkpoint_secs() -> f64 {
    60.0
}
fn default_progress_secs() -> f64 {
    2.0
}

/// `[retention]`: the keep policy `imvault forget` applies when no `--keep-*` flag is given,
/// and `[retention.libraries.<LIB>]` tables replacing it for one library.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionFile {
    #[serde(default)]
    pub keep_last: u32,
    #[serde(default)]
    pub keep_daily: u32,
    #[serde(default)]
    pub keep_weekly: u32,
    #[serde(default)]
    pub keep_monthly: u32,
    #[serde(default)]
    pub keep_yearly: u32,
    /// A duration such as `30d`, `2w`, `1y6m`.
    pub keep_within: Option<crate::repo::retention::KeepWithin>,
    #[serde(default)]
    pub libraries: std::collections::BTreeMap<String, crate::repo::retention::KeepPolicy>,
}

impl RetentionFile {
    pub fn policies(&self) -> crate::repo::retention::RetentionPolicies {
        crate::repo::retention::RetentionPolicies {
            default: crate::repo::retention::KeepPolicy {
                keep_last: self.keep_last,
                keep_daily: self.keep_daily,
                keep_weekly: self.keep_weekly,
                keep_monthly: self.keep_monthly,
                keep_yearly: self.keep_yearly,
                keep_within: self.keep_within,
            },
            libraries: self.libraries.clone(),
        }
    }
}
