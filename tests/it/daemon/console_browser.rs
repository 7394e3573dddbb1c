//! The web console end to end (issue 20): a real headless Chromium against `imvault serve` on
//! the simulator. Sign in (a wrong token first), see the dashboard with every library, start a
//! backup and watch it complete in the jobs list, browse to a document, restore an older
//! version to a directory (after an API refusal shown next to the field, and a dry-run
//! preview) and check its bytes, search by client and matter, lose the session to a rotated
//! token and come back to the same place, and read the dashboard at 390 px. A screenshot of
//! each page goes to `target/console-screenshots/`, checked not to be blank.

use std::path::Path;
use std::time::{Duration, Instant};

use imvault::catalog::Catalog;
use imvault::imanage::model::{ContainerId, VersionId};
use imvault_sim::MutateRequest;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::browser::{Browser, browser, screenshot_dir};
use crate::support::daemon::{Daemon, NEVER, TOKEN, free_port, write_config};
use crate::support::env::TestEnv;

/// URLSearchParams' encoding of an id (`ACTIVE!12` → `ACTIVE%2112`).
fn q(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p, bytes));
            }
        }
    }
    out
}

async fn no_secret_on_the_page(b: &Browser, secrets: &[&str]) {
    let html = b
        .js(
            "return document.documentElement.outerHTML + location.href",
            vec![],
        )
        .await;
    let html = html.as_str().unwrap();
    for s in secrets {
        assert!(!html.contains(s), "a secret on the page {}", b.hash().await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_real_browser() {
    let Some(b) = browser(1280, 900).await else {
        return;
    };
    let shots = screenshot_dir();
    let env = TestEnv::tiny(93).await;
    let port = free_port();
    let config = write_config(&env, port, NEVER, TOKEN);
    let daemon = Daemon::start(&env, &config, port).await;
    let secrets = [
        TOKEN,
        imvault_sim::credentials::CLIENT_SECRET,
        imvault_sim::credentials::AUTH_KEY,
    ];

    // A first backup, then new versions: the next backup (started from the browser) makes
    // version 1 of a changed document an older version.
    let done = daemon.run_job("/v1/backups", "{}").await;
    assert_eq!(done["state"], "completed", "{done}");
    let report = env.sim.mutate(&MutateRequest {
        new_versions: 3,
        ..Default::default()
    });
    let changed: VersionId = report.new_versions[0].parse().unwrap();
    let doc = changed.document.clone();
    let lib = doc.library.to_string();
    let (_, libs) = daemon.get("/v1/libraries").await;
    let mut configured: Vec<String> = libs["libraries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    configured.sort();

    // The console is served with a strict policy.
    let r = reqwest::get(format!("{}/", daemon.base)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );

    // Sign in: a wrong token is refused next to the field; the right one, typed and sent
    // with the Enter key, opens the dashboard.
    b.client.goto(&format!("{}/", daemon.base)).await.unwrap();
    b.el("form.signin").await;
    assert!(b.hash().await.starts_with("#/signin"), "{}", b.hash().await);
    b.type_into(
        "[data-field=token] input",
        "wrong-token-0123456789abcdef\u{e007}",
    )
    .await;
    b.text("The daemon refused this token").await;
    assert_eq!(
        b.js(
            "return document.querySelector('[data-field=token] input').getAttribute('aria-invalid')",
            vec![]
        )
        .await,
        "true"
    );
    b.screenshot(&shots, "01-signin-refused").await;
    b.type_into("[data-field=token] input", &format!("{TOKEN}\u{e007}"))
        .await;
    b.el("table.libraries").await;
    assert_eq!(b.hash().await, "#/dashboard");

    // The dashboard lists every library, each backed up once.
    let rows = b
        .until(
            "a row per library, each with a completed backup",
            "const rows = [...document.querySelectorAll('table.libraries tbody tr')];
             if (!rows.length || !rows.every(r => r.querySelector('.s-completed'))) return null;
             return rows.map(r => r.querySelector('th').innerText.trim());",
            vec![],
        )
        .await;
    let mut shown: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    shown.sort();
    assert_eq!(shown, configured);
    b.el("svg.nights").await;
    b.text("Dedup").await;
    no_secret_on_the_page(&b, &secrets).await;
    b.screenshot(&shots, "02-dashboard").await;

    // Start a backup of the changed library and watch it complete in the jobs list.
    b.click(&format!("button[data-key='backup-{lib}']")).await;
    b.el("tr.highlight").await;
    assert!(b.hash().await.starts_with("#/jobs"), "{}", b.hash().await);
    b.el("tr.highlight[data-state=completed]").await;
    let job_id = b
        .js(
            "return document.querySelector('tr.highlight').dataset.job",
            vec![],
        )
        .await;
    let (_, job) = daemon
        .get(&format!("/v1/jobs/{}", job_id.as_str().unwrap()))
        .await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_eq!(job["params"]["libraries"], json!([lib]), "{job}");
    b.screenshot(&shots, "03-jobs").await;
    // The job's page shows its counters.
    b.click("tr.highlight th a").await;
    b.text("Counters").await;
    b.text("Outcome by library").await;
    b.screenshot(&shots, "04-job").await;

    // Browse to the changed document: workspace → folders → document.
    let cat = Catalog::open(env.dir.path().join("state/catalog.db")).unwrap();
    let snap = cat.latest_snapshot(&doc.library).unwrap().unwrap();
    let plan = cat.document_plan(&snap.row.id, &doc).unwrap().unwrap();
    let mut path: Vec<ContainerId> = Vec::new();
    let mut at = Some(plan.filings[0].clone());
    while let Some(c) = at {
        let row = cat.container_in(&snap.row.id, &c).unwrap().unwrap();
        at = row.parent_id.clone();
        path.insert(0, c);
    }
    b.click("a[data-nav=browse]").await;
    // Several libraries: pick this one (one alone opens at once).
    let pick = format!("a[href='#/browse?library={}']", q(&lib));
    let shows = b
        .until(
            "the libraries or the calendar",
            "return document.querySelector('.calendar') ? 'calendar' : (document.querySelector(arguments[0]) ? 'list' : null)",
            vec![json!(pick)],
        )
        .await;
    if shows == "list" {
        b.click(&pick).await;
    }
    b.el(".calendar button.day[aria-pressed=true]").await;
    for c in &path {
        b.click(&format!("a[href$='container={}']", q(&c.to_string())))
            .await;
        b.until(
            "the listing of the folder clicked",
            "return location.hash.endsWith(arguments[0]) && document.querySelector('.breadcrumb') !== null",
            vec![json!(format!("container={}", q(&c.to_string())))],
        )
        .await;
    }
    b.el(&format!("a[href^='#/documents/{doc}?']")).await;
    b.screenshot(&shots, "05-browse").await;
    b.click(&format!("a[href^='#/documents/{doc}?']")).await;
    b.el("section[aria-labelledby=versions-h] tbody tr").await;
    let versions = b
        .until(
            "the document's versions",
            "const r = [...document.querySelectorAll('tbody tr th')].map(t => t.innerText); return r.length ? r : null;",
            vec![],
        )
        .await;
    assert!(
        versions.as_array().unwrap().len() >= 2,
        "an older and a newer version: {versions}"
    );
    b.screenshot(&shots, "06-document").await;

    // Restore version 1 (the older one) to a directory.
    b.click("a[aria-label^='Restore version 1 of']").await;
    b.el("form.restore-form").await;
    // A path the API refuses: its message shows next to the directory field.
    b.type_into("[data-field=to] input", "relative/dir").await;
    b.click("button[value=preview]").await;
    let msg = b
        .until(
            "the API's refusal next to the directory field",
            "const e = document.querySelector('[data-field=to] .field-error'); return e && !e.hidden ? e.innerText : null;",
            vec![],
        )
        .await;
    assert!(msg.as_str().unwrap().contains("absolute"), "{msg}");
    b.screenshot(&shots, "07-restore-refused").await;
    let target = env.dir.path().join("restored-by-browser");
    b.type_into("[data-field=to] input", target.to_str().unwrap())
        .await;
    b.click("button[value=preview]").await;
    b.text("Would write 1 version").await;
    assert!(
        !target.exists() || files(&target).is_empty(),
        "a dry run writes nothing"
    );
    b.screenshot(&shots, "08-restore-preview").await;
    b.click(".restore-form .actions button:not([value])").await;
    b.text("Restored 1 version").await;
    b.screenshot(&shots, "09-restore-done").await;
    let want = env.sim.version_bytes(doc.version(1)).unwrap();
    let written = files(&target);
    assert!(
        written.iter().any(|(_, bytes)| *bytes == want),
        "no restored file has the bytes of {}: {:?}",
        doc.version(1),
        written
            .iter()
            .map(|(p, b)| (p, b.len()))
            .collect::<Vec<_>>()
    );
    let newest = env.sim.version_bytes(&changed).unwrap();
    assert!(
        !written.iter().any(|(_, bytes)| *bytes == newest) || newest == want,
        "only the older version was restored"
    );

    // Search by the client and matter of the document's workspace.
    let ws = cat.container_in(&snap.row.id, &path[0]).unwrap().unwrap();
    let (client, matter) = (ws.client().unwrap(), ws.matter().unwrap());
    b.click("a[data-nav=search]").await;
    b.type_into("[data-field=client] input", client).await;
    b.type_into("[data-field=matter] input", &format!("{matter}\u{e007}"))
        .await;
    b.text("found").await;
    b.el(&format!("a[href^='#/documents/{doc}?']")).await;
    let place = b.hash().await;
    assert!(
        place.contains("client=") && place.contains("matter="),
        "{place}"
    );
    no_secret_on_the_page(&b, &secrets).await;
    b.screenshot(&shots, "10-search").await;

    // The token changes under the page (rotated, daemon reloaded): the next call sends the
    // operator to sign in, and signing in again comes back to the same search.
    let rotated = "rotated-token-0123456789abcdef";
    std::fs::write(env.dir.path().join("api_token"), rotated).unwrap();
    daemon.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(30);
    while daemon
        .call(reqwest::Method::GET, "/v1/jobs", Some(rotated), None)
        .await
        .0
        != StatusCode::OK
    {
        assert!(Instant::now() < deadline, "the new token never applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.click(".search-form button[type=submit]").await;
    b.text("Your session ended").await;
    assert!(b.hash().await.starts_with("#/signin"), "{}", b.hash().await);
    b.screenshot(&shots, "11-session-ended").await;
    b.type_into("[data-field=token] input", &format!("{rotated}\u{e007}"))
        .await;
    b.until(
        "the search the operator was on",
        "return location.hash === arguments[0]",
        vec![json!(place)],
    )
    .await;
    b.el(&format!("a[href^='#/documents/{doc}?']")).await;
    no_secret_on_the_page(&b, &[rotated, TOKEN]).await;

    // Readable at 390 px: nothing wider than the screen (tables scroll inside their box).
    b.client.set_window_size(390, 844).await.unwrap();
    b.click("a[data-nav=dashboard]").await;
    b.el("table.libraries tbody tr").await;
    let fits = b
        .until(
            "a page no wider than the screen",
            "return document.documentElement.scrollWidth <= window.innerWidth + 1 ? [document.documentElement.scrollWidth, window.innerWidth] : null",
            vec![],
        )
        .await;
    assert!(fits[1].as_u64().unwrap() <= 400, "{fits}");
    b.screenshot(&shots, "12-dashboard-390px").await;

    // Nothing the Content-Security-Policy blocks was ever tried.
    let violations = b.js("return window.imvaultCspViolations", vec![]).await;
    assert_eq!(violations, json!([]), "CSP violations");
    b.client.clone().close().await.unwrap();
}
