//! Verify and prune figures (issue 8). Not a test: it prints figures. Run with a release build:
//!
//! ```sh
//! cargo run --release --example bench_maintenance -- [--scale medium] [--snapshots 6]
//! ```
//!
//! Builds a repository of the simulator's corpus with `--snapshots` backups and changes in
//! between (new versions, new documents, deletions), then measures `verify --read-data`
//! (MB/s of packs downloaded and checked) and `prune` after forgetting half the snapshots
//! (grace 0: marking, repacking and deleting in one run).
//!
//! Measured 2026-11-29 (2 shared cores; local store; medium, 6 backups of 3 libraries = 18
//! snapshots, 88 packs, 1273 MB, 22 226 blobs):
//! - load ≈ 3.4: `verify --read-data` 481 MB/s (2.65 s), structure only 1.3 s; prune after
//!   forgetting 9 of 18 snapshots 2.1 s (3 packs marked, 24 repacked 363 → 310 MB, 27 deleted,
//!   1273 → 1215 MB).
//! - load ≈ 6.6 (other builds running): 168 MB/s, structure 1.7 s; prune 3.8 s.

use std::time::Instant;

use imvault::imanage::Client;
use imvault::jobs::backup::{self, BackupEnv, BackupRequest};
use imvault::repo::prune::{PruneOptions, PruneProgress};
use imvault::repo::verify::{ReadData, VerifyOptions, VerifyProgress};
use imvault::repo::{BackendConfig, InitOptions, Repository, SessionOptions, open_backend};
use imvault_sim::{self as sim, MutateRequest, Scale, SimOptions};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut scale = Scale::Medium;
    let mut snapshots = 6u32;
    let mut i = 0;
    while i + 1 < argv.len() {
        match argv[i].as_str() {
            "--scale" => scale = argv[i + 1].parse().expect("scale"),
            "--snapshots" => snapshots = argv[i + 1].parse().expect("snapshots"),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (addr, sim) = sim::Server::start(SimOptions {
        scale,
        seed: 1,
        ..SimOptions::default()
    })
    .expect("simulator");
    let mut cs = imvault::sim::client_settings(addr);
    cs.requests_per_second = 100_000;
    cs.concurrency = 8;
    let client = Client::connect(cs).await.expect("sign in");
    let store = open_backend(&BackendConfig::local(dir.path().join("repo"))).expect("store");
    Repository::init(
        store.clone(),
        InitOptions::default(),
        Some(&imvault::repo::Credential::Password(
            imvault::secret::Secret::new("bench password"),
        )),
    )
    .await
    .expect("init");
    let libraries: Vec<_> = client.libraries().iter().map(|l| l.id.clone()).collect();
    let t = Instant::now();
    for n in 0..snapshots {
        if n > 0 {
            sim.mutate(&MutateRequest {
                new_versions: 200,
                new_documents: 100,
                deletes: 150,
                profile_edits: 50,
                ..Default::default()
            });
        }
        let repo = Repository::open(
            store.clone(),
            Some(&imvault::repo::Credential::Password(
                imvault::secret::Secret::new("bench password"),
            )),
        )
        .await
        .unwrap()
        .load_index()
        .await
        .unwrap();
        let env = BackupEnv {
            client: client.clone(),
            repo,
            lock_dir: dir.path().join("locks"),
            progress: imvault::app::progress::log_lines(),
            session: SessionOptions::default(),
            catalog: None,
        };
        let out = backup::run(
            &env,
            &libraries,
            &BackupRequest::default(),
            CancellationToken::new(),
        )
        .await;
        assert!(out.iter().all(|o| o.snapshot.is_some()), "backup failed");
    }
    println!(
        "built {} backups of {} libraries in {:.1} s",
        snapshots,
        libraries.len(),
        t.elapsed().as_secs_f64()
    );
    let open = || async {
        Repository::open(
            store.clone(),
            Some(&imvault::repo::Credential::Password(
                imvault::secret::Secret::new("bench password"),
            )),
        )
        .await
        .unwrap()
        .load_index()
        .await
        .unwrap()
    };
    let repo = open().await;
    let stats = repo.stats().await.unwrap();
    println!(
        "repository: {} snapshots, {} packs, {:.1} MB",
        stats.snapshots,
        stats.pack_objects,
        stats.pack_bytes as f64 / 1e6
    );

    let v = repo
        .verify(
            &VerifyOptions {
                read_data: ReadData::All,
                ..Default::default()
            },
            &VerifyProgress::default(),
        )
        .await
        .unwrap();
    assert!(v.is_ok(), "{:?}", v.problems);
    println!(
        "verify --read-data: {} snapshots, {} packs, {:.1} MB, {} blobs in {:.2} s = {:.1} MB/s",
        v.snapshots,
        v.packs_read,
        v.bytes_read as f64 / 1e6,
        v.blobs_read,
        v.seconds,
        v.bytes_read as f64 / 1e6 / v.seconds
    );
    let s = repo
        .verify(&VerifyOptions::default(), &VerifyProgress::default())
        .await
        .unwrap();
    println!("verify (structure only): {:.2} s", s.seconds);

    // Forget half of each library's snapshots (the oldest), then prune.
    let snaps = repo.list_snapshots(None).await.unwrap();
    let mut forgotten = 0;
    for lib in &libraries {
        let of: Vec<_> = snaps
            .iter()
            .filter(|s| s.manifest.library == lib.as_str())
            .collect();
        for s in &of[..of.len() / 2] {
            repo.remove_snapshot(&s.id).await.unwrap();
            forgotten += 1;
        }
    }
    let repo = open().await;
    let t = Instant::now();
    let p = repo
        .prune(
            &PruneOptions {
                grace_secs: 0,
                ..PruneOptions::default()
            },
            chrono::Utc::now(),
            &PruneProgress::default(),
        )
        .await
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "prune after forgetting {forgotten} of {} snapshots: {:.2} s; {} packs marked, {} repacked ({:.1} MB -> {:.1} MB), {} deleted ({:.1} MB)",
        snaps.len(),
        secs,
        p.packs_marked,
        p.packs_repacked,
        p.bytes_repacked as f64 / 1e6,
        p.new_pack_bytes as f64 / 1e6,
        p.packs_deleted,
        p.bytes_deleted as f64 / 1e6
    );
    let after = open().await.stats().await.unwrap();
    println!(
        "pack bytes {:.1} MB -> {:.1} MB",
        stats.pack_bytes as f64 / 1e6,
        after.pack_bytes as f64 / 1e6
    );
    let v = open()
        .await
        .verify(
            &VerifyOptions {
                read_data: ReadData::All,
                ..Default::default()
            },
            &VerifyProgress::default(),
        )
        .await
        .unwrap();
    assert!(v.is_ok(), "{:?}", v.problems);
    println!("verify after prune: ok ({} packs read)", v.packs_read);
}
