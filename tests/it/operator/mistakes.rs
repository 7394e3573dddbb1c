//! Mistakes that deserve a useful answer: a mistyped library, restoring a deleted document from
//! the newest snapshot, a restore that fails while planning.

use imvault_sim::MutateRequest;

use crate::support::restore::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_get_useful_answers() {
    let env = backed_up(1901).await;
    let first = latest(&catalog(&env));

    // A mistyped library is rejected by every command, naming the known ones; the case of a
    // known one does not matter.
    for cmd in [
        &["snapshots", "--library", "ACTIV"][..],
        &["verify", "--library", "ACTIV"][..],
        &["find", "--library", "ACTIV", "--name", "*"][..],
        &["ls", "--library", "ACTIV"][..],
        &[
            "forget",
            "--library",
            "ACTIV",
            "--keep-last",
            "1",
            "--dry-run",
        ][..],
        &["ls", "ACTIV!1"][..],
    ] {
        let out = cli(&env, cmd);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains("\"ACTIV\"") && err.contains(LIB),
            "{cmd:?}: {err}"
        );
    }
    // A share of the packs out of range is refused before anything runs: no verify job.
    for bad in ["--read-data=0", "--read-data=150", "--read-data=x"] {
        let out = cli(&env, &["verify", bad]);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains("--read-data"), "{}", stderr(&out));
    }
    let jobs = String::from_utf8_lossy(&cli(&env, &["jobs", "list"]).stdout).into_owned();
    assert!(!jobs.contains("verify"), "{jobs}");
    // A request that contradicts itself says so, once.
    let out = cli(
        &env,
        &["restore", "--library", LIB, "--version", "2", "--to", "x"],
    );
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("invalid restore request: version needs document")
            && !err.contains("restoring invalid request"),
        "{err}"
    );
    for cmd in [
        &["snapshots", "--library", "active", "--json"][..],
        &["verify", "--library", "Active", "--json"][..],
    ] {
        let out = cli(&env, cmd);
        assert_exit(&out, 0);
    }
    // `imvault find … | head`: a reader gone before the hits are written ends it quietly.
    {
        use std::io::Read as _;
        use std::os::unix::process::ExitStatusExt as _;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_imvault"))
            .arg("--config")
            .arg(&env.config_path)
            .args(["find", "--name", "*"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(err.trim().is_empty(), "quiet: {err}");
        assert!(
            status.success() || status.signal() == Some(libc::SIGPIPE),
            "{status:?}"
        );
    }
    let out = cli(&env, &["snapshots", "--library", "active", "--json"]);
    let snaps = json_of(&out);
    assert_eq!(snaps.as_array().map(Vec::len), Some(1), "{snaps}");

    // Restoring a deleted document from the newest snapshot (which no longer has it) names the
    // newest snapshot holding it and the flags that pick it.
    let report = env.sim.mutate(&MutateRequest {
        deletes: 1,
        library: Some(LIB.into()),
        ..Default::default()
    });
    backup(&env).await;
    let gone = &report.deletes[0];
    let target = env.dir.path().join("restore-target");
    std::fs::create_dir_all(&target).unwrap();
    let to = target.to_str().unwrap();
    let out = cli(&env, &["restore", "--document", gone, "--to", to]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("document {gone} is not in snapshot"))
            && err.contains(&format!(
                "the newest snapshot holding it is {}",
                first.row.id
            ))
            && err.contains("--snapshot")
            && err.contains("--at")
            && err.contains("deleted since?"),
        "{err}"
    );
    // It wrote nothing: the corrected command is not refused as "not empty".
    assert_eq!(
        std::fs::read_dir(&target).unwrap().count(),
        0,
        "a restore failing while planning writes nothing"
    );
    let prefix = &first.row.id.to_hex()[..12];
    let out = cli(
        &env,
        &[
            "restore",
            "--document",
            gone,
            "--snapshot",
            prefix,
            "--to",
            to,
        ],
    );
    assert_exit(&out, 0);
    assert!(!files_under(&target).is_empty());

    // The --at form it suggests works as well.
    let at = first
        .row
        .time
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    assert!(err.contains(&at), "{err}");
    let target2 = env.dir.path().join("restore-target-2");
    let out = cli(
        &env,
        &[
            "restore",
            "--document",
            gone,
            "--at",
            &at,
            "--to",
            target2.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 0);

    // An export into the repository, or into imvault's state directory, is refused before
    // anything is written (plaintext among the repository's objects would break every later
    // listing of it), relative or through `..` as well; the repository still lists.
    let repo = env.dir.path().join("repo");
    let state = env.dir.path().join("state");
    for bad in [
        repo.join("snapshots/x"),
        state.join("digests/x"),
        env.dir.path().join("not-yet/../repo/packs/x"),
    ] {
        let out = cli(
            &env,
            &[
                "restore",
                "--document",
                gone,
                "--snapshot",
                prefix,
                "--to",
                bad.to_str().unwrap(),
            ],
        );
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains("refusing to restore into") && err.contains("would hold or be inside"),
            "{}: {err}",
            bad.display()
        );
        assert!(!bad.exists(), "{} was created", bad.display());
    }
    assert!(!env.dir.path().join("not-yet").exists());
    let out = cli(&env, &["snapshots", "--library", LIB]);
    assert_exit(&out, 0);

    // A version asked for as of a snapshot taken before it was made: "added since", not
    // "deleted since".
    let added = env.sim.mutate(&MutateRequest {
        new_versions: 1,
        library: Some(LIB.into()),
        ..Default::default()
    });
    backup(&env).await;
    let v: imvault::imanage::model::VersionId = added.new_versions[0].parse().unwrap();
    let to = env.dir.path().join("restore-target-3");
    let out = cli(
        &env,
        &[
            "restore",
            "--document",
            &v.document.to_string(),
            "--version",
            &v.version.to_string(),
            "--snapshot",
            prefix,
            "--to",
            to.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("version {v} is not in snapshot")) && err.contains("added since"),
        "{err}"
    );

    // Something else under snapshots/ (an export pointed there by an older release, a stray
    // upload) is no snapshot: listings skip it, backups go on, verify reports it.
    use object_store::ObjectStoreExt as _;
    env.store
        .put(
            &object_store::path::Path::from("snapshots/x/imvault-restore-items.jsonl"),
            bytes::Bytes::from_static(b"{}\n").into(),
        )
        .await
        .unwrap();
    let out = cli(&env, &["snapshots", "--library", "active", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(json_of(&out).as_array().map(Vec::len), Some(3));
    backup(&env).await;
    let out = cli(&env, &["snapshots", "--library", "active", "--json"]);
    assert_eq!(json_of(&out).as_array().map(Vec::len), Some(4));
    let out = cli(&env, &["verify"]);
    assert_exit(&out, 1);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(
        text.contains("snapshots/x/imvault-restore-items.jsonl")
            && text.contains("not named by a snapshot id"),
        "{text}"
    );
}

/// A lost catalog (deleted: a new empty one opens) is said so by the commands that browse the
/// catalog alone, with the fix, instead of "no snapshot" or "0 found"; `catalog sync` brings it
/// back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_catalog_is_said_so_with_the_fix() {
    let env = backed_up(1907).await;
    let catalog = env.dir.path().join("state/catalog.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", catalog.display()));
    }
    for cmd in [
        &["ls", "--library", LIB][..],
        &["ls"][..],
        &["find", "--name", "*"][..],
        &["find", "--library", LIB, "--name", "*"][..],
        &["versions", "ACTIVE!1"][..],
    ] {
        let out = cli(&env, cmd);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains("holds no snapshot") && err.contains("imvault catalog sync"),
            "{cmd:?}: {err}"
        );
    }
    let out = cli(&env, &["catalog", "sync"]);
    assert_exit(&out, 0);
    let out = cli(&env, &["find", "--library", LIB, "--name", "*"]);
    assert_exit(&out, 0);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("0 version(s) found"));
    // A path that names nothing says how a name holding a '/' is reached.
    let out = cli(&env, &["ls", "--library", LIB, "Fabrikam / Tailspin JV"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("reached by its id"),
        "{}",
        stderr(&out)
    );
}

/// `ls` by path with two same-named workspaces shows both, each with its id and the form that
/// names it alone; that form (`Name (N)`, as the export names such directories) lists only it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ls_by_path_shows_every_same_named_workspace() {
    let env = backed_up(1902).await;
    let first = latest(&catalog(&env));
    let original = catalog(&env)
        .children(&first.row.id, None)
        .unwrap()
        .containers
        .into_iter()
        .find(|c| c.kind == imvault::imanage::model::ContainerKind::Workspace)
        .expect("a workspace");
    let twin = env
        .client()
        .await
        .create_workspace(
            &library(),
            &imvault::imanage::profiles::NewWorkspace {
                name: original.name.clone(),
                description: "a second matter with the same name".into(),
                default_security: imvault::imanage::model::DefaultSecurity::Public,
                profile: serde_json::json!({}),
                owner: None,
            },
        )
        .await
        .unwrap();
    for o in env
        .backup(&imvault::jobs::backup::BackupRequest {
            full: true,
            ..Default::default()
        })
        .await
    {
        assert_eq!(o.state, imvault::jobs::JobState::Completed, "{o:?}");
    }

    let out = cli(&env, &["ls", "--library", LIB, &original.name]);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    for (id, number) in [
        (original.id.to_string(), original.id.number),
        (twin.id.to_string(), twin.id.number),
    ] {
        assert!(
            text.contains(&id) && text.contains(&format!("{} ({number})", original.name)),
            "{id} missing:\n{text}"
        );
    }
    let out = cli(&env, &["ls", "--library", LIB, "--json", &original.name]);
    assert_exit(&out, 0);
    let v = json_of(&out);
    let ids: Vec<&str> = v["matches"]
        .as_array()
        .unwrap_or_else(|| panic!("{v:#}"))
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{v:#}");
    assert!(
        ids.contains(&original.id.to_string().as_str())
            && ids.contains(&twin.id.to_string().as_str())
    );

    // The id-suffixed form names one of them.
    let alone = format!("{} ({})", original.name, twin.id.number);
    let out = cli(&env, &["ls", "--library", LIB, "--json", &alone]);
    assert_exit(&out, 0);
    let v = json_of(&out);
    assert!(v["matches"].is_null(), "{v:#}");
    assert!(
        v["place"].as_str().unwrap().contains(&twin.id.to_string()),
        "{v:#}"
    );
}

/// A restore's progress lines show a restore's figures (versions, bytes restored), not a
/// backup's counters (downloaded, unchanged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_progress_shows_restore_figures() {
    let env = backed_up(1903).await;
    let to = env.dir.path().join("progress-export");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imvault"))
        .arg("--config")
        .arg(&env.config_path)
        .args([
            "--log-format",
            "json",
            "restore",
            "--library",
            LIB,
            "--json",
            "--to",
        ])
        .arg(&to)
        .env("IMVAULT_LOG", "imvault=info")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let report = json_of(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|l| l["fields"]["message"] == "progress")
        .unwrap_or_else(|| panic!("no progress line:\n{err}"));
    let f = &last["fields"];
    assert_eq!(f["versions"], report["versions"], "{last}");
    assert_eq!(f["bytes"], report["bytes"], "{last}");
    assert!(f["versions"].as_u64().unwrap() > 0, "{last}");
    for backup_only in ["downloaded", "unchanged", "bytes_read", "library"] {
        assert!(f.get(backup_only).is_none(), "{backup_only} in {last}");
    }
}
