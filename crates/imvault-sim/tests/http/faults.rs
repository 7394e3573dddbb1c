//! Limits and faults (§9): 429 with Retry-After, 5xx, truncated downloads, stats.

use super::*;

#[tokio::test]
async fn rate_and_concurrency_limits_answer_429_with_retry_after() {
    let env = start(SimOptions {
        rate_limit: Some(5.0),
        ..opts(Scale::Tiny)
    })
    .await;
    let url = format!("{}/api", env.base);
    let mut limited = None;
    for _ in 0..40 {
        let r = env.get(&url).await;
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
        assert!(r.headers().contains_key("x-ratelimit-remaining"));
    }
    let r = limited.expect("40 quick calls at 5/s must meet a 429");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert!(r.headers().contains_key("x-ratelimit-reset"));
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    let b: Value = r.json().await.unwrap();
    assert!(b["error"]["code"].is_string());
    assert!(env.sim.stats().rate_limited >= 1);

    let env = start(SimOptions {
        max_concurrent: Some(2),
        latency_ms: 300,
        ..opts(Scale::Tiny)
    })
    .await;
    let url = format!("{}/api", env.base);
    let calls = (0..6).map(|_| env.get(&url));
    let statuses: Vec<u16> = futures::future::join_all(calls)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
    let st = env.sim.stats();
    assert!(st.peak_concurrency >= 2, "{st:?}");
    assert_eq!(st.in_flight, 0);
    // The stats endpoint reports the same over HTTP.
    let s: Value = env
        .http
        .get(format!("{}/sim/stats", env.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(s["rate_limited"].as_u64().unwrap() >= 1);
    assert!(s["requests"]["GET /api"].as_u64().unwrap() >= 6);
}

#[tokio::test]
async fn faults_give_transient_errors_and_truncated_downloads() {
    let env = start(opts(Scale::Tiny)).await;
    let rows = env.crawl("ACTIVE", "documents/crawl", 100, json!({})).await;
    let mut by_size: Vec<&Value> = rows.iter().collect();
    by_size.sort_by_key(|r| std::cmp::Reverse(r["size"].as_u64().unwrap()));
    let two: Vec<String> = by_size[..2]
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let big = two[0].clone();
    env.sim.set_fault_rate(1.0);
    let (mut transient, mut truncated, mut whole) = (0, 0, 0);
    // No connection reuse: a truncated download drops its connection, as a real one would.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut last_cut: Option<String> = None;
    for i in 0..60 {
        let id = &two[i % 2];
        let sent = fresh
            .get(env.lib("ACTIVE", &format!("/documents/{id}/download")))
            .header("X-Auth-Token", &env.token)
            .send()
            .await;
        let Ok(r) = sent else {
            // The connection dropped before the head arrived: also a truncated download.
            truncated += 1;
            last_cut = Some(id.clone());
            continue;
        };
        match r.status().as_u16() {
            200 => {
                let promised: usize = r.headers()["content-length"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                match r.bytes().await {
                    Ok(b) if b.len() == promised => {
                        // A truncation draw never cuts the same download twice in a row.
                        assert_eq!(last_cut.as_ref(), Some(id), "only a repeat is spared");
                        assert_eq!(b.to_vec(), content::version_bytes(1, &id.parse().unwrap()));
                        whole += 1;
                    }
                    Ok(b) => {
                        assert!(b.len() < promised);
                        truncated += 1;
                        last_cut = Some(id.clone());
                    }
                    Err(_) => {
                        truncated += 1;
                        last_cut = Some(id.clone());
                    }
                }
            }
            s @ 502..=504 => {
                let b: Value = r.json().await.unwrap();
                assert_eq!(b["error"]["code"], "NRC_SERVICE_UNAVAILABLE", "{s}");
                transient += 1;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    let _ = whole;
    assert!(transient > 0 && truncated > 0, "{transient} {truncated}");
    let st = env.sim.stats();
    assert_eq!(st.faults_5xx, transient);
    assert_eq!(st.truncated_downloads, truncated);
    env.sim.set_fault_rate(0.0);
    let r = env
        .get(&env.lib("ACTIVE", &format!("/documents/{big}/download")))
        .await;
    assert_eq!(r.status(), 200);
    let vid: VersionId = big.parse().unwrap();
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        content::version_bytes(1, &vid)
    );
}

#[tokio::test]
async fn fault_rate_sets_the_share_of_5xx_answers() {
    let env = start(SimOptions {
        fault_rate: 0.2,
        ..opts(Scale::Tiny)
    })
    .await;
    let url = format!("{}/api", env.base);
    let mut faults = 0;
    for _ in 0..300 {
        match env.get(&url).await.status().as_u16() {
            200 => {}
            502..=504 => faults += 1,
            s => panic!("unexpected status {s}"),
        }
    }
    // 300 seeded draws at p = 0.2: about 60.
    assert!((35..=85).contains(&faults), "{faults} faults in 300 calls");
    assert_eq!(env.sim.stats().faults_5xx, faults);
    env.sim.set_fault_rate(0.0);
    for _ in 0..20 {
        assert_eq!(env.get(&url).await.status(), 200);
    }
}
