//! README.md's "Your first hour" and systemd/README.md's install and operate steps, followed as
//! written by a new operator on a clean machine (issue 19, "Done when"): every marked block runs
//! with the real binary, in order, in one shell session, and shows what the text says it shows.
//! Only what the documentation calls the reader's own is substituted: the ports, `~` (a fresh
//! HOME) and, for systemd, the host paths `/etc/imvault`, `/etc/systemd/system` and
//! `/var/lib/imvault`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::docs_shell::{Background, Block, Shell, marked_blocks, wait_listening};
use super::support::Run;
use crate::support::daemon::free_port;
use crate::support::wait::wait_for;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn blocks_of(file: &str) -> Vec<Block> {
    marked_blocks(&std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap())
}

#[track_caller]
fn shows(r: &Run, what: &[&str], step: &str) {
    let all = format!("{}{}", r.stdout, r.stderr);
    for w in what {
        assert!(all.contains(w), "{step}: does not show {w:?}\n{all}");
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// README.md, "Your first hour": the demo, a simulator, a configuration, init, config check,
/// check, a backup, snapshots, stats, ls, find, versions, a restore, verify, the daemon, a
/// backup queued through its API, `jobs list` and the audit trail.
#[tokio::test]
async fn readme_first_hour_runs_as_written() {
    let blocks = blocks_of("README.md");
    let names: Vec<&str> = blocks.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "demo", "sim", "init", "backup", "browse", "restore", "serve", "api"
        ],
        "the README's first-hour blocks changed: run and check the new ones here"
    );
    let sim_port = free_port();
    let api_port = std::iter::repeat_with(free_port)
        .find(|p| *p != sim_port)
        .unwrap();
    let mut sh = Shell::new(None);
    sh.substitute("127.0.0.1:7400", &format!("127.0.0.1:{sim_port}"));
    sh.substitute("127.0.0.1:7300", &format!("127.0.0.1:{api_port}"));
    let trial = sh.home.join("imvault-trial");
    let mut background: Vec<Background> = Vec::new();
    let mut queued_job = String::new();

    for block in &blocks {
        let step = block.name.as_str();
        if block.background {
            let mut bg = sh.spawn(step, &block.script);
            wait_listening(&mut bg, if step == "sim" { sim_port } else { api_port }).await;
            if step == "sim" {
                // The banner names the credentials the configuration block uses.
                let init = &blocks.iter().find(|b| b.name == "init").unwrap().script;
                wait_for("the simulator's banner", Duration::from_secs(30), || {
                    bg.stdout().contains("auth key:")
                })
                .await;
                let banner = bg.stdout();
                assert!(
                    banner.contains(&format!("listening on http://127.0.0.1:{sim_port}")),
                    "{banner}"
                );
                for (label, key) in [
                    ("client id:", "client_id"),
                    ("client secret:", "client_secret"),
                    ("username:", "username"),
                    ("auth key:", "auth_key"),
                ] {
                    let value = banner
                        .lines()
                        .find_map(|l| l.trim().strip_prefix(label))
                        .unwrap()
                        .trim();
                    assert!(
                        init.contains(&format!("{key} = \"{value}\"")),
                        "the configuration's {key} is not the simulator's {value}"
                    );
                }
            }
            background.push(bg);
            continue;
        }
        let r = sh.run(&block.script);
        let r = r.expect(0);
        match step {
            "demo" => {
                shows(
                    &r,
                    &[
                        "-- full backup",
                        "-- users work in iManage:",
                        "-- incremental backup",
                        "-- snapshots",
                        "point-in-time restore",
                        "the simulator has stopped",
                    ],
                    step,
                );
                assert!(trial.join("demo/imvault.toml").is_file());
            }
            "init" => {
                shows(
                    &r,
                    &[
                        "is valid",
                        "no repository at",
                        "run `imvault init`",
                        "created repository",
                        "encrypted",
                        "ACTIVE",
                    ],
                    step,
                );
                assert!(!r.stderr.contains("problem:"), "{}", r.stderr);
                for private in ["repository_password", "api_token", "imvault.toml"] {
                    assert_eq!(mode(&trial.join(private)), 0o600, "{private}");
                }
                assert!(trial.join("repo/config").is_file());
            }
            "backup" => {
                shows(&r, &["ACTIVE", "dedup"], step);
                // One snapshot per library the simulator has.
                for lib in ["ACTIVE", "ARCHIVE"] {
                    assert!(
                        r.stdout.lines().filter(|l| l.contains(lib)).count() >= 2,
                        "{lib}: a backup outcome and a snapshot\n{}",
                        r.stdout
                    );
                }
            }
            "browse" => {
                shows(&r, &[".pdf", "ACTIVE!1005"], step);
            }
            "restore" => {
                shows(&r, &["imvault-restore.json", "no problems found"], step);
                assert!(trial.join("restored/imvault-restore.json").is_file());
            }
            "api" => {
                let first = r.stdout.lines().next().unwrap_or_default();
                let queued: serde_json::Value = serde_json::from_str(first)
                    .unwrap_or_else(|e| panic!("curl's answer {first:?}: {e}\n{r:?}"));
                queued_job = queued["id"].as_str().expect("the job's id").to_string();
                shows(&r, &["backup", "verify", "init", "export"], step);
            }
            other => panic!("no check for the first-hour block {other:?}"),
        }
    }

    // The job queued through the API runs to its end (the daemon's own work, watched from the
    // command line as the README's daemon section shows).
    let r = sh.run(&format!("imvault jobs watch {queued_job}"));
    let r = r.expect(0);
    assert!(
        r.stdout.contains("completed") || r.stderr.contains("completed"),
        "{r:?}"
    );

    // Ctrl-C stops the daemon and the simulator, cleanly.
    for mut bg in background.into_iter().rev() {
        bg.signal("INT");
        let code = bg.wait_exit(Duration::from_secs(120)).await;
        assert_eq!(code, Some(0), "{}: {}", bg.name, bg.stderr());
    }
}

/// What one line of systemd/README.md's blocks does here, where there is no systemd and the
/// test is not allowed to change the host.
#[derive(Debug, PartialEq)]
enum Line {
    /// Runs in the shell as written (after the host paths are moved).
    Run(String),
    /// Runs as written with the credentials a `systemd-run -p LoadCredential=` hands over.
    RunWithCredentials(String, Vec<(String, String)>),
    /// Cannot run here (needs systemd or root over the host); the reason.
    Skip(&'static str),
    /// `systemctl enable --now`, `status`, `reload`, `stop`: done to the unit's ExecStart.
    Start,
    Status,
    Reload,
    Stop,
    /// `journalctl -u imvault`: the daemon's stderr.
    Journal,
}

fn translate(line: &str) -> Line {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["cargo", "build", ..] => Line::Skip("the test's binary is built by cargo test"),
        ["install", .., "target/release/imvault", _] => {
            Line::Skip("the test's binary is on PATH as `imvault`")
        }
        ["useradd", ..] => Line::Skip("the test runs as the current user"),
        ["systemctl", "daemon-reload"] => Line::Skip("no systemd"),
        ["systemctl", "enable", "--now", "imvault"] => Line::Start,
        ["systemctl", "status", "imvault", ..] => Line::Status,
        ["systemctl", "reload", "imvault", ..] => Line::Reload,
        ["systemctl", "stop", "imvault", ..] => Line::Stop,
        ["journalctl", "-u", "imvault", ..] => Line::Journal,
        ["sudo", "-u", "imvault", rest @ ..] => Line::Run(rest.join(" ")),
        ["systemd-run", rest @ ..] => {
            let mut creds = Vec::new();
            let mut i = 0;
            while i < rest.len() && rest[i].starts_with('-') {
                if rest[i] == "-p" {
                    if let Some(c) = rest[i + 1].strip_prefix("LoadCredential=") {
                        let (name, source) = c.split_once(':').unwrap();
                        creds.push((name.to_string(), source.to_string()));
                    }
                    i += 1;
                }
                i += 1;
            }
            Line::RunWithCredentials(rest[i..].join(" "), creds)
        }
        ["install", ..] => Line::Run(line.replace(" -o root -g imvault", "")),
        _ => Line::Run(line.to_string()),
    }
}

/// The logical lines of a block (`\` continuations joined), comments and blank lines left out.
fn logical_lines(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for l in script.lines() {
        if let Some(head) = l.strip_suffix('\\') {
            current.push_str(head);
            continue;
        }
        current.push_str(l);
        let line = std::mem::take(&mut current);
        let trimmed = line.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            out.push(trimmed.to_string());
        }
    }
    out
}

/// A `LoadCredential=` directory: each source copied under its name, read-only, as systemd does.
fn credentials_dir(sh: &Shell, name: &str, creds: &[(String, String)]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = sh.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (cred, source) in creds {
        let to = dir.join(cred);
        let _ = std::fs::remove_file(&to);
        std::fs::copy(sh.localized(source), &to)
            .unwrap_or_else(|e| panic!("LoadCredential={cred}:{source}: {e}"));
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o400)).unwrap();
    }
    dir
}

/// The `$EDITOR` of the install steps: makes the edits the comments ask for (tenant URL, client
/// id, account, repository and catalog, API port) and types the secrets, for the simulator.
fn editor(sh: &Shell, sim_port: u16, api_port: u16, state: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = sh.dir.path().join("editor");
    std::fs::write(
        &path,
        format!(
            r##"#!/bin/sh
set -e
case "$1" in
  */imvault.toml)
    sed -i -e 's#^url = "https://cloudimanage.com"#url = "http://127.0.0.1:{sim_port}"#' \
      -e 's#^client_id = .*#client_id = "{client_id}"#' \
      -e 's#^username = .*#username = "{username}"#' \
      -e 's#/var/lib/imvault#{state}#' \
      -e 's#127.0.0.1:7300#127.0.0.1:{api_port}#' "$1" ;;
  */client_secret) printf '%s\n' '{secret}' > "$1" ;;
  */auth_key) printf '%s\n' '{auth_key}' > "$1" ;;
  *) echo "editor: what to write in $1?" >&2; exit 1 ;;
esac
"##,
            client_id = imvault_sim::credentials::CLIENT_ID,
            username = imvault_sim::credentials::USERNAME,
            secret = imvault_sim::credentials::CLIENT_SECRET,
            auth_key = imvault_sim::credentials::AUTH_KEY,
            state = state.display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn readyz(port: u16) -> String {
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://127.0.0.1:{port}/readyz"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The unit as installed: its ExecStart words and LoadCredential= pairs.
fn installed_unit(sh: &Shell) -> (Vec<String>, Vec<(String, String)>) {
    let unit = std::fs::read_to_string(sh.localized("/etc/systemd/system/imvault.service"))
        .expect("the install step put the unit in /etc/systemd/system");
    let mut exec = Vec::new();
    let mut creds = Vec::new();
    for line in unit.lines() {
        if let Some(v) = line.strip_prefix("ExecStart=") {
            exec = v.split_whitespace().map(|w| sh.localized(w)).collect();
        } else if let Some(v) = line.strip_prefix("LoadCredential=") {
            let (name, source) = v.split_once(':').unwrap();
            creds.push((name.to_string(), source.to_string()));
        }
    }
    (exec, creds)
}

/// systemd/README.md's "Install" and "Operate" blocks, line by line: everything that does not
/// need systemd or root over the host runs as written (the host paths moved into a temporary
/// root; `-o root -g imvault` left out of `install`; `sudo -u imvault` dropped, the test being
/// that user); `systemd-run -p LoadCredential=` and `systemctl enable --now` run the command and
/// the unit's `ExecStart=` with `$CREDENTIALS_DIRECTORY` as systemd would hand it over; reload and
/// stop send the unit's signals. The daemon signs in to a simulator with the secrets typed in
/// the install step, answers the API, queues and runs a backup, reloads, and stops cleanly.
// Multi-threaded: the simulator serves from the runtime's workers while the test waits for
// the commands it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_readme_install_and_operate_run_as_written() {
    let blocks = blocks_of("systemd/README.md");
    let names: Vec<&str> = blocks.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["install", "operate"]);

    let sim = crate::support::imanage::start_sim(crate::support::imanage::tiny());
    let sim_port = sim.addr.port();
    let api_port = free_port();
    let mut sh = Shell::new(Some(Path::new(ROOT)));
    let root = sh.dir.path().join("root");
    let state = root.join("var/lib/imvault");
    // What a systemd host has (/etc/systemd/system) and what StateDirectory= creates.
    std::fs::create_dir_all(root.join("etc/systemd/system")).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    sh.substitute("/etc/imvault", root.join("etc/imvault").to_str().unwrap());
    sh.substitute(
        "/etc/systemd/system",
        root.join("etc/systemd/system").to_str().unwrap(),
    );
    sh.substitute("localhost:7300", &format!("localhost:{api_port}"));
    let editor = editor(&sh, sim_port, api_port, &state);
    sh.set_env("EDITOR", editor.to_str().unwrap());

    // What each documented command must show (the test fails if one of them is gone).
    let mut expected: Vec<(&str, Vec<&str>, bool)> = vec![
        ("config check", vec!["is valid", "LoadCredential="], false),
        (" init", vec!["created repository", "encrypted"], false),
        ("/metrics", vec!["imvault_jobs"], false),
        ("/v1/libraries", vec!["ACTIVE"], false),
        ("/v1/backups", vec!["\"id\""], false),
        ("jobs list", vec!["backup"], false),
    ];
    let mut daemon: Option<Background> = None;
    let mut skipped = Vec::new();
    let mut queued = String::new();
    for block in &blocks {
        for line in logical_lines(&block.script) {
            let out = match translate(&line) {
                Line::Skip(why) => {
                    skipped.push(format!("{line}  ({why})"));
                    continue;
                }
                Line::Run(cmd) => sh.run(&cmd),
                Line::RunWithCredentials(cmd, creds) => {
                    let dir = credentials_dir(&sh, "run-credentials", &creds);
                    sh.run(&format!("CREDENTIALS_DIRECTORY={} {cmd}", dir.display()))
                }
                Line::Start => {
                    let (exec, creds) = installed_unit(&sh);
                    let dir = credentials_dir(&sh, "credentials", &creds);
                    assert!(exec[0].ends_with("/imvault"), "{exec:?}");
                    let mut cmd = super::support::imvault_cmd();
                    cmd.args(&exec[1..])
                        .env("CREDENTIALS_DIRECTORY", &dir)
                        .current_dir(sh.dir.path());
                    let mut bg = sh.spawn_command("imvault.service", cmd);
                    wait_listening(&mut bg, api_port).await;
                    // Started: signed in and the repository opened (`/readyz` answers 200).
                    wait_for("/readyz 200", Duration::from_secs(60), || {
                        readyz(api_port) == "200"
                    })
                    .await;
                    daemon = Some(bg);
                    continue;
                }
                Line::Status => {
                    let d = daemon.as_mut().expect("status of a started unit");
                    assert!(d.child.try_wait().unwrap().is_none(), "{}", d.stderr());
                    continue;
                }
                Line::Journal => {
                    let d = daemon.as_ref().expect("a started unit");
                    let log = d.stderr();
                    assert!(!log.is_empty());
                    for l in log.lines() {
                        let v: serde_json::Value = serde_json::from_str(l)
                            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
                        assert!(v.get("level").is_some() || v.get("fields").is_some(), "{l}");
                    }
                    continue;
                }
                Line::Reload => {
                    let d = daemon.as_ref().expect("a started unit");
                    d.signal("HUP");
                    wait_for("the reload in the log", Duration::from_secs(30), || {
                        d.stderr().contains("configuration reloaded")
                    })
                    .await;
                    continue;
                }
                Line::Stop => {
                    let mut d = daemon.take().expect("a started unit");
                    // The backup queued above has ended first, so the stop has nothing to drain.
                    if !queued.is_empty() {
                        sh.run(&format!(
                            "CREDENTIALS_DIRECTORY=/etc/imvault IMVAULT_CONFIG=/etc/imvault/imvault.toml imvault jobs watch {queued}"
                        ))
                        .expect(0);
                    }
                    d.signal("TERM");
                    let code = d.wait_exit(Duration::from_secs(120)).await;
                    assert_eq!(code, Some(0), "{}", d.stderr());
                    continue;
                }
            };
            let out = out.expect(0);
            for (needle, shows_what, seen) in &mut expected {
                if line.contains(*needle) {
                    shows(&out, shows_what, &line);
                    *seen = true;
                }
            }
            if line.contains("/v1/backups") {
                let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
                queued = v["id"].as_str().unwrap().to_string();
            }
        }
    }
    for (needle, _, seen) in &expected {
        assert!(seen, "systemd/README.md no longer runs {needle:?}");
    }
    assert!(
        daemon.is_none(),
        "the operate steps end with `systemctl stop`"
    );
    assert!(!queued.is_empty());
    // The secrets the install step made are private, and the edited configuration reads.
    for secret in [
        "client_secret",
        "auth_key",
        "api_token",
        "repository_password",
    ] {
        assert_eq!(
            mode(&root.join("etc/imvault").join(secret)),
            0o600,
            "{secret}"
        );
    }
    assert_eq!(skipped.len(), 4, "{skipped:#?}");
}

#[test]
fn systemd_lines_translate_as_documented() {
    assert_eq!(
        translate("install -m 0640 -o root -g imvault a /etc/imvault/b"),
        Line::Run("install -m 0640 a /etc/imvault/b".into())
    );
    assert_eq!(
        translate("sudo -u imvault imvault --config x config check"),
        Line::Run("imvault --config x config check".into())
    );
    assert_eq!(
        translate(
            "systemd-run --uid=imvault --pipe --wait -p StateDirectory=imvault -p LoadCredential=a:/etc/imvault/a imvault -c c init"
        ),
        Line::RunWithCredentials(
            "imvault -c c init".into(),
            vec![("a".into(), "/etc/imvault/a".into())]
        )
    );
    assert_eq!(
        logical_lines("# c\na \\\n  b\n\nc # x\n"),
        ["a   b", "c # x"]
    );
}
