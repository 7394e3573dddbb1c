//! Finding what to restore (issue 6): `imvault ls`, `find` and `versions` against a catalog
//! filled by two backups with a mutation in between.

use imvault::imanage::model::{ContainerKind, VersionId};
use imvault_sim::MutateRequest;

use crate::support::restore::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ls_find_and_versions_show_the_backed_up_history() {
    let env = backed_up(81).await;
    let first = latest(&catalog(&env));
    let between = chrono::Utc::now();
    let report = env.sim.mutate(&MutateRequest {
        new_versions: 6,
        deletes: 2,
        ..Default::default()
    });
    backup(&env).await;
    let cat = catalog(&env);
    let second = latest(&cat);
    assert_ne!(first.row.id, second.row.id);

    // versions: the new version is there, held by the second snapshot only; version 1 by both.
    let new_v: VersionId = report.new_versions[0].parse().unwrap();
    let doc = new_v.document.clone();
    let out = cli(&env, &["versions", &doc.to_string(), "--json"]);
    assert_exit(&out, 0);
    let v = json_of(&out);
    let rows = v["versions"].as_array().unwrap();
    let row_of = |id: &VersionId| {
        rows.iter()
            .find(|r| r["version"]["id"] == id.to_string())
            .unwrap_or_else(|| panic!("{id} listed: {v}"))
    };
    let newest = row_of(&new_v);
    assert_eq!(newest["snapshots"]["first"]["id"], second.row.id.to_hex());
    assert_eq!(newest["snapshots"]["last"]["id"], second.row.id.to_hex());
    let earliest = rows
        .iter()
        .map(|r| {
            r["version"]["id"]
                .as_str()
                .unwrap()
                .parse::<VersionId>()
                .unwrap()
        })
        .min()
        .unwrap();
    let older = row_of(&earliest);
    assert_eq!(older["snapshots"]["first"]["id"], first.row.id.to_hex());
    assert_eq!(older["snapshots"]["last"]["id"], second.row.id.to_hex());
    let text = cli(&env, &["versions", &doc.to_string()]);
    assert!(String::from_utf8_lossy(&text.stdout).contains(&new_v.to_string()));

    // ls: the top level as of before the mutation lists the workspaces; a folder lists its
    // documents with versions; the deleted document is gone from the newest snapshot only.
    let out = cli(
        &env,
        &[
            "ls",
            "--library",
            LIB,
            "--at",
            &between.to_rfc3339(),
            "--json",
        ],
    );
    assert_exit(&out, 0);
    let v = json_of(&out);
    assert_eq!(v["snapshot"]["id"], first.row.id.to_hex());
    let top = v["listing"]["containers"].as_array().unwrap();
    let expected = cat.children(&first.row.id, None).unwrap().containers.len();
    assert_eq!(top.len(), expected);
    assert!(top.iter().all(|c| c["kind"] == "workspace"));

    let gone: imvault::imanage::model::DocumentId = report.deletes[0].parse().unwrap();
    let plan = cat.document_plan(&first.row.id, &gone).unwrap().unwrap();
    let folder = plan.filings[0].to_string();
    let listed = |snapshot: &str| -> bool {
        let out = cli(&env, &["ls", "--snapshot", snapshot, &folder, "--json"]);
        assert_exit(&out, 0);
        json_of(&out)["listing"]["documents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == gone.to_string())
    };
    assert!(listed(&first.row.id.to_hex()[..12]));
    assert!(!listed(&second.row.id.to_hex()));
    let text = cli(
        &env,
        &["ls", "--snapshot", &first.row.id.to_hex()[..12], &folder],
    );
    assert!(String::from_utf8_lossy(&text.stdout).contains(&gone.to_string()));
    // A path of names resolves like the id.
    let ws = all_containers(&cat, &first)
        .into_iter()
        .find(|c| c.kind == ContainerKind::Workspace)
        .unwrap();
    let out = cli(&env, &["ls", "--library", LIB, &ws.name, "--json"]);
    assert_exit(&out, 0);
    assert!(
        json_of(&out)["place"]
            .as_str()
            .unwrap()
            .contains(&ws.id.to_string())
    );

    // find: by name glob across snapshots, and by the workspace's client code.
    let name = plan.versions[0].name.clone();
    let glob = format!(
        "{}*",
        &name[..name.char_indices().nth(4).map_or(name.len(), |(i, _)| i)]
    );
    let out = cli(&env, &["find", "--library", LIB, "--name", &glob, "--json"]);
    assert_exit(&out, 0);
    let hits = json_of(&out);
    let hit = hits
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["version"]["id"] == plan.versions[0].id.to_string())
        .expect("the deleted document is found in the older snapshot");
    assert_eq!(hit["snapshots"][0]["last"]["id"], first.row.id.to_hex());
    let client_code = ws.client().unwrap().to_string();
    let out = cli(&env, &["find", "--client", &client_code, "--json"]);
    let hits = json_of(&out);
    assert!(!hits.as_array().unwrap().is_empty());
    for h in hits.as_array().unwrap() {
        let w: imvault::imanage::model::ContainerId = h["version"]["profile"]["workspace_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let row = cat
            .container_in(&first.row.id, &w)
            .unwrap()
            .or_else(|| cat.container_in(&second.row.id, &w).unwrap())
            .unwrap();
        assert_eq!(row.client(), Some(client_code.as_str()));
    }
}

/// A catalog marked for a rebuild (an interrupted rebuild, or a format this release changed:
/// schema v1 -> v2 empties it) is refused by `ls`, `find` and `versions` with the way out; the
/// next backup, or `catalog sync`, fills it again from the whole repository.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsing_an_incomplete_catalog_says_to_sync_it() {
    let env = backed_up(83).await;
    let mark = || {
        let conn =
            rusqlite::Connection::open(env.dir.path().join("state/catalog.db")).expect("open");
        conn.execute_batch(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('rebuild_incomplete', '1'); \
             DELETE FROM skipped; DELETE FROM filings; DELETE FROM document_acls; \
             DELETE FROM versions; DELETE FROM containers; DELETE FROM snapshots;",
        )
        .expect("mark");
    };
    let refused = || {
        for args in [
            &["ls"][..],
            &["find", "--name", "*"][..],
            &["versions", "ACTIVE!1"][..],
        ] {
            let out = cli(&env, args);
            assert_ne!(out.status.code(), Some(0), "{args:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("is incomplete") && err.contains("imvault catalog sync"),
                "{args:?}: {err}"
            );
        }
    };
    let first = catalog(&env).snapshots(None).expect("snapshots").len();
    assert!(first > 0);
    mark();
    refused();
    // The next backup rebuilds it: the first backup's snapshots are back, with its own.
    backup(&env).await;
    assert_eq!(
        catalog(&env).snapshots(None).expect("snapshots").len(),
        2 * first
    );
    let after_backup = cli(&env, &["ls", "--json"]);
    assert_exit(&after_backup, 0);
    mark();
    refused();
    let out = cli(&env, &["catalog", "sync"]);
    assert_exit(&out, 0);
    let after = cli(&env, &["ls", "--json"]);
    assert_exit(&after, 0);
    assert_eq!(json_of(&after), json_of(&after_backup));
    assert!(!catalog(&env).needs_rebuild().expect("flag"));
}
