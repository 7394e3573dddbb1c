//! `verify` (issue 8): damage anywhere in any pack is found by reading the data; a lost pack or
//! index object is reported by the structural check; `repair index` restores a lost index;
//! rotating `--read-data=PERCENT` runs cover every pack.

use std::collections::BTreeSet;
use std::sync::Arc;

use imvault::jobs::maintenance::MaintenanceEnv;
use imvault::jobs::verify::{self, VerifyRequest};
use imvault::repo::verify::{ProblemKind, ReadData, VerifyOptions, VerifyProgress};
use imvault::repo::*;
use object_store::ObjectStore;

use crate::support::maint::*;
use crate::support::repo::{random_bytes, text_bytes};

/// A local repository of two snapshots spread over several data packs and a meta pack.
async fn local_repo() -> (tempfile::TempDir, Arc<dyn ObjectStore>, Vec<SnapshotId>) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_backend(&BackendConfig::local(dir.path().join("repo"))).unwrap();
    let repo =
        crate::support::repo::init_indexed(store.clone(), crate::support::repo::small_init()).await;
    let a: Vec<Vec<u8>> = (0..6)
        .map(|i| {
            if i % 2 == 0 {
                text_bytes(150_000 + i * 1000, i as u64)
            } else {
                random_bytes(120_000, i as u64)
            }
        })
        .collect();
    let s1 = snapshot_of(&repo, "ACTIVE", &a, None).await;
    let mut b = a.clone();
    b.push(random_bytes(90_000, 99));
    b[0].extend_from_slice(&text_bytes(40_000, 98));
    let s2 = snapshot_of(&repo, "ACTIVE", &b, None).await;
    (dir, store, vec![s1, s2])
}

fn name_of(p: &std::path::Path) -> String {
    p.file_name().unwrap().to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_flipped_byte_anywhere_in_any_pack_is_detected() {
    let (dir, store, _) = local_repo().await;
    let repo = fresh(&store).await;
    let opts = VerifyOptions {
        read_data: ReadData::All,
        ..Default::default()
    };
    let clean = repo
        .verify(&opts, &VerifyProgress::default())
        .await
        .unwrap();
    assert!(clean.is_ok(), "{:?}", clean.problems);
    let packs = pack_files(&dir.path().join("repo"));
    assert!(packs.len() >= 4, "several packs: {}", packs.len());
    assert_eq!(clean.packs_read as usize, packs.len());
    assert!(clean.blobs_read >= 10, "{clean:?}");

    let mut rng = fastrand::Rng::with_seed(8);
    let (mut flips, mut detected) = (0, 0);
    for f in &packs {
        let orig = std::fs::read(f).unwrap();
        let len = orig.len();
        // The first and last bytes, the trailer, the header, and random places in the blobs.
        let mut positions = vec![0, len - 1, len - 4, len / 2];
        positions.extend((0..16).map(|_| rng.usize(..len)));
        for pos in positions {
            let mut bad = orig.clone();
            bad[pos] ^= 1 << rng.u8(..8);
            std::fs::write(f, &bad).unwrap();
            let r = repo
                .verify(&opts, &VerifyProgress::default())
                .await
                .unwrap();
            flips += 1;
            let name = name_of(f);
            if r.problems.iter().any(|p| p.object.contains(&name)) {
                detected += 1;
            } else {
                eprintln!(
                    "flip at {pos} of {name} ({len} bytes) not detected: {:?}",
                    r.problems
                );
            }
            std::fs::write(f, &orig).unwrap();
        }
    }
    assert_eq!(detected, flips, "every flipped byte is detected");
    assert!(flips >= 80);
    let after = repo
        .verify(&opts, &VerifyProgress::default())
        .await
        .unwrap();
    assert!(after.is_ok(), "restored repository is clean again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_pack_or_index_is_reported_and_repair_index_restores_it() {
    let (dir, store, snaps) = local_repo().await;
    let root = dir.path().join("repo");
    let config = repo_only_config(dir.path(), &root);

    // Clean: exit 0.
    let (code, out, err) = imvault(&config, &["verify", "--read-data"], &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("no problems found"), "{out}");

    // A lost data pack: the index entries naming it are orphaned; the snapshots lose data.
    let repo = fresh(&store).await;
    let victim = repo
        .index()
        .get(
            &repo
                .load_snapshot(&snaps[0])
                .await
                .unwrap()
                .manifest
                .streams["versions"]
                .blobs[0],
        )
        .map(|l| l.pack)
        .unwrap();
    let data_pack = pack_files(&root)
        .into_iter()
        .find(|p| name_of(p) != victim.to_string())
        .unwrap();
    let moved = dir.path().join("moved-pack");
    std::fs::rename(&data_pack, &moved).unwrap();
    let r = verify_all(&store).await;
    let name = name_of(&data_pack);
    assert!(
        r.problems.iter().any(|p| p.kind == ProblemKind::MissingPack
            && p.detail.contains(&name)
            && p.object.starts_with("index/")),
        "{:?}",
        r.problems
    );
    let (code, out, _) = imvault(&config, &["verify", "--json"], &[]);
    assert_eq!(code, 1, "problems give exit code 1: {out}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        json["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["detail"].as_str().unwrap().contains(&name))
    );
    std::fs::rename(&moved, &data_pack).unwrap();
    assert!(verify_all(&store).await.is_ok());

    // Lost index objects: the snapshots' blobs are no longer indexed.
    std::fs::remove_dir_all(root.join("index")).unwrap();
    let r = verify_all(&store).await;
    assert!(!r.is_ok());
    assert!(r.unindexed_packs > 0, "{r:?}");
    for s in &snaps {
        assert!(
            r.problems
                .iter()
                .any(|p| p.kind == ProblemKind::NotIndexed && p.object == format!("snapshots/{s}")),
            "snapshot {s} is named: {:?}",
            r.problems
        );
    }
    let (code, out, err) = imvault(&config, &["repair", "index"], &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("added to the index"), "{out}");
    let r = verify_all(&store).await;
    assert!(r.is_ok(), "{:?}", r.problems);
    let (code, out, _) = imvault(&config, &["verify", "--read-data=50"], &[]);
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_read_data_runs_cover_every_pack() {
    let (dir, store, _) = local_repo().await;
    let packs = pack_files(&dir.path().join("repo"));
    // Damage every pack, so each run reports exactly the packs it read.
    for f in &packs {
        let mut b = std::fs::read(f).unwrap();
        b[0] ^= 0xff;
        std::fs::write(f, &b).unwrap();
    }
    let env = MaintenanceEnv {
        repo: fresh(&store).await,
        state_dir: dir.path().join("state"),
        catalog: None,
        progress: imvault::app::progress::log_lines(),
    };
    let req = VerifyRequest {
        read_data_percent: Some(30.0),
        library: None,
    };
    let per_run = (packs.len() as f64 * 0.3).ceil() as u64;
    let mut seen = BTreeSet::new();
    for _ in 0..4 {
        let r = verify::run(&env, &req).await.unwrap();
        assert_eq!(r.packs_read, per_run);
        let damaged: BTreeSet<String> = r
            .problems
            .iter()
            .filter(|p| p.kind == ProblemKind::CorruptPack)
            .map(|p| p.object.clone())
            .collect();
        assert_eq!(damaged.len() as u64, per_run, "{:?}", r.problems);
        seen.extend(damaged);
    }
    let all: BTreeSet<String> = packs
        .iter()
        .map(|p| format!("packs/{}/{}", &name_of(p)[..2], name_of(p)))
        .collect();
    assert_eq!(seen, all, "four runs of 30 % read every pack");
    assert!(dir.path().join("state/verify-state.json").exists());
}

/// Issue 18: verify, forget and prune run from the command line are recorded in the jobs
/// table like the daemon's (kind, `trigger: "cli"`, final state, the report as result), so
/// `imvault jobs`, the API and the console list them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_verify_forget_and_prune_are_recorded_as_jobs() {
    use crate::support::restore::{assert_exit, backed_up, catalog, cli};
    use imvault::catalog::{JobFilter, JobKind, JobState};
    let env = backed_up(75).await;
    for args in [&["verify"][..], &["forget", "--keep-last", "1"], &["prune"]] {
        assert_exit(&cli(&env, args), 0);
    }
    let jobs = catalog(&env).list_jobs(&JobFilter::default()).unwrap();
    for (kind, field) in [
        (JobKind::Verify, "packs"),
        (JobKind::Forget, "kept"),
        (JobKind::Prune, "packs"),
    ] {
        let j = jobs
            .iter()
            .find(|j| j.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} job in {jobs:#?}"));
        assert_eq!(j.state, JobState::Completed, "{j:#?}");
        assert_eq!(j.params["trigger"], "cli", "{j:#?}");
        assert!(j.started_at.is_some() && j.finished_at.is_some(), "{j:#?}");
        let result = &j.progress.as_ref().expect("a result")["result"];
        assert!(result.get(field).is_some(), "{kind}: {result}");
    }
    // `imvault jobs list` shows them (it reads the catalog when no daemon answers).
    let out = cli(&env, &["jobs", "list"]);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("forget") && text.contains("prune"), "{text}");
}
