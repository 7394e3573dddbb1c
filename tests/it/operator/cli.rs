//! The `imvault` binary as an operator meets it: exit codes and error texts.

use std::path::Path;
use std::process::{Command, Output};

fn imvault(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imvault"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("IMVAULT_CONFIG")
        .env_remove("IMVAULT_AUTH_KEY")
        .env_remove("IMVAULT_CLIENT_SECRET")
        .output()
        .expect("run imvault")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn malformed_config_exits_2_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("imvault.toml");
    std::fs::write(
        &cfg,
        "[repository]\nurl = \"file:///tmp/x\"\nretention = 3\n",
    )
    .unwrap();
    let out = imvault(&cfg, &["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(cfg.to_str().unwrap()) && err.contains("line 3") && err.contains("retention"),
        "{err}"
    );
}

#[test]
fn missing_config_file_says_how_to_fix_it() {
    let out = imvault(Path::new("/nonexistent/imvault.toml"), &["snapshots"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("/nonexistent/imvault.toml") && err.contains("No such file"),
        "{err}"
    );
}

#[test]
fn init_creates_once_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("imvault.toml");
    let repo = dir.path().join("repo");
    std::fs::write(
        &cfg,
        format!(
            "[repository]\nurl = \"file://{}\"\npassword = \"test repository password\"\n",
            repo.display()
        ),
    )
    .unwrap();
    let first = imvault(&cfg, &["init"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let config_before = std::fs::read(repo.join("config")).unwrap();
    let second = imvault(&cfg, &["init"]);
    assert_eq!(second.status.code(), Some(2));
    assert!(
        stderr(&second).contains("already exists"),
        "{}",
        stderr(&second)
    );
    assert_eq!(
        std::fs::read(repo.join("config")).unwrap(),
        config_before,
        "the existing config is untouched"
    );
    let snaps = imvault(&cfg, &["snapshots", "--json"]);
    assert_eq!(snaps.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&snaps.stdout).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(0));
}

#[test]
fn config_show_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("imvault.toml");
    std::fs::write(
        &cfg,
        "[imanage]\nurl = \"https://tenant.example\"\nclient_id = \"app\"\nclient_secret = \"very-secret-1\"\nusername = \"svc@x\"\nauth_key = \"very-secret-2\"\n",
    )
    .unwrap();
    let out = imvault(&cfg, &["config", "show"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("client_secret = \"***\""), "{text}");
    assert!(!text.contains("very-secret"), "{text}");
}

/// Issue 18: the error line of an unreachable repository names each cause once.
#[test]
fn an_unreachable_repository_is_one_error_line_with_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.path().join("imvault.toml");
    std::fs::write(
        &cfg,
        format!(
            "[repository]\nurl = \"s3://bucket/vault\"\nendpoint = \"http://127.0.0.1:{port}\"\nregion = \"us-east-1\"\nallow_http = true\naccess_key_id = \"testing\"\nsecret_access_key = \"testing-secret\"\noutage_wait_secs = 0\npassword = \"test repository password\"\n\n[catalog]\npath = \"{}\"\n",
            dir.path().join("catalog.db").display()
        ),
    )
    .unwrap();
    let out = imvault(&cfg, &["stats"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.starts_with("imvault: error:"))
        .unwrap_or_else(|| panic!("{err}"));
    for part in ["Connection refused", "error sending request"] {
        assert_eq!(line.matches(part).count(), 1, "{part:?} once: {line}");
    }
    assert!(!err.contains("testing-secret"), "{err}");
}

/// Every file under `dir` with its bytes.
fn tree(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Issue 14: a wrong password (here from `IMVAULT_PASSWORD`, which wins over the file) fails
/// at once with exit 2 and "wrong repository password", never printing it, and writes nothing;
/// a repository made with `--insecure-no-encryption` says so in its config, and `stats` and
/// `verify` warn about it.
#[test]
fn wrong_password_exits_2_and_an_unencrypted_repository_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("imvault.toml");
    let repo = dir.path().join("repo");
    imvault::private_fs::write(
        &cfg,
        format!(
            "[repository]\nurl = \"file://{}\"\npassword = \"test repository password\"\n[catalog]\npath = \"{}\"\n",
            repo.display(),
            dir.path().join("catalog.db").display()
        ),
    )
    .unwrap();
    let out = imvault(&cfg, &["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before = tree(&repo);
    for args in [&["snapshots"][..], &["verify"], &["stats"], &["prune"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_imvault"))
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .env("IMVAULT_PASSWORD", "not the password")
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("wrong repository password"), "{args:?}: {err}");
        assert!(!err.contains("not the password"), "{err}");
        assert_eq!(err.lines().count(), 1, "one error line: {err}");
    }
    assert_eq!(tree(&repo), before, "nothing written");
    let out = imvault(&cfg, &["stats"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("NOT ENCRYPTED"), "{}", stderr(&out));

    let clear = dir.path().join("clear.toml");
    let clear_repo = dir.path().join("clear");
    std::fs::write(
        &clear,
        format!(
            "[repository]\nurl = \"file://{}\"\n[catalog]\npath = \"{}\"\n",
            clear_repo.display(),
            dir.path().join("catalog2.db").display()
        ),
    )
    .unwrap();
    let out = imvault(&clear, &["init"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--insecure-no-encryption"),
        "{}",
        stderr(&out)
    );
    assert!(!clear_repo.join("config").exists());
    let out = imvault(&clear, &["init", "--insecure-no-encryption"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOT ENCRYPTED"));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(clear_repo.join("config")).unwrap()).unwrap();
    assert_eq!(config["encryption"], "none", "{config}");
    for cmd in ["stats", "verify"] {
        let out = imvault(&clear, &[cmd]);
        assert_eq!(out.status.code(), Some(0), "{cmd}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("NOT ENCRYPTED"),
            "{cmd}: {}",
            stderr(&out)
        );
    }
}
