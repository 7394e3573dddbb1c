//! The shipped examples: every configuration under `config/` passes `imvault config check`, and
//! `systemd/imvault.service` says what systemd/README.md says of it and fits the service config.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::support::{Run, imvault_cmd};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The example's host paths, moved into the test's directory (the only change made to it).
fn localized(text: &str, root: &Path) -> String {
    text.replace("/etc/imvault", root.join("etc/imvault").to_str().unwrap())
        .replace("/var/lib/imvault", root.join("state").to_str().unwrap())
}

/// Every `*_file` key of a configuration (tables, arrays of tables), with its value.
fn named_files(value: &toml::Value, key: &str, out: &mut Vec<(String, String)>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                named_files(v, k, out);
            }
        }
        toml::Value::Array(a) => a.iter().for_each(|v| named_files(v, key, out)),
        toml::Value::String(s) if key.ends_with("_file") => out.push((key.into(), s.clone())),
        _ => {}
    }
}

fn private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn example_configs() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("config"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    found.sort();
    found
}

/// Each example under config/ (a new one is covered as soon as it is there), with the files it
/// names provided: absolute paths under a temporary `/etc/imvault`, relative ones in
/// `$CREDENTIALS_DIRECTORY` as the unit's `LoadCredential=` lines hand them over. `config check`
/// finds it valid and every file the daemon needs there (no problem, nothing left unchecked),
/// and `init` creates its repository with it.
#[test]
fn every_example_config_passes_config_check() {
    let examples = example_configs();
    assert!(
        examples.iter().any(|p| p.ends_with("imvault.example.toml"))
            && examples.iter().any(|p| p.ends_with("imvault.service.toml")),
        "{examples:?}"
    );
    for example in &examples {
        let dir = tempfile::tempdir().unwrap();
        let text = localized(&std::fs::read_to_string(example).unwrap(), dir.path());
        let cfg = dir.path().join("etc/imvault/imvault.toml");
        private(&cfg, &text);
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        let creds = dir.path().join("credentials");
        std::fs::create_dir_all(&creds).unwrap();

        let value: toml::Value = toml::from_str(&text).unwrap();
        let mut files = Vec::new();
        named_files(&value, "", &mut files);
        assert!(!files.is_empty(), "{}: names no file", example.display());
        let mut has_password = false;
        for (key, file) in &files {
            let path = Path::new(file);
            let path = if path.is_absolute() {
                assert!(
                    path.starts_with(dir.path()),
                    "{}: {key} = {file:?} is outside /etc/imvault and /var/lib/imvault",
                    example.display()
                );
                path.to_path_buf()
            } else {
                creds.join(path)
            };
            has_password |= key == "password_file";
            let content = if key == "token_file" {
                "0123456789abcdef0123456789abcdef\n"
            } else {
                "example secret value\n"
            };
            private(&path, content);
        }
        let with_creds = || {
            let mut cmd = imvault_cmd();
            cmd.env("CREDENTIALS_DIRECTORY", &creds)
                .arg("--config")
                .arg(&cfg);
            if !has_password {
                cmd.env("IMVAULT_PASSWORD", "example password");
            }
            cmd
        };
        let r = Run::from(with_creds().args(["config", "check"]).output().unwrap());
        let r = r.expect(0);
        assert!(
            r.stderr.contains("is valid"),
            "{}: {}",
            example.display(),
            r.stderr
        );
        for wrong in ["problem:", "not checked here"] {
            assert!(
                !r.stderr.contains(wrong),
                "{}: {}",
                example.display(),
                r.stderr
            );
        }
        let r = Run::from(with_creds().arg("init").output().unwrap()).expect(0);
        assert!(r.stdout.contains("created repository"), "{r:?}");
        let r = Run::from(with_creds().args(["config", "check"]).output().unwrap()).expect(0);
        assert!(
            !r.stderr.contains("note:"),
            "{}: {}",
            example.display(),
            r.stderr
        );
    }
}

/// The unit's directives, as `key=value` pairs in file order (continuations are not used).
fn unit_directives() -> Vec<(String, String)> {
    std::fs::read_to_string(Path::new(ROOT).join("systemd/imvault.service"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not a directive: {l}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// systemd/README.md with every run of white space made one space (line breaks move).
fn systemd_readme() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("systemd/README.md"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn directive<'a>(all: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    all.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// systemd/imvault.service is what systemd/README.md says (hardening, state directory,
/// stop/watchdog times against the service config's drain time), its `LoadCredential=` names are
/// exactly the relative files config/imvault.service.toml reads, each from the `/etc/imvault`
/// file the install step creates, and its `ExecStart=` is a command line the binary accepts.
#[test]
fn the_systemd_unit_matches_its_documentation_and_the_service_config() {
    let unit = unit_directives();
    let one = |key: &str| {
        let v = directive(&unit, key);
        assert_eq!(v.len(), 1, "{key}: {v:?}");
        v[0].to_string()
    };
    let readme = systemd_readme();
    assert_eq!(one("Type"), "notify");
    assert_eq!(one("ProtectSystem"), "strict");
    assert!(readme.contains("(`ProtectSystem=strict`)"));
    assert_eq!(one("ProtectHome"), "yes");
    assert_eq!(one("PrivateTmp"), "yes");
    assert_eq!(one("PrivateDevices"), "yes");
    assert_eq!(one("StateDirectory"), "imvault");
    assert_eq!(one("StateDirectoryMode"), "0700");
    assert!(readme.contains("(`StateDirectory=imvault`, mode 0700)"));
    // SQLite's temporary files on the state directory's disk, not in a tmpfs /tmp.
    assert_eq!(one("Environment"), "SQLITE_TMPDIR=/var/lib/imvault");
    assert!(readme.contains("(`SQLITE_TMPDIR=/var/lib/imvault`)"));
    assert_eq!(one("User"), "imvault");
    assert_eq!(one("UMask"), "0077");
    assert_eq!(one("CapabilityBoundingSet"), "");
    assert_eq!(one("AmbientCapabilities"), "");
    assert_eq!(one("RestrictAddressFamilies"), "AF_INET AF_INET6 AF_UNIX");
    assert_eq!(
        directive(&unit, "SystemCallFilter"),
        ["@system-service", "~@privileged @resources"]
    );
    assert!(readme.contains("`@system-service` minus `@privileged @resources`"));
    assert_eq!(one("ExecReload"), "/bin/kill -HUP $MAINPID");

    // Stop and watchdog times against the daemon's drain time in the service config.
    let service: toml::Value = toml::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("config/imvault.service.toml")).unwrap(),
    )
    .unwrap();
    let drain = service["daemon"]["drain_timeout_secs"]
        .as_integer()
        .unwrap();
    let secs = |v: String| v.strip_suffix('s').unwrap().parse::<i64>().unwrap();
    let stop = secs(one("TimeoutStopSec"));
    assert!(
        stop > drain,
        "TimeoutStopSec={stop} must exceed drain {drain}"
    );
    assert!(readme.contains(&format!(
        "`TimeoutStopSec={stop}s` is above the daemon's default `drain_timeout_secs = {drain}`"
    )));
    assert!(readme.contains(&format!("`WatchdogSec={}s`", secs(one("WatchdogSec")))));

    // LoadCredential= names = the relative files the service config reads.
    let mut files = Vec::new();
    named_files(&service, "", &mut files);
    let relative: BTreeSet<String> = files
        .iter()
        .map(|(_, f)| f.clone())
        .filter(|f| !Path::new(f).is_absolute())
        .collect();
    let mut loaded = BTreeSet::new();
    for line in directive(&unit, "LoadCredential") {
        let (name, source) = line.split_once(':').unwrap();
        assert_eq!(source, format!("/etc/imvault/{name}"), "{line}");
        assert!(
            readme.contains(&format!("/etc/imvault/{name}")),
            "systemd/README.md's install step never creates {source}"
        );
        loaded.insert(name.to_string());
    }
    assert_eq!(
        loaded, relative,
        "LoadCredential= names vs the service config's files"
    );

    // ExecStart: the installed binary with flags it accepts.
    let exec = one("ExecStart");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/imvault"));
    assert!(readme.contains("/usr/local/bin/imvault"));
    let args: Vec<&str> = words.collect();
    assert_eq!(args.last(), Some(&"serve"), "{exec}");
    let r = Run::from(imvault_cmd().args(&args).arg("--help").output().unwrap()).expect(0);
    assert!(r.stdout.contains("Usage: imvault serve"), "{r:?}");
}

/// `systemd-analyze verify` accepts the unit (its binary path pointed at the built binary, as
/// /usr/local/bin/imvault is not installed here), and `systemd-analyze security` rates it as
/// systemd/README.md says. Skipped, saying so, where systemd-analyze is not installed.
#[test]
fn systemd_analyze_accepts_the_unit() {
    let Ok(version) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("skipped: systemd-analyze is not installed on this machine");
        return;
    };
    assert!(version.status.success());
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("imvault.service");
    std::fs::write(
        &unit,
        std::fs::read_to_string(Path::new(ROOT).join("systemd/imvault.service"))
            .unwrap()
            .replace("/usr/local/bin/imvault", env!("CARGO_BIN_EXE_imvault")),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let r = Run::from(out).expect(0);
    assert!(!r.stderr.contains("imvault.service"), "{}", r.stderr);

    let out = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let r = Run::from(out);
    let level = r
        .stdout
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for imvault.service: ")
                .nth(1)
        })
        .unwrap_or_else(|| panic!("no exposure level: {r:?}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(
        systemd_readme().contains(&format!("exposure of **{level}**")),
        "systemd-analyze security rates the unit {level}; systemd/README.md says otherwise"
    );
}
