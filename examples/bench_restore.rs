//! Restore benchmark (issue 6's headline figure). Not a test: it prints figures. Release build:
//!
//! ```sh
//! cargo run --release --example bench_restore -- [--scale medium] [--seed 1] [--library ACTIVE]
//!     [--s3-endpoint http://127.0.0.1:5000]   # e.g. `moto_server -p 5000`; bucket made unsigned
//!     [--s3-bucket NAME]   # the bucket to create (default: a fresh random name)
//!     [--concurrency 8] [--keep DIR]
//! ```
//!
//! `IMVAULT_BENCH_INSECURE=1` creates the repository with `--insecure-no-encryption` (what
//! encryption costs, same build).
//!
//! Backs up one library of the in-process simulator into a repository (local directory, or a
//! fresh bucket on the given S3 endpoint), then times `restore --library L --to DIR` (every
//! version of every document, verified) and checks a sample of files against the simulator.
//!
//! Figures (2026-11-29, the shared 2-core machine with two other builds running; `medium`, seed 1,
//! ACTIVE = 11,124 versions of 5,630 documents in 1,036 containers, 1,010.6 MB; the time includes
//! planning from the catalog, writing sidecars and an fsync per file):
//!
//! | repository | concurrency | time | MB/s |
//! |---|---|---|---|
//! | local directory | 8 | 5.6–10.8 s | 94–179 |
//! | local directory | 32 | 6.3 s | 161 |
//! | S3 (moto on 127.0.0.1, same machine) | 8 | 45.5 s | 22 |
//!
//! restic 0.14 restoring the same 1.04 GB tree (the export itself, 17,792 files, backed up with
//! `--compression auto`) from a local repository: 3.3 s (≈310 MB/s), so imvault's restore is at
//! 0.3–0.6× restic here, short of the 1.5× goal (see the report of issue 6).
//!
//! After the restore throughput work (blobs read ahead per ~16 MiB batch of documents in
//! coalesced ranged reads of up to 8 MiB, three batches in flight, one `syncfs` per batch
//! instead of an fsync per file; 2026-11-29, same machine, load ≈1, same corpus):
//!
//! | repository | target | time | MB/s |
//! |---|---|---|---|
//! | local directory | ext4 (no journal) | 2.70 / 3.18 / 4.07 s | 374 / 318 / 248 |
//! | local directory | tmpfs (`--keep /dev/shm/x`) | 3.46–3.96 s | 255–292 |
//! | S3 (moto on 127.0.0.1) | ext4 | 8.54 / 8.65 s | 118 / 117 |
//!
//! restic 0.14 on the same tree, same target disk, interleaved with the runs above: 10.08 /
//! 5.61 / 3.29 s (restic does not fsync). Run by run imvault/restic = 3.2× / 1.4× / 1.2×
//! (best against best 1.2×). A second interleaved pair at load <1: imvault 3.79 / 2.68 s,
//! restic 3.27 / 3.37 s (0.86× / 1.26×): the 1.5× goal is not reached reliably on this disk.
//! Skipping the syncs altogether (a throwaway build) was not faster (4.31 / 8.90 s): the page
//! cache write-back throttles either way. The ext4 figures swing with the file system: creating an inode on
//! this journal-less ext4 scans recently deleted inodes (`recently_deleted` was ~30 % of the
//! restore's CPU in `perf record -e cpu-clock`, worse right after an `rm -rf` of a previous
//! export), which both tools pay per file. On tmpfs the restore is CPU-bound on both cores,
//! ~45 % of it the kernel copying file data into the page cache, ~10 % decompression and BLAKE3.
//!
//! Second pass (2026-11-29), measured with `benches/restore_vs_restic.sh` (the `imvault restore`
//! CLI, release build, against `restic restore` of the same 17,792-file, 1.04 GB tree; before
//! every run the previous output is removed, `sync`, page cache dropped, the repository about to
//! be read is read once; runs interleaved, 5 of each; "durable" = the command, then `sync`;
//! the machine shared with other builds, 1-minute load noted). Median (min–max) seconds of the
//! durable time; ratio = restic / imvault, durable (raw):
//!
//! | target | series (load) | imvault | restic | ratio |
//! |---|---|---|---|---|
//! | ext4, no journal (`/dev/vda`) | before (2.7–2.9) | 4.27 (3.31–4.63) | 4.96 (4.51–5.86) | 1.16× (1.02×) |
//! | | after (2.3–3.5) | 2.56 (2.25–2.77) | 4.96 (4.75–5.45) | 1.94× (1.73×) |
//! | | after (2.4–4.2) | 3.89 (2.14–4.41) | 6.64 (4.37–9.99) | 1.70× (1.51×) |
//! | | after (0.6–1.2) | 2.66 (2.36–2.79) | 4.69 (4.22–5.87) | 1.76× (1.56×) |
//! | ext4 with journal (loop-mounted file, `LOOP=1`) | before (2.7–3.9) | 4.88 (4.28–5.32) | 6.09 (5.91–6.28) | 1.25× (1.07×) |
//! | | after (1.5–2.3) | 2.28 (2.19–2.52) | 4.22 (4.16–4.41) | 1.85× (1.49×) |
//! | | after (1.8–2.1) | 2.75 (2.26–3.27) | 4.40 (4.08–6.19) | 1.60× (1.29×) |
//! | | after (1.2–2.3) | 2.24 (2.01–3.83) | 4.10 (3.98–7.03) | 1.84× (1.52×) |
//!
//! imvault's durable and raw times are the same (its own syncs make the tree durable; the
//! `sync` afterwards takes ~5 ms); restic's `sync` adds 0.5–0.9 s.
//! On tmpfs (`/dev/shm`, same script steps by hand, 2 runs each): before 2.96 / 3.84 s (3.4–4.5 s
//! CPU, 115 % of a core), after 1.73 / 1.78 s (2.7 s CPU, 150 %); peak RSS 137–145 → 153–164 MB.
//! What changed: (1) a library restore has one unit per workspace (66 here, ~1 batch each) and
//! units ran one after the other, so the three-batches-in-flight pipeline never filled (one
//! core busy, 70–90 % CPU): a producer now plans each unit and makes its directories while a
//! consumer writes the batches of all units, three in flight; (2) one `syncfs` per batch instead
//! of two (document sidecars get their names after the next batch's sync); (3)
//! `renameat2(RENAME_NOREPLACE)` instead of link + unlink; (4) local pack ranges memory-mapped
//! instead of read into a zeroed 8 MiB buffer (the CLI's 1 MiB mmap threshold made every such
//! buffer a fresh mapping: page faults + zeroing were ~12 % of the CPU); (5) sidecars serialized
//! from owned rows on a blocking thread (no second deep copy of every profile). Tried and
//! dropped: `sync_file_range(SYNC_FILE_RANGE_WRITE)` after each file (more system time, slower),
//! four batches in flight (no measurable change). What is left (ext4, `perf record`):
//! decompression + BLAKE3 ~15 %, the page-cache copy ~6 %, inode allocation on the journal-less
//! ext4 ~10 % (`recently_deleted` after the previous run's `rm -rf`), planning from the catalog
//! (SQLite rows and JSON profiles) ~12 %, now overlapped with the writes. This example's own
//! figure differs from the CLI's: it does not set the CLI's malloc tuning.

use std::sync::Arc;
use std::time::{Duration, Instant};

use imvault::imanage::Client;
use imvault::jobs::backup::{self, BackupEnv, BackupRequest};
use imvault::jobs::progress::Counters;
use imvault::repo::{BackendConfig, InitOptions, Repository, SessionOptions, open_backend};
use imvault::restore::{self, RestoreEnv, RestoreRequest};
use imvault::secret::Secret;
use imvault_sim::{self as sim, Scale, SimOptions};
use tokio_util::sync::CancellationToken;

/// `IMVAULT_BENCH_INSECURE=1`: the repository is created with `--insecure-no-encryption` (to
/// measure what encryption costs with the same build); else encrypted with a bench password.
fn insecure() -> bool {
    std::env::var("IMVAULT_BENCH_INSECURE").is_ok_and(|v| v == "1")
}

fn credential() -> Option<&'static imvault::repo::Credential> {
    static C: std::sync::OnceLock<imvault::repo::Credential> = std::sync::OnceLock::new();
    (!insecure()).then(|| {
        C.get_or_init(|| {
            imvault::repo::Credential::Password(imvault::secret::Secret::new("bench password"))
        })
    })
}

#[tokio::main]
async fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (mut scale, mut seed, mut library, mut s3, mut conc, mut keep) = (
        Scale::Medium,
        1u64,
        "ACTIVE".to_string(),
        None::<String>,
        8usize,
        None::<String>,
    );
    let mut bucket = format!("imvault-bench-{}", uuid::Uuid::new_v4().simple());
    for w in argv.chunks(2) {
        let v = w.get(1).cloned().unwrap_or_default();
        match w[0].as_str() {
            "--scale" => scale = v.parse().expect("scale"),
            "--seed" => seed = v.parse().expect("seed"),
            "--library" => library = v,
            "--s3-endpoint" => s3 = Some(v),
            "--s3-bucket" => bucket = v,
            "--concurrency" => conc = v.parse().expect("concurrency"),
            "--keep" => keep = Some(v),
            other => panic!("unknown argument {other}"),
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let work = keep
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().to_path_buf());
    std::fs::create_dir_all(&work).expect("work dir");
    let (addr, simh) = sim::Server::start(SimOptions {
        scale,
        seed,
        ..SimOptions::default()
    })
    .expect("simulator");
    let mut cs = imvault::sim::client_settings(addr);
    cs.requests_per_second = 5000;
    cs.concurrency = 8;
    let client = Client::connect(cs).await.expect("sign in");
    let backend = match &s3 {
        Some(ep) => {
            let r = reqwest::Client::new()
                .put(format!("{}/{bucket}", ep.trim_end_matches('/')))
                .send()
                .await
                .expect("create bucket");
            assert!(r.status().is_success(), "create bucket: {}", r.status());
            BackendConfig {
                url: format!("s3://{bucket}/repo"),
                endpoint: Some(ep.trim_end_matches('/').to_string()),
                region: Some("us-east-1".into()),
                allow_http: true,
                access_key_id: Some("testing".into()),
                secret_access_key: Some(Secret::new("testing")),
                session_token: None,
                outage_wait_secs: None,
                object_lock: None,
                ..BackendConfig::default()
            }
        }
        None => BackendConfig::local(work.join("repo")),
    };
    let store = open_backend(&backend).expect("store");
    Repository::init(
        store.clone(),
        InitOptions {
            insecure_no_encryption: insecure(),
            ..InitOptions::default()
        },
        credential(),
    )
    .await
    .expect("init");
    let catalog = work.join("catalog.db");
    let lib: imvault::imanage::model::LibraryId = library.parse().expect("library");
    let env = BackupEnv {
        client: client.clone(),
        repo: Repository::open(store.clone(), credential())
            .await
            .unwrap()
            .load_index()
            .await
            .unwrap(),
        lock_dir: work.join("locks"),
        progress: imvault::app::progress::log_lines(),
        session: SessionOptions::default(),
        catalog: Some(catalog.clone()),
    };
    let t = Instant::now();
    let out = backup::run(
        &env,
        std::slice::from_ref(&lib),
        &BackupRequest {
            checkpoint_every: Duration::from_secs(3600),
            ..BackupRequest::default()
        },
        CancellationToken::new(),
    )
    .await;
    let o = &out[0];
    println!(
        "backup of {library} ({}): {:?}, {} versions, {:.1} MB in {:.1} s",
        if s3.is_some() { "S3" } else { "local" },
        o.state,
        o.counters.versions,
        o.counters.bytes_read as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let repo = Repository::open(store.clone(), credential())
        .await
        .unwrap()
        .load_index()
        .await
        .unwrap();
    let mut ctx = RestoreEnv::new(repo, catalog, None);
    ctx.concurrency = conc;
    ctx.sync_catalog = false;
    let target = work.join("restored");
    let req = RestoreRequest {
        library: Some(lib.clone()),
        to: Some(target.clone()),
        ..RestoreRequest::default()
    };
    // The backup just wrote ~1 GB: flush it first, or the restore's own syncs (`syncfs` of the
    // target's file system) would wait for it and the figure would time the backup's write-back.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let t = Instant::now();
    let report = restore::run(
        &ctx,
        &req,
        Arc::new(Counters::default()),
        CancellationToken::new(),
    )
    .await
    .expect("restore");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "restore of {library} to a directory ({} repository, concurrency {conc}): {:?}, {} versions of {} documents, {} containers, {:.1} MB in {secs:.2} s = {:.1} MB/s ({} failed)",
        if s3.is_some() { "S3" } else { "local" },
        report.state,
        report.versions,
        report.documents,
        report.containers,
        report.bytes as f64 / 1e6,
        report.bytes as f64 / 1e6 / secs,
        report.failed
    );
    // A sample checked against the simulator's truth.
    let mut checked = 0;
    for item in report.items.iter().step_by(7).take(100) {
        let v: imvault::imanage::model::VersionId = item.version.parse().unwrap();
        let got = std::fs::read(&item.restored_as).expect("restored file");
        assert!(
            simh.version_bytes(&v).as_deref() == Some(got.as_slice()),
            "{} differs",
            v
        );
        checked += 1;
    }
    println!("{checked} sampled files identical to the simulator's content");
}
