//! The daemon loses no job (issue 7): kill -9 during a backup → restart → the job is requeued,
//! resumes from its checkpoint and completes with the source's bytes; SIGTERM during a backup
//! drains (the job goes back to the queue at a checkpoint) and exits cleanly within bounds.

use std::time::Duration;

use imvault::catalog::{Catalog, JobState};
use imvault_sim::{Scale, SimOptions};
use reqwest::StatusCode;

use crate::support::daemon::{
    Daemon, NEVER, TOKEN, downloads, free_port, progress_total, write_config,
};
use crate::support::env::{TestEnv, versions_of};
use crate::support::wait::wait_until;

async fn wait_downloads(env: &TestEnv, daemon: &Daemon, at_least: u64) {
    wait_until("downloads", Duration::from_secs(60), async || {
        if downloads(&env.sim.stats()) >= at_least {
            return Ok(());
        }
        Err(format!("no progress:\n{}", daemon.logs()))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_daemon_requeues_its_job_and_sigterm_drains() {
    let env = TestEnv::new(SimOptions {
        seed: 73,
        scale: Scale::Versions(400),
        libraries: 2,
        latency_ms: 20,
        ..SimOptions::default()
    })
    .await;
    let port = free_port();
    let config = write_config(&env, port, NEVER, TOKEN);
    let mut daemon = Daemon::start(&env, &config, port).await;
    let libs = env.sim.libraries();
    let (s, job) = daemon
        .post(
            "/v1/backups",
            &format!(r#"{{"libraries": ["{}"]}}"#, libs[0]),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();

    // kill -9 once the backup has downloaded a good part (progress, not wall-clock).
    let start = downloads(&env.sim.stats());
    wait_downloads(&env, &daemon, start + 60).await;
    // ...and once a checkpoint written after that point is durable.
    let checkpoints = || walk_files(&env.dir.path().join("repo/checkpoints"));
    let before = checkpoints();
    wait_until("a checkpoint", Duration::from_secs(60), async || {
        if checkpoints() > before {
            return Ok(());
        }
        Err(daemon.logs())
    })
    .await;
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    let served_before = downloads(&env.sim.stats());
    {
        let cat = Catalog::open(env.dir.path().join("state/catalog.db")).unwrap();
        let rec = cat.job(id.parse().unwrap()).unwrap().unwrap();
        assert_eq!(
            rec.state,
            JobState::Running,
            "a killed daemon leaves the job running"
        );
    }

    // Restart: the job is requeued, resumes, completes.
    let daemon = Daemon::start(&env, &config, port).await;
    let done = daemon
        .wait_job(&id, "finished", |j| j["finished_at"].is_string())
        .await;
    assert_eq!(done["state"], "completed", "{done}\n{}", daemon.logs());
    // The requeue is recorded in its progress, not as the completed job's error.
    assert!(
        done["progress"]["resumed_after"]
            .as_str()
            .is_some_and(|n| n.contains("interrupted")),
        "the requeue is recorded: {done}"
    );
    assert!(done["last_error"].is_null(), "{done}");
    let result = &done["progress"]["result"]["libraries"][0];
    let resumed = result["resumed_versions"].as_u64().unwrap();
    let total = result["counters"]["versions"].as_u64().unwrap();
    assert!(
        resumed > 0,
        "the restarted job reuses what was stored: {result}"
    );
    let again = downloads(&env.sim.stats()) - served_before;
    assert!(
        again < total,
        "resumed versions are not downloaded again ({again} of {total})"
    );

    // The snapshot equals the source, byte for byte.
    let repo = env.repo().await;
    let snaps = repo.list_snapshots(None).await.unwrap();
    assert_eq!(snaps.len(), 1);
    let versions = versions_of(&repo, &snaps[0]).await;
    for (id, bytes) in &versions {
        assert!(env.sim.version_bytes(id).unwrap() == *bytes, "{id} differs");
    }
    assert_eq!(versions.len() as u64, total);

    // SIGTERM mid-backup: drain to a checkpoint, exit 0, the job is back in the queue.
    let mut daemon = daemon;
    let (s, job) = daemon
        .post(
            "/v1/backups",
            &format!(r#"{{"libraries": ["{}"]}}"#, libs[1]),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let id2 = job["id"].as_str().unwrap().to_string();
    daemon
        .wait_job(&id2, "progress", |j| {
            progress_total(j, "versions_downloaded") >= 20
        })
        .await;
    daemon.signal("TERM");
    let status = daemon.wait_exit(Duration::from_secs(60)).await;
    assert!(status.success(), "{status}\n{}", daemon.logs());
    let cat = Catalog::open(env.dir.path().join("state/catalog.db")).unwrap();
    let rec = cat.job(id2.parse().unwrap()).unwrap().unwrap();
    assert_eq!(
        rec.state,
        JobState::Queued,
        "a drained job is requeued, not lost: {rec:?}\n{}",
        daemon.logs()
    );
    assert!(rec.last_error.unwrap().contains("daemon stopping"));
    drop(cat);
    // With the daemon down, `imvault jobs` reads the catalog.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imvault"))
        .arg("--config")
        .arg(&config)
        .args(["jobs", "list", "--state", "queued", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not reachable"));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["id"], id2.as_str(), "{listed}");
    // And the next start finishes it.
    let daemon = Daemon::start(&env, &config, port).await;
    let done = daemon
        .wait_job(&id2, "finished", |j| j["finished_at"].is_string())
        .await;
    assert_eq!(done["state"], "completed", "{done}");
}

/// The stored objects under `dir`: files in place, not the staging files a local store writes
/// first (`<name>#<n>`) and renames into place once complete.
fn walk_files(dir: &std::path::Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_files(&p)
            } else {
                usize::from(!e.file_name().to_string_lossy().contains('#'))
            }
        })
        .sum()
}
