use super::*;

const GOOD: &str = r#"
[imanage]
url = "https://cloudimanage.com"
client_id = "backup-app"
client_secret = "s3cr3t-client"
username = "svc-backup@firm.example"
auth_key = "auth-key-value"
libraries = ["*"]
exclude_libraries = ["SCRATCH"]

[repository]
url = "s3://bucket/prefix"
endpoint = "http://127.0.0.1:9000"
allow_http = true

[api]
listen = "127.0.0.1:7400"
"#;

fn parse(text: &str) -> Result<Settings, ConfigError> {
    Settings::from_toml(text, Path::new("/etc/imvault/test.toml"), &Env::default())
}

#[test]
fn good_config_resolves_with_defaults() {
    let s = parse(GOOD).unwrap();
    let im = s.imanage.as_ref().unwrap();
    assert_eq!(im.requests_per_second.get(), 20);
    assert_eq!(im.concurrency.get(), 8);
    assert_eq!(im.client_secret.expose(), "s3cr3t-client");
    assert!(im.libraries.matches("ACTIVE"));
    assert!(im.libraries.matches("archive"));
    assert!(
        !im.libraries.matches("scratch"),
        "exclude globs are case-insensitive"
    );
    assert_eq!(s.repository.url.scheme(), "s3");
    assert_eq!(s.api.listen.port(), 7400);
    assert_eq!(s.catalog_path, PathBuf::from("/var/lib/imvault/catalog.db"));
}

#[test]
fn unknown_key_names_line_and_key() {
    let text = GOOD.replace("allow_http = true", "allow_http = true\nbukcet = \"x\"");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("/etc/imvault/test.toml"), "{err}");
    assert!(err.contains("line 15"), "{err}");
    assert!(err.contains("bukcet"), "{err}");
}

#[test]
fn wrong_type_names_line_and_key() {
    let text = GOOD.replace(
        "libraries = [\"*\"]",
        "libraries = [\"*\"]\nconcurrency = \"eight\"",
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("line 9"), "{err}");
    assert!(err.contains("concurrency"), "{err}");
}

#[test]
fn zero_rate_is_rejected_with_its_line() {
    let text = GOOD.replace(
        "libraries = [\"*\"]",
        "requests_per_second = 0\nlibraries = [\"*\"]",
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("line 8"), "{err}");
    assert!(err.contains("nonzero"), "{err}");
}

#[test]
fn missing_required_key_is_named() {
    let text = GOOD.replace("username = \"svc-backup@firm.example\"\n", "");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("username"), "{err}");
}

#[test]
fn malformed_toml_names_the_line() {
    let err = parse("[imanage\nurl = 1").unwrap_err().to_string();
    assert!(err.contains("line 1"), "{err}");
}

/// Issue 18: a secret file group or others can read or change is refused (naming the fix)
/// unless systemd handed it over; a private one is read.
#[cfg(unix)]
#[test]
fn secret_files_others_can_read_are_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("auth_key");
    std::fs::write(&file, "key-from-file\n").unwrap();
    let text = GOOD.replace(
        "auth_key = \"auth-key-value\"",
        &format!("auth_key_file = \"{}\"", file.display()),
    );
    for mode in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = Settings::from_toml(&text, Path::new("t.toml"), &Env::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("imanage.auth_key_file") && err.contains("chmod 600"),
            "{mode:o}: {err}"
        );
    }
    // Handed over by systemd (LoadCredential=): systemd protects it.
    let env = Env {
        credentials_directory: Some(dir.path().to_path_buf()),
        ..Env::default()
    };
    let s = Settings::from_toml(&text, Path::new("t.toml"), &env).unwrap();
    assert_eq!(s.imanage.unwrap().auth_key.expose(), "key-from-file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let s = Settings::from_toml(&text, Path::new("t.toml"), &Env::default()).unwrap();
    assert_eq!(s.imanage.unwrap().auth_key.expose(), "key-from-file");
}

#[test]
fn secrets_from_files_env_and_credentials_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("client_secret"), "from-file\n").unwrap();
    std::fs::write(dir.path().join("auth_key"), "key-from-file").unwrap();
    let text = GOOD
        .replace(
            "client_secret = \"s3cr3t-client\"",
            "client_secret_file = \"client_secret\"",
        )
        .replace(
            "auth_key = \"auth-key-value\"",
            &format!(
                "auth_key_file = \"{}\"",
                dir.path().join("auth_key").display()
            ),
        );
    let env = Env {
        credentials_directory: Some(dir.path().to_path_buf()),
        ..Env::default()
    };
    let s = Settings::from_toml(&text, Path::new("t.toml"), &env).unwrap();
    let im = s.imanage.unwrap();
    assert_eq!(
        im.client_secret.expose(),
        "from-file",
        "relative file read from CREDENTIALS_DIRECTORY, newline trimmed"
    );
    assert_eq!(im.auth_key.expose(), "key-from-file");

    let env = Env {
        auth_key: Some("from-env".into()),
        ..Env::default()
    };
    let s = Settings::from_toml(GOOD, Path::new("t.toml"), &env).unwrap();
    assert_eq!(
        s.imanage.unwrap().auth_key.expose(),
        "from-env",
        "environment wins over the file"
    );
}

#[test]
fn missing_secret_file_names_the_file_and_key() {
    let text = GOOD.replace(
        "auth_key = \"auth-key-value\"",
        "auth_key_file = \"/nonexistent/imvault/auth_key\"",
    );
    let err = parse(&text).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/imvault/auth_key")
            && msg.contains("set by imanage.auth_key_file in"),
        "{msg}"
    );
}

#[test]
fn both_inline_and_file_is_ambiguous() {
    let text = GOOD.replace(
        "auth_key = \"auth-key-value\"",
        "auth_key = \"a\"\nauth_key_file = \"/x\"",
    );
    let msg = parse(&text).unwrap_err().to_string();
    assert!(msg.contains("not both"), "{msg}");
}

#[test]
fn redacted_dump_never_shows_secrets() {
    let s = parse(GOOD).unwrap();
    let dump = serde_json::to_string(&s.redacted_json()).unwrap();
    assert!(
        !dump.contains("s3cr3t-client") && !dump.contains("auth-key-value"),
        "{dump}"
    );
    assert!(dump.contains("***"));
    assert!(!format!("{s:?}").contains("s3cr3t-client"));
}

#[test]
fn bad_repository_scheme_and_schedule() {
    let msg = parse(&GOOD.replace("s3://bucket/prefix", "ftp://x/y"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("repository.url"), "{msg}");
    let msg = parse(&format!("{GOOD}\n[schedule]\nbackup = \"0 1 * * *\"\n"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("schedule.backup"), "{msg}");
}

#[test]
fn shipped_example_config_is_valid() {
    let text = include_str!("../../config/imvault.example.toml");
    let env = Env {
        client_secret: Some("x".into()),
        auth_key: Some("y".into()),
        ..Env::default()
    };
    let s = Settings::from_toml(text, Path::new("config/imvault.example.toml"), &env).unwrap();
    assert_eq!(s.repository.url.as_str(), "file:///var/lib/imvault/repo");
    assert_eq!(s.api.listen.port(), 7300);
}

#[test]
fn backup_listing_settings_default_resolve_and_are_checked() {
    let s = parse(GOOD).unwrap();
    assert_eq!(
        s.backup.full_listing_every(),
        Some(std::time::Duration::from_secs(7 * 86_400))
    );
    assert_eq!(
        s.backup.change_margin(),
        std::time::Duration::from_secs(3_600)
    );
    let s = parse(&format!("{GOOD}\n[backup]\nfull_listing_every_days = 0\n")).unwrap();
    assert_eq!(
        s.backup.full_listing_every(),
        None,
        "0 lists everything every run"
    );
    for bad in [
        "full_listing_every_days = -1",
        "full_listing_every_days = 400",
        "change_margin_secs = 9999999",
    ] {
        let msg = parse(&format!("{GOOD}\n[backup]\n{bad}\n"))
            .unwrap_err()
            .to_string();
        let key = bad.split(' ').next().unwrap();
        assert!(msg.contains(&format!("backup.{key}")), "{bad}: {msg}");
    }
}

/// Issue 18: a pack of 4096 MiB or more wrapped the 32-bit offsets and silently corrupted the
/// index; sizes past the format's 1 GiB, absurd outage waits and checkpoint intervals are
/// refused with the key.
#[test]
fn pack_size_outage_wait_and_checkpoint_secs_are_checked() {
    let with = |extra: &str| {
        GOOD.replace(
            "allow_http = true\n",
            &format!("allow_http = true\n{extra}\n"),
        )
    };
    for (text, key) in [
        (with("pack_size_mib = 4096"), "repository.pack_size_mib"),
        (with("pack_size_mib = 1025"), "repository.pack_size_mib"),
        (
            with("outage_wait_secs = 100000"),
            "repository.outage_wait_secs",
        ),
        (
            format!("{GOOD}\n[daemon]\ncheckpoint_secs = 0\n"),
            "daemon.checkpoint_secs",
        ),
        (
            format!("{GOOD}\n[daemon]\ncheckpoint_secs = nan\n"),
            "daemon.checkpoint_secs",
        ),
    ] {
        let msg = parse(&text).unwrap_err().to_string();
        assert!(msg.contains(key), "{key}: {msg}");
    }
    let s = parse(&with("pack_size_mib = 1024\noutage_wait_secs = 0")).unwrap();
    assert_eq!(s.repository.pack_size_mib.map(|m| m.get()), Some(1024));
    assert_eq!(s.repository.outage_wait_secs, Some(0));
}

/// Issue 18: `[daemon] keep_jobs_days` defaults to 90 and is checked.
#[test]
fn keep_jobs_days_defaults_and_is_checked() {
    let s = Settings::from_toml(GOOD, Path::new("t.toml"), &Env::default()).unwrap();
    assert_eq!(s.daemon.keep_jobs_days, 90);
    let err = Settings::from_toml(
        &format!("{GOOD}\n[daemon]\nkeep_jobs_days = 0\n"),
        Path::new("t.toml"),
        &Env::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("daemon.keep_jobs_days"), "{err}");
}

#[test]
fn maintenance_credentials_are_used_only_for_maintenance() {
    let text = format!(
        "{GOOD}\n[repository.maintenance]\naccess_key_id = \"AKIAMAINT\"\nsecret_access_key = \"maint-secret\"\n"
    )
    .replace(
        "allow_http = true",
        "allow_http = true\naccess_key_id = \"AKIABACKUP\"\nsecret_access_key = \"backup-secret\"",
    );
    let s = parse(&text).unwrap();
    let r = &s.repository;
    assert_eq!(r.access_key_id.as_deref(), Some("AKIABACKUP"));
    assert_eq!(
        r.secret_access_key.as_ref().unwrap().expose(),
        "backup-secret"
    );
    let m = r.for_maintenance();
    assert_eq!(m.access_key_id.as_deref(), Some("AKIAMAINT"));
    assert_eq!(
        m.secret_access_key.as_ref().unwrap().expose(),
        "maint-secret"
    );
    assert_eq!(m.url, r.url, "the same repository");
    // Without the table, maintenance uses the backup credentials.
    let plain = parse(GOOD).unwrap().repository;
    assert_eq!(plain.for_maintenance().access_key_id, plain.access_key_id);
    // The table needs a secret; the error names the key and the line of the file.
    let err = parse(&format!(
        "{GOOD}\n[repository.maintenance]\naccess_key_id = \"AKIAMAINT\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("repository.maintenance"), "{err}");
    assert!(err.contains("secret_access_key"), "{err}");
    let err = parse(&format!(
        "{GOOD}\n[repository.maintenance]\naccess_key_id = \"A\"\nsecret = \"x\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("secret"), "{err}");
    assert!(err.contains("line 21"), "{err}");
}
