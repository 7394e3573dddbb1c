//! The iManage client through the real HTTP stack against the simulator: sign-in failures and
//! lockout, 401 → refresh, paging with expired cursors, 429 storms, 5xx, downloads, secrets.

use std::io::Write;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use imvault::imanage::model::VersionId;
use imvault::imanage::paging::{CrawlKind, Listing, PageState};
use imvault::imanage::walk::WalkStrategy;
use imvault::imanage::{Client, ImanageError, RetryClass};
use imvault::secret::Secret;
use imvault_sim::{SimOptions, credentials};

mod writes;

use crate::support::imanage::{
    assert_same, collect, connect, settings, start_sim, summarize, tiny,
};
use crate::support::wait::wait_until;

fn token_requests(env: &crate::support::imanage::SimEnv) -> u64 {
    env.handle
        .stats()
        .requests
        .iter()
        .filter(|(k, _)| k.contains("oauth2/token"))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_client_secret_is_explained_as_invalid_client_and_not_retried() {
    let env = start_sim(tiny());
    let mut s = settings(env.addr);
    s.client_secret = Secret::new("prod-secret-on-a-trial-tenant");
    let err = Client::connect(s).await.expect_err("wrong client secret");
    assert!(matches!(err, ImanageError::InvalidClient { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("client id and client secret"), "{text}");
    assert!(text.contains("prod and trial"), "{text}");
    assert!(!text.contains("prod-secret-on-a-trial-tenant"), "{text}");
    assert!(!format!("{err:?}").contains("prod-secret-on-a-trial-tenant"));
    assert_eq!(err.retry(), RetryClass::Never);
    assert_eq!(token_requests(&env), 1, "exactly one sign-in attempt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_auth_key_is_invalid_grant_and_the_lockout_is_named() {
    let env = start_sim(tiny());
    let mut s = settings(env.addr);
    s.auth_key = Secret::new("not-the-key");
    for attempt in 1..=4 {
        let err = Client::connect(s.clone()).await.expect_err("wrong key");
        assert!(
            matches!(err, ImanageError::InvalidGrant { .. }),
            "attempt {attempt}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(credentials::USERNAME), "{text}");
        assert!(text.contains("not reported locked"), "{text}");
        assert!(!text.contains("not-the-key"), "{text}");
    }
    // The fifth failure locks the account; the error says so.
    let err = Client::connect(s.clone()).await.expect_err("fifth failure");
    assert!(matches!(err, ImanageError::AccountLocked { .. }), "{err:?}");
    assert!(err.to_string().contains("locked"), "{err}");
    // Now even the right key is refused as locked, and the client still tries only once.
    let err = Client::connect(settings(env.addr))
        .await
        .expect_err("locked account");
    assert!(matches!(err, ImanageError::AccountLocked { .. }), "{err:?}");
    assert!(err.to_string().contains("15 minutes"), "{err}");
    assert_eq!(
        token_requests(&env),
        6,
        "one token request per connect, no loop"
    );
    env.handle.unlock_account();
    connect(env.addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_is_renewed_once_and_the_call_repeated() {
    let env = start_sim(tiny());
    let client = connect(env.addr).await;
    let lib = client.libraries()[0].id.clone();
    let (before, _) = collect(&client, &lib, WalkStrategy::Crawl).await;
    env.handle.expire_tokens();
    let (after, errors) = collect(&client, &lib, WalkStrategy::Crawl).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_same(
        &summarize(&before),
        &summarize(&after),
        "walk after token expiry",
    );
    let stats = client.stats();
    assert_eq!(stats.reauths, 1, "one renewal for the whole walk");
    assert!(env.handle.stats().unauthorized >= 1, "the sim answered 401");
    // The renewal used the refresh token: one password sign-in in all, two grants.
    assert_eq!(stats.sign_ins, 1);
    assert_eq!(env.handle.stats().sign_ins, 2);
    client.revoke().await.expect("revoke");
    let requests = env.handle.stats().total_requests;
    let err = client
        .document_versions(&format!("{lib}!1").parse().expect("id"))
        .await
        .expect_err("after revoke");
    assert!(matches!(err, ImanageError::SignedOut { .. }), "{err:?}");
    assert_eq!(
        env.handle.stats().total_requests,
        requests,
        "a signed-out client sends nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_tokens_are_refreshed_before_they_expire() {
    let env = start_sim(SimOptions {
        token_ttl: 1,
        ..tiny()
    });
    let client = connect(env.addr).await;
    let lib = client.libraries()[0].id.clone();
    let (want, _) = collect(&client, &lib, WalkStrategy::Crawl).await;
    // Keep working (no sleeping) until the client has renewed its token twice, however long
    // the walks take on a loaded machine: the test waits for the renewals, not for a time.
    let mut walks = 0;
    wait_until(
        "two token renewals while walking",
        std::time::Duration::from_secs(120),
        async || {
            let (got, errors) = collect(&client, &lib, WalkStrategy::Crawl).await;
            assert!(errors.is_empty(), "{errors:?}");
            assert_same(
                &summarize(&got),
                &summarize(&want),
                "walk across token renewals",
            );
            walks += 1;
            let stats = client.stats();
            if walks > 1 && stats.reauths >= 2 {
                return Ok(());
            }
            Err(format!("{walks} walks, {stats:?}"))
        },
    )
    .await;
    assert!(walks > 1);
    let stats = client.stats();
    assert!(stats.reauths >= 2, "renewed at least twice: {stats:?}");
    assert_eq!(
        stats.sign_ins, 1,
        "renewals used the refresh token, never the auth key again"
    );
    assert_eq!(
        env.handle.stats().sign_ins,
        1 + stats.reauths,
        "every renewal was one successful grant"
    );
    assert_eq!(
        env.handle.stats().unauthorized,
        0,
        "renewed before expiry, no 401"
    );
}

async fn all_rows(client: &Client, listing: &Listing) -> Vec<String> {
    let mut state = PageState::default();
    let mut ids = vec![];
    while !state.is_done() {
        for row in client.next_page(listing, &mut state).await.expect("page") {
            ids.push(row_key(&row));
        }
    }
    ids
}

fn row_key(row: &serde_json::Value) -> String {
    format!(
        "{}|{}",
        row.get("id").and_then(|v| v.as_str()).unwrap_or_default(),
        row.get("parent_id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_crosses_pages_and_restarts_after_an_expired_cursor() {
    let env = start_sim(SimOptions {
        scale: "small".parse().expect("scale"),
        ..SimOptions::default()
    });
    let mut s = settings(env.addr);
    s.page_size = 2;
    s.crawl_page_size = 7;
    let client = Client::connect(s).await.expect("connect");
    let lib = client.libraries()[0].id.clone();
    for listing in [
        Listing::Workspaces(lib.clone()),
        Listing::Crawl {
            library: lib.clone(),
            kind: CrawlKind::Documents,
            edit_date_from: None,
        },
    ] {
        let full = all_rows(&client, &listing).await;
        assert!(full.len() > 4, "{listing:?}: {} rows", full.len());
        let mut state = PageState::default();
        let mut got = vec![];
        let mut pages = 0;
        while !state.is_done() {
            let rows = client.next_page(&listing, &mut state).await.expect("page");
            got.extend(rows.iter().map(row_key));
            pages += 1;
            if pages == 2 {
                env.handle.expire_cursors();
            }
        }
        assert!(pages > 2, "{listing:?} spans several pages");
        assert_eq!(state.restarts(), 1, "{listing:?} restarted once");
        assert_eq!(got, full, "{listing:?}: every row once, in order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_of_429s_loses_nothing_and_the_client_slows_down() {
    let reference = start_sim(tiny());
    let ref_client = connect(reference.addr).await;
    let lib = ref_client.libraries()[0].id.clone();
    let (want, _) = collect(&ref_client, &lib, WalkStrategy::Tree).await;

    let env = start_sim(SimOptions {
        rate_limit: Some(20.0),
        max_concurrent: Some(2),
        latency_ms: 10,
        ..tiny()
    });
    let mut s = settings(env.addr);
    s.requests_per_second = 400;
    s.concurrency = 8;
    s.max_retries = 30;
    let client = Client::connect(s).await.expect("connect");
    let (got, errors) = collect(&client, &lib, WalkStrategy::Tree).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_same(
        &summarize(&got),
        &summarize(&want),
        "no item lost under 429s",
    );
    // Then a burst of parallel downloads, far above what the tenant allows.
    let versions: Vec<_> = got
        .iter()
        .filter_map(|i| match i {
            imvault::imanage::walk::WalkItem::Version { version } => Some(version.clone()),
            _ => None,
        })
        .take(60)
        .collect();
    let downloads = futures::stream::iter(versions.iter().map(|v| {
        let client = client.clone();
        async move { (v, download(&client, &v.id, v.size).await) }
    }))
    .buffer_unordered(16)
    .collect::<Vec<_>>()
    .await;
    for (v, bytes) in downloads {
        let bytes = bytes.expect("download under 429s");
        assert!(
            bytes == env.handle.version_bytes(&v.id).expect("sim bytes"),
            "{}",
            v.id
        );
    }
    let sim = env.handle.stats();
    let ours = client.stats();
    println!(
        "storm: client {ours:?}\nsim 429s {} of {} requests",
        sim.rate_limited, sim.total_requests
    );
    assert!(sim.rate_limited > 0, "the tenant pushed back: {sim:?}");
    assert_eq!(
        ours.throttled, sim.rate_limited,
        "every 429 was seen and handled"
    );
    assert!(
        ours.current_rate < ours.max_rate,
        "the rate came down: {ours:?}"
    );
    // The client starts 20 times too fast and adapts after the first 429s: they stay a small
    // share of all requests.
    assert!(
        sim.rate_limited * 10 < sim.total_requests,
        "429s {} of {} requests",
        sim.rate_limited,
        sim.total_requests
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_at_the_tenant_limit_the_client_gets_no_429() {
    let env = start_sim(SimOptions {
        rate_limit: Some(60.0),
        max_concurrent: Some(3),
        ..tiny()
    });
    let mut s = settings(env.addr);
    s.requests_per_second = 50;
    s.concurrency = 3;
    let client = Client::connect(s).await.expect("connect");
    let lib = client.libraries()[0].id.clone();
    let (items, errors) = collect(&client, &lib, WalkStrategy::Tree).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert!(!items.is_empty());
    let sim = env.handle.stats();
    assert_eq!(sim.rate_limited, 0, "{sim:?}");
    assert!(sim.peak_concurrency <= 3, "{sim:?}");
    assert!(
        sim.total_requests > 60,
        "long enough to test the rate: {sim:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_and_nothing_is_lost() {
    let reference = start_sim(tiny());
    let ref_client = connect(reference.addr).await;
    let lib = ref_client.libraries()[0].id.clone();
    let (want_tree, _) = collect(&ref_client, &lib, WalkStrategy::Tree).await;

    let env = start_sim(tiny());
    let client = connect(env.addr).await;
    env.handle.set_fault_rate(0.2);
    let (tree, errors) = collect(&client, &lib, WalkStrategy::Tree).await;
    assert!(errors.is_empty(), "{errors:?}");
    let (crawl, errors) = collect(&client, &lib, WalkStrategy::Crawl).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_same(
        &summarize(&tree),
        &summarize(&want_tree),
        "tree walk under faults",
    );
    assert_same(
        &summarize(&crawl),
        &summarize(&want_tree),
        "crawl under faults",
    );
    assert!(env.handle.stats().faults_5xx > 0);
    assert!(client.stats().retries > 0);
    assert!(client.stats().server_errors > 0);
}

/// Download with the caller-side retry the client documents for truncated bodies.
pub(crate) async fn download(
    client: &Client,
    v: &VersionId,
    size: u64,
) -> Result<Vec<u8>, ImanageError> {
    let mut attempts = 0;
    loop {
        let mut out = Vec::new();
        let mut s = std::pin::pin!(client.download(v, size));
        let mut failed = None;
        while let Some(chunk) = s.next().await {
            match chunk {
                Ok(c) => out.extend_from_slice(&c),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        match failed {
            None => return Ok(out),
            Some(e) if e.retry() == RetryClass::Backoff && attempts < 10 => attempts += 1,
            Some(e) => return Err(e),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_stream_the_exact_bytes_despite_truncation_faults() {
    let env = start_sim(tiny());
    let client = connect(env.addr).await;
    let lib = client.libraries()[0].id.clone();
    let (items, _) = collect(&client, &lib, WalkStrategy::Crawl).await;
    env.handle.set_fault_rate(0.3);
    let mut checked = 0;
    for item in &items {
        let imvault::imanage::walk::WalkItem::Version { version } = item else {
            continue;
        };
        let got = download(&client, &version.id, version.size)
            .await
            .expect("download");
        let want = env.handle.version_bytes(&version.id).expect("sim bytes");
        assert_eq!(got.len() as u64, version.size, "{}", version.id);
        assert!(got == want, "bytes of {}", version.id);
        checked += 1;
        if checked == 25 {
            break;
        }
    }
    assert_eq!(checked, 25);
    let sim = env.handle.stats();
    assert!(
        sim.truncated_downloads + sim.faults_5xx > 0,
        "faults were injected: {sim:?}"
    );
    // A size that disagrees with the content is refused, never silently accepted.
    env.handle.set_fault_rate(0.0);
    let v = items
        .iter()
        .find_map(|i| match i {
            imvault::imanage::walk::WalkItem::Version { version } if version.size > 0 => {
                Some(version)
            }
            _ => None,
        })
        .expect("a non-empty version");
    let err = download(&client, &v.id, v.size + 1)
        .await
        .expect_err("wrong size");
    assert!(
        matches!(err, ImanageError::LengthMismatch { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&v.id.to_string()));
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_never_reach_logs_or_errors() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = start_sim(tiny());
    let client = connect(env.addr).await;
    let lib = client.libraries()[0].id.clone();
    env.handle.expire_tokens();
    let (items, _) = collect(&client, &lib, WalkStrategy::Tree).await;
    assert!(!items.is_empty());
    let dbg = format!("{client:?} {:?}", client.settings());
    let mut bad = settings(env.addr);
    bad.client_secret = Secret::new("wrong-client-secret-value");
    let err = Client::connect(bad).await.expect_err("bad secret");
    client.revoke().await.expect("revoke");

    let logs = String::from_utf8_lossy(&captured.0.lock().expect("logs")).to_string();
    assert!(logs.contains("signed in"), "logs were captured");
    for secret in [
        credentials::CLIENT_SECRET,
        credentials::AUTH_KEY,
        "wrong-client-secret-value",
    ] {
        assert!(!logs.contains(secret), "{secret} in logs");
        assert!(!dbg.contains(secret), "{secret} in Debug");
        assert!(!err.to_string().contains(secret), "{secret} in error");
        assert!(
            !format!("{err:?}").contains(secret),
            "{secret} in error Debug"
        );
    }
    assert!(
        !logs.to_lowercase().contains("x-auth-token:"),
        "no auth header in logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_refresh_token_leads_to_one_sign_in_never_a_loop() {
    let (addr, log) = crate::support::imanage::start_refresh_refusing_tenant(true).await;
    let client = connect(addr).await;
    assert_eq!(client.libraries().len(), 1);
    let l = log.lock().expect("log").clone();
    assert_eq!((l.api_401, l.refresh, l.password), (1, 1, 2), "{l:?}");
    assert_eq!(client.stats().sign_ins, 2);
    assert_eq!(client.stats().reauths, 1);

    // If that sign-in fails too, the error names the account and nothing is tried again.
    let (addr, log) = crate::support::imanage::start_refresh_refusing_tenant(false).await;
    let err = Client::connect(settings(addr))
        .await
        .expect_err("second sign-in refused");
    assert!(matches!(err, ImanageError::InvalidGrant { .. }), "{err:?}");
    assert!(err.to_string().contains(credentials::USERNAME), "{err}");
    let l = log.lock().expect("log").clone();
    assert_eq!((l.api_401, l.refresh, l.password), (1, 1, 2), "{l:?}");
}

/// Issue 18: when the refresh and then the password grant are refused while many calls wait
/// on the token, the refusal is remembered: one refresh and one password grant in all, and
/// every waiting call fails at once with the reason (8 waiters each signing in would lock
/// the account within one token expiry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_renewal_is_shared_by_every_waiting_call() {
    let env = start_sim(tiny());
    let client = connect(env.addr).await;
    let library = client.libraries()[0].id.clone();
    let base = format!("http://{}", env.addr);
    // Someone else's failed sign-ins lock the account; then every session ends (the refresh
    // token too: a renewal needs the password grant).
    for _ in 0..5 {
        let r = reqwest::Client::new()
            .post(format!("{base}/auth/oauth2/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", credentials::USERNAME),
                ("password", "not-the-key"),
                ("client_id", credentials::CLIENT_ID),
                ("client_secret", credentials::CLIENT_SECRET),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
    }
    env.handle.end_sessions();
    let before = env.handle.stats().failed_sign_ins;
    let calls = (1..=8u64).map(|n| {
        let client = client.clone();
        let library = library.clone();
        async move {
            let id: VersionId = format!("{library}!{n}.1").parse().unwrap();
            client.document(&id).await
        }
    });
    let results = futures::future::join_all(calls).await;
    for r in &results {
        let e = r.as_ref().expect_err("the account is locked");
        assert!(
            matches!(e, ImanageError::AccountLocked { .. }),
            "every waiter gets the refusal: {e:?}"
        );
    }
    let grants = env.handle.stats().failed_sign_ins - before;
    assert_eq!(
        grants, 2,
        "one refused refresh and one refused password grant, not one pair per waiting call"
    );
    // Later calls fail at once too, without a grant.
    let id: VersionId = format!("{library}!1.1").parse().unwrap();
    assert!(client.document(&id).await.is_err());
    assert_eq!(env.handle.stats().failed_sign_ins - before, 2);
}
