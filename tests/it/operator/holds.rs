//! Legal holds (issue 16): a held document keeps every version through `forget` + `prune` and
//! restores byte for byte while an unheld one's go; releasing the hold lets the next prune free
//! them; a client/matter hold covers documents added to the matter after it was placed; bad
//! input gets a clear error. These tests run the real `imvault` binary for the hold, forget and
//! prune commands, and restore through the library's one restore path.

use std::collections::{BTreeSet, HashMap};
use std::process::Output;

use imvault::catalog::{FindQuery, PlannedDocument, VersionRow};
use imvault::imanage::api_write::Upload;
use imvault::imanage::model::{ContainerKind, DocumentId, VersionId};
use imvault::jobs::JobState;
use imvault::repo::{BlobId, ContentRef};
use imvault::restore::RestoreRequest;
use serde_json::Value;

use crate::support::env::TestEnv;
use crate::support::restore::{
    all_containers, assert_exit, backed_up, backup, catalog, cli, json_of, latest, library,
    run_restore,
};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn blobs_of(v: &VersionRow) -> Vec<BlobId> {
    let c: ContentRef = serde_json::from_value(v.content.clone()).expect("a content reference");
    c.blobs
}

/// Two prunes with no grace period: the first marks (and repacks), the second deletes.
fn prune_twice(env: &TestEnv) -> Value {
    let first = json_of(&cli(env, &["prune", "--grace", "0", "--json"]));
    let out = cli(env, &["prune", "--grace", "0", "--json"]);
    assert_exit(&out, 0);
    let _ = json_of(&out);
    first
}

/// Restores every version of `doc` as of `at` into a new directory; checks each file against
/// the bytes the simulator had; returns the versions restored.
async fn restore_checked(
    env: &TestEnv,
    doc: &DocumentId,
    at: chrono::DateTime<chrono::Utc>,
    want: &[(VersionId, Vec<u8>)],
    dir: &str,
) -> BTreeSet<String> {
    let report = run_restore(
        env,
        &RestoreRequest {
            document: Some(doc.clone()),
            at: Some(at),
            to: Some(env.dir.path().join(dir)),
            ..Default::default()
        },
        None,
    )
    .await
    .expect("the held document restores");
    assert_eq!(report.state, JobState::Completed, "{report:#?}");
    for i in &report.items {
        let (_, bytes) = want
            .iter()
            .find(|(v, _)| v.to_string() == i.version)
            .unwrap_or_else(|| panic!("{} was not a version of {doc}", i.version));
        assert!(
            std::fs::read(&i.restored_as).unwrap() == *bytes,
            "{} differs",
            i.version
        );
    }
    report.items.iter().map(|i| i.version.clone()).collect()
}

fn versions_with_bytes(env: &TestEnv, d: &PlannedDocument) -> Vec<(VersionId, Vec<u8>)> {
    d.versions
        .iter()
        .map(|v| (v.id.clone(), env.sim.version_bytes(&v.id).expect("bytes")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_document_keeps_every_version_through_forget_and_prune_until_released() {
    let env = backed_up(171).await;
    let cat = catalog(&env);
    let first = latest(&cat);
    // Two documents of ACTIVE whose content no other document shares (the simulator has copies),
    // so what is freed is theirs alone.
    let hits = cat
        .find(&FindQuery {
            limit: Some(1_000_000),
            ..Default::default()
        })
        .unwrap();
    let mut owners: HashMap<BlobId, BTreeSet<String>> = HashMap::new();
    for h in &hits {
        for b in blobs_of(&h.version) {
            owners
                .entry(b)
                .or_default()
                .insert(h.version.id.document.to_string());
        }
    }
    let mut own: Vec<PlannedDocument> = Vec::new();
    let mut seen = BTreeSet::new();
    for h in hits
        .iter()
        .filter(|h| h.version.id.document.library == library())
    {
        let doc = &h.version.id.document;
        if !seen.insert(doc.clone()) {
            continue;
        }
        let Some(p) = cat.document_plan(&first.row.id, doc).unwrap() else {
            continue;
        };
        let alone = p
            .versions
            .iter()
            .flat_map(blobs_of)
            .all(|b| owners[&b].len() == 1);
        if alone && !p.versions.is_empty() {
            own.push(p);
        }
        if own.len() == 2 {
            break;
        }
    }
    assert_eq!(own.len(), 2, "two documents with content of their own");
    let (held, unheld) = (own[0].clone(), own[1].clone());
    let held_bytes = versions_with_bytes(&env, &held);

    let out = cli(
        &env,
        &[
            "hold",
            "add",
            "--document",
            &held.id.to_string(),
            "--reason",
            "Smith v Jones, litigation anticipated",
            "--json",
        ],
    );
    assert_exit(&out, 0);
    let hold_id = json_of(&out)["id"].as_str().unwrap().to_string();
    let listed = json_of(&cli(&env, &["hold", "list", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], hold_id.as_str());
    assert!(listed[0]["released"].is_null(), "{listed}");

    // Both documents are deleted in iManage; the next backup no longer holds them.
    let client = env.client().await;
    client.delete_document(&held.id).await.unwrap();
    client.delete_document(&unheld.id).await.unwrap();
    backup(&env).await;
    let cat = catalog(&env);
    let second = latest(&cat);
    for d in [&held.id, &unheld.id] {
        assert!(
            cat.document_plan(&second.row.id, d).unwrap().is_none(),
            "{d} deleted yet backed up again"
        );
    }

    let referenced = |r: &Value| r["blobs_referenced"].as_u64().unwrap();
    let before = referenced(&json_of(&cli(&env, &["prune", "--dry-run", "--json"])));
    let unique = |d: &PlannedDocument| {
        d.versions
            .iter()
            .flat_map(blobs_of)
            .collect::<BTreeSet<_>>()
            .len() as u64
    };

    // A dry run says what it would keep and writes nothing.
    let snapshots = || {
        json_of(&cli(&env, &["snapshots", "--json"]))
            .as_array()
            .unwrap()
            .len()
    };
    let count = snapshots();
    let dry = json_of(&cli(
        &env,
        &["forget", "--keep-last", "1", "--dry-run", "--json"],
    ));
    assert_eq!(dry["held"].as_array().unwrap().len(), 1, "{dry}");
    assert!(dry["held"][0]["held_snapshot"].is_null(), "{dry}");
    assert_eq!(dry["held"][0]["versions"], held.versions.len() as u64);
    assert_eq!(snapshots(), count);

    let out = cli(&env, &["forget", "--keep-last", "1", "--json"]);
    assert_exit(&out, 0);
    let forget = json_of(&out);
    assert!(forget["forgotten"].as_u64().unwrap() >= 1, "{forget}");
    let kept = forget["held"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{forget}");
    assert_eq!(kept[0]["from"], first.row.id.to_hex());
    assert_eq!(kept[0]["versions"], held.versions.len() as u64, "{forget}");
    assert_eq!(
        kept[0]["versions_by_hold"][&hold_id],
        held.versions.len() as u64
    );
    let held_snapshot = kept[0]["held_snapshot"].as_str().unwrap().to_string();
    // The text form says what was kept for which hold.
    let text =
        String::from_utf8_lossy(&cli(&env, &["forget", "--keep-last", "1"]).stdout).into_owned();
    assert!(
        text.contains("held snapshots (kept for legal holds) left alone"),
        "{text}"
    );

    let prune = prune_twice(&env);
    let states = prune["held_snapshots"].as_array().unwrap();
    assert_eq!(states.len(), 1, "{prune}");
    assert_eq!(states[0]["snapshot"], held_snapshot.as_str());
    assert_eq!(states[0]["active_holds"][0], hold_id.as_str());

    // The unheld document is gone (no version, no content); the held one restores as it
    // was when the forgotten snapshot was taken, byte for byte.
    let after = referenced(&prune);
    assert!(
        before - after >= unique(&unheld),
        "the unheld document's content is still referenced: {before} -> {after}"
    );
    let repo = env.repo().await;
    for v in &held.versions {
        for b in blobs_of(v) {
            assert!(repo.index().contains(&b), "{} lost a blob", v.id);
        }
    }
    let restored = restore_checked(&env, &held.id, first.row.time, &held_bytes, "held").await;
    assert_eq!(restored.len(), held.versions.len());
    let e = run_restore(
        &env,
        &RestoreRequest {
            document: Some(unheld.id.clone()),
            at: Some(first.row.time),
            to: Some(env.dir.path().join("unheld")),
            ..Default::default()
        },
        None,
    )
    .await;
    assert!(
        e.as_ref().is_err() || e.as_ref().unwrap().items.is_empty(),
        "{e:?}"
    );
    // `versions` (the catalog) still shows the held document's versions.
    let hist = json_of(&cli(&env, &["versions", &held.id.to_string(), "--json"]));
    assert_eq!(
        hist["versions"].as_array().unwrap().len(),
        held.versions.len(),
        "{hist}"
    );

    // Released: the next prune removes the held snapshot and frees the content.
    let out = cli(
        &env,
        &["hold", "release", &hold_id[..12], "--reason", "settled"],
    );
    assert_exit(&out, 0);
    let out = cli(&env, &["hold", "release", &hold_id, "--reason", "again"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("already released"),
        "{}",
        stderr(&out)
    );
    // A dry run counts the released held snapshot as gone, as the real run will make it.
    let dry = json_of(&cli(&env, &["prune", "--dry-run", "--json"]));
    assert!(
        dry["held_snapshots"][0]["active_holds"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let prune = prune_twice(&env);
    assert_eq!(referenced(&dry), referenced(&prune), "{dry}");
    let states = prune["held_snapshots"].as_array().unwrap();
    assert_eq!(states.len(), 1, "{prune}");
    assert!(states[0]["active_holds"].as_array().unwrap().is_empty());
    let snaps = json_of(&cli(&env, &["snapshots", "--json"]));
    assert!(
        !snaps.to_string().contains(&held_snapshot),
        "the held snapshot is still there: {snaps}"
    );
    let released = referenced(&prune);
    assert!(
        after - released >= unique(&held),
        "the released document's content is still referenced: {after} -> {released}"
    );
    let listed = json_of(&cli(&env, &["hold", "list", "--json"]));
    assert_eq!(listed[0]["released"]["reason"], "settled", "{listed}");

    // Placing and releasing each left exactly one audit entry, by the operating-system user;
    // the refused second release none.
    let user = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    for (action, says) in [
        ("hold_add", held.id.to_string()),
        ("hold_release", hold_id.clone()),
    ] {
        let all = json_of(&cli(&env, &["audit", "--json", "--action", action]));
        let all = all.as_array().unwrap();
        assert_eq!(all.len(), 1, "{action}: {all:#?}");
        assert_eq!(all[0]["actor"]["name"], user.as_str(), "{}", all[0]);
        assert_eq!(all[0]["outcome"], "ok", "{}", all[0]);
        assert!(all[0].to_string().contains(&says), "{}", all[0]);
    }
    // The placed hold's id, known once it is placed: in the finished record and the listing.
    let added = json_of(&cli(&env, &["audit", "--json", "--action", "hold_add"]));
    assert_eq!(added[0]["figures"]["hold"], hold_id.as_str(), "{added}");
    assert_eq!(added[0]["parameters"]["hold"], hold_id.as_str(), "{added}");
    let text = cli(&env, &["audit", "--action", "hold_add"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains(&format!("\"hold\":\"{hold_id}\"")),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_matter_hold_covers_a_document_added_to_the_matter_after_it_was_placed() {
    let env = backed_up(172).await;
    let cat = catalog(&env);
    let snap = latest(&cat);
    let containers = all_containers(&cat, &snap);
    let ws = containers
        .iter()
        .find(|c| {
            c.kind == ContainerKind::Workspace && c.client().is_some() && c.matter().is_some()
        })
        .expect("a workspace with client and matter codes")
        .clone();
    let folder = containers
        .iter()
        .find(|c| c.kind == ContainerKind::Folder && c.workspace_id.as_ref() == Some(&ws.id))
        .expect("a folder of that workspace")
        .clone();
    let (client_code, matter) = (
        ws.client().unwrap().to_string(),
        ws.matter().unwrap().to_string(),
    );
    let out = cli(
        &env,
        &[
            "hold",
            "add",
            "--client",
            &client_code,
            "--matter",
            &matter,
            "--reason",
            "regulator's request",
            "--json",
        ],
    );
    assert_exit(&out, 0);
    let hold_id = json_of(&out)["id"].as_str().unwrap().to_string();

    // After the hold: a new document is filed in the matter and backed up, then deleted.
    let content = bytes::Bytes::from_static(b"a memo written after the hold was placed\n");
    let client = env.client().await;
    let v1 = client
        .create_document(
            &folder.id,
            &serde_json::json!({"doc_profile": {"name": "Later memo", "extension": "txt",
                "author": "JSMITH", "default_security": "public"}}),
            &Upload::from_bytes("memo.txt", content.clone()),
        )
        .await
        .expect("create document");
    backup(&env).await;
    let with_doc = latest(&catalog(&env));
    client.delete_document(&v1.id.document).await.unwrap();
    backup(&env).await;

    let out = cli(&env, &["forget", "--keep-last", "1", "--json"]);
    assert_exit(&out, 0);
    let forget = json_of(&out);
    let kept: Vec<&Value> = forget["held"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["from"] == with_doc.row.id.to_hex())
        .collect();
    assert_eq!(kept.len(), 1, "{forget}");
    assert!(kept[0]["versions_by_hold"][&hold_id].as_u64().unwrap() >= 1);
    prune_twice(&env);
    let restored = restore_checked(
        &env,
        &v1.id.document,
        with_doc.row.time,
        &[(v1.id.clone(), content.to_vec())],
        "later",
    )
    .await;
    assert_eq!(restored, BTreeSet::from([v1.id.to_string()]));
    // The whole workspace as of then (the held snapshot holds the matter), and `find`.
    let report = run_restore(
        &env,
        &RestoreRequest {
            workspace: Some(ws.id.clone()),
            at: Some(with_doc.row.time),
            to: Some(env.dir.path().join("workspace")),
            ..Default::default()
        },
        None,
    )
    .await
    .expect("the held workspace restores");
    assert_eq!(report.state, JobState::Completed, "{report:#?}");
    let item = report
        .items
        .iter()
        .find(|i| i.version == v1.id.to_string())
        .expect("the later memo is in the workspace as of then");
    assert!(std::fs::read(&item.restored_as).unwrap() == content.to_vec());
    let found = cli(&env, &["find", "--name", "Later memo*", "--json"]);
    assert_exit(&found, 0);
    assert!(
        String::from_utf8_lossy(&found.stdout).contains(&v1.id.to_string()),
        "{}",
        String::from_utf8_lossy(&found.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_hold_input_gets_a_clear_error_and_places_nothing() {
    let env = backed_up(173).await;
    let fails = |args: &[&str], says: &str| {
        let out = cli(&env, args);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(says), "{args:?}: {err}");
    };
    fails(&["hold", "add", "--reason", "x"], "--client");
    fails(
        &[
            "hold",
            "add",
            "--client",
            "1001",
            "--library",
            "NOPE",
            "--reason",
            "x",
        ],
        "NOPE",
    );
    fails(
        &["hold", "add", "--document", "NOPE!1", "--reason", "x"],
        "NOPE",
    );
    fails(
        &[
            "hold",
            "add",
            "--document",
            "ACTIVE!999999999",
            "--reason",
            "x",
        ],
        "in no snapshot",
    );
    fails(
        &[
            "hold",
            "add",
            "--workspace",
            "ACTIVE!999999999",
            "--reason",
            "x",
        ],
        "in no snapshot",
    );
    fails(
        &["hold", "add", "--document", "ACTIVE!1", "--reason", " "],
        "reason",
    );
    fails(
        &["hold", "release", "0123456789ab", "--reason", "x"],
        "no legal hold",
    );
    let listed = json_of(&cli(&env, &["hold", "list", "--json"]));
    assert_eq!(listed, serde_json::json!([]));
    // Refused before anything was done: nothing in the audit trail either.
    let trail = json_of(&cli(&env, &["audit", "--json"]));
    assert_eq!(trail, serde_json::json!([]), "{trail}");
}
