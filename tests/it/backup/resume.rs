//! Crash safety of the backup job (issue 5): kill -9 the real binary at several points of a
//! backup, check the repository after each kill, then let a run finish and compare its snapshot
//! with the simulator's truth. Kill points are chosen by progress (downloads the simulator has
//! served), not by wall-clock time.

use std::process::{Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use imvault::jobs::records::{STREAM_VERSIONS, VersionRecord};
use imvault_sim::{Scale, SimOptions, SimStats};

use crate::support::env::{TestEnv, versions_of};

fn downloads(s: &SimStats) -> u64 {
    s.requests
        .iter()
        .filter(|(k, _)| k.contains("download"))
        .map(|(_, v)| *v)
        .sum()
}

fn spawn_backup(env: &TestEnv) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_imvault"))
        .arg("--config")
        .arg(&env.config_path)
        .args(["backup", "--json", "--checkpoint-secs", "0.2"])
        .env("IMVAULT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn imvault backup")
}

/// Every snapshot's versions resolve to blobs that read back and verify.
async fn assert_repository_valid(env: &TestEnv) -> usize {
    let repo = env.repo().await;
    let snaps = repo.list_snapshots(None).await.expect("list snapshots");
    for s in &snaps {
        let meta = s
            .manifest
            .streams
            .get(STREAM_VERSIONS)
            .expect("versions stream");
        let mut recs =
            std::pin::pin!(repo.read_meta_stream::<VersionRecord>(STREAM_VERSIONS, meta));
        while let Some(r) = recs.next().await {
            let r = r.expect("snapshot record readable");
            for b in &r.content.blobs {
                assert!(
                    repo.index().contains(b),
                    "snapshot {} references blob {b} missing from the index",
                    s.id
                );
            }
        }
    }
    snaps.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_backups_resume_and_end_identical_to_the_source() {
    let env = TestEnv::new(SimOptions {
        seed: 21,
        scale: Scale::Versions(300),
        libraries: 1,
        latency_ms: 15,
        ..SimOptions::default()
    })
    .await;
    let mut served_before = 0;
    let mut kills = 0;
    for step in 1..=4u64 {
        let mut child = spawn_backup(&env);
        let target = downloads(&env.sim.stats()) + 25 * step;
        // Wait for progress (or for the run to end by itself), then kill -9.
        let finished = loop {
            if let Some(status) = child.try_wait().expect("poll child") {
                break Some(status);
            }
            if downloads(&env.sim.stats()) >= target {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        match finished {
            None => {
                child.kill().expect("kill -9");
                child.wait().expect("reap");
                kills += 1;
            }
            Some(status) => panic!(
                "the backup ended before it could be killed ({status}); make the corpus larger"
            ),
        }
        let snaps = assert_repository_valid(&env).await;
        assert_eq!(snaps, 0, "a killed run leaves no snapshot");
        served_before = downloads(&env.sim.stats());
    }
    assert_eq!(kills, 4);

    let out = spawn_backup(&env).wait_with_output().expect("final run");
    assert!(
        out.status.success(),
        "final run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
    let lib = &summary["libraries"][0];
    let resumed = lib["resumed_versions"].as_u64().unwrap();
    let total = lib["counters"]["versions"].as_u64().unwrap();
    assert!(
        resumed > 0,
        "the final run reuses what killed runs stored: {lib}"
    );
    // Counted once each, however many checkpoints (of however many runs) listed them.
    assert!(resumed <= total, "{resumed} resumed of {total}: {lib}");
    assert_eq!(
        downloads(&env.sim.stats()) - served_before + resumed,
        total,
        "each version resumed or downloaded, once: {lib}"
    );
    let final_downloads = downloads(&env.sim.stats()) - served_before;
    assert!(
        final_downloads + resumed >= total,
        "every version is either resumed or downloaded"
    );
    assert!(
        final_downloads < total,
        "resumed versions are not downloaded again ({final_downloads} of {total})"
    );

    // The final snapshot equals the source, byte for byte.
    assert_eq!(assert_repository_valid(&env).await, 1);
    let repo = env.repo().await;
    let snap = repo.list_snapshots(None).await.unwrap().pop().unwrap();
    let versions = versions_of(&repo, &snap).await;
    for (id, bytes) in &versions {
        assert!(
            env.sim.version_bytes(id).unwrap() == *bytes,
            "{id} differs from the source"
        );
    }
    assert_eq!(versions.len() as u64, total);
}
