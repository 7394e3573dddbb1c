//! Measurements (ignored by default): crawl and download figures, peak RSS.

use super::*;

/// Measurement, not a gate: crawls every version of every library at `SIM_SCALE` (default
/// `large`) through HTTP and prints rows, time and the process's peak RSS, which must not grow
/// with the corpus. Run: `SIM_SCALE=large cargo test --release --test it sim_crawl_figures -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a test: prints figures"]
async fn sim_crawl_figures() {
    let scale: Scale = std::env::var("SIM_SCALE")
        .unwrap_or_else(|_| "large".into())
        .parse()
        .unwrap();
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
    assert!(rows > 0);
}

/// Measurement, not a gate: downloads every version of the `ARCHIVE` library at `SIM_SCALE`
/// (default `medium`) with 8 concurrent streams and prints the throughput and peak RSS.
/// Run: `cargo test --test it sim_download_figures -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a test: prints figures"]
async fn sim_download_figures() {
    use futures::StreamExt;
    let scale: Scale = std::env::var("SIM_SCALE")
        .unwrap_or_else(|_| "medium".into())
        .parse()
        .unwrap();
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
