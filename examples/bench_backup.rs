//! Backup benchmark against the in-process simulator (issue 5's figures). Not a test: it prints
//! figures. Run with a release build:
//!
//! ```sh
//! cargo run --release --example bench_backup -- [--scale medium] [--seed 1]
//!     [--rate-limit-scale small] [--rate-limit 100] [--fault-scale small] [--fault-rate 0.05]
//!     [--catalog true|false] [--nochange-runs 1] [--only-incremental false]
//! ```
//!
//! `IMVAULT_BENCH_INSECURE=1` creates the repository with `--insecure-no-encryption` (what
//! encryption costs, same build).
//!
//! Phases: full backup, no-change incremental, 1% change incremental (on `--scale`), then a full
//! backup under the simulator's rate limit (share of the limit used) and one under faults
//! (versions lost compared with the simulator's truth). Backups update a catalog, as
//! `imvault backup` does (`--catalog false` leaves it out); `--nochange-runs N` repeats the
//! no-change incremental and reports the fastest (for profiling).
//!
//! Figures (2026-11-30, 2-core machine, load 2.5-4 from other work; `medium`, seed 1: 20,709
//! versions, 1.85 GB):
//!
//! | phase | 2026-11-29 | 2026-11-30 (a.m.) | 2026-11-30 (changes-only listing) |
//! |---|---|---|---|
//! | full backup, catalog updated | 10.8 s | 11.0 s (167 MB/s) | 10.4 s (178 MB/s, 1.003 requests/version) |
//! | no-change incremental | 2.08–2.19 s (19%) | 0.87–1.05 s (7.9%) | **0.15 s (1.4% of full; 1.3% of full CPU)**, 0.11 requests per 50 versions |
//! | 1% change incremental | 2.92 s (27%) | 1.06 s (9.6%) | **0.36 s (3.5%; 3.0% of full CPU)** |
//! | full (`small`) at a 100 rps simulator limit | 27.1 s, 89% | 24.3 s, 99.3%, 0 × 429 | 24.3 s, 99.3%, 0 × 429 |
//! | full (`small`) at fault rate 0.05 | 0 lost | 0 lost | 0 of 2,395 lost (73 5xx, 29 truncated) |
//!
//! What changed last: incremental runs of a crawling account list only the versions edited since
//! the last snapshot (the crawl's `edit_date_from`), read filings and ACL rows in full, relist
//! the documents the filings and the last snapshot disagree on, and carry the other versions'
//! records from the parent (the parent's `versions` blobs as they are when nothing was listed
//! again); the last snapshot's versions come from a local binary digest instead of its stream;
//! a catalog delta load skips the blobs both streams share. Where a no-change run's time goes
//! now: the filings and trustee searches and the containers crawl (simulator rendering and
//! client parsing ~13k + ~25k rows), the containers/filings/ACL streams written again, the
//! catalog. Under load (full 16-19 s) the same runs measured 0.23-0.40 s and 0.53-0.87 s.

use std::time::{Duration, Instant};

use imvault::imanage::Client;
use imvault::jobs::backup::{self, BackupEnv, BackupRequest, LibraryOutcome};
use imvault::repo::{BackendConfig, InitOptions, Repository, SessionOptions, open_backend};
use imvault_sim::{self as sim, MutateRequest, Scale, SimHandle, SimOptions};
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

struct Args {
    scale: Scale,
    seed: u64,
    rate_limit_scale: Scale,
    rate_limit: f64,
    fault_scale: Scale,
    fault_rate: f64,
    nochange_runs: u32,
    catalog: bool,
    only_incremental: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        scale: Scale::Medium,
        seed: 1,
        rate_limit_scale: Scale::Small,
        rate_limit: 100.0,
        fault_scale: Scale::Small,
        fault_rate: 0.05,
        nochange_runs: 1,
        catalog: true,
        only_incremental: false,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < argv.len() {
        let v = &argv[i + 1];
        match argv[i].as_str() {
            "--scale" => a.scale = v.parse().expect("scale"),
            "--seed" => a.seed = v.parse().expect("seed"),
            "--rate-limit-scale" => a.rate_limit_scale = v.parse().expect("scale"),
            "--rate-limit" => a.rate_limit = v.parse().expect("rate"),
            "--fault-scale" => a.fault_scale = v.parse().expect("scale"),
            "--fault-rate" => a.fault_rate = v.parse().expect("rate"),
            "--nochange-runs" => a.nochange_runs = v.parse().expect("runs"),
            "--catalog" => a.catalog = v.parse().expect("true|false"),
            "--only-incremental" => a.only_incremental = v.parse().expect("true|false"),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

struct Bench {
    _dir: tempfile::TempDir,
    sim: SimHandle,
    client: Client,
    env_store: std::sync::Arc<dyn object_store::ObjectStore>,
    lock_dir: std::path::PathBuf,
    catalog: Option<std::path::PathBuf>,
}

async fn setup(opts: SimOptions, rps: u32, catalog: bool) -> Bench {
    let dir = tempfile::tempdir().expect("temp dir");
    let (addr, sim) = sim::Server::start(opts).expect("simulator");
    let mut cs = imvault::sim::client_settings(addr);
    cs.requests_per_second = rps;
    cs.concurrency = 8;
    let client = Client::connect(cs).await.expect("sign in");
    let store = open_backend(&BackendConfig::local(dir.path().join("repo"))).expect("store");
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
    let lock_dir = dir.path().join("locks");
    let catalog = catalog.then(|| dir.path().join("catalog.db"));
    Bench {
        _dir: dir,
        sim,
        client,
        env_store: store,
        lock_dir,
        catalog,
    }
}

struct Phase {
    seconds: f64,
    /// CPU seconds of the whole process (backup and in-process simulator) during the phase:
    /// steadier than wall time on a shared machine.
    cpu: f64,
    requests: u64,
    throttled: u64,
    outcomes: Vec<LibraryOutcome>,
}

async fn run_backup(b: &Bench, full: bool) -> Phase {
    let repo = Repository::open(b.env_store.clone(), credential())
        .await
        .expect("open")
        .load_index()
        .await
        .expect("index");
    let env = BackupEnv {
        client: b.client.clone(),
        repo,
        lock_dir: b.lock_dir.clone(),
        progress: imvault::app::progress::log_lines(),
        session: SessionOptions::default(),
        catalog: b.catalog.clone(),
    };
    let libraries: Vec<_> = b.client.libraries().iter().map(|l| l.id.clone()).collect();
    let before = b.sim.stats();
    let cpu0 = cpu_seconds();
    let t = Instant::now();
    let opts = BackupRequest {
        full,
        log_every: Duration::from_secs(3600),
        ..BackupRequest::default()
    };
    let outcomes = backup::run(&env, &libraries, &opts, CancellationToken::new()).await;
    let seconds = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let after = b.sim.stats();
    for o in &outcomes {
        assert!(o.error.is_none(), "{}: {:?}", o.library, o.error);
    }
    Phase {
        seconds,
        cpu,
        requests: after.total_requests - before.total_requests,
        throttled: after.rate_limited - before.rate_limited,
        outcomes,
    }
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn sum(p: &Phase, f: impl Fn(&LibraryOutcome) -> u64) -> u64 {
    p.outcomes.iter().map(f).sum()
}

fn report(label: &str, p: &Phase) {
    let versions = sum(p, |o| o.counters.versions);
    let downloaded = sum(p, |o| o.counters.versions_downloaded);
    let read = sum(p, |o| o.counters.bytes_read);
    let stored = sum(p, |o| o.session.new_stored_bytes);
    println!(
        "{label:<28} {:>7.2} s  {:>6.2} cpu-s  {versions:>7} versions  {downloaded:>7} downloaded  {:>8.1} MB read  {:>8.1} MB stored  {:>7.1} MB/s  {:>7} requests  {:.3} req/version  {} x429",
        p.seconds,
        p.cpu,
        read as f64 / 1e6,
        stored as f64 / 1e6,
        read as f64 / 1e6 / p.seconds.max(1e-9),
        p.requests,
        p.requests as f64 / versions.max(1) as f64,
        p.throttled,
    );
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

#[tokio::main]
async fn main() {
    let a = parse_args();
    if std::env::var_os("RUST_LOG").is_some() {
        // Timestamped logs on stderr, for a per-phase breakdown (e.g. RUST_LOG=imvault=debug).
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .with_writer(std::io::stderr)
            .init();
    }
    println!(
        "== backup benchmark (simulator in-process, local repository), seed {}",
        a.seed
    );

    let b = setup(
        SimOptions {
            seed: a.seed,
            scale: a.scale,
            ..SimOptions::default()
        },
        100_000,
        a.catalog,
    )
    .await;
    let full = run_backup(&b, false).await;
    report(&format!("full ({})", a.scale), &full);
    let mut nochange = run_backup(&b, false).await;
    report("no-change incremental", &nochange);
    for _ in 1..a.nochange_runs {
        let again = run_backup(&b, false).await;
        report("no-change incremental", &again);
        if again.seconds < nochange.seconds {
            nochange = again;
        }
    }
    let versions = sum(&full, |o| o.counters.versions);
    let docs_estimate = versions as f64 / 2.0;
    println!(
        "  no-change: {:.2} requests per 50 versions, {:.2}% of full time ({:.2}% of full CPU)",
        nochange.requests as f64 * 50.0 / versions as f64,
        100.0 * nochange.seconds / full.seconds,
        100.0 * nochange.cpu / full.cpu
    );
    let _ = docs_estimate;
    let one_percent = (versions / 100).max(1) as u32;
    b.sim.mutate(&MutateRequest {
        new_versions: one_percent,
        library: None,
        ..Default::default()
    });
    let changed = run_backup(&b, false).await;
    report("1% change incremental", &changed);
    println!(
        "  1% change: {:.2}% of full time ({:.2}% of full CPU)",
        100.0 * changed.seconds / full.seconds,
        100.0 * changed.cpu / full.cpu
    );
    println!(
        "  peak RSS so far (simulator + backup in one process): {:.0} MB",
        peak_rss_mb()
    );
    drop(b);
    if a.only_incremental {
        return;
    }

    let limit = a.rate_limit;
    let b = setup(
        SimOptions {
            seed: a.seed,
            scale: a.rate_limit_scale,
            rate_limit: Some(limit),
            ..SimOptions::default()
        },
        limit as u32,
        a.catalog,
    )
    .await;
    let limited = run_backup(&b, false).await;
    report(
        &format!("full ({}) at {limit} rps", a.rate_limit_scale),
        &limited,
    );
    println!(
        "  share of the rate limit used: {:.1}% ({:.1} of {limit} requests/s), {} x429",
        100.0 * limited.requests as f64 / limited.seconds / limit,
        limited.requests as f64 / limited.seconds,
        limited.throttled
    );
    drop(b);

    let b = setup(
        SimOptions {
            seed: a.seed,
            scale: a.fault_scale,
            fault_rate: a.fault_rate,
            ..SimOptions::default()
        },
        100_000,
        a.catalog,
    )
    .await;
    let faulty = run_backup(&b, false).await;
    report(
        &format!("full ({}) at {} faults", a.fault_scale, a.fault_rate),
        &faulty,
    );
    let stats = b.sim.stats();
    let expected = {
        let clean = setup(
            SimOptions {
                seed: a.seed,
                scale: a.fault_scale,
                ..SimOptions::default()
            },
            100_000,
            a.catalog,
        )
        .await;
        sum(&run_backup(&clean, false).await, |o| o.counters.versions)
    };
    let got = sum(&faulty, |o| o.counters.versions);
    println!(
        "  faults injected: {} 5xx, {} truncated downloads; versions stored {got} of {expected}: {} lost, {} skipped",
        stats.faults_5xx,
        stats.truncated_downloads,
        expected.saturating_sub(got),
        sum(&faulty, |o| o.counters.skipped)
    );
}
