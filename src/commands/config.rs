//! `imvault config show|check`.

use std::path::Path;

use crate::cli::{ConfigCommand, JsonFlag};
use crate::config::Settings;

use super::{Exit, load_settings_offline};

pub fn run(config: Option<&Path>, command: &ConfigCommand) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    match command {
        ConfigCommand::Check => {
            let path = super::config_path(config);
            let findings = daemon_files(&settings);
            let problems = findings
                .iter()
                .filter(|f| matches!(f, Finding::Problem(_)))
                .count();
            match problems {
                0 => eprintln!("configuration {} is valid", path.display()),
                _ => eprintln!(
                    "configuration {} parses, but not everything it names is usable:",
                    path.display()
                ),
            }
            for f in &findings {
                match f {
                    Finding::Note(m) => eprintln!("note: {m}"),
                    Finding::Problem(m) => eprintln!("problem: {m}"),
                }
            }
            if problems > 0 {
                eprintln!(
                    "imvault: {problems} problem(s): `imvault serve` would fail with this configuration"
                );
                return Ok(Exit::Warnings);
            }
        }
        ConfigCommand::Show(JsonFlag { json }) => {
            let value = settings.redacted_json();
            if *json {
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!("{}", toml::to_string_pretty(&without_nulls(value))?);
            }
        }
    }
    Ok(Exit::Success)
}

/// What `config check` found beyond the file itself.
enum Finding {
    /// Cannot be checked here, or not yet there (and that is expected).
    Note(String),
    /// `imvault serve` (or every command) would fail.
    Problem(String),
}

/// Every file the daemon needs: the secrets, the API token, the catalog's directory, a local
/// repository.
fn daemon_files(settings: &Settings) -> Vec<Finding> {
    use crate::config::ConfigError;
    use crate::daemon::DaemonError;
    let mut out = Vec::new();
    let not_here = |e: &dyn std::fmt::Display| Finding::Note(format!("not checked here: {e}"));
    for e in [
        &settings.imanage_unavailable,
        &settings.repository.password_unavailable,
    ]
    .into_iter()
    .flatten()
    {
        out.push(match e.as_ref() {
            ConfigError::NoCredentialsDirectory { .. } => not_here(e),
            _ => Finding::Problem(crate::repo::error_chain(e.as_ref())),
        });
    }
    match crate::daemon::read_api_token(settings) {
        Ok(_) => {}
        Err(DaemonError::TokenCredential(e)) => out.push(not_here(&e)),
        Err(e) => out.push(Finding::Problem(crate::repo::error_chain(&e))),
    }
    if let Some(f) = directory_finding("the catalog", &settings.catalog_path) {
        out.push(f);
    }
    if settings.repository.url.scheme() == "file"
        && let Ok(root) = settings.repository.url.to_file_path()
    {
        if root.join("config").is_file() {
            if let Some(f) = directory_finding("the repository", &root.join("config")) {
                out.push(f);
            }
        } else if root.exists() && !root.is_dir() {
            out.push(Finding::Problem(format!(
                "the repository {} is not a directory",
                root.display()
            )));
        } else {
            out.push(Finding::Note(format!(
                "no repository at {} yet; run `imvault init` to create one",
                settings.repository.url
            )));
        }
    }
    out
}

/// Whether the directory holding `file` can be written (or created) by this user.
fn directory_finding(what: &str, file: &Path) -> Option<Finding> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty())?;
    if dir.is_dir() {
        return (!writable(dir)).then(|| {
            Finding::Problem(format!(
                "{what}'s directory {} is not writable by this user",
                dir.display()
            ))
        });
    }
    Some(Finding::Note(format!(
        "{what}'s directory {} does not exist yet (created on first use; under systemd, StateDirectory= creates /var/lib/imvault)",
        dir.display()
    )))
}

#[cfg(unix)]
fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

#[cfg(not(unix))]
fn writable(dir: &Path) -> bool {
    std::fs::metadata(dir).is_ok_and(|m| !m.permissions().readonly())
}

/// TOML has no null: unset values are left out of the dump.
fn without_nulls(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.into_iter()
                .filter(|v| !v.is_null())
                .map(without_nulls)
                .collect(),
        ),
        other => other,
    }
}
