//! `imvault serve` (issue 7), the real binary against the in-test simulator and a local
//! repository: scheduled backups, the HTTP API (auth, validation, live progress, cancel,
//! restores, metrics), SIGHUP reload and SIGTERM.

use std::collections::BTreeMap;
use std::time::Duration;

use imvault_sim::{Scale, SimOptions};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::daemon::{
    Daemon, NEVER, TOKEN, downloads, free_port, progress_total, write_config,
};
use crate::support::env::TestEnv;
use crate::support::wait::wait_until;

/// A strict reader of the Prometheus text format (0.0.4): every sample belongs to a family
/// declared by `# TYPE` before it, names and labels are well formed, values are numbers, and
/// histogram buckets never decrease. Returns `name{labels}` → value.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c == '_' || c == ':' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
            })
    };
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut out = BTreeMap::new();
    let mut last_bucket: Option<(String, f64)> = None;
    for (n, line) in text.lines().enumerate() {
        let at = format!("line {}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name) = (parts.next().unwrap(), parts.next().expect(&at));
            assert!(valid_name(name), "{at}");
            if kw == "TYPE" {
                let t = parts.next().expect(&at);
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                    "{at}"
                );
                assert!(
                    types.insert(name.into(), t.into()).is_none(),
                    "TYPE twice, {at}"
                );
            } else {
                assert_eq!(kw, "HELP", "{at}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect(&at);
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value, {at}")),
        };
        let name = series.split('{').next().unwrap();
        assert!(valid_name(name), "{at}");
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            let inner = labels
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .expect(&at);
            let mut rest = inner;
            while !rest.is_empty() {
                let (lname, after) = rest.split_once("=\"").expect(&at);
                assert!(valid_name(lname), "{at}");
                // Find the closing quote, skipping escaped characters.
                let mut end = None;
                let mut esc = false;
                for (i, c) in after.char_indices() {
                    match (esc, c) {
                        (true, _) => esc = false,
                        (false, '\\') => esc = true,
                        (false, '"') => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.expect(&at);
                rest = after[end + 1..].trim_start_matches(',');
            }
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample before its # TYPE, {at}");
        if name.ends_with("_bucket") {
            let key = series.split(",le=").next().unwrap().to_string();
            if let Some((k, v)) = &last_bucket
                && *k == key
            {
                assert!(value >= *v, "histogram buckets decrease, {at}");
            }
            last_bucket = Some((key, value));
        }
        out.insert(series.to_string(), value);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_fire_and_never_overlap() {
    let env = TestEnv::tiny(71).await;
    let port = free_port();
    let config = write_config(&env, port, "* * * * * *", TOKEN);
    // A stand-in for systemd's notify socket, with a watchdog.
    let sock_path = env.dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let (tx, notes) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match sock.recv(&mut buf) {
                Ok(n) => {
                    if tx
                        .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return,
            }
        }
    });
    let mut daemon = Daemon::start_with(
        &env,
        &config,
        port,
        &[
            ("NOTIFY_SOCKET", sock_path.display().to_string()),
            ("WATCHDOG_USEC", "400000".to_string()),
        ],
    )
    .await;
    // Every second a slot; wait for two scheduled backups to complete.
    let jobs = wait_until(
        "two scheduled backups",
        Duration::from_secs(60),
        async || {
            let (s, body) = daemon
                .get("/v1/jobs?kind=backup&state=completed&limit=100")
                .await;
            assert_eq!(s, StatusCode::OK);
            let jobs = body["jobs"].as_array().unwrap().clone();
            if jobs.len() >= 2 {
                return Ok(jobs);
            }
            Err(format!("{body}\n{}", daemon.logs()))
        },
    )
    .await;
    for j in &jobs {
        assert_eq!(j["params"]["trigger"], "schedule", "{j}");
        assert!(j["params"]["slot"].is_string(), "{j}");
        assert!(!j["params"]["libraries"].as_array().unwrap().is_empty());
    }
    // A library is never backed up by two jobs at once: intervals do not overlap.
    let (_, all) = daemon.get("/v1/jobs?kind=backup&limit=1000").await;
    let mut spans: Vec<(String, String, String)> = Vec::new();
    for j in all["jobs"].as_array().unwrap() {
        if let (Some(s), Some(f)) = (j["started_at"].as_str(), j["finished_at"].as_str()) {
            for lib in j["params"]["libraries"].as_array().unwrap() {
                spans.push((lib.as_str().unwrap().into(), s.into(), f.into()));
            }
        }
    }
    spans.sort();
    for w in spans.windows(2) {
        if w[0].0 == w[1].0 {
            let a_end: chrono::DateTime<chrono::Utc> = w[0].2.parse().unwrap();
            let b_start: chrono::DateTime<chrono::Utc> = w[1].1.parse().unwrap();
            assert!(b_start >= a_end, "overlapping backups of {}: {w:?}", w[0].0);
        }
    }
    // Snapshots exist and the libraries view reports them with the next slot.
    let (_, snaps) = daemon.get("/v1/snapshots").await;
    assert!(snaps["snapshots"].as_array().unwrap().len() >= 2, "{snaps}");
    let (_, libs) = daemon.get("/v1/libraries").await;
    for l in libs["libraries"].as_array().unwrap() {
        assert!(l["last_snapshot"]["id"].is_string(), "{l}");
        assert!(l["next_scheduled_run"].is_string(), "{l}");
    }

    // systemd heard READY with a status, watchdog pings, and STOPPING on SIGTERM.
    daemon.signal("TERM");
    let status = daemon.wait_exit(Duration::from_secs(60)).await;
    assert!(status.success(), "{status}\n{}", daemon.logs());
    // The notes reach the channel through the reader thread: the last ones may still be on
    // their way when the daemon has exited.
    let mut got: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !got.iter().any(|m| m.contains("STOPPING=1")) {
        match notes.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
            Ok(m) => got.push(m),
            Err(_) => break,
        }
    }
    got.extend(notes.try_iter());
    let all = got.join("\n");
    assert!(all.contains("READY=1"), "{got:?}");
    assert!(all.contains("STATUS=serving the API"), "{got:?}");
    assert!(all.contains("STOPPING=1"), "{got:?}");
    assert!(
        got.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2,
        "watchdog pings: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nights_missed_while_down_run_once_at_boot() {
    let env = TestEnv::tiny(75).await;
    let port = free_port();
    let config = write_config(&env, port, "0 0 1 * * *", TOKEN);
    // The scheduler last looked three days ago: three nightly slots were missed.
    let three_days_ago = chrono::Utc::now() - chrono::Duration::days(3);
    {
        let mut cat =
            imvault::catalog::Catalog::open(env.dir.path().join("state/catalog.db")).unwrap();
        for lib in env.sim.libraries() {
            cat.set_daemon_value(
                &format!("schedule.last.{}", lib.to_ascii_lowercase()),
                &three_days_ago.to_rfc3339(),
            )
            .unwrap();
        }
    }
    let daemon = Daemon::start(&env, &config, port).await;
    let job = wait_until("a catch-up backup", Duration::from_secs(60), async || {
        let (_, body) = daemon.get("/v1/jobs?kind=backup").await;
        match body["jobs"].as_array().unwrap().first() {
            Some(j) => Ok(j.clone()),
            None => Err(daemon.logs()),
        }
    })
    .await;
    assert_eq!(job["params"]["trigger"], "schedule");
    let id = job["id"].as_str().unwrap();
    let done = daemon
        .wait_job(id, "finished", |j| j["finished_at"].is_string())
        .await;
    assert_eq!(done["state"], "completed", "{done}");
    // Once, not once per missed night: still a single backup job, the next run is tomorrow.
    let (_, body) = daemon.get("/v1/jobs?kind=backup").await;
    assert_eq!(body["jobs"].as_array().unwrap().len(), 1, "{body}");
    assert!(
        daemon.logs().contains("missed scheduled backups"),
        "{}",
        daemon.logs()
    );
    let (_, libs) = daemon.get("/v1/libraries").await;
    for l in libs["libraries"].as_array().unwrap() {
        let next: chrono::DateTime<chrono::Utc> =
            l["next_scheduled_run"].as_str().unwrap().parse().unwrap();
        assert!(next > chrono::Utc::now(), "{l}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_auth_validation_progress_cancel_restore_metrics_and_signals() {
    let env = TestEnv::new(SimOptions {
        seed: 72,
        scale: Scale::Versions(500),
        libraries: 1,
        latency_ms: 25,
        ..SimOptions::default()
    })
    .await;
    let port = free_port();
    let config = write_config(&env, port, NEVER, TOKEN);
    // API exports go below the test's directory (which also holds the repository and state).
    let dir = env.dir.path().to_path_buf();
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "token_file = ",
        &format!("restore_root = \"{}\"\ntoken_file = ", dir.display()),
    );
    std::fs::write(&config, text).unwrap();
    let mut daemon = Daemon::start(&env, &config, port).await;
    let (_, libs) = daemon.get("/v1/libraries").await;
    let lib = libs["libraries"][0]["id"].as_str().unwrap().to_string();

    // Authentication: every /v1 route, before anything else (even a bad body).
    for (method, path, body) in [
        (Method::GET, "/v1/jobs", None),
        (Method::GET, "/v1/libraries", None),
        (Method::GET, "/v1/openapi.json", None),
        (Method::POST, "/v1/backups", Some("{not json")),
        (Method::POST, "/v1/restores", Some("{}")),
        (
            Method::POST,
            "/v1/jobs/00000000-0000-0000-0000-000000000000/cancel",
            None,
        ),
    ] {
        for token in [None, Some("wrong-token-0123456789abcdef"), Some("")] {
            let (s, b) = daemon.call(method.clone(), path, token, body).await;
            assert_eq!(
                s,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {token:?}: {b}"
            );
            assert!(b.get("jobs").is_none() && b.get("paths").is_none());
        }
    }
    let (_, jobs) = daemon.get("/v1/jobs").await;
    assert_eq!(
        jobs["jobs"].as_array().unwrap().len(),
        0,
        "401s queued nothing"
    );
    let (s, _) = daemon.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);

    // Validation: 400 naming the field.
    for (path, body, needle) in [
        ("/v1/backups", r#"{"libraries": [], "ful": true}"#, "ful"),
        ("/v1/backups", r#"{"full": "yes"}"#, "full"),
        ("/v1/backups", r#"{"libraries": ["NOPE"]}"#, "NOPE"),
        ("/v1/backups", r#"{"libraries": "#, "EOF"),
        (
            "/v1/restores",
            r#"{"document": "ACTIVE!1", "to": "/tmp/r", "target": "tape"}"#,
            "target",
        ),
        (
            "/v1/restores",
            r#"{"document": "ACTIVE!1", "folder": "ACTIVE!2", "to": "/tmp/r"}"#,
            "exactly one",
        ),
        (
            "/v1/restores",
            r#"{"document": "ACTIVE!1", "to": "relative/dir"}"#,
            "absolute",
        ),
    ] {
        let (s, b) = daemon.post(path, body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {b}");
        let msg = b["error"].as_str().unwrap();
        assert!(msg.contains(needle), "{body}: {msg:?} should name {needle}");
    }
    // Issue 18: an export never goes into (or above) imvault's own directories, nor outside
    // [api] restore_root.
    for (to, needle) in [
        (dir.join("state/r1"), "state directory"),
        (dir.join("repo/packs"), "repository"),
        (dir.clone(), "state directory"),
        (
            std::path::PathBuf::from("/tmp/imvault-elsewhere"),
            "restore_root",
        ),
    ] {
        let body = serde_json::json!({"document": "ACTIVE!1", "to": to});
        let (s, b) = daemon.post("/v1/restores", &body.to_string()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {b}");
        assert_eq!(b["field"], "to", "{body}: {b}");
        let msg = b["error"].as_str().unwrap();
        assert!(msg.contains(needle), "{body}: {msg:?} should name {needle}");
    }
    let (s, b) = daemon.get("/v1/jobs?state=bogus").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b["error"].as_str().unwrap().contains("state"), "{b}");

    // The OpenAPI document is JSON and names the routes.
    let (s, doc) = daemon.get("/v1/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/backups"]["post"].is_object());

    // A backup started over HTTP: live progress while it runs, a second one is refused.
    let before = downloads(&env.sim.stats());
    let (s, job) = daemon
        .post(
            "/v1/backups",
            &format!(r#"{{"libraries": ["{}"]}}"#, lib.to_lowercase()),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    assert_eq!(
        job["params"]["libraries"][0],
        lib.as_str(),
        "library spelled as the tenant does"
    );
    let (s, b) = daemon
        .post("/v1/backups", &format!(r#"{{"libraries": ["{lib}"]}}"#))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(b["details"]["job"], id.as_str());
    let mid = daemon
        .wait_job(&id, "visible progress", |j| {
            j["state"] == "running" && progress_total(j, "versions_downloaded") >= 20
        })
        .await;
    assert!(progress_total(&mid, "bytes_read") > 0, "{mid}");
    let served = downloads(&env.sim.stats()) - before;
    let shown = progress_total(&mid, "versions_downloaded");
    assert!(
        served >= shown,
        "progress counts real downloads ({shown} shown, {served} served)"
    );
    // The progress is persisted in the job record too (read by the CLI from the catalog).
    wait_until(
        "the progress persisted",
        Duration::from_secs(30),
        async || {
            let cat =
                imvault::catalog::Catalog::open(env.dir.path().join("state/catalog.db")).unwrap();
            let rec = cat.job(id.parse().unwrap()).unwrap().unwrap();
            match rec.progress {
                Some(p) if p["libraries"][&lib]["versions"].as_u64().unwrap_or(0) > 0 => Ok(()),
                p => Err(format!("{p:?}")),
            }
        },
    )
    .await;

    // Cancel: the running job stops at a checkpoint and ends `cancelled`.
    let (s, b) = daemon.post(&format!("/v1/jobs/{id}/cancel"), "").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let done = daemon
        .wait_job(&id, "cancelled", |j| j["state"] != "running")
        .await;
    assert_eq!(done["state"], "cancelled", "{done}");
    assert!(done["finished_at"].is_string());
    let (s, _) = daemon.post(&format!("/v1/jobs/{id}/cancel"), "").await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "an ended job cannot be cancelled again"
    );
    let (_, snaps) = daemon.get("/v1/snapshots").await;
    assert_eq!(
        snaps["snapshots"].as_array().unwrap().len(),
        0,
        "a cancelled backup leaves no snapshot"
    );
    // The operator CLI sees it through the API.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imvault"))
        .arg("--config")
        .arg(&config)
        .args(["jobs", "show", &id, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["state"], "cancelled");

    // A restore posted over HTTP is validated and queued; here the library has no snapshot
    // yet (its one backup was cancelled), so it fails with the engine's reason.
    let (s, r) = daemon
        .post(
            "/v1/restores",
            &serde_json::json!({"document": format!("{lib}!999999"), "to": dir.join("restore-test")})
                .to_string(),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    assert_eq!(r["kind"], "restore");
    let rid = r["id"].as_str().unwrap().to_string();
    let failed = daemon
        .wait_job(&rid, "ended", |j| j["finished_at"].is_string())
        .await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let reason = failed["last_error"].as_str().unwrap().to_string();
    assert!(
        reason.contains(lib.as_str()) && reason.contains("snapshot"),
        "{failed}"
    );
    // `imvault jobs watch` follows a job to its end; its exit code says how it ended.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imvault"))
        .arg("--config")
        .arg(&config)
        .args(["jobs", "watch", &rid])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a failed job exits 2");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("restore failed"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&reason));

    // Filters and paging.
    let (_, f) = daemon.get("/v1/jobs?kind=backup&state=cancelled").await;
    assert_eq!(f["jobs"].as_array().unwrap().len(), 1);
    let (_, f) = daemon
        .get(&format!("/v1/jobs?library={}", lib.to_lowercase()))
        .await;
    assert_eq!(f["jobs"].as_array().unwrap().len(), 2, "{f}");
    let (_, p1) = daemon.get("/v1/jobs?limit=1").await;
    assert_eq!(p1["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(p1["next_offset"], 1);
    let (_, p2) = daemon.get("/v1/jobs?limit=1&offset=1").await;
    assert_ne!(p1["jobs"][0]["id"], p2["jobs"][0]["id"]);

    // /metrics parses as Prometheus text and agrees with the queue.
    let r = reqwest::get(format!("{}/metrics", daemon.base))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let m = parse_prometheus(&r.text().await.unwrap());
    assert_eq!(m[r#"imvault_jobs{kind="backup",state="cancelled"}"#], 1.0);
    assert_eq!(m[r#"imvault_jobs{kind="restore",state="failed"}"#], 1.0);
    assert_eq!(m[r#"imvault_jobs_running"#], 0.0);
    assert!(m["imvault_bytes_read_total"] > 0.0);
    assert!(m["imvault_imanage_requests_total"] > 0.0);
    assert_eq!(
        m[r#"imvault_job_duration_seconds_count{kind="backup"}"#],
        1.0
    );

    // SIGHUP: a bad file is rejected and the old settings kept; a good one applies (new token).
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, good.replace(NEVER, "not a cron")).unwrap();
    daemon.signal("HUP");
    wait_until("SIGHUP handled", Duration::from_secs(30), async || {
        let logs = daemon.logs();
        if logs.contains("configuration reloaded") || logs.contains("rejected") {
            return Ok(());
        }
        Err(logs)
    })
    .await;
    assert!(daemon.logs().contains("rejected"), "{}", daemon.logs());
    let (s, _) = daemon.get("/v1/jobs").await;
    assert_eq!(s, StatusCode::OK, "still serving with the old settings");
    let new_token = "rotated-token-0123456789abcdef";
    std::fs::write(
        &config,
        good.replace("requests_per_second = 500", "requests_per_second = 400"),
    )
    .unwrap();
    std::fs::write(env.dir.path().join("api_token"), new_token).unwrap();
    daemon.signal("HUP");
    wait_until("the reload applied", Duration::from_secs(30), async || {
        let (s, _) = daemon
            .call(Method::GET, "/v1/jobs", Some(new_token), None)
            .await;
        if s == StatusCode::OK {
            return Ok(());
        }
        Err(format!("{s}\n{}", daemon.logs()))
    })
    .await;
    let (s, _) = daemon.get("/v1/jobs").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the old token stops working");
    // A changed [imanage] signs in again; the daemon gets ready again.
    assert!(
        daemon.logs().contains("signing in again"),
        "{}",
        daemon.logs()
    );
    daemon.token = new_token.to_string();
    daemon.wait_ready().await;

    // Logs are JSON lines and never carry a secret.
    let logs = daemon.logs();
    for secret in [
        TOKEN,
        new_token,
        imvault_sim::credentials::CLIENT_SECRET,
        imvault_sim::credentials::AUTH_KEY,
    ] {
        assert!(!logs.contains(secret), "a secret in the logs");
    }
    let mut job_lines = 0;
    for line in logs.lines().filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v["span"]["job"].is_string()
            || v["spans"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["job"].is_string()))
        {
            job_lines += 1;
        }
    }
    assert!(job_lines > 0, "job fields on job log lines:\n{logs}");

    // SIGTERM with nothing running: a clean, quick exit.
    daemon.signal("TERM");
    let status = daemon.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}\n{}", daemon.logs());
}

/// Restore over HTTP, end to end: back up, post a restore of one version to a local directory,
/// and find its exact bytes there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_posted_over_http_writes_the_right_bytes() {
    let env = TestEnv::tiny(74).await;
    let port = free_port();
    let config = write_config(&env, port, NEVER, TOKEN);
    let daemon = Daemon::start(&env, &config, port).await;
    let done = daemon.run_job("/v1/backups", "{}").await;
    assert_eq!(done["state"], "completed", "{done}");
    let backup_id = done["id"].as_str().unwrap().to_string();

    // Pick one version of the newest snapshot.
    let repo = env.repo().await;
    let snap = repo.list_snapshots(None).await.unwrap().pop().unwrap();
    let meta = snap
        .manifest
        .streams
        .get(imvault::jobs::records::STREAM_VERSIONS)
        .unwrap();
    let mut recs = std::pin::pin!(
        repo.read_meta_stream::<imvault::jobs::records::VersionRecord>(
            imvault::jobs::records::STREAM_VERSIONS,
            meta
        )
    );
    let rec = futures::StreamExt::next(&mut recs).await.unwrap().unwrap();
    let version = rec.version().unwrap();
    let want = env.sim.version_bytes(&version.id).unwrap();
    let target = env.dir.path().join("restored");
    let body = serde_json::json!({
        "document": version.id.document.to_string(),
        "version": version.id.version,
        "to": target,
    });
    let done = daemon.run_job("/v1/restores", &body.to_string()).await;
    assert_eq!(done["state"], "completed", "{done}");
    // Issue 19: the job's counters are a restore's (versions, bytes restored), not a backup's;
    // its progress log lines carry the job's id.
    let lib = version.id.document.library.to_string();
    let figures = &done["progress"]["libraries"][&lib];
    assert_eq!(figures["versions"], 1, "{done}");
    assert_eq!(figures["bytes"], want.len() as u64, "{done}");
    assert!(
        figures.get("versions_downloaded").is_none() && figures.get("bytes_read").is_none(),
        "backup counters on a restore: {done}"
    );
    let logs = daemon.logs();
    let progress_line = |job_id: &str| {
        logs.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| {
                l["fields"]["message"] == "progress"
                    && l["spans"]
                        .as_array()
                        .is_some_and(|s| s.iter().any(|s| s["job"] == job_id))
            })
            .unwrap_or_else(|| panic!("no progress line of job {job_id}:\n{logs}"))
    };
    let line = progress_line(done["id"].as_str().unwrap());
    assert_eq!(line["fields"]["versions"], 1, "{line}");
    let backup_line = progress_line(backup_id.as_str());
    assert!(
        backup_line["fields"]["downloaded"].as_u64().unwrap() > 0,
        "{backup_line}"
    );
    assert!(line["fields"].get("downloaded").is_none(), "{line}");
    let mut found = false;
    let mut stack = vec![target];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).unwrap() == want {
                found = true;
            }
        }
    }
    assert!(found, "no restored file has the bytes of {}", version.id);

    // Issue 19: `at` takes the forms of `imvault restore --at`; a library is matched
    // case-insensitively (and spelled as the catalog does), an unknown one refused with the
    // known ones; messages name the JSON fields, not the command line's flags.
    let lib = version.id.document.library.to_string();
    let lower = version.id.document.to_string().to_lowercase();
    let target = env.dir.path().join("restored");
    for at in [
        "2099-01-01",
        "2099-01-01 18:30",
        "2099-01-01T18:30:00+01:00",
    ] {
        let body = serde_json::json!({
            "document": lower, "version": version.id.version, "at": at, "to": target,
            "dry_run": true,
        });
        let (s, job) = daemon.post("/v1/restores", &body.to_string()).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{body}: {job}");
        assert_eq!(
            job["params"]["document"],
            version.id.document.to_string(),
            "library spelled as the catalog does: {job}"
        );
        let expected = imvault::restore::when::parse_time(at).unwrap();
        let queued: chrono::DateTime<chrono::Utc> =
            job["params"]["at"].as_str().unwrap().parse().unwrap();
        assert_eq!(queued, expected, "{at}: {job}");
    }
    let (s, e) = daemon
        .post(
            "/v1/restores",
            &serde_json::json!({"document": version.id.document.to_string(), "at": "last tuesday", "to": target}).to_string(),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["field"], "at", "{e}");
    assert!(e["error"].as_str().unwrap().contains("YYYY-MM-DD"), "{e}");
    let mistyped = format!("{}X!{}", lib, version.id.document.number);
    let (s, e) = daemon
        .post(
            "/v1/restores",
            &serde_json::json!({"document": mistyped, "to": target}).to_string(),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["field"], "document", "{e}");
    let msg = e["error"].as_str().unwrap();
    assert!(
        msg.contains(&format!("{lib}X"))
            && msg
                .split_once("known libraries are: ")
                .is_some_and(|(_, known)| known.split(", ").any(|k| k == lib)),
        "{msg}"
    );
    // The export directory is not empty now: the job's error names the field `merge`.
    let body = serde_json::json!({"document": version.id.document.to_string(), "to": target});
    let done = daemon.run_job("/v1/restores", &body.to_string()).await;
    assert_eq!(done["state"], "failed", "{done}");
    let err = done["last_error"]
        .as_str()
        .unwrap_or_else(|| panic!("{done}"));
    assert!(
        err.contains("not empty") && err.contains("\"merge\": true") && !err.contains("--merge"),
        "{err}"
    );
}

/// `POST /v1/verifications` runs the verify engine as a daemon job: a sound repository
/// completes; after one flipped byte in a pack, a read-data verify fails and names the pack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_posted_over_http_passes_then_names_a_corrupt_pack() {
    let env = TestEnv::tiny(75).await;
    let port = free_port();
    let config = write_config(&env, port, NEVER, TOKEN);
    let daemon = Daemon::start(&env, &config, port).await;
    let done = daemon.run_job("/v1/backups", "{}").await;
    assert_eq!(done["state"], "completed", "{done}");

    let (s, bad) = daemon
        .post("/v1/verifications", r#"{"read_data_percent": 150}"#)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    let (s, bad) = daemon.post("/v1/verifications", r#"{"readdata": 1}"#).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    assert!(bad.to_string().contains("readdata"), "{bad}");

    let done = daemon
        .run_job("/v1/verifications", r#"{"read_data_percent": 100}"#)
        .await;
    assert_eq!(done["kind"], "verify", "{done}");
    assert_eq!(done["state"], "completed", "{done}");

    // Flip one byte in the middle of the largest pack.
    let mut packs = Vec::new();
    let mut stack = vec![env.dir.path().join("repo/packs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                packs.push((std::fs::metadata(&p).unwrap().len(), p));
            }
        }
    }
    let (len, pack) = packs.into_iter().max().expect("a pack");
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[len as usize / 2] ^= 0x01;
    std::fs::write(&pack, bytes).unwrap();
    let name = pack.file_name().unwrap().to_string_lossy().to_string();

    let done = daemon
        .run_job("/v1/verifications", r#"{"read_data_percent": 100}"#)
        .await;
    assert_eq!(done["state"], "failed", "{done}");
    assert!(
        done["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains(&name[..16]),
        "the failure names the corrupt pack {name}: {done}"
    );
}
