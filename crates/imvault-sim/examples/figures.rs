//! Figures of the simulator (measurements, never asserted; docs/SIMULATOR.md records them):
//!
//! - `crawl [SCALE]` (default `large`): crawls every version of every library through HTTP and
//!   prints rows, time and the process's peak RSS, which must not grow with the corpus;
//! - `download [SCALE]` (default `medium`): downloads every version of `ARCHIVE` with 8 concurrent
//!   streams and prints the throughput and the peak RSS.
//!
//! Run: `cargo run --release -p imvault-sim --example figures -- crawl large`.

#[path = "../tests/http/support.rs"]
mod support;

use futures::StreamExt;
use imvault_sim::Scale;
use serde_json::{Value, json};

use support::{opts, start};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_default();
    let mut scale = |default: &str| -> Scale {
        let s = args.next().unwrap_or_else(|| default.to_string());
        s.parse().unwrap_or_else(|e: String| panic!("{e}"))
    };
    match what.as_str() {
        "crawl" => crawl_figures(scale("large")).await,
        "download" => download_figures(scale("medium")).await,
        _ => {
            eprintln!("usage: figures crawl|download [tiny|small|medium|large|VERSIONS]");
            std::process::exit(2);
        }
    }
}

async fn crawl_figures(scale: Scale) {
    let before = vm_hwm_kib();
    let env = start(opts(scale)).await;
    let started = std::time::Instant::now();
    let mut rows = 0u64;
    let mut bytes = 0u64;
    for lib in ["ACTIVE", "ARCHIVE", "RESTRICTED"] {
        let mut body = json!({"limit": 1000});
        loop {
            let r = env
                .post_json(&env.lib(lib, "/sync/documents/crawl"), &body)
                .await;
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            let page = v["data"].as_array().unwrap();
            rows += page.len() as u64;
            bytes += page
                .iter()
                .map(|d| d["size"].as_u64().unwrap())
                .sum::<u64>();
            match v["cursor"].as_str() {
                Some(c) => body["cursor"] = json!(c),
                None => break,
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let after = vm_hwm_kib();
    eprintln!(
        "scale {scale}: {rows} versions ({:.1} GB of content) crawled in {secs:.1} s ({:.0} rows/s); VmHWM {} MiB before start, {} MiB after the crawl",
        bytes as f64 / 1e9,
        rows as f64 / secs,
        before / 1024,
        after / 1024
    );
    assert!(rows > 0, "the crawl returned no rows");
}

async fn download_figures(scale: Scale) {
    let env = start(opts(scale)).await;
    for lib in env.sim.libraries() {
        eprintln!("{:?}", env.sim.library_summary(&lib).unwrap());
    }
    let rows = env
        .crawl("ARCHIVE", "documents/crawl", 1000, json!({}))
        .await;
    let started = std::time::Instant::now();
    let env = &env;
    let total: u64 = futures::stream::iter(rows.iter())
        .map(|row| async move {
            let id = row["id"].as_str().unwrap();
            let r = env
                .get(&env.lib("ARCHIVE", &format!("/documents/{id}/download")))
                .await;
            assert_eq!(r.status(), 200);
            let mut n = 0u64;
            let mut body = r.bytes_stream();
            while let Some(chunk) = body.next().await {
                n += chunk.unwrap().len() as u64;
            }
            assert_eq!(n, row["size"].as_u64().unwrap(), "{id}");
            n
        })
        .buffer_unordered(8)
        .fold(0u64, |a, n| async move { a + n })
        .await;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "scale {scale}: downloaded {} versions, {:.2} GB in {secs:.1} s ({:.0} MB/s); VmHWM {} MiB",
        rows.len(),
        total as f64 / 1e9,
        total as f64 / 1e6 / secs,
        vm_hwm_kib() / 1024
    );
}

/// The peak resident set size of this process, in KiB (0 where /proc is missing).
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|n| n.parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}
