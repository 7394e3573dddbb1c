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

use serde::Serialize;

pub use crate::logging::LogFormat;
pub use file::FileConfig;
pub use file::{ApiFile, DaemonFile, ScheduleFile};

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
    #[error("cannot read {what} from {file} (set by {key} in {path})")]
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
    pub credentials_directory: Option<PathBuf>,
}

impl Env {
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            client_secret: var("IMVAULT_CLIENT_SECRET"),
            auth_key: var("IMVAULT_AUTH_KEY"),
            s3_secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            credentials_directory: var("CREDENTIALS_DIRECTORY").map(PathBuf::from),
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
    pub compression_level: Option<i32>,
    pub pack_size_mib: Option<NonZeroU32>,
    pub outage_wait_secs: Option<u64>,
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
}

impl Settings {
    /// Reads, parses and resolves the configuration file at `path`.
    pub fn load(path: &Path, env: &Env) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, path, env)
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
        let check = resolve::Check {
            path: path
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("<built-in>")),
            env,
        };
        let imanage = file.imanage.map(|im| check.imanage(im)).transpose()?;
        let repository = check.repository(file.repository)?;
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
        })
    }

    /// The effective configuration as TOML-like JSON with every secret shown as `***`.
    pub fn redacted_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
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
