//! Resolved, validated settings.
//!
//! Precedence, for every value: command line > environment > configuration file > default.
//! [`Settings::load`] reads the file, resolves secrets (inline value, `*_file`, or environment
//! variable) and checks everything before any command runs; command code only ever sees a
//! [`Settings`].

mod file;
mod resolve;
pub mod schedule;
pub mod secret_file;

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

pub use crate::logging::LogFormat;
pub use file::FileConfig;
pub use file::{ApiFile, ApiTokenFile, DEFAULT_TOKEN_NAME, DaemonFile, ScheduleFile};

use crate::secret::Secret;

/// Where the configuration file is looked for when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/imvault/imvault.toml";
/// Environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "IMVAULT_CONFIG";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration file {path}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// A relative `*_file` without `$CREDENTIALS_DIRECTORY`: the message names the variable and
    /// the unit's `LoadCredential=` line ([`credential_path`]).
    #[error("{message}")]
    NoCredentialsDirectory { message: String },
    #[error("cannot read {what} from {file} (set by {key}_file in {path})")]
    SecretFile {
        path: PathBuf,
        key: &'static str,
        what: &'static str,
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What the environment contributes; captured once so tests can pass their own.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub client_secret: Option<String>,
    pub auth_key: Option<String>,
    pub s3_secret_access_key: Option<String>,
    /// `IMVAULT_PASSWORD`: the repository password.
    pub repository_password: Option<String>,
    pub credentials_directory: Option<PathBuf>,
    /// `IMVAULT_TEST_SETTINGS=1`: settings meant for tests only (`[repository] lock_seconds`)
    /// are honoured; without it they are a configuration error, so a production file cannot
    /// shorten an Object Lock to seconds.
    pub test_settings: bool,
}

impl Env {
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            client_secret: var("IMVAULT_CLIENT_SECRET"),
            auth_key: var("IMVAULT_AUTH_KEY"),
            s3_secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            repository_password: var("IMVAULT_PASSWORD"),
            credentials_directory: var("CREDENTIALS_DIRECTORY").map(PathBuf::from),
            test_settings: var("IMVAULT_TEST_SETTINGS").is_some_and(|v| v == "1"),
        }
    }
}

/// The iManage tenant and service account.
#[derive(Debug, Clone, Serialize)]
pub struct ImanageSettings {
    pub url: url::Url,
    pub client_id: String,
    pub client_secret: Secret,
    pub username: String,
    pub auth_key: Secret,
    pub requests_per_second: NonZeroU32,
    pub concurrency: NonZeroUsize,
    pub libraries: LibraryFilter,
}

/// Which libraries are protected: include globs minus exclude globs, matched case-insensitively.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryFilter {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    #[serde(skip)]
    include_set: globset::GlobSet,
    #[serde(skip)]
    exclude_set: globset::GlobSet,
}

impl LibraryFilter {
    pub fn new(
        include: Vec<String>,
        exclude: Vec<String>,
    ) -> Result<Self, (String, globset::Error)> {
        let build = |pats: &[String]| -> Result<globset::GlobSet, (String, globset::Error)> {
            let mut b = globset::GlobSetBuilder::new();
            for p in pats {
                let g = globset::GlobBuilder::new(p)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| (p.clone(), e))?;
                b.add(g);
            }
            b.build().map_err(|e| (pats.join(","), e))
        };
        Ok(Self {
            include_set: build(&include)?,
            exclude_set: build(&exclude)?,
            include,
            exclude,
        })
    }

    /// Every library.
    pub fn all() -> Self {
        Self::new(vec!["*".into()], vec![]).expect("'*' is a valid glob")
    }

    pub fn matches(&self, library: &str) -> bool {
        self.include_set.is_match(library) && !self.exclude_set.is_match(library)
    }
}

/// Where the repository lives and how to reach it.
#[derive(Debug, Clone, Serialize)]
pub struct RepositorySettings {
    pub url: url::Url,
    pub endpoint: Option<url::Url>,
    pub region: Option<String>,
    pub allow_http: bool,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    /// The repository password (`password`, `password_file` or `IMVAULT_PASSWORD`).
    pub password: Option<Secret>,
    /// The contents of `[repository] key_file` (used when no password is given).
    pub key_file: Option<Secret>,
    /// Why the configured password could not be read here (e.g. a relative `password_file`
    /// outside systemd): opening an encrypted repository fails with it; the rest works.
    #[serde(skip)]
    pub password_unavailable: Option<Arc<ConfigError>>,
    pub compression_level: Option<i32>,
    pub pack_size_mib: Option<NonZeroU32>,
    pub outage_wait_secs: Option<u64>,
    /// `[repository.maintenance]`: the credentials prune and forget use instead of the ones
    /// above (which then need no delete permission).
    pub maintenance: Option<MaintenanceCredentials>,
    /// `object_lock` with `lock_days` (or the test-only `lock_seconds`): `None` when off.
    pub object_lock: Option<crate::repo::object_lock::ObjectLockConfig>,
    /// Where the loaded index keeps its temporary files: `tmp/` of the local state (next to
    /// the catalog), not the system's temporary directory. Not a setting of its own.
    #[serde(skip)]
    pub scratch_dir: Option<PathBuf>,
}

/// The maintenance role's S3 credentials (`[repository.maintenance]`).
#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
}

impl RepositorySettings {
    /// The settings the commands that delete (prune, forget) reach the repository with: the
    /// `[repository.maintenance]` credentials when given, else these.
    pub fn for_maintenance(&self) -> RepositorySettings {
        let mut r = self.clone();
        if let Some(m) = &self.maintenance {
            r.access_key_id = Some(m.access_key_id.clone());
            r.secret_access_key = Some(m.secret_access_key.clone());
        }
        r
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// The file these settings came from, if any.
    pub source: Option<PathBuf>,
    /// Absent when the file has no `[imanage]` table (repository-only commands still work).
    pub imanage: Option<ImanageSettings>,
    pub repository: RepositorySettings,
    pub catalog_path: PathBuf,
    pub schedule: file::ScheduleFile,
    pub api: file::ApiFile,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub daemon: file::DaemonFile,
    /// `[retention]`: what `imvault forget` keeps when no `--keep-*` flag is given.
    pub retention: crate::repo::retention::RetentionPolicies,
    /// `[backup]`: how incremental backups list a library.
    pub backup: file::BackupFile,
    /// Set when the file has an `[imanage]` table whose secrets could not be read here (e.g. a
    /// relative `*_file` outside systemd): commands that never reach iManage still work, the
    /// others fail with this error. Only [`Settings::load_offline`] leaves it set.
    #[serde(skip)]
    pub imanage_unavailable: Option<Arc<ConfigError>>,
    /// The file as parsed, every default filled in (what `config show` prints: a valid
    /// configuration file, secrets as `***`).
    #[serde(skip)]
    pub file: FileConfig,
}

impl Settings {
    /// Reads, parses and resolves the configuration file at `path`.
    pub fn load(path: &Path, env: &Env) -> Result<Self, ConfigError> {
        Self::load_offline(path, env)?.require_imanage_secrets()
    }

    /// The keys of secrets written in the configuration file itself (not in `*_file`s, the
    /// environment or systemd credentials).
    pub fn inline_secrets(&self) -> Vec<&'static str> {
        let f = &self.file;
        let r = &f.repository;
        let i = f.imanage.as_ref();
        [
            (
                i.is_some_and(|i| i.client_secret.is_some()),
                "imanage.client_secret",
            ),
            (i.is_some_and(|i| i.auth_key.is_some()), "imanage.auth_key"),
            (r.password.is_some(), "repository.password"),
            (
                r.secret_access_key.is_some(),
                "repository.secret_access_key",
            ),
            (
                r.maintenance
                    .as_ref()
                    .is_some_and(|m| m.secret_access_key.is_some()),
                "repository.maintenance.secret_access_key",
            ),
        ]
        .into_iter()
        .filter_map(|(inline, key)| inline.then_some(key))
        .collect()
    }

    /// A warning when the configuration file holds secrets inline and group or others may
    /// read or change it (secret files in that state are refused; an inline secret is only
    /// warned about, so that an existing setup keeps running): names the keys and the fix.
    pub fn shared_secrets_warning(&self) -> Option<String> {
        let path = self.source.as_ref()?;
        let keys = self.inline_secrets();
        if keys.is_empty() {
            return None;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
            (mode & 0o066 != 0).then(|| {
                format!(
                    "{} holds {} inline and can be read or changed by group or others (mode {mode:04o}): make it private (chmod 600 {}), or move the secrets to *_file settings or systemd credentials",
                    path.display(),
                    keys.join(", "),
                    path.display()
                )
            })
        }
        #[cfg(not(unix))]
        None
    }

    /// As [`Settings::load`], for commands that never reach iManage: `[imanage]` secrets that
    /// cannot be read leave [`Settings::imanage`] unset and the reason in
    /// [`Settings::imanage_unavailable`] instead of failing.
    pub fn load_offline(path: &Path, env: &Env) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: describe_toml_error(&text, &e),
        })?;
        Self::resolve_offline(file, Some(path), env)
    }

    /// Fails with the reason the `[imanage]` secrets could not be read, if they could not.
    pub fn require_imanage_secrets(self) -> Result<Self, ConfigError> {
        match self.imanage_unavailable {
            Some(e) => Err(Arc::try_unwrap(e).unwrap_or_else(|e| ConfigError::Invalid {
                path: self.source.clone().unwrap_or_default(),
                key: "imanage".into(),
                message: e.to_string(),
            })),
            None => Ok(self),
        }
    }

    /// Parses and resolves configuration text; `path` only names the source in errors.
    pub fn from_toml(text: &str, path: &Path, env: &Env) -> Result<Self, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: describe_toml_error(text, &e),
        })?;
        Self::resolve(file, Some(path), env)
    }

    /// Turns a parsed file into settings: secrets resolved, values checked.
    pub fn resolve(file: FileConfig, path: Option<&Path>, env: &Env) -> Result<Self, ConfigError> {
        Self::resolve_offline(file, path, env)?.require_imanage_secrets()
    }

    /// As [`Settings::resolve`], leaving unreadable `[imanage]` secrets in
    /// [`Settings::imanage_unavailable`].
    pub fn resolve_offline(
        file: FileConfig,
        path: Option<&Path>,
        env: &Env,
    ) -> Result<Self, ConfigError> {
        let parsed = file.clone();
        let check = resolve::Check {
            path: path
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("<built-in>")),
            env,
        };
        let (imanage, imanage_unavailable) = match file.imanage.map(|im| check.imanage(im)) {
            None => (None, None),
            Some(r) => match r? {
                Ok(im) => (Some(im), None),
                Err(e) => (None, Some(Arc::new(e))),
            },
        };
        let mut repository = check.repository(file.repository)?;
        repository.scratch_dir = Some(
            file.catalog
                .path
                .parent()
                .unwrap_or(Path::new("."))
                .join("tmp"),
        );
        check.schedule(&file.schedule)?;
        check.daemon(&file.daemon)?;
        check.api(&file.api)?;
        check.backup(&file.backup)?;
        Ok(Self {
            source: path.map(Path::to_path_buf),
            imanage,
            repository,
            catalog_path: file.catalog.path,
            schedule: file.schedule,
            api: file.api,
            log_format: file.logging.format,
            log_level: file.logging.level,
            daemon: file.daemon,
            retention: file.retention.policies(),
            backup: file.backup,
            imanage_unavailable,
            file: parsed,
        })
    }

    /// The configuration with every default filled in, in the file's own keys (a valid
    /// configuration file), every secret shown as `***`.
    pub fn redacted_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.file).unwrap_or(serde_json::Value::Null)
    }
}

/// Where a credential `*_file` is read: a relative path from systemd's `$CREDENTIALS_DIRECTORY`
/// (LoadCredential=); without it, the error names the variable and the unit's line. `config` is
/// the configuration file, `key` the key without `_file`, `env_name` the variable that can
/// replace the file (or empty).
pub fn credential_path(
    file: &Path,
    credentials_directory: Option<&Path>,
    config: &Path,
    key: &'static str,
    env_name: &str,
) -> Result<PathBuf, ConfigError> {
    if !file.is_relative() {
        return Ok(file.to_path_buf());
    }
    match credentials_directory {
        Some(dir) => Ok(dir.join(file)),
        None => {
            let dir = config
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("/etc/imvault"));
            let env_hint = if env_name.is_empty() {
                String::new()
            } else {
                format!(", or {env_name}")
            };
            Err(ConfigError::NoCredentialsDirectory {
                message: format!(
                    "{key}_file = {file:?} in {config} is a systemd credential: a relative path is read from $CREDENTIALS_DIRECTORY, which is not set here (systemd sets it for the service from `LoadCredential={name}:{source}` in imvault.service); outside the service give an absolute path, set CREDENTIALS_DIRECTORY{env_hint}",
                    config = config.display(),
                    name = file.display(),
                    source = dir.join(file).display(),
                ),
            })
        }
    }
}

/// toml's message already names the key and quotes the line; lead with "line N, column M" so the
/// operator sees the place first even when the message is flattened into one log line.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_string();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before
                .rfind('\n')
                .map(|i| span.start - i)
                .unwrap_or(span.start + 1);
            let src_line = text.lines().nth(line - 1).unwrap_or("").trim();
            format!("line {line}, column {col}: {msg} (at `{src_line}`)")
        }
        None => msg,
    }
}

#[cfg(test)]
mod tests;
