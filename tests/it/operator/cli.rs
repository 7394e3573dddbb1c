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
        format!("[repository]\nurl = \"file://{}\"\n", repo.display()),
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
            "[repository]\nurl = \"s3://bucket/vault\"\nendpoint = \"http://127.0.0.1:{port}\"\nregion = \"us-east-1\"\nallow_http = true\naccess_key_id = \"testing\"\nsecret_access_key = \"testing-secret\"\noutage_wait_secs = 0\n\n[catalog]\npath = \"{}\"\n",
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
