//! The web console end to end (issue 20): a real headless Chromium against `imvault serve` on
//! the simulator, one daemon and one browser for the whole walk (the steps build on each
//! other). Sign in (a wrong token first), see the dashboard with every library, start a backup
//! and watch it complete in the jobs list, browse to a document, restore an older version to a
//! directory, back into its original place and into another folder (each after a dry-run
//! preview; API refusals shown next to their field), search by client and matter, lose the
//! session to a rotated token and come back to the same place, filter the live jobs list and
//! cancel a running backup from its page, survive daemon restarts (with the same token: the
//! page carries on; with a new one: back to sign-in, then the same page), do it all again with the keyboard alone, and read every page at 390 px.
//!
//! Every page is checked for secrets (the tokens, the iManage client secret), unlabelled
//! controls and horizontal overflow, and its screenshot goes to `target/console-screenshots/`,
//! checked not to be blank.

use std::path::Path;
use std::time::Duration;

use imvault::catalog::Catalog;
use imvault::imanage::model::{ContainerId, ContainerKind, DocumentVersion, VersionId};
use imvault::imanage::{Listing, PageState};
use imvault_sim::MutateRequest;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::browser::{ARROW_DOWN, Browser, ENTER, browser, screenshot_dir};
use crate::support::daemon::{Daemon, NEVER, TOKEN, free_port, write_config};
use crate::support::env::TestEnv;
use crate::support::restore::all_containers;
use crate::support::wait::{wait_for, wait_until};

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

/// Every control and link on the page that has no accessible name (a label, aria-label,
/// aria-labelledby or, for buttons and links, their text).
const UNLABELLED_JS: &str = r#"
const named = (el) => {
  const byIds = (el.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean)
    .map((id) => (document.getElementById(id) || {}).textContent || '').join(' ');
  const byLabels = el.labels ? [...el.labels].map((l) => l.textContent).join(' ') : '';
  const own = el.matches('button, a, summary') ? el.textContent : '';
  return (el.getAttribute('aria-label') || byIds || byLabels || own || el.getAttribute('title') || '').trim() !== '';
};
return [...document.querySelectorAll('input, select, textarea, button, a[href], summary, progress, [role=button], [tabindex]:not([tabindex="-1"])')]
  .filter((el) => el.type !== 'hidden' && !named(el))
  .map((el) => el.outerHTML.slice(0, 160));
"#;

/// The page's width against the window's, and the elements reaching past the window's edge.
const OVERFLOW_JS: &str = r#"
const w = document.scrollingElement.scrollWidth, iw = window.innerWidth;
const wide = w <= iw ? [] : [...document.querySelectorAll('body *')]
  .filter((e) => e.getBoundingClientRect().right > iw + 0.5)
  .slice(0, 12)
  .map((e) => `${e.tagName.toLowerCase()}.${e.className} right=${Math.round(e.getBoundingClientRect().right)}`);
return [w, iw, wide];
"#;

async fn no_secret_on_the_page(b: &Browser, secrets: &[String]) {
    let html = b
        .js(
            "return document.documentElement.outerHTML + location.href + document.title",
            vec![],
        )
        .await;
    let html = html.as_str().unwrap();
    for s in secrets {
        assert!(
            !html.contains(s.as_str()),
            "a secret on the page {}",
            b.hash().await
        );
    }
}

/// What every page must do: show no secret (markup, address, title), name every control, be
/// no wider than the window (tables scroll inside their own box); then its screenshot.
async fn page(b: &Browser, secrets: &[String], name: &str) -> std::path::PathBuf {
    no_secret_on_the_page(b, secrets).await;
    let unlabelled = b.js(UNLABELLED_JS, vec![]).await;
    assert_eq!(
        unlabelled,
        json!([]),
        "controls without a label on {}",
        b.hash().await
    );
    let fit = b.js(OVERFLOW_JS, vec![]).await;
    assert!(
        fit[0].as_u64().unwrap() <= fit[1].as_u64().unwrap(),
        "{} is {} px wide in a {} px window; too wide: {}",
        b.hash().await,
        fit[0],
        fit[1],
        fit[2]
    );
    b.screenshot(&screenshot_dir(), name).await
}

/// Opens a place of the console by its address (as a bookmark would).
async fn open(b: &Browser, hash: &str) {
    b.js("location.hash = arguments[0]", vec![json!(hash)])
        .await;
}

/// The job ids the jobs list shows, in order.
async fn listed_jobs(b: &Browser) -> Vec<String> {
    let v = b
        .js(
            "return [...document.querySelectorAll('table.jobs tbody tr[data-job]')].map((r) => r.dataset.job)",
            vec![],
        )
        .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// Sets a filter of the jobs list and waits until the list shows exactly what the API answers
/// for the filters now in the page's address.
async fn filter_jobs(b: &Browser, daemon: &Daemon, name: &str, value: &str) -> Vec<String> {
    b.el(&format!("form.filters select[name={name}]"))
        .await
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("choosing {name}={value}: {e}"));
    wait_until(
        &format!("the jobs list filtered by {name}={value:?}"),
        Duration::from_secs(30),
        async || {
            let hash = b.hash().await;
            let query = hash.split_once('?').map(|(_, q)| q).unwrap_or("");
            let want_in_url = if value.is_empty() {
                !query.contains(&format!("{name}="))
            } else {
                query.contains(&format!("{name}={}", q(value)))
            };
            let filters: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .filter(|(k, _)| ["kind", "state", "library"].contains(&k.as_str()))
                .collect();
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&filters)
                .append_pair("limit", "25")
                .finish();
            let (_, api) = daemon.get(&format!("/v1/jobs?{query}")).await;
            let want: Vec<String> = api["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["id"].as_str().unwrap().to_string())
                .collect();
            let shown = listed_jobs(b).await;
            if want_in_url && shown == want {
                Ok(shown)
            } else {
                Err(format!("{hash}: shows {shown:?}, the API {want:?}"))
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_real_browser() {
    let Some(b) = browser(1280, 900).await else {
        return;
    };
    // Only this run's screenshots in the artifacts.
    for e in std::fs::read_dir(screenshot_dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "png") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let env = TestEnv::tiny(93).await;
    let port = free_port();
    let config = write_config(&env, port, NEVER, TOKEN);
    let mut daemon = Daemon::start(&env, &config, port).await;
    // Every token this test gives the daemon, and the iManage credentials: never on a page.
    let rotated = "rotated-token-0123456789abcdef";
    let restarted = "restarted-token-0123456789abcdef";
    let secrets: Vec<String> = [
        TOKEN,
        rotated,
        restarted,
        imvault_sim::credentials::CLIENT_SECRET,
        imvault_sim::credentials::AUTH_KEY,
    ]
    .map(String::from)
    .to_vec();

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
    let other_lib = configured
        .iter()
        .find(|l| **l != lib)
        .expect("a second library")
        .clone();

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
    page(&b, &secrets, "01-signin-refused").await;
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
    // The page checks can fail: an unlabelled field and a too wide box are reported.
    b.js(
        "const i = document.createElement('input'); i.id = 'probe'; document.querySelector('main').append(i);
         const d = document.createElement('div'); d.id = 'probe-wide'; d.style.width = '5000px'; d.textContent = 'wide'; document.querySelector('main').append(d);",
        vec![],
    )
    .await;
    let caught = b.js(UNLABELLED_JS, vec![]).await;
    assert!(caught.to_string().contains("probe"), "{caught}");
    let caught = b.js(OVERFLOW_JS, vec![]).await;
    assert!(caught[0].as_u64() > caught[1].as_u64(), "{caught}");
    b.js(
        "document.getElementById('probe').remove(); document.getElementById('probe-wide').remove();",
        vec![],
    )
    .await;
    page(&b, &secrets, "02-dashboard").await;

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
    let backup_job = job_id.as_str().unwrap().to_string();
    let (_, job) = daemon.get(&format!("/v1/jobs/{backup_job}")).await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_eq!(job["params"]["libraries"], json!([lib]), "{job}");
    page(&b, &secrets, "03-jobs").await;
    // The job's page shows its counters.
    b.click("tr.highlight th a").await;
    b.text("Counters").await;
    b.text("Outcome by library").await;
    page(&b, &secrets, "04-job").await;

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
        page(&b, &secrets, "05-browse-libraries").await;
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
    let folder_place = b.hash().await;
    page(&b, &secrets, "05-browse").await;
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
    let doc_place = b.hash().await;
    page(&b, &secrets, "06-document").await;

    // Restore version 1 (the older one) to a directory.
    b.click("a[aria-label^='Restore version 1 of']").await;
    b.el("form.restore-form").await;
    let restore_place = b.hash().await;
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
    page(&b, &secrets, "07-restore-refused").await;
    let target = env.dir.path().join("restored-by-browser");
    b.type_into("[data-field=to] input", target.to_str().unwrap())
        .await;
    b.click("button[value=preview]").await;
    b.text("Would write 1 version").await;
    assert!(
        !target.exists() || files(&target).is_empty(),
        "a dry run writes nothing"
    );
    page(&b, &secrets, "08-restore-preview").await;
    b.click(".restore-form .actions button:not([value])").await;
    b.text("Restored 1 version").await;
    page(&b, &secrets, "09-restore-done").await;
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

    // Version 1 back into its original place: a new version of the same document, with the
    // old bytes; the versions it had stay as they were.
    let client = env.client().await;
    let before = client.document_versions(&doc).await.unwrap();
    open(&b, &doc_place).await;
    b.click("a[aria-label^='Restore version 1 of']").await;
    b.click("form.restore-form input[name=into][value=original]")
        .await;
    assert!(
        b.js(
            "return document.querySelector('[data-field=to]').closest('[hidden]') !== null",
            vec![]
        )
        .await
            == json!(true),
        "the directory field hides when restoring into iManage"
    );
    b.click("button[value=preview]").await;
    b.text("Would write 1 version").await;
    assert_eq!(
        client.document_versions(&doc).await.unwrap().len(),
        before.len(),
        "a dry run into iManage writes nothing"
    );
    b.click(".restore-form .actions button:not([value])").await;
    b.text("Restored 1 version").await;
    page(&b, &secrets, "09b-restore-original-done").await;
    let after = client.document_versions(&doc).await.unwrap();
    assert_eq!(after.len(), before.len() + 1, "one new version");
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "old versions untouched"
    );
    assert!(
        env.sim.version_bytes(&after.last().unwrap().id).unwrap() == want,
        "the new version has version 1's bytes"
    );

    // Into another folder: a folder of another library is refused by the API, next to the
    // folder field; a folder of the same library gets a new document with version 1's bytes.
    let into = all_containers(&cat, &snap)
        .into_iter()
        .find(|c| c.kind == ContainerKind::Folder && !plan.filings.contains(&c.id))
        .expect("a folder the document is not filed in")
        .id;
    open(&b, &doc_place).await;
    b.click("a[aria-label^='Restore version 1 of']").await;
    b.click("form.restore-form input[name=into][value=folder]")
        .await;
    b.type_into("[data-field=into_folder] input", &format!("{other_lib}!1"))
        .await;
    b.click("button[value=preview]").await;
    let msg = b
        .until(
            "the API's refusal next to the folder field",
            "const e = document.querySelector('[data-field=into_folder] .field-error'); return e && !e.hidden ? e.innerText : null;",
            vec![],
        )
        .await;
    assert!(
        msg.as_str().unwrap().contains("must be in the library"),
        "{msg}"
    );
    page(&b, &secrets, "09c-restore-folder-refused").await;
    b.type_into("[data-field=into_folder] input", &into.to_string())
        .await;
    b.click("button[value=preview]").await;
    b.text("Would write 1 version").await;
    b.click(".restore-form .actions button:not([value])").await;
    b.text("Restored 1 version").await;
    page(&b, &secrets, "09d-restore-folder-done").await;
    let restore_job = b
        .js(
            "return document.querySelector('section[aria-labelledby=run-h] a[href^=\"#/jobs/\"]').getAttribute('href').slice(7)",
            vec![],
        )
        .await;
    let (_, job) = daemon
        .get(&format!("/v1/jobs/{}", restore_job.as_str().unwrap()))
        .await;
    assert_eq!(job["params"]["into_folder"], into.to_string(), "{job}");
    let new: VersionId = job["progress"]["result"]["items"][0]["restored_as"]
        .as_str()
        .unwrap_or_else(|| panic!("{job}"))
        .parse()
        .unwrap();
    assert_ne!(new.document, doc, "a new document");
    assert!(env.sim.version_bytes(&new).unwrap() == want);
    let listing = Listing::FolderChildren(into.clone());
    let mut state = PageState::default();
    let mut filed = false;
    while !state.is_done() {
        for row in client.next_page(&listing, &mut state).await.unwrap() {
            filed |= row["wstype"] == "document"
                && DocumentVersion::from_json(row).is_ok_and(|d| d.document_id() == &new.document);
        }
    }
    assert!(filed, "{new} is filed in {into}");

    // Search by the client and matter of the document's workspace.
    let ws = cat.container_in(&snap.row.id, &path[0]).unwrap().unwrap();
    let (client_no, matter) = (ws.client().unwrap(), ws.matter().unwrap());
    b.click("a[data-nav=search]").await;
    b.type_into("[data-field=client] input", client_no).await;
    b.type_into("[data-field=matter] input", &format!("{matter}\u{e007}"))
        .await;
    b.text("found").await;
    b.el(&format!("a[href^='#/documents/{doc}?']")).await;
    let search_place = b.hash().await;
    assert!(
        search_place.contains("client=") && search_place.contains("matter="),
        "{search_place}"
    );
    page(&b, &secrets, "10-search").await;

    // The token changes under the page (rotated, daemon reloaded): the next call sends the
    // operator to sign in, and signing in again comes back to the same search.
    std::fs::write(env.dir.path().join("api_token"), rotated).unwrap();
    daemon.signal("HUP");
    wait_until(
        "the new token to apply",
        Duration::from_secs(30),
        async || match daemon
            .call(reqwest::Method::GET, "/v1/jobs", Some(rotated), None)
            .await
            .0
        {
            StatusCode::OK => Ok(()),
            s => Err(s.to_string()),
        },
    )
    .await;
    daemon.token = rotated.to_string();
    b.click(".search-form button[type=submit]").await;
    b.text("Your session ended").await;
    assert!(b.hash().await.starts_with("#/signin"), "{}", b.hash().await);
    page(&b, &secrets, "11-session-ended").await;
    b.type_into("[data-field=token] input", &format!("{rotated}\u{e007}"))
        .await;
    b.until(
        "the search the operator was on",
        "return location.hash === arguments[0]",
        vec![json!(search_place)],
    )
    .await;
    b.el(&format!("a[href^='#/documents/{doc}?']")).await;
    no_secret_on_the_page(&b, &secrets).await;

    // Jobs: a backup held at its downloads (a simulator hook) is running for as long as the
    // test needs. The list's filters show what the API answers for them; the job is cancelled
    // from its page.
    env.sim.mutate(&MutateRequest {
        new_versions: 3,
        ..Default::default()
    });
    env.sim.hold_downloads();
    b.click("a[data-nav=dashboard]").await;
    b.click(&format!("button[data-key='backup-{lib}']")).await;
    b.el("tr.highlight").await;
    let running = b
        .js(
            "return document.querySelector('tr.highlight').dataset.job",
            vec![],
        )
        .await
        .as_str()
        .unwrap()
        .to_string();
    wait_for("a download held", Duration::from_secs(60), || {
        env.sim.held_downloads() > 0
    })
    .await;
    b.el("tr.highlight[data-state=running] progress").await;
    let shown = filter_jobs(&b, &daemon, "state", "running").await;
    assert_eq!(shown, vec![running.clone()], "the one running job");
    let shown = filter_jobs(&b, &daemon, "kind", "restore").await;
    assert!(shown.is_empty(), "no running restore: {shown:?}");
    b.text("No job matches these filters").await;
    filter_jobs(&b, &daemon, "state", "").await;
    let restores = filter_jobs(&b, &daemon, "state", "completed").await;
    assert!(restores.len() >= 6, "the browser's restores: {restores:?}");
    filter_jobs(&b, &daemon, "kind", "backup").await;
    filter_jobs(&b, &daemon, "state", "").await;
    let of_lib = filter_jobs(&b, &daemon, "library", &lib).await;
    assert!(
        of_lib.contains(&running) && of_lib.contains(&backup_job),
        "{of_lib:?}"
    );
    let of_other = filter_jobs(&b, &daemon, "library", &other_lib).await;
    assert!(
        !of_other.contains(&running) && !of_other.contains(&backup_job),
        "{of_other:?}"
    );
    filter_jobs(&b, &daemon, "library", &lib).await;
    page(&b, &secrets, "12-jobs-filtered").await;
    b.click(&format!("tr[data-job='{running}'] th a")).await;
    b.click("button[data-key=cancel]").await;
    b.text("Cancelling").await;
    page(&b, &secrets, "13-job-cancelling").await;
    env.sim.release_downloads();
    b.el("h1 .badge.s-cancelled").await;
    let (_, job) = daemon.get(&format!("/v1/jobs/{running}")).await;
    assert_eq!(job["state"], "cancelled", "{job}");
    page(&b, &secrets, "14-job-cancelled").await;
    b.click("a[data-nav=jobs]").await;
    filter_jobs(&b, &daemon, "kind", "backup").await;
    let cancelled = filter_jobs(&b, &daemon, "state", "cancelled").await;
    assert_eq!(cancelled, vec![running.clone()]);
    let jobs_place = b.hash().await;

    // The daemon restarts with the same token: the page says it is not answering while it is
    // down, then carries on where it was, still signed in.
    daemon.signal("TERM");
    daemon.wait_exit(Duration::from_secs(60)).await;
    b.text("The daemon is not answering").await;
    page(&b, &secrets, "15-daemon-down").await;
    daemon = Daemon::start(&env, &config, port).await;
    daemon.token = rotated.to_string();
    b.until(
        "the banner gone once the daemon answers again",
        "return document.getElementById('banner').hidden",
        vec![],
    )
    .await;
    assert_eq!(b.hash().await, jobs_place);
    b.el(&format!("tr[data-job='{running}']")).await;

    // It restarts with a new token: the page sends the operator to sign in; signing in
    // (keyboard only) comes back to the same filtered list.
    daemon.signal("TERM");
    daemon.wait_exit(Duration::from_secs(60)).await;
    b.text("The daemon is not answering").await;
    std::fs::write(env.dir.path().join("api_token"), restarted).unwrap();
    daemon = Daemon::start(&env, &config, port).await;
    daemon.token = restarted.to_string();
    b.text("Your session ended").await;
    assert!(b.hash().await.starts_with("#/signin"), "{}", b.hash().await);
    // Keyboard only from here to the dry run: the sign-in page puts the focus in the field.
    assert_eq!(
        b.js(
            "return document.activeElement.matches('[data-field=token] input')",
            vec![]
        )
        .await,
        json!(true)
    );
    b.keys(&format!("{restarted}{ENTER}")).await;
    b.until(
        "the filtered jobs list the operator was on",
        "return location.hash === arguments[0] && document.querySelector(arguments[1]) !== null",
        vec![
            json!(jobs_place),
            json!(format!("tr[data-job='{running}']")),
        ],
    )
    .await;
    assert!(
        b.js("return document.getElementById('banner').hidden", vec![])
            .await
            == json!(true)
    );

    // Keyboard only: dashboard, browse to the document, a dry run of version 1 into its place.
    b.tab_back_to("a[data-nav=dashboard]", 40).await;
    b.keys(ENTER).await;
    b.el("table.libraries tbody tr").await;
    b.tab_back_to("a[data-nav=browse]", 40).await;
    b.keys(ENTER).await;
    if shows == "list" {
        b.el(&pick).await;
        b.tab_to(&pick, 40).await;
        b.keys(ENTER).await;
    }
    b.el(".calendar").await;
    for c in &path {
        let link = format!(".listing a[href$='container={}']", q(&c.to_string()));
        b.el(&link).await;
        b.tab_to(&link, 200).await;
        b.keys(ENTER).await;
        b.until(
            "the listing of the folder entered",
            "return location.hash.endsWith(arguments[0]) && document.querySelector('.breadcrumb') !== null",
            vec![json!(format!("container={}", q(&c.to_string())))],
        )
        .await;
    }
    let link = format!("a[href^='#/documents/{doc}?']");
    b.el(&link).await;
    b.tab_to(&link, 200).await;
    b.keys(ENTER).await;
    b.el("a[aria-label^='Restore version 1 of']").await;
    b.tab_to("a[aria-label^='Restore version 1 of']", 100).await;
    b.keys(ENTER).await;
    b.el("form.restore-form").await;
    b.tab_to("input[name=into][value=to]", 40).await;
    b.keys(ARROW_DOWN).await;
    assert_eq!(
        b.js(
            "return document.querySelector('input[name=into]:checked').value",
            vec![]
        )
        .await,
        "original",
        "the arrow key picks the next destination"
    );
    let versions_now = client.document_versions(&doc).await.unwrap().len();
    b.tab_to("button[value=preview]", 40).await;
    b.keys(ENTER).await;
    b.text("Would write").await;
    assert_eq!(
        client.document_versions(&doc).await.unwrap().len(),
        versions_now,
        "a dry run writes nothing"
    );
    let (_, newest) = daemon.get("/v1/jobs?kind=restore&limit=1").await;
    let params = &newest["jobs"][0]["params"];
    assert_eq!(params["dry_run"], true, "{newest}");
    assert_eq!(params["into"], "original", "{newest}");
    assert_eq!(params["document"], doc.to_string(), "{newest}");
    page(&b, &secrets, "16-keyboard-dry-run").await;

    // Readable at 390 px: every page, nothing wider than the screen.
    b.client.set_window_size(390, 844).await.unwrap();
    let width = b.js("return window.innerWidth", vec![]).await;
    assert!(width.as_u64().unwrap() <= 400, "{width}");
    open(&b, "#/dashboard").await;
    b.el("table.libraries tbody tr").await;
    b.el("svg.nights").await;
    page(&b, &secrets, "20-dashboard-390px").await;
    open(&b, &jobs_place).await;
    b.el(&format!("tr[data-job='{running}']")).await;
    page(&b, &secrets, "21-jobs-390px").await;
    open(&b, &format!("#/jobs/{backup_job}")).await;
    b.text("Outcome by library").await;
    page(&b, &secrets, "22-job-390px").await;
    if shows == "list" {
        open(&b, "#/browse").await;
        b.el(&pick).await;
        page(&b, &secrets, "23-browse-libraries-390px").await;
    }
    open(&b, &folder_place).await;
    b.el(&format!("a[href^='#/documents/{doc}?']")).await;
    b.el(".calendar button.day[aria-pressed=true]").await;
    page(&b, &secrets, "23-browse-390px").await;
    open(&b, &doc_place).await;
    b.el("section[aria-labelledby=versions-h] tbody tr").await;
    page(&b, &secrets, "24-document-390px").await;
    open(&b, &restore_place).await;
    b.el("form.restore-form").await;
    let target = env.dir.path().join("restored-at-390px");
    b.type_into("[data-field=to] input", target.to_str().unwrap())
        .await;
    b.click("button[value=preview]").await;
    b.text("Would write 1 version").await;
    page(&b, &secrets, "25-restore-390px").await;
    open(&b, &search_place).await;
    b.el(&format!("a[href^='#/documents/{doc}?']")).await;
    page(&b, &secrets, "26-search-390px").await;
    b.click("#signout").await;
    b.el("form.signin").await;
    b.text("You are signed out").await;
    page(&b, &secrets, "27-signin-390px").await;

    // Nothing the Content-Security-Policy blocks was ever tried.
    let violations = b.js("return window.imvaultCspViolations", vec![]).await;
    assert_eq!(violations, json!([]), "CSP violations");
    b.client.clone().close().await.unwrap();
}
