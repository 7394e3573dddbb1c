//! Local files are private (issue 14): everything the binary creates — repository (file://),
//! catalog and its journal, digests, locks, verify state, restore exports — is 0600 (files) or
//! 0700 (directories) under the usual umask 022; an export into a directory others may write to
//! or that another user owns is refused unless --merge.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use imvault_sim::{self as sim, Scale, SimOptions};

/// Runs the binary from a shell whose umask is 022 (the usual default).
fn imvault_umask_022(config: &Path, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(r#"umask 022 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_imvault"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("IMVAULT_LOG", "warn")
        .env_remove("IMVAULT_CONFIG")
        .output()
        .expect("run imvault")
}

fn ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file and directory under `root` (root included), with its mode bits.
fn modes(root: &Path) -> Vec<(std::path::PathBuf, bool, u32)> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        out.push((p.clone(), m.is_dir(), m.permissions().mode() & 0o7777));
        if m.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                todo.push(e.unwrap().path());
            }
        }
    }
    out
}

fn assert_private(root: &Path) -> usize {
    let all = modes(root);
    for (p, is_dir, mode) in &all {
        let want = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{} has mode {mode:o}", p.display());
    }
    all.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_the_binary_creates_is_private_under_umask_022() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, _sim) = sim::Server::start(SimOptions {
        seed: 14,
        scale: Scale::Tiny,
        ..SimOptions::default()
    })
    .unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = work.join("imvault.toml");
    std::fs::write(&cfg, crate::support::env::config_text(&work, addr)).unwrap();
    for args in [
        &["init"][..],
        &["backup", "--json"],
        &["verify", "--read-data", "--json"],
        &["prune", "--grace", "0", "--json"],
        &["catalog", "rebuild"],
    ] {
        ok(&imvault_umask_022(&cfg, args));
    }
    let export = work.join("export");
    let out = imvault_umask_022(
        &cfg,
        &[
            "restore",
            "--library",
            "ACTIVE",
            "--to",
            export.to_str().unwrap(),
            "--json",
        ],
    );
    ok(&out);

    let repo_entries = assert_private(&work.join("repo"));
    assert!(
        repo_entries > 8,
        "config, packs, index, snapshots: {repo_entries}"
    );
    let state_entries = assert_private(&work.join("state"));
    assert!(
        std::fs::read_dir(work.join("state"))
            .unwrap()
            .any(|e| e.unwrap().file_name() == "catalog.db"),
        "catalog in state/"
    );
    assert!(
        state_entries >= 3,
        "catalog, locks, digests: {state_entries}"
    );
    let export_entries = assert_private(&export);
    assert!(export_entries > 5, "restored documents: {export_entries}");
    // The loaded index's table lives in state/tmp (private, checked above), not in the
    // system's temporary directory, and leaves no file behind (its files are unnamed).
    let tmp = work.join("state").join("tmp");
    assert!(tmp.is_dir(), "state/tmp");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "state/tmp is empty"
    );
}

#[tokio::test]
async fn export_into_a_directory_others_may_write_is_refused_unless_merge() {
    let env = crate::support::env::TestEnv::tiny(15).await;
    env.backup(&Default::default()).await;
    let shared = env.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let args = |merge: bool| {
        let mut a = vec![
            "restore".to_string(),
            "--library".into(),
            "ACTIVE".into(),
            "--to".into(),
            shared.display().to_string(),
            "--json".into(),
        ];
        if merge {
            a.push("--merge".into());
        }
        a
    };
    let run = |merge: bool| {
        let a = args(merge);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        crate::support::restore::cli(&env, &a)
    };
    let out = run(false);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(shared.to_str().unwrap()) && err.contains("writable by every user"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&shared).unwrap().count(),
        0,
        "nothing written"
    );
    // Group-writable: refused too.
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o770)).unwrap();
    let out = run(false);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("its group"));
    // Owned by another user (root can hand it over): refused.
    if imvault::private_fs::current_uid() == 0 {
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&shared, Some(65534), None).unwrap();
        let out = run(false);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("another user"));
        std::os::unix::fs::chown(&shared, Some(0), None).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o770)).unwrap();
    }
    // An explicit --merge writes there.
    let out = run(true);
    crate::support::restore::assert_exit(&out, 0);
    assert!(std::fs::read_dir(&shared).unwrap().count() > 1);
}
