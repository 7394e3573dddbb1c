//! The audit trail from the command line (issue 16): every action that reads or changes
//! protected data or the repository leaves exactly one entry (a `started` and a `finished`
//! record) naming the operating-system user; dry runs leave none; a failed audit write fails
//! the action, which changes nothing; `verify` names a tampered record; `audit --csv` is
//! RFC 4180.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support::restore::{
    assert_exit, backed_up, catalog, cli, folder_with_subfolders, json_of, latest,
};

/// The user this test runs as, from `id -un` (the command line's actor).
fn os_user() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn entries(env: &crate::support::env::TestEnv, envs: &[(&str, &str)]) -> Vec<Value> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_imvault"));
    cmd.arg("--config")
        .arg(&env.config_path)
        .args(["audit", "--json"])
        .env("IMVAULT_LOG", "warn");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_exit(&out, 0);
    json_of(&out).as_array().unwrap().clone()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn audit_files(repo: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(writers) = std::fs::read_dir(repo.join("audit")) else {
        return out;
    };
    for w in writers {
        for r in std::fs::read_dir(w.unwrap().path()).unwrap() {
            out.push(r.unwrap().path());
        }
    }
    out.sort();
    out
}

/// Each action in turn: exactly one new entry, of the right action, by this user, ok; dry runs
/// add none. Then tampering with one record makes `verify` fail naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cli_action_leaves_one_entry_by_the_os_user_and_verify_checks_the_chain() {
    let env = backed_up(161).await;
    let cat = catalog(&env);
    let snap = latest(&cat);
    let doc = folder_with_subfolders(&cat, &snap, 2).documents[0]
        .id
        .to_string();
    let export = env.dir.path().join("export");
    let export = export.to_str().unwrap();
    let new_pw = env.dir.path().join("new-password");
    imvault::private_fs::write(&new_pw, "a second password\n").unwrap();
    let new_pw = new_pw.to_str().unwrap();
    let user = os_user();
    // A blob of the repository, from a pack's header.
    let pack = walk(&env.dir.path().join("repo/packs"))[0].clone();
    let pack = Path::new(&pack)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let dump = json_of(&cli(&env, &["cat", "pack", &pack]));
    let blob = dump["blobs"][0]["id"].as_str().unwrap().to_string();

    let table: &[(&[&str], Option<&str>)] = &[
        (
            &["restore", "--document", &doc, "--to", export],
            Some("export"),
        ),
        (
            &[
                "restore",
                "--document",
                &doc,
                "--version",
                "1",
                "--into",
                "original",
            ],
            Some("restore"),
        ),
        (
            &[
                "restore",
                "--document",
                &doc,
                "--to",
                export,
                "--dry-run",
                "--merge",
            ],
            None,
        ),
        (&["forget", "--keep-last", "1", "--dry-run"], None),
        (&["forget", "--keep-last", "1"], Some("forget")),
        (&["prune", "--dry-run"], None),
        (&["prune", "--grace", "0"], Some("prune")),
        (
            &["key", "add", "--new-password-file", new_pw],
            Some("key_add"),
        ),
        (&["repair", "index"], Some("repair_index")),
        (&["cat", "blob", &blob], Some("cat")),
        (&["cat", "config"], None),
        (&["cat", "pack", &pack], None),
        (&["key", "list"], None),
        (&["verify"], None),
    ];
    let mut seen = entries(&env, &[]).len();
    assert_eq!(seen, 0, "backups are not audited actions");
    for (args, action) in table {
        let out = cli(&env, args);
        assert_exit(&out, 0);
        let all = entries(&env, &[]);
        match action {
            None => assert_eq!(all.len(), seen, "{args:?} is not recorded"),
            Some(action) => {
                assert_eq!(all.len(), seen + 1, "{args:?}: exactly one entry: {all:#?}");
                let e = &all[seen];
                assert_eq!(e["action"], *action, "{args:?}: {e}");
                assert_eq!(e["actor"]["kind"], "user", "{e}");
                assert_eq!(e["actor"]["name"], user.as_str(), "{e}");
                assert_eq!(e["outcome"], "ok", "{args:?}: {e}");
                assert!(e["finished"].is_string(), "{e}");
            }
        }
        seen = all.len();
    }
    let all = entries(&env, &[]);
    // What, as of when, to where, how many versions and bytes.
    let exported = &all[0];
    assert_eq!(exported["parameters"]["target"]["path"], export);
    assert!(
        exported["parameters"]["what"]
            .as_str()
            .unwrap()
            .contains(&doc),
        "{exported}"
    );
    assert!(
        exported["figures"]["versions"].as_u64().unwrap() >= 1,
        "{exported}"
    );
    assert!(
        exported["figures"]["bytes"].as_u64().unwrap() > 0,
        "{exported}"
    );
    assert_eq!(all[1]["parameters"]["target"]["kind"], "original");
    assert_eq!(
        all[4]["parameters"]["kind"], "password",
        "the slot's kind, never the password"
    );
    let trail = std::fs::read_dir(env.dir.path().join("repo/audit"))
        .unwrap()
        .count();
    assert_eq!(trail, 1, "one writer for this state directory");
    for f in audit_files(&env.dir.path().join("repo")) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(6).any(|w| w == b"export"),
            "{} is sealed",
            f.display()
        );
    }

    // The slot of the new password removed, then the opening one replaced: both recorded.
    let list = json_of(&cli(&env, &["key", "list", "--json"]));
    let added = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_exit(&cli(&env, &["key", "remove", &added]), 0);
    assert_exit(
        &cli(&env, &["key", "passwd", "--new-password-file", new_pw]),
        0,
    );
    let all = entries(&env, &[("IMVAULT_PASSWORD", "a second password")]);
    let kinds: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "export",
            "restore",
            "forget",
            "prune",
            "key_add",
            "repair_index",
            "cat",
            "key_remove",
            "key_passwd"
        ]
    );
    assert_eq!(all[6]["parameters"]["object"], format!("blob {blob}"));
    assert!(all[6]["figures"]["bytes"].as_u64().unwrap() > 0);

    // An edited byte in one record: verify fails naming it; put back, verify passes.
    let verify = |env: &crate::support::env::TestEnv| {
        std::process::Command::new(env!("CARGO_BIN_EXE_imvault"))
            .arg("--config")
            .arg(&env.config_path)
            .arg("verify")
            .env("IMVAULT_LOG", "warn")
            .env("IMVAULT_PASSWORD", "a second password")
            .output()
            .unwrap()
    };
    assert_exit(&verify(&env), 0);
    let files = audit_files(&env.dir.path().join("repo"));
    assert_eq!(files.len(), 18);
    let victim = &files[5];
    let name = format!(
        "audit/{}/{}",
        victim
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy(),
        victim.file_name().unwrap().to_string_lossy()
    );
    let orig = std::fs::read(victim).unwrap();
    let mut bad = orig.clone();
    bad[30] ^= 4;
    std::fs::write(victim, &bad).unwrap();
    let out = verify(&env);
    assert_exit(&out, 1);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&name) && text.contains("failed authentication"),
        "{text}"
    );
    // Deleted instead: the chain break names the writer and the seq.
    std::fs::remove_file(victim).unwrap();
    let out = verify(&env);
    assert_exit(&out, 1);
    let text = String::from_utf8_lossy(&out.stdout);
    let writer = victim
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        text.contains(&writer) && text.contains("record 6 missing"),
        "{text}"
    );
    std::fs::write(victim, &orig).unwrap();
    assert_exit(&verify(&env), 0);
}

/// A store refusing the audit record: the action fails before doing anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_audit_write_fails_the_action_and_changes_nothing() {
    let env = backed_up(162).await;
    let cat = catalog(&env);
    let snap = latest(&cat);
    let doc = folder_with_subfolders(&cat, &snap, 2).documents[0]
        .id
        .to_string();
    // A second snapshot, so that forget would have something to forget.
    crate::support::restore::backup(&env).await;
    let repo = env.dir.path().join("repo");
    let listing = |dir: &str| -> Vec<String> {
        let mut v: Vec<String> = walk(&repo.join(dir));
        v.sort();
        v
    };
    let before: Vec<Vec<String>> = ["snapshots", "packs", "index", "keys", "locks"]
        .iter()
        .map(|d| listing(d))
        .collect();
    let export = env.dir.path().join("export");
    let new_pw = env.dir.path().join("new-password");
    imvault::private_fs::write(&new_pw, "a second password\n").unwrap();
    let runs: &[&[&str]] = &[
        &[
            "restore",
            "--document",
            &doc,
            "--to",
            export.to_str().unwrap(),
        ],
        &["forget", "--keep-last", "1"],
        &["prune", "--grace", "0"],
        &[
            "key",
            "add",
            "--new-password-file",
            new_pw.to_str().unwrap(),
        ],
    ];
    for args in runs {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_imvault"))
            .arg("--config")
            .arg(&env.config_path)
            .args(*args)
            .env("IMVAULT_LOG", "warn")
            .env("IMVAULT_TEST_AUDIT_FAIL", "1")
            .output()
            .unwrap();
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains("audit trail: nothing was done"),
            "{args:?}: {err}"
        );
    }
    let after: Vec<Vec<String>> = ["snapshots", "packs", "index", "keys", "locks"]
        .iter()
        .map(|d| listing(d))
        .collect();
    assert_eq!(before, after, "nothing changed in the repository");
    assert!(!export.exists(), "nothing exported");
    assert!(audit_files(&repo).is_empty());
    // The same forget without the failure runs, recorded.
    assert_exit(&cli(&env, &["forget", "--keep-last", "1"]), 0);
    assert_eq!(entries(&env, &[]).len(), 1);
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

/// An RFC 4180 reader for the test: fields, quoted ones with doubled quotes, CRLF rows.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && row.is_empty() && !quoted,
        "the last row ends with CRLF"
    );
    rows
}

/// CSV with a header row and RFC 4180 quoting (a parameter with a comma, a quote and a
/// newline); filters by action, actor and time; a bad time names its flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lists_as_csv_and_filters() {
    let env = backed_up(163).await;
    let odd = "no,such \"slot\"\nat all";
    let out = cli(&env, &["key", "remove", odd]);
    assert_exit(&out, 2);
    assert_exit(&cli(&env, &["forget", "--keep-last", "3"]), 0);

    let out = cli(&env, &["audit", "--csv"]);
    assert_exit(&out, 0);
    let rows = parse_csv(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(rows.len(), 3, "{rows:?}");
    let header = &rows[0];
    assert_eq!(header[0], "time");
    assert!(rows.iter().all(|r| r.len() == header.len()), "{rows:?}");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let removed = &rows[1];
    assert_eq!(removed[col("action")], "key_remove");
    assert_eq!(removed[col("outcome")], "failed");
    let params: Value = serde_json::from_str(&removed[col("parameters")]).unwrap();
    assert_eq!(params["slot"], odd, "the parameter comes back whole");
    assert!(removed[col("message")].contains(odd), "{removed:?}");
    assert_eq!(removed[col("actor")], os_user());
    assert_eq!(rows[2][col("action")], "forget");

    let json = |args: &[&str]| -> Vec<Value> {
        let out = cli(&env, args);
        assert_exit(&out, 0);
        json_of(&out).as_array().unwrap().clone()
    };
    assert_eq!(json(&["audit", "--json", "--action", "forget"]).len(), 1);
    assert_eq!(json(&["audit", "--json", "--actor", &os_user()]).len(), 2);
    assert_eq!(
        json(&["audit", "--json", "--actor", "somebody-else"]).len(),
        0
    );
    assert_eq!(json(&["audit", "--json", "--since", "2999-01-01"]).len(), 0);
    assert_eq!(
        json(&[
            "audit",
            "--json",
            "--until",
            "2999-01-01",
            "--since",
            "2000-01-01"
        ])
        .len(),
        2
    );
    let out = cli(&env, &["audit", "--since", "yesterday-ish"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--since"), "{}", stderr(&out));
    let out = cli(&env, &["audit", "--action", "delete_everything"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("--action") && stderr(&out).contains("hold_add"),
        "{}",
        stderr(&out)
    );
    let text = cli(&env, &["audit"]);
    assert_exit(&text, 0);
    assert!(String::from_utf8_lossy(&text.stdout).contains("2 actions"));
}

/// `init` is the first action recorded in the new repository; a state directory that moves on to
/// a second repository starts a chain there (seq 1) and verify of either finds nothing wrong.
#[test]
fn init_is_recorded_and_each_repository_has_its_own_chain() {
    use crate::support::maint::{imvault, repo_only_config};
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("repo-a"), dir.path().join("repo-b"));
    let config = repo_only_config(dir.path(), &a);
    let (code, out, err) = imvault(&config, &["init"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = imvault(&config, &["forget", "--keep-last", "1"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = imvault(&config, &["audit", "--json"], &[]);
    let all: Vec<Value> = serde_json::from_str(&out).unwrap();
    let kinds: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["init", "forget"]);
    assert_eq!(all[0]["parameters"]["encrypted"], true);
    assert_eq!(all[0]["seq"], 1);
    assert_eq!(all[0]["actor"]["name"], os_user().as_str());

    let config_b = dir.path().join("b.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config_b, text.replace("repo-a", "repo-b")).unwrap();
    let (code, out, err) = imvault(&config_b, &["init"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = imvault(&config_b, &["audit", "--json"], &[]);
    let all_b: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(all_b.len(), 1);
    assert_eq!(
        all_b[0]["seq"], 1,
        "a chain of its own in the second repository"
    );
    assert_eq!(
        all_b[0]["writer"], all[0]["writer"],
        "one writer per state directory"
    );
    for c in [&config, &config_b] {
        let (code, out, err) = imvault(c, &["verify"], &[]);
        assert_eq!(code, 0, "{out}{err}");
    }
    assert!(audit_files(&b).len() == 2 && audit_files(&a).len() == 4);
}
