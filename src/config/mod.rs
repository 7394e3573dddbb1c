//! Resolved, validated settings.
//!
//! Precedence, for every value: command line > environment > configuration file > default.
//! [`Settings::load`] reads the file, resolves secrets (inline value, `*_file`, or environment
//! variable) and checks everything before any command runs; command code only ever sees a
//! [`Settings`].

mod file;
pub mod schedule;

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
        let shown = path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("<built-in>"));
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: shown.clone(),
            key: key.to_string(),
            message,
        };

        let imanage = match file.imanage {
            None => None,
            Some(im) => {
                if !matches!(im.url.scheme(), "https" | "http") {
                    return Err(invalid(
                        "imanage.url",
                        format!("must be an http(s) URL, got {:?}", im.url.as_str()),
                    ));
                }
                if im.client_id.trim().is_empty() {
                    return Err(invalid("imanage.client_id", "must not be empty".into()));
                }
                if im.username.trim().is_empty() {
                    return Err(invalid("imanage.username", "must not be empty".into()));
                }
                let client_secret = resolve_secret(
                    &shown,
                    env,
                    SecretSource {
                        key: "imanage.client_secret",
                        what: "the client secret",
                        inline: im.client_secret,
                        file: im.client_secret_file,
                        env_value: env.client_secret.clone(),
                        env_name: "IMVAULT_CLIENT_SECRET",
                    },
                )?;
                let auth_key = resolve_secret(
                    &shown,
                    env,
                    SecretSource {
                        key: "imanage.auth_key",
                        what: "the service account's auth key",
                        inline: im.auth_key,
                        file: im.auth_key_file,
                        env_value: env.auth_key.clone(),
                        env_name: "IMVAULT_AUTH_KEY",
                    },
                )?;
                let (Some(client_secret), Some(auth_key)) = (client_secret, auth_key) else {
                    return Err(invalid(
                        "imanage",
                        "client_secret (or client_secret_file, or IMVAULT_CLIENT_SECRET) and auth_key (or auth_key_file, or IMVAULT_AUTH_KEY) are required".into(),
                    ));
                };
                if im.libraries.is_empty() {
                    return Err(invalid(
                        "imanage.libraries",
                        "must name at least one library or glob (\"*\" for all)".into(),
                    ));
                }
                let libraries = LibraryFilter::new(im.libraries, im.exclude_libraries).map_err(
                    |(pat, e)| invalid("imanage.libraries", format!("bad glob {pat:?}: {e}")),
                )?;
                Some(ImanageSettings {
                    url: im.url,
                    client_id: im.client_id,
                    client_secret,
                    username: im.username,
                    auth_key,
                    requests_per_second: im.requests_per_second,
                    concurrency: im.concurrency,
                    libraries,
                })
            }
        };

        let r = file.repository;
        if !matches!(r.url.scheme(), "file" | "s3" | "memory") {
            return Err(invalid(
                "repository.url",
                format!("scheme must be file:// or s3://, got {:?}", r.url.as_str()),
            ));
        }
        if r.url.scheme() == "s3" && r.url.host_str().unwrap_or("").is_empty() {
            return Err(invalid(
                "repository.url",
                "s3:// URL needs a bucket: s3://bucket/prefix".into(),
            ));
        }
        if let Some(level) = r.compression_level
            && !(1..=19).contains(&level)
        {
            return Err(invalid(
                "repository.compression_level",
                format!("must be 1 to 19, got {level}"),
            ));
        }
        let secret_access_key = resolve_secret(
            &shown,
            env,
            SecretSource {
                key: "repository.secret_access_key",
                what: "the S3 secret access key",
                inline: r.secret_access_key,
                file: r.secret_access_key_file,
                env_value: env.s3_secret_access_key.clone(),
                env_name: "AWS_SECRET_ACCESS_KEY",
            },
        )?;
        let repository = RepositorySettings {
            url: r.url,
            endpoint: r.endpoint,
            region: r.region,
            allow_http: r.allow_http,
            access_key_id: r.access_key_id,
            secret_access_key,
            compression_level: r.compression_level,
            pack_size_mib: r.pack_size_mib,
        };

        if file.schedule.backup.split_whitespace().count() != 6 {
            return Err(invalid(
                "schedule.backup",
                format!(
                    "expected 6 fields (sec min hour day month weekday), got {:?}",
                    file.schedule.backup
                ),
            ));
        }

        // The daemon's schedules: every cron expression and the time zone must parse.
        if let Err((key, message)) = schedule::validate(&file.schedule) {
            return Err(invalid(&key, message));
        }
        if !(0.05..=86_400.0).contains(&file.daemon.checkpoint_secs) {
            return Err(invalid(
                "daemon.checkpoint_secs",
                format!("must be 0.05 to 86400, got {}", file.daemon.checkpoint_secs),
            ));
        }
        if !(0.05..=3_600.0).contains(&file.daemon.progress_secs) {
            return Err(invalid(
                "daemon.progress_secs",
                format!("must be 0.05 to 3600, got {}", file.daemon.progress_secs),
            ));
        }

        if !(0.0..=366.0).contains(&file.backup.full_listing_every_days) {
            return Err(invalid(
                "backup.full_listing_every_days",
                format!(
                    "must be 0 (list everything on every run) to 366 days, got {}",
                    file.backup.full_listing_every_days
                ),
            ));
        }
        if file.backup.change_margin_secs > 7 * 86_400 {
            return Err(invalid(
                "backup.change_margin_secs",
                format!(
                    "must be at most 604800 (a week), got {}",
                    file.backup.change_margin_secs
                ),
            ));
        }

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

struct SecretSource {
    key: &'static str,
    what: &'static str,
    inline: Option<Secret>,
    file: Option<PathBuf>,
    env_value: Option<String>,
    env_name: &'static str,
}

/// Environment wins over the file; inside the file, giving both the value and `*_file` is an error.
/// A relative `*_file` is read from systemd's `$CREDENTIALS_DIRECTORY` when set (LoadCredential=).
fn resolve_secret(path: &Path, env: &Env, s: SecretSource) -> Result<Option<Secret>, ConfigError> {
    if let Some(v) = s.env_value {
        return Ok(Some(Secret::new(v)));
    }
    match (s.inline, s.file) {
        (Some(_), Some(_)) => Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            key: s.key.to_string(),
            message: format!(
                "give either {0} or {0}_file, not both",
                s.key.rsplit('.').next().unwrap_or(s.key)
            ),
        }),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(f)) => {
            let full = match (&env.credentials_directory, f.is_relative()) {
                (Some(dir), true) => dir.join(&f),
                _ => f.clone(),
            };
            let text =
                std::fs::read_to_string(&full).map_err(|source| ConfigError::SecretFile {
                    path: path.to_path_buf(),
                    key: s.key,
                    what: s.what,
                    file: full.clone(),
                    source,
                })?;
            let value = text.trim_end_matches(['\n', '\r']).to_string();
            if value.is_empty() {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    key: format!("{}_file", s.key),
                    message: format!("{} is empty", full.display()),
                });
            }
            Ok(Some(Secret::new(value)))
        }
        (None, None) => {
            let _ = s.env_name;
            Ok(None)
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
