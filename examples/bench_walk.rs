//! Walk benchmark: `imvault check` (the library walk, no content) against the in-process
//! simulator with both strategies. Not a test: it prints figures. Run with a release build:
//!
//! ```sh
//! cargo run --release --example bench_walk -- [--scale medium] [--latency-ms 0]
//!     [--rps 2000] [--concurrency 8]
//! ```
//!
//! The two usual runs: the `medium` corpus as fast as the simulator answers (the default), and
//! a tenant-like latency with a polite client, `--scale small --latency-ms 25 --rps 50
//! --concurrency 8`. Each prints the check report, the items walked, the requests made, the
//! time, and requests per item.

use std::net::SocketAddr;

use imvault::imanage::inventory::check;
use imvault::imanage::walk::WalkStrategy;
use imvault::imanage::{Client, ClientSettings};
use imvault::secret::Secret;
use imvault_sim::{Scale, Server, SimOptions, credentials};

struct Args {
    scale: Scale,
    latency_ms: u64,
    rps: u32,
    concurrency: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        scale: Scale::Medium,
        latency_ms: 0,
        rps: 2000,
        concurrency: 8,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let [flag, v] = pair else {
            panic!("{pair:?}: every flag takes a value")
        };
        match flag.as_str() {
            "--scale" => a.scale = v.parse().expect("scale"),
            "--latency-ms" => a.latency_ms = v.parse().expect("latency"),
            "--rps" => a.rps = v.parse().expect("requests per second"),
            "--concurrency" => a.concurrency = v.parse().expect("concurrency"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn settings(addr: SocketAddr, args: &Args) -> ClientSettings {
    let mut s = ClientSettings::new(
        url::Url::parse(&format!("http://{addr}")).expect("url"),
        credentials::CLIENT_ID,
        Secret::new(credentials::CLIENT_SECRET),
        credentials::USERNAME,
        Secret::new(credentials::AUTH_KEY),
    );
    s.requests_per_second = args.rps;
    s.concurrency = args.concurrency;
    s
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = parse_args();
    let (addr, _handle) = Server::start(SimOptions {
        scale: args.scale,
        latency_ms: args.latency_ms,
        ..SimOptions::default()
    })
    .expect("simulator starts on 127.0.0.1:0");
    let client = Client::connect(settings(addr, &args))
        .await
        .expect("sign-in to the simulator");
    for strategy in [WalkStrategy::Crawl, WalkStrategy::Tree] {
        let report = check(&client, &[], strategy).await.expect("check");
        assert!(report.is_clean(), "{report}");
        let items: u64 = report.libraries.iter().map(|l| l.items()).sum();
        println!("=== {strategy:?} ===\n{report}");
        println!(
            "{strategy:?}: {items} items, {} requests, {:.2} s, {:.4} requests per item",
            report.requests,
            report.seconds,
            report.requests as f64 / items.max(1) as f64
        );
    }
}
