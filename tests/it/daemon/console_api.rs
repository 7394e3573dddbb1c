//! The `/v1` routes the web console uses (issue 20), against the real daemon: the dashboard
//! (last backup, what is protected, nights, repository totals, last verify), browsing a
//! snapshot down to a document and its versions, search by client/matter/name/author, the
//! skipped items of a snapshot, and errors that name the request field to fix.

use std::time::{Duration, Instant};

use imvault::catalog::Catalog;
use imvault_sim::MutateRequest;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::daemon::{Daemon, NEVER, TOKEN, free_port, write_config};
use crate::support::env::TestEnv;

/// Polls the dashboard until `done` holds.
async fn dashboard_until(daemon: &Daemon, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (s, d) = daemon.get("/v1/dashboard").await;
        assert_eq!(s, StatusCode::OK, "{d}");
        if done(&d) {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "dashboard never showed {what}: {d}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A folder of the snapshot holding at least one document: (its path of ids, the listing).
async fn folder_with_documents(daemon: &Daemon, snapshot: &str) -> (Vec<String>, Value) {
    let mut stack: Vec<Option<String>> = vec![None];
    while let Some(c) = stack.pop() {
        let path = match &c {
            None => format!("/v1/snapshots/{snapshot}/children"),
            Some(c) => format!("/v1/snapshots/{snapshot}/children?container={c}"),
        };
        let (s, l) = daemon.get(&path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {l}");
        if !l["documents"].as_array().unwrap().is_empty() {
            let ids = l["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_string())
                .collect();
            return (ids, l);
        }
        for child in l["containers"].as_array().unwrap() {
            if child["kind"] != "search_folder" {
                stack.push(Some(child["id"].as_str().unwrap().to_string()));
            }
        }
    }
    panic!("no folder with documents in snapshot {snapshot}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_browse_search_and_field_errors() {
    let env = TestEnv::tiny(91).await;
    let port = free_port();
    let config = write_config(&env, port, NEVER, TOKEN);
    let daemon = Daemon::start(&env, &config, port).await;
    let libraries = env.sim.libraries();
    let (_, libs) = daemon.get("/v1/libraries").await;
    let configured: Vec<String> = libs["libraries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!configured.is_empty());

    // Never backed up: every library is there, with no last backup and 30 empty nights.
    let (s, d) = daemon.get("/v1/dashboard").await;
    assert_eq!(s, StatusCode::OK, "{d}");
    let rows = d["libraries"].as_array().unwrap();
    assert_eq!(rows.len(), configured.len(), "{d}");
    for row in rows {
        assert!(row["last_backup"].is_null(), "{row}");
        assert!(row["protected"].is_null(), "{row}");
        let nights = row["nights"].as_array().unwrap();
        assert_eq!(nights.len(), 30);
        assert!(
            nights
                .iter()
                .all(|n| n["state"].is_null() && n["runs"] == 0)
        );
    }
    assert!(d["last_verify"].is_null(), "{d}");
    assert_eq!(d["timezone"], "UTC");
    let (s, bad) = daemon.get("/v1/dashboard?nights=0").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    assert_eq!(bad["field"], "nights");

    // Two backups with new versions in between.
    let done = daemon.run_job("/v1/backups", "{}").await;
    assert_eq!(done["state"], "completed", "{done}");
    let report = env.sim.mutate(&MutateRequest {
        new_versions: 4,
        ..Default::default()
    });
    let first_versions: Vec<(String, u64)> = {
        let cat = Catalog::open(env.dir.path().join("state/catalog.db")).unwrap();
        configured
            .iter()
            .map(|l| {
                let s = cat.latest_snapshot(&l.parse().unwrap()).unwrap().unwrap();
                (l.clone(), s.counts.versions)
            })
            .collect()
    };
    let done = daemon.run_job("/v1/backups", "{}").await;
    assert_eq!(done["state"], "completed", "{done}");
    let second_job = done["id"].as_str().unwrap().to_string();
    // Progress bars know how many versions to expect: the newest snapshot's.
    for (lib, n) in &first_versions {
        assert_eq!(done["progress"]["expected_versions"][lib], *n, "{done}");
    }
    let done = daemon
        .run_job("/v1/verifications", r#"{"read_data_percent": 100}"#)
        .await;
    assert_eq!(done["state"], "completed", "{done}");

    let cat = Catalog::open(env.dir.path().join("state/catalog.db")).unwrap();
    let all_snaps = cat.snapshots(None).unwrap();
    let d = dashboard_until(&daemon, "the repository's totals", |d| {
        d["repository"]["figures"]["snapshots"].as_u64() == Some(all_snaps.len() as u64)
    })
    .await;
    for row in d["libraries"].as_array().unwrap() {
        let lib = row["id"].as_str().unwrap();
        let newest = cat.latest_snapshot(&lib.parse().unwrap()).unwrap().unwrap();
        assert_eq!(row["activity"], "idle", "{row}");
        let last = &row["last_backup"];
        assert_eq!(last["state"], "completed", "{row}");
        assert_eq!(last["snapshot"], newest.row.id.to_hex(), "{row}");
        assert_eq!(
            last["job"],
            second_job.as_str(),
            "the job that wrote it: {row}"
        );
        assert!(last["seconds"].as_f64().unwrap() > 0.0, "{row}");
        let p = &row["protected"];
        assert_eq!(p["versions"], newest.counts.versions, "{row}");
        assert_eq!(p["snapshots"], 2, "{row}");
        assert_eq!(p["bytes"], newest.row.summary["counts"]["bytes"], "{row}");
        assert!(p["bytes"].as_u64().unwrap() > 0, "{row}");
        let nights = row["nights"].as_array().unwrap();
        let recent: u64 = nights[28..]
            .iter()
            .map(|n| n["runs"].as_u64().unwrap())
            .sum();
        assert_eq!(recent, 2, "both runs in the last two nights: {row}");
        let tonight = nights.last().unwrap();
        assert_eq!(
            tonight["date"],
            chrono::Utc::now().date_naive().to_string(),
            "{row}"
        );
        let read: u64 = nights
            .iter()
            .map(|n| n["bytes_read"].as_u64().unwrap())
            .sum();
        assert!(read > 0, "the first full backup read content: {row}");
    }
    let f = &d["repository"]["figures"];
    assert!(f["pack_bytes"].as_u64().unwrap() > 0, "{d}");
    assert!(f["dedup_ratio"].as_f64().unwrap() >= 1.0, "{d}");
    assert_eq!(d["last_verify"]["state"], "completed", "{d}");
    assert_eq!(d["last_verify"]["problems"], 0, "{d}");
    assert_eq!(d["last_verify"]["read_data_percent"], 100.0, "{d}");

    // Browse: top level → a folder with documents → a document's versions.
    let lib = &libraries[0];
    let newest = cat.latest_snapshot(&lib.parse().unwrap()).unwrap().unwrap();
    let sid = newest.row.id.to_hex();
    let (s, top) = daemon.get(&format!("/v1/snapshots/{sid}/children")).await;
    assert_eq!(s, StatusCode::OK, "{top}");
    assert_eq!(top["snapshot"]["library"], lib.as_str());
    assert!(top["container"].is_null() && top["path"] == json!([]));
    let workspaces = top["containers"].as_array().unwrap();
    assert_eq!(
        workspaces.len(),
        cat.children(&newest.row.id, None).unwrap().containers.len()
    );
    assert!(workspaces.iter().all(|w| w["kind"] == "workspace"));
    let (path, listing) = folder_with_documents(&daemon, &sid).await;
    let folder = path.last().unwrap().clone();
    let expected = cat
        .children(&newest.row.id, Some(&folder.parse().unwrap()))
        .unwrap();
    assert_eq!(
        listing["documents"].as_array().unwrap().len(),
        expected.documents.len()
    );
    assert_eq!(listing["container"]["id"], folder.as_str());
    assert_eq!(
        listing["path"][0]["kind"], "workspace",
        "the breadcrumb starts at the workspace: {listing}"
    );
    let doc = &listing["documents"][0];
    let doc_id = doc["id"].as_str().unwrap().to_string();
    let first_version = &doc["versions"][0];
    assert!(first_version["size"].as_u64().is_some(), "{doc}");
    assert!(first_version["file_name"].as_str().is_some(), "{doc}");

    let (s, h) = daemon
        .get(&format!("/v1/documents/{doc_id}/versions?snapshot={sid}"))
        .await;
    assert_eq!(s, StatusCode::OK, "{h}");
    // The short ids the command line prints name the snapshot too.
    let short = &sid[..12];
    let (s, h_short) = daemon
        .get(&format!("/v1/documents/{doc_id}/versions?snapshot={short}"))
        .await;
    assert_eq!((s, &h_short), (StatusCode::OK, &h));
    let (s, top_short) = daemon.get(&format!("/v1/snapshots/{short}/children")).await;
    assert_eq!(s, StatusCode::OK, "{top_short}");
    assert_eq!(top_short, top);
    let states = h["versions"].as_array().unwrap();
    assert_eq!(
        states.len(),
        cat.document_versions(&doc_id.parse().unwrap())
            .unwrap()
            .len()
    );
    assert!(states.iter().any(|v| v["in_snapshot"] == true), "{h}");
    assert!(
        h["filed_in"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_array().unwrap().last().unwrap()["id"] == folder.as_str()),
        "filed in the folder it was listed in: {h}"
    );

    // A new version made between the backups: held by the second snapshot only.
    let new_v: imvault::imanage::model::VersionId = report.new_versions[0].parse().unwrap();
    let (s, h) = daemon
        .get(&format!("/v1/documents/{}/versions", new_v.document))
        .await;
    assert_eq!(s, StatusCode::OK, "{h}");
    let state = h["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"]["id"] == new_v.to_string())
        .unwrap_or_else(|| panic!("{new_v} listed: {h}"));
    assert_eq!(state["snapshots"]["count"], 1, "{state}");
    assert!(state["in_snapshot"].is_null());

    // Search by the workspace's client and matter: every hit is in a workspace with them.
    let ws = workspaces
        .iter()
        .find(|w| w["client"].is_string() && w["matter"].is_string())
        .unwrap_or_else(|| panic!("a workspace with client and matter: {top}"));
    let (client, matter) = (
        ws["client"].as_str().unwrap(),
        ws["matter"].as_str().unwrap(),
    );
    let (s, r) = daemon
        .get(&format!(
            "/v1/search?client={}&matter={}&limit=1000",
            client.to_lowercase(),
            matter
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let hits = r["hits"].as_array().unwrap();
    assert!(!hits.is_empty(), "{r}");
    let found = cat
        .find(&imvault::catalog::FindQuery {
            client: Some(client.into()),
            matter: Some(matter.into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(hits.len(), found.len().min(1000));
    for hit in hits {
        assert_eq!(hit["workspace"]["client"], client, "{hit}");
        assert_eq!(hit["workspace"]["matter"], matter, "{hit}");
        assert!(hit["snapshot_count"].as_u64().unwrap() >= 1);
    }
    let (_, r) = daemon.get("/v1/search?client=NO-SUCH-CLIENT").await;
    assert_eq!(r["hits"], json!([]));
    // By name (a glob) and by author.
    let name = doc["versions"][0]["file_name"].as_str().unwrap();
    let (_, r) = daemon
        .get(&format!("/v1/search?name={}", urlencode(name)))
        .await;
    assert!(
        r["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["version"]["document"] == doc_id.as_str()),
        "{name}: {r}"
    );
    if let Some(author) = doc["versions"][0]["author"].as_str() {
        let (_, r) = daemon
            .get(&format!("/v1/search?author={}", urlencode(author)))
            .await;
        let hits = r["hits"].as_array().unwrap();
        assert!(!hits.is_empty());
        assert!(hits.iter().all(|h| {
            h["version"]["author"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case(author)
        }));
    }
    let (_, r) = daemon.get("/v1/search?limit=1").await;
    assert_eq!(r["hits"].as_array().unwrap().len(), 1);
    assert_eq!(r["more"], true);

    // Skipped items of a snapshot are the catalog's.
    let (s, sk) = daemon.get(&format!("/v1/snapshots/{sid}/skipped")).await;
    assert_eq!(s, StatusCode::OK, "{sk}");
    assert_eq!(
        sk["items"].as_array().unwrap().len(),
        cat.skipped(&newest.row.id).unwrap().len()
    );

    // Not found, and errors that name the field.
    let (s, e) = daemon.get("/v1/snapshots/ffffffff/children").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    let (s, e) = daemon
        .get(&format!(
            "/v1/snapshots/{sid}/children?container={lib}!999999999"
        ))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    assert_eq!(e["field"], "container");
    let (s, e) = daemon
        .get(&format!("/v1/snapshots/{sid}/children?container=nonsense"))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["field"], "container");
    let (s, e) = daemon
        .get(&format!("/v1/documents/{lib}!999999999/versions"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    for (body, field, needle) in [
        (
            json!({"document": doc_id, "version": 1, "to": "relative/dir"}),
            "to",
            "absolute",
        ),
        (
            json!({"document": doc_id, "version": 0, "to": "/srv/r"}),
            "version",
            "from 1",
        ),
        (
            json!({"document": doc_id, "into_folder": "OTHERLIB!5"}),
            "into_folder",
            "library being restored",
        ),
        (
            json!({"document": doc_id, "to": "/srv/r", "into": "original"}),
            "to",
            "exactly one destination",
        ),
        (
            json!({"document": "nonsense", "to": "/srv/r"}),
            "document",
            "document id",
        ),
        (
            json!({"document": doc_id, "to": "/srv/r", "colour": 1}),
            "colour",
            "colour",
        ),
        (
            json!({"document": doc_id, "to": "/srv/r", "dry_run": "yes"}),
            "dry_run",
            "boolean",
        ),
    ] {
        let (s, e) = daemon.post("/v1/restores", &body.to_string()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {e}");
        assert_eq!(e["field"], field, "{body}: {e}");
        assert!(
            e["error"].as_str().unwrap().contains(needle),
            "{body}: {e} should say {needle:?}"
        );
    }
    let (s, e) = daemon
        .post("/v1/backups", r#"{"libraries": ["NOPE"]}"#)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["field"], "libraries");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
