//! Seeing what happened: repository figures after `forget`; errors and logs in words, not Rust
//! debug text.

use imvault_sim::MutateRequest;

use crate::support::restore::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_after_forget_count_what_the_kept_snapshots_reference() {
    let env = backed_up(1931).await;
    env.sim.mutate(&MutateRequest {
        new_versions: 3,
        profile_edits: 2,
        library: Some(LIB.into()),
        ..Default::default()
    });
    backup(&env).await;
    assert_exit(&cli(&env, &["forget", "--keep-last", "1"]), 0);

    let s = json_of(&cli(&env, &["stats", "--json"]));
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    let r = |k: &str| s[k].as_f64().unwrap_or_else(|| panic!("{k} in {s}"));
    assert!(n("unique_bytes") > 0, "{s}");
    assert!(
        n("unique_bytes") <= n("protected_bytes"),
        "the kept snapshots reference no more unique bytes than they protect: {s}"
    );
    assert!(r("dedup_ratio") >= 1.0, "{s}");
    assert!(
        n("unreferenced_bytes") > 0,
        "the forgotten snapshots' metadata is counted apart until prune: {s}"
    );
    assert_exit(&cli(&env, &["prune", "--grace", "0"]), 0);
    let after = json_of(&cli(&env, &["stats", "--json"]));
    assert_eq!(after["unreferenced_bytes"], 0, "{after}");
    assert_eq!(
        after["unique_bytes"], s["unique_bytes"],
        "prune removes only what the kept snapshots do not reference: {after}"
    );
    let text = cli(&env, &["stats"]);
    assert_exit(&text, 0);
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(out.contains("unreferenced bytes"), "{out}");
}

/// Rust debug text: `Name { field: … }`, `Name(…)` wrappers, `Some(…)`.
fn debug_text(s: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for line in s.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for w in words.windows(2) {
            let name = w[0].rsplit(['=', '(', '\'', '"']).next().unwrap_or("");
            if w[1] == "{" && name.starts_with(|c: char| c.is_ascii_uppercase()) {
                hits.push(line.to_string());
            }
        }
        if line.contains("Some(") || line.contains(": None") || line.contains("merge: ") {
            hits.push(line.to_string());
        }
    }
    hits
}

/// Each cause of an error chain is named once: no line of the message repeats another's text.
fn repeated_causes(err: &str) -> Vec<String> {
    let parts: Vec<&str> = err
        .split(['\n', ':'])
        .map(str::trim)
        .filter(|p| p.len() > 20)
        .collect();
    let mut seen = std::collections::HashSet::new();
    parts
        .into_iter()
        .filter(|p| !seen.insert(*p))
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_logs_show_no_debug_text() {
    let env = backed_up(1932).await;
    let report = env.sim.mutate(&MutateRequest {
        deletes: 1,
        new_versions: 2,
        library: Some(LIB.into()),
        ..Default::default()
    });
    // The backup's log lines (the catalog's change counts among them) read as text.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imvault"))
        .arg("--config")
        .arg(&env.config_path)
        .args(["backup", "--library", LIB])
        .env("IMVAULT_LOG", "info")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let log = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("catalog updated"), "{log}");
    assert!(log.contains("added,"), "change counts as text: {log}");
    assert!(debug_text(&log).is_empty(), "{:?}", debug_text(&log));
    assert!(debug_text(&stdout).is_empty(), "{stdout}");
    assert!(
        !stdout.contains("completedwithwarnings"),
        "states are spelled as the JSON spells them: {stdout}"
    );

    // A restore that fails names its destination as text, and each cause once.
    let gone = &report.deletes[0];
    let target = env.dir.path().join("restore-target");
    std::fs::create_dir_all(&target).unwrap();
    let out = cli(
        &env,
        &[
            "restore",
            "--document",
            gone,
            "--to",
            target.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("into directory {}", target.display())),
        "{err}"
    );
    assert!(debug_text(&err).is_empty(), "{:?}", debug_text(&err));
    assert!(
        repeated_causes(&err).is_empty(),
        "{:?}\n{err}",
        repeated_causes(&err)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn why_a_backup_had_warnings_is_listed_with_reasons() {
    let env = backed_up(1933).await;
    let report = env.sim.mutate(&MutateRequest {
        new_versions: 2,
        library: Some(LIB.into()),
        ..Default::default()
    });
    for v in &report.new_versions {
        env.sim.deny_download(v);
    }
    let out = cli(&env, &["backup", "--library", LIB, "--json"]);
    assert_exit(&out, 1);
    let run = json_of(&out);
    let lib = &run["libraries"][0];
    assert_eq!(lib["state"], "completed_with_warnings", "{run}");
    let objects = |items: &serde_json::Value| -> Vec<String> {
        let mut v: Vec<String> = items
            .as_array()
            .unwrap_or_else(|| panic!("a list: {items}"))
            .iter()
            .map(|i| i["object"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let mut denied = report.new_versions.clone();
    denied.sort();
    assert_eq!(objects(&lib["skipped_items"]), denied, "{run}");
    for it in lib["skipped_items"].as_array().unwrap() {
        assert_eq!(it["action"], "download", "{it}");
        assert!(
            it["reason"].as_str().unwrap().contains("denied"),
            "the reason is the cause: {it}"
        );
    }

    // The text output names them too, with the state as JSON spells it.
    // `backup` without --json names them with their reasons.
    let out = cli(&env, &["backup", "--library", LIB]);
    let text = String::from_utf8_lossy(&out.stdout);
    for v in &report.new_versions {
        assert!(
            text.lines()
                .any(|l| l.contains("skipped") && l.contains(v.as_str()) && l.contains("denied")),
            "{v}: {text}"
        );
    }

    // `snapshots --json`: the snapshot's summary lists them, its version count is the outcome's.
    let snaps = json_of(&cli(&env, &["snapshots", "--library", LIB, "--json"]));
    let snap = &snaps.as_array().unwrap()[snaps.as_array().unwrap().len() - 2];
    assert_eq!(snap["summary"]["state"], "completed_with_warnings");
    assert_eq!(objects(&snap["summary"]["skipped_items"]), denied, "{snap}");
    assert_eq!(snap["counts"]["skipped"], 2, "{snap}");
    assert_eq!(
        snap["counts"]["versions"], lib["counters"]["versions"],
        "the run and `snapshots` count the same versions: {snap}\n{run}"
    );

    // `snapshots --show ID`: the same, read from the snapshot's skipped stream.
    let id = snap["id"].as_str().unwrap();
    let show = cli(&env, &["snapshots", "--show", &id[..10]]);
    assert_exit(&show, 0);
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("completed_with_warnings"), "{text}");
    assert!(text.contains("skipped 2 item(s)"), "{text}");
    for v in &denied {
        assert!(
            text.lines()
                .any(|l| l.contains(v.as_str()) && l.contains("download") && l.contains("denied")),
            "{v} with its reason: {text}"
        );
    }
    let shown = json_of(&cli(&env, &["snapshots", "--show", id, "--json"]));
    assert_eq!(shown["skipped"], 2, "{shown}");
    assert_eq!(objects(&shown["skipped_shown"]), denied, "{shown}");
}
