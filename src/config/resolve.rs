//! Resolving a parsed configuration file: every table checked, every secret read (inline value,
//! `*_file`, or environment variable). Errors name the file and the key.

use std::path::{Path, PathBuf};

use super::file::{self, DaemonFile, ScheduleFile};
use super::{ConfigError, Env, ImanageSettings, LibraryFilter, RepositorySettings, schedule};
use crate::secret::Secret;

/// Checks and resolves the tables of one configuration file; errors name the file and key.
pub(super) struct Check<'a> {
    /// The file, as errors name it.
    pub path: PathBuf,
    pub env: &'a Env,
}

impl Check<'_> {
    fn invalid(&self, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.clone(),
            key: key.to_string(),
            message,
        }
    }

    fn secret(&self, s: SecretSource) -> Result<Option<Secret>, ConfigError> {
        resolve_secret(&self.path, self.env, s)
    }

    /// `[imanage]`: the tenant URL, the account, both secrets, the library filter. The outer
    /// error is an invalid table; the inner one secrets that could not be read here.
    pub(super) fn imanage(
        &self,
        im: file::ImanageFile,
    ) -> Result<Result<ImanageSettings, ConfigError>, ConfigError> {
        if !matches!(im.url.scheme(), "https" | "http") {
            return Err(self.invalid(
                "imanage.url",
                format!("must be an http(s) URL, got {:?}", im.url.as_str()),
            ));
        }
        if im.client_id.trim().is_empty() {
            return Err(self.invalid("imanage.client_id", "must not be empty".into()));
        }
        if im.username.trim().is_empty() {
            return Err(self.invalid("imanage.username", "must not be empty".into()));
        }
        if im.libraries.is_empty() {
            return Err(self.invalid(
                "imanage.libraries",
                "must name at least one library or glob (\"*\" for all)".into(),
            ));
        }
        let libraries =
            LibraryFilter::new(im.libraries, im.exclude_libraries).map_err(|(pat, e)| {
                self.invalid("imanage.libraries", format!("bad glob {pat:?}: {e}"))
            })?;
        let secrets = || -> Result<(Secret, Secret), ConfigError> {
            let client_secret = self.secret(SecretSource {
                key: "imanage.client_secret",
                what: "the client secret",
                inline: im.client_secret,
                file: im.client_secret_file,
                env_value: self.env.client_secret.clone(),
                env_name: "IMVAULT_CLIENT_SECRET",
            })?;
            let auth_key = self.secret(SecretSource {
                key: "imanage.auth_key",
                what: "the service account's auth key",
                inline: im.auth_key,
                file: im.auth_key_file,
                env_value: self.env.auth_key.clone(),
                env_name: "IMVAULT_AUTH_KEY",
            })?;
            let (Some(client_secret), Some(auth_key)) = (client_secret, auth_key) else {
                return Err(self.invalid(
                "imanage",
                "client_secret (or client_secret_file, or IMVAULT_CLIENT_SECRET) and auth_key (or auth_key_file, or IMVAULT_AUTH_KEY) are required".into(),
            ));
            };
            Ok((client_secret, auth_key))
        };
        let (client_secret, auth_key) = match secrets() {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(ImanageSettings {
            url: im.url,
            client_id: im.client_id,
            client_secret,
            username: im.username,
            auth_key,
            requests_per_second: im.requests_per_second,
            concurrency: im.concurrency,
            libraries,
        }))
    }

    /// `[repository]`: the URL's scheme, the bucket of an S3 URL, the zstd level, the secret.
    pub(super) fn repository(
        &self,
        r: file::RepositoryFile,
    ) -> Result<RepositorySettings, ConfigError> {
        self.repository_limits(&r)?;
        let secret_access_key = self.secret(SecretSource {
            key: "repository.secret_access_key",
            what: "the S3 secret access key",
            inline: r.secret_access_key,
            file: r.secret_access_key_file,
            env_value: self.env.s3_secret_access_key.clone(),
            env_name: "AWS_SECRET_ACCESS_KEY",
        })?;
        let key = self.repository_key(r.password, r.password_file, r.key_file)?;
        let maintenance = r
            .maintenance
            .map(|m| self.maintenance_credentials(m))
            .transpose()?;
        let object_lock = self.object_lock(&r.url, r.object_lock, r.lock_days, r.lock_seconds)?;
        Ok(RepositorySettings {
            maintenance,
            object_lock,
            url: r.url,
            endpoint: r.endpoint,
            region: r.region,
            allow_http: r.allow_http,
            access_key_id: r.access_key_id,
            secret_access_key,
            password: key.password,
            key_file: key.key_file,
            password_unavailable: key.unavailable,
            compression_level: r.compression_level,
            pack_size_mib: r.pack_size_mib,
            outage_wait_secs: r.outage_wait_secs,
            scratch_dir: None,
        })
    }

    /// The URL's scheme and bucket, and the numeric settings' ranges.
    fn repository_limits(&self, r: &file::RepositoryFile) -> Result<(), ConfigError> {
        if !matches!(r.url.scheme(), "file" | "s3" | "memory") {
            return Err(self.invalid(
                "repository.url",
                format!("scheme must be file:// or s3://, got {:?}", r.url.as_str()),
            ));
        }
        if r.url.scheme() == "s3" && r.url.host_str().unwrap_or("").is_empty() {
            return Err(self.invalid(
                "repository.url",
                "s3:// URL needs a bucket: s3://bucket/prefix".into(),
            ));
        }
        if let Some(level) = r.compression_level
            && !(1..=19).contains(&level)
        {
            return Err(self.invalid(
                "repository.compression_level",
                format!("must be 1 to 19, got {level}"),
            ));
        }
        if let Some(mib) = r.pack_size_mib
            && u64::from(mib.get()) * 1024 * 1024 > crate::repo::config::MAX_PACK_SIZE
        {
            // Pack offsets are 32-bit: a larger pack would wrap them and corrupt the index.
            return Err(self.invalid(
                "repository.pack_size_mib",
                format!("must be 1 to 1024 (MiB), got {mib}"),
            ));
        }
        if let Some(secs) = r.outage_wait_secs
            && secs > 86_400
        {
            return Err(self.invalid(
                "repository.outage_wait_secs",
                format!("must be 0 to 86400, got {secs}"),
            ));
        }
        Ok(())
    }

    /// The repository password, or else its key file. One that cannot be read here is kept as
    /// the reason (`unavailable`): only commands that open the repository need it.
    fn repository_key(
        &self,
        inline: Option<Secret>,
        file: Option<std::path::PathBuf>,
        key_file: Option<std::path::PathBuf>,
    ) -> Result<RepositoryKey, ConfigError> {
        let (password, unavailable) = match self.secret(SecretSource {
            key: "repository.password",
            what: "the repository password",
            inline,
            file,
            env_value: self.env.repository_password.clone(),
            env_name: "IMVAULT_PASSWORD",
        }) {
            Ok(p) => (p, None),
            // Both the value and the file: a mistake in the file itself.
            Err(e @ ConfigError::Invalid { .. }) if e.to_string().contains("not both") => {
                return Err(e);
            }
            Err(e) => (None, Some(std::sync::Arc::new(e))),
        };
        let (key_file, unavailable) = match (&password, unavailable) {
            (None, None) => match self.secret(SecretSource {
                key: "repository.key",
                what: "the repository key file",
                inline: None,
                file: key_file,
                env_value: None,
                env_name: "IMVAULT_PASSWORD",
            }) {
                Ok(k) => (k, None),
                Err(e) => (None, Some(std::sync::Arc::new(e))),
            },
            (_, unavailable) => (None, unavailable),
        };
        Ok(RepositoryKey {
            password,
            key_file,
            unavailable,
        })
    }

    /// `[repository.maintenance]`: the maintenance role's S3 credentials.
    fn maintenance_credentials(
        &self,
        m: file::MaintenanceFile,
    ) -> Result<crate::config::MaintenanceCredentials, ConfigError> {
        if m.access_key_id.trim().is_empty() {
            return Err(self.invalid(
                "repository.maintenance.access_key_id",
                "must not be empty".into(),
            ));
        }
        let secret = self.secret(SecretSource {
            key: "repository.maintenance.secret_access_key",
            what: "the maintenance role's S3 secret access key",
            inline: m.secret_access_key,
            file: m.secret_access_key_file,
            env_value: None,
            env_name: "(none)",
        })?;
        let Some(secret_access_key) = secret else {
            return Err(self.invalid(
                "repository.maintenance",
                "needs secret_access_key or secret_access_key_file".into(),
            ));
        };
        Ok(crate::config::MaintenanceCredentials {
            access_key_id: m.access_key_id,
            secret_access_key,
        })
    }

    /// `object_lock`, `lock_days` and the test-only `lock_seconds` (the range of `lock_days` is
    /// checked by the parser, with the line).
    fn object_lock(
        &self,
        url: &url::Url,
        setting: crate::repo::object_lock::ObjectLockSetting,
        days: Option<crate::repo::object_lock::LockDays>,
        seconds: Option<u64>,
    ) -> Result<Option<crate::repo::object_lock::ObjectLockConfig>, ConfigError> {
        let Some(mode) = setting.mode() else {
            if days.is_some() || seconds.is_some() {
                return Err(self.invalid(
                    "repository.lock_days",
                    "is set but object_lock is \"off\": set object_lock = \"governance\" or \"compliance\", or remove lock_days".into(),
                ));
            }
            return Ok(None);
        };
        if url.scheme() != "s3" {
            return Err(self.invalid(
                "repository.object_lock",
                format!(
                    "S3 Object Lock needs an s3:// repository, got {:?}",
                    url.as_str()
                ),
            ));
        }
        let max_secs = u64::from(crate::repo::object_lock::LockDays::MAX) * 86_400;
        if seconds.is_some() && !self.env.test_settings {
            return Err(self.invalid(
                "repository.lock_seconds",
                "is a setting for tests only (honoured only when the environment sets IMVAULT_TEST_SETTINGS=1); give the retention with lock_days (1 to 36500 days)".into(),
            ));
        }
        let retain_secs = match (days, seconds) {
            (Some(d), None) => u64::from(d.get()) * 86_400,
            (None, Some(s)) if (1..=max_secs).contains(&s) => s,
            (None, Some(s)) => {
                return Err(self.invalid(
                    "repository.lock_seconds",
                    format!("must be between 1 and {max_secs} (36500 days), got {s}"),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    "repository.lock_seconds",
                    "is for tests only and replaces lock_days: give one of them, not both".into(),
                ));
            }
            (None, None) => {
                return Err(self.invalid(
                    "repository.lock_days",
                    format!("is required when object_lock = \"{mode}\" (1 to 36500 days)"),
                ));
            }
        };
        Ok(Some(crate::repo::object_lock::ObjectLockConfig {
            mode,
            retain_secs,
        }))
    }

    /// `[schedule]`: six cron fields (or `off`), and every cron expression and the time zone
    /// parse.
    pub(super) fn schedule(&self, s: &ScheduleFile) -> Result<(), ConfigError> {
        if !s.backup.trim().eq_ignore_ascii_case(schedule::OFF)
            && s.backup.split_whitespace().count() != 6
        {
            return Err(self.invalid(
                "schedule.backup",
                format!(
                    "expected 6 fields (sec min hour day month weekday) or \"off\", got {:?}",
                    s.backup
                ),
            ));
        }
        schedule::validate(s).map_err(|(key, message)| self.invalid(&key, message))
    }

    /// `[api]`: `restore_root` is an absolute path; token names are distinct words.
    pub(super) fn api(&self, a: &file::ApiFile) -> Result<(), ConfigError> {
        let mut names: Vec<&str> = a
            .token_file
            .iter()
            .map(|_| file::DEFAULT_TOKEN_NAME)
            .collect();
        for (i, t) in a.tokens.iter().enumerate() {
            let ok = !t.name.is_empty()
                && t.name.len() <= 64
                && t.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
            if !ok {
                return Err(self.invalid(
                    &format!("api.tokens[{i}].name"),
                    format!(
                        "must be 1 to 64 letters, digits or - _ . @, got {:?}",
                        t.name
                    ),
                ));
            }
            if names.contains(&t.name.as_str()) {
                return Err(self.invalid(
                    &format!("api.tokens[{i}].name"),
                    format!(
                        "{:?} names two tokens (the token of api.token_file is named {:?})",
                        t.name,
                        file::DEFAULT_TOKEN_NAME
                    ),
                ));
            }
            names.push(&t.name);
        }
        match &a.restore_root {
            Some(root) if !root.is_absolute() => Err(self.invalid(
                "api.restore_root",
                format!(
                    "must be an absolute path, got {:?}",
                    root.display().to_string()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// `[daemon]`: the checkpoint and progress periods.
    pub(super) fn daemon(&self, d: &DaemonFile) -> Result<(), ConfigError> {
        if !(0.05..=86_400.0).contains(&d.checkpoint_secs) {
            return Err(self.invalid(
                "daemon.checkpoint_secs",
                format!("must be 0.05 to 86400, got {}", d.checkpoint_secs),
            ));
        }
        if !(1..=36_500).contains(&d.keep_jobs_days) {
            return Err(self.invalid(
                "daemon.keep_jobs_days",
                format!("must be 1 to 36500, got {}", d.keep_jobs_days),
            ));
        }
        if !(0.05..=3_600.0).contains(&d.progress_secs) {
            return Err(self.invalid(
                "daemon.progress_secs",
                format!("must be 0.05 to 3600, got {}", d.progress_secs),
            ));
        }
        Ok(())
    }

    /// `[backup]`: how often everything is listed, the clock margin.
    pub(super) fn backup(&self, b: &file::BackupFile) -> Result<(), ConfigError> {
        if !(0.0..=366.0).contains(&b.full_listing_every_days) {
            return Err(self.invalid(
                "backup.full_listing_every_days",
                format!(
                    "must be 0 (list everything on every run) to 366 days, got {}",
                    b.full_listing_every_days
                ),
            ));
        }
        if b.change_margin_secs > 7 * 86_400 {
            return Err(self.invalid(
                "backup.change_margin_secs",
                format!(
                    "must be at most 604800 (a week), got {}",
                    b.change_margin_secs
                ),
            ));
        }
        Ok(())
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
            let full = super::credential_path(
                &f,
                env.credentials_directory.as_deref(),
                path,
                s.key,
                s.env_name,
            )?;
            let from_systemd = env
                .credentials_directory
                .as_ref()
                .is_some_and(|d| full.starts_with(d));
            let text = match super::secret_file::read(&full, from_systemd) {
                Ok(text) => text,
                Err(super::secret_file::SecretFileError::Io(source)) => {
                    return Err(ConfigError::SecretFile {
                        path: path.to_path_buf(),
                        key: s.key,
                        what: s.what,
                        file: full.clone(),
                        source,
                    });
                }
                Err(e) => {
                    return Err(ConfigError::Invalid {
                        path: path.to_path_buf(),
                        key: format!("{}_file", s.key),
                        message: e.describe(&full),
                    });
                }
            };
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
        (None, None) => Ok(None),
    }
}

/// The repository's key material as configured ([`Check::repository_key`]).
struct RepositoryKey {
    password: Option<Secret>,
    key_file: Option<Secret>,
    unavailable: Option<std::sync::Arc<ConfigError>>,
}
