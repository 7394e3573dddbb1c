//! Audit trail figures (issue 16). Not a test: it prints figures.
//!
//! ```sh
//! cargo run --release --example bench_audit -- [--actions 2000] [--dir /tmp/x]
//! ```
//!
//! On a local store (encrypted repository): the cost of one audited action (its `started` and
//! `finished` records: a LIST and a GET of the chain's end the first time, then one create-only
//! PUT per record), listing the whole trail, a `--since` query of the last 10 actions (read from
//! the chain's end, stopping early), and verifying every chain.
//!
//! Measured 2026-12-04 (2 shared cores, other builds running; a debug build, local store,
//! 1000 actions = 2000 records): 1.45 ms per audited action, listing all 0.38 s, `--since` the
//! last 10 actions 0.022 s, verifying 2000 records 0.35 s.

use std::time::Instant;

use imvault::audit::{Action, Actor, Auditor, Figures, Filter};
use imvault::repo::{BackendConfig, InitOptions, KdfParams, Repository, open_backend};

#[tokio::main]
async fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut actions = 2000u64;
    let mut dir: Option<std::path::PathBuf> = None;
    let mut i = 0;
    while i + 1 < argv.len() {
        match argv[i].as_str() {
            "--actions" => actions = argv[i + 1].parse().expect("actions"),
            "--dir" => dir = Some(argv[i + 1].clone().into()),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = dir.unwrap_or_else(|| tmp.path().to_path_buf());
    let store = open_backend(&BackendConfig::local(root.join("repo"))).unwrap();
    let password = imvault::repo::Credential::Password(imvault::secret::Secret::new("bench"));
    let opts = InitOptions {
        kdf: KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
        ..InitOptions::default()
    };
    let repo = Repository::init(store, opts, Some(&password))
        .await
        .unwrap();
    let auditor = Auditor::new(
        repo.objects().clone(),
        "00112233445566778899aabbccddeeff".into(),
        Actor::current_user(),
        "bench".into(),
        Some(root.join("audit-head.json")),
    );
    let t = Instant::now();
    for i in 0..actions {
        let _: Result<(), String> = auditor
            .run(
                Action::Prune {
                    max_repack_percent: i as f64,
                    grace_secs: 0,
                },
                async { Ok(()) },
                |_| Figures::default(),
            )
            .await
            .unwrap();
    }
    let write = t.elapsed().as_secs_f64();
    println!(
        "{actions} audited actions ({} records): {:.2} ms per action",
        actions * 2,
        write * 1000.0 / actions as f64
    );
    let t = Instant::now();
    let all = imvault::audit::query::list(repo.objects(), &Filter::default())
        .await
        .unwrap();
    println!(
        "listing all {} actions: {:.2} s",
        all.len(),
        t.elapsed().as_secs_f64()
    );
    let since = all[all.len().saturating_sub(10)].time;
    let t = Instant::now();
    let recent = imvault::audit::query::list(
        repo.objects(),
        &Filter {
            since: Some(since),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    println!(
        "--since (last {} actions): {:.3} s",
        recent.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let r = imvault::audit::verify::verify_chains(repo.objects(), None)
        .await
        .unwrap();
    println!(
        "verifying {} records: {:.2} s, {} problems",
        r.records,
        t.elapsed().as_secs_f64(),
        r.problems.len()
    );
}
