//! systemd/README.md's first steps as the `imvault` user runs them (no systemd credentials
//! here), `config check` of every file the daemon needs, an empty location, the API token.

use std::io::{Read as _, Write as _};
use std::path::Path;

use super::support::{Run, imvault_cmd, run};

/// config/imvault.service.toml with its state paths moved into `dir` (nothing else changed).
fn service_config(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/imvault.service.toml"
    ))
    .unwrap()
    .replace("/var/lib/imvault", dir.join("state").to_str().unwrap());
    assert!(text.contains("client_secret_file = \"client_secret\""));
    let etc = dir.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let cfg = etc.join("imvault.toml");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// `init`, `config check` and repository commands work without the iManage secrets; a command
/// that signs in names `$CREDENTIALS_DIRECTORY` and the unit's `LoadCredential=` line.
#[test]
fn systemd_steps_need_no_imanage_secrets_outside_the_service() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    let cfg = service_config(dir.path());

    // Outside systemd the repository password comes from the environment.
    let with_password = |args: &[&str]| {
        Run::from(
            imvault_cmd()
                .env("IMVAULT_PASSWORD", "first steps password")
                .arg("--config")
                .arg(&cfg)
                .args(args)
                .output()
                .unwrap(),
        )
    };
    let r = run(&cfg, &["init"]).expect(2);
    assert!(
        r.stderr.contains("repository password")
            && r.stderr.contains("LoadCredential=repository_password:"),
        "{}",
        r.stderr
    );
    let r = with_password(&["init"]).expect(0);
    assert!(r.stdout.contains("created repository"), "{r:?}");
    assert!(r.stdout.contains("encrypted"), "{r:?}");

    let r = run(&cfg, &["config", "check"]).expect(0);
    assert!(r.stderr.contains("is valid"), "{}", r.stderr);
    assert!(r.stderr.contains("$CREDENTIALS_DIRECTORY"), "{}", r.stderr);
    let etc = dir.path().join("etc");
    assert!(
        r.stderr.contains(&format!(
            "LoadCredential=client_secret:{}",
            etc.join("client_secret").display()
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("LoadCredential=api_token:"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("problem"), "{}", r.stderr);

    with_password(&["snapshots"]).expect(0);
    with_password(&["verify"]).expect(0);

    // A command that signs in cannot do without them, and says where they come from.
    let r = run(&cfg, &["check"]).expect(2);
    assert!(
        r.stderr.contains("client_secret_file = \"client_secret\"")
            && r.stderr.contains("$CREDENTIALS_DIRECTORY")
            && r.stderr.contains("LoadCredential=client_secret:"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "one error line: {}", r.stderr);

    // Under systemd (the credentials handed over), everything is checked and found.
    let creds = dir.path().join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    private(&creds.join("client_secret"), "secret\n");
    private(&creds.join("auth_key"), "key\n");
    private(&creds.join("repository_password"), "first steps password\n");
    private(
        &creds.join("api_token"),
        "0123456789abcdef0123456789abcdef\n",
    );
    let r = Run::from(
        imvault_cmd()
            .env("CREDENTIALS_DIRECTORY", &creds)
            .arg("--config")
            .arg(&cfg)
            .args(["config", "check"])
            .output()
            .unwrap(),
    )
    .expect(0);
    assert!(!r.stderr.contains("note:"), "{}", r.stderr);
    // A credential missing from $CREDENTIALS_DIRECTORY is a problem.
    std::fs::remove_file(creds.join("api_token")).unwrap();
    let r = Run::from(
        imvault_cmd()
            .env("CREDENTIALS_DIRECTORY", &creds)
            .arg("--config")
            .arg(&cfg)
            .args(["config", "check"])
            .output()
            .unwrap(),
    )
    .expect(1);
    assert!(
        r.stderr.contains("problem:")
            && r.stderr
                .contains(&creds.join("api_token").display().to_string()),
        "{}",
        r.stderr
    );
}

/// `config check` fails (exit 1, naming the key) when `imvault serve` would: no
/// `[api] token_file`, a token file that is not there, a catalog directory it cannot write.
#[test]
fn config_check_checks_every_file_the_daemon_needs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("imvault.toml");
    let base = format!(
        "[repository]\nurl = \"file://{0}/repo\"\npassword = \"test repository password\"\n[catalog]\npath = \"{0}/catalog.db\"\n",
        dir.path().display()
    );
    std::fs::write(&cfg, &base).unwrap();
    let r = run(&cfg, &["config", "check"]).expect(1);
    assert!(
        r.stderr.contains("problem:") && r.stderr.contains("token_file"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("run `imvault init`"), "{}", r.stderr);

    let token = dir.path().join("api_token");
    std::fs::write(
        &cfg,
        format!("{base}[api]\ntoken_file = \"{}\"\n", token.display()),
    )
    .unwrap();
    let r = run(&cfg, &["config", "check"]).expect(1);
    assert!(
        r.stderr.contains(&token.display().to_string()) && r.stderr.contains("No such file"),
        "{}",
        r.stderr
    );
    private(&token, "short");
    let r = run(&cfg, &["config", "check"]).expect(1);
    assert!(r.stderr.contains("too short"), "{}", r.stderr);
    private(&token, "0123456789abcdef0123456789abcdef");
    run(&cfg, &["init"]).expect(0);
    let r = run(&cfg, &["config", "check"]).expect(0);
    assert!(!r.stderr.contains("problem"), "{}", r.stderr);
}

/// A configuration holding secrets inline that group or others may read gets a warning naming
/// the keys and the fix, from every command (its secret files would be refused); private, none.
#[test]
fn a_shared_configuration_with_inline_secrets_is_warned_about() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("imvault.toml");
    let token = dir.path().join("api_token");
    private(&token, "0123456789abcdef0123456789abcdef");
    std::fs::write(
        &cfg,
        format!(
            "[imanage]\nurl = \"http://127.0.0.1:9\"\nclient_id = \"c\"\nclient_secret = \"s3cr3t-value\"\nusername = \"u\"\nauth_key_file = \"{0}/nope\"\n[repository]\nurl = \"file://{0}/repo\"\npassword = \"test repository password\"\n[catalog]\npath = \"{0}/catalog.db\"\n[api]\ntoken_file = \"{1}\"\n",
            dir.path().display(),
            token.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    run(&cfg, &["init"]).expect(0);
    for cmd in [&["config", "check"][..], &["snapshots"][..]] {
        let r = run(&cfg, cmd);
        assert!(
            r.stderr.contains("warning:")
                && r.stderr
                    .contains("imanage.client_secret, repository.password")
                && r.stderr.contains("mode 0644")
                && r.stderr.contains(&format!("chmod 600 {}", cfg.display())),
            "{cmd:?}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("s3cr3t-value"), "{}", r.stderr);
    }
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = run(&cfg, &["snapshots"]).expect(0);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
}

/// An empty location: "no repository here; run `imvault init`", once.
#[test]
fn an_empty_location_says_to_run_init() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("imvault.toml");
    std::fs::write(
        &cfg,
        format!(
            "[repository]\nurl = \"file://{0}/repo\"\npassword = \"test repository password\"\n[catalog]\npath = \"{0}/catalog.db\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    for cmd in [&["snapshots"][..], &["verify"][..], &["stats"][..]] {
        let r = run(&cfg, cmd).expect(2);
        assert!(
            r.stderr.contains("no repository here") && r.stderr.contains("run `imvault init`"),
            "{cmd:?}: {}",
            r.stderr
        );
        assert_eq!(r.stderr.matches("not found").count(), 0, "{}", r.stderr);
    }
    // A mistyped path or an unmounted share: no empty directory is made there.
    assert!(!dir.path().join("repo").exists());
}

/// `jobs list` with a token file it cannot read: the daemon's 401 is explained by that.
#[test]
fn jobs_list_says_the_token_file_could_not_be_read() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        let req = String::from_utf8_lossy(&buf[..n]).to_lowercase();
        let body = r#"{"error":"missing or wrong bearer token"}"#;
        write!(
            s,
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        req.contains("authorization:")
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("imvault.toml");
    let token = dir.path().join("api_token");
    std::fs::write(
        &cfg,
        format!(
            "[repository]\nurl = \"file://{0}/repo\"\npassword = \"test repository password\"\n[catalog]\npath = \"{0}/catalog.db\"\n[api]\nlisten = \"{addr}\"\ntoken_file = \"{1}\"\n",
            dir.path().display(),
            token.display()
        ),
    )
    .unwrap();
    let r = run(&cfg, &["jobs", "list"]).expect(2);
    assert!(!server.join().unwrap(), "no token was sent");
    assert!(
        r.stderr.contains("401")
            && r.stderr.contains("could not be read")
            && r.stderr.contains(&token.display().to_string()),
        "{}",
        r.stderr
    );
}

/// `config show` prints a valid configuration file (the file's own keys, defaults filled in,
/// secrets as `***`) that reads back to the same output.
#[test]
fn config_show_prints_a_config_that_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/imvault.example.toml");
    let shown = run(Path::new(example), &["config", "show"])
        .expect(0)
        .stdout;
    for wrong in [
        "catalog_path",
        "include =",
        "[retention.default]",
        "[imanage.libraries]",
    ] {
        assert!(!shown.contains(wrong), "{wrong}: {shown}");
    }
    for key in [
        "[catalog]",
        "path = ",
        "libraries = ",
        "exclude_libraries = ",
    ] {
        assert!(shown.contains(key), "{key}: {shown}");
    }
    let again = dir.path().join("shown.toml");
    std::fs::write(&again, &shown).unwrap();
    let r = run(&again, &["config", "show"]).expect(0);
    assert_eq!(r.stdout, shown, "round trip");

    // Inline secrets are shown as *** and still make a valid file.
    let cfg = dir.path().join("inline.toml");
    std::fs::write(
        &cfg,
        "[imanage]\nurl = \"https://tenant.example\"\nclient_id = \"app\"\nclient_secret = \"very-secret-1\"\nusername = \"svc@x\"\nauth_key = \"very-secret-2\"\n",
    )
    .unwrap();
    let shown = run(&cfg, &["config", "show"]).expect(0).stdout;
    assert!(!shown.contains("very-secret"), "{shown}");
    std::fs::write(&again, &shown).unwrap();
    assert_eq!(run(&again, &["config", "show"]).expect(0).stdout, shown);
    let json: serde_json::Value =
        serde_json::from_str(&run(&cfg, &["config", "show", "--json"]).expect(0).stdout).unwrap();
    assert_eq!(json["imanage"]["client_secret"], "***");
    assert!(json.get("catalog_path").is_none(), "{json}");
}

/// The demo lists the simulated changes readably and says, at the end, that the simulator has
/// stopped (which commands still work with its configuration, and `--keep-running`).
#[test]
fn demo_closing_lines_say_the_simulator_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let r = Run::from(
        imvault_cmd()
            .args(["demo", "--scale", "tiny", "--dir", demo.to_str().unwrap()])
            .output()
            .unwrap(),
    )
    .expect(0);
    assert!(
        r.stdout.contains("-- users work in iManage:"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(" new versions: "), "{}", r.stdout);
    assert!(r.stdout.contains(" documents deleted"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("{\"new_versions\""),
        "no JSON blob: {}",
        r.stdout
    );
    let last = r.stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains("the simulator has stopped") && last.contains("--keep-running"),
        "{last}"
    );
    // What it says works does.
    run(&demo.join("imvault.toml"), &["snapshots"]).expect(0);
    // Its repository's creation and its restore are in the audit trail.
    let trail: serde_json::Value = serde_json::from_str(
        &run(&demo.join("imvault.toml"), &["audit", "--json"])
            .expect(0)
            .stdout,
    )
    .unwrap();
    let kinds: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    let restored = r.stdout.contains("-- point-in-time restore of");
    assert_eq!(
        kinds,
        if restored {
            vec!["init", "export"]
        } else {
            vec!["init"]
        },
        "{trail}"
    );
    assert!(
        trail
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["outcome"] == "ok"),
        "{trail}"
    );
}
