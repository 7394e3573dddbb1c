//! Writes (§6, §7) and the mutate hook.

use super::*;

#[tokio::test]
async fn mutate_changes_what_listings_return() {
    let env = start(opts(Scale::Tiny)).await;
    let before = env.crawl("ACTIVE", "documents/crawl", 100, json!({})).await;
    let report = env.sim.mutate(&MutateRequest {
        new_versions: 2,
        profile_edits: 2,
        acl_edits: 2,
        deletes: 1,
        new_documents: 2,
        library: None,
    });
    assert_eq!(report.new_versions.len(), 2);
    assert_eq!(report.new_documents.len(), 2);
    let after = env.crawl("ACTIVE", "documents/crawl", 100, json!({})).await;
    let ids = |rows: &[Value]| -> BTreeSet<String> {
        rows.iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (b, a) = (ids(&before), ids(&after));
    for v in report.new_versions.iter().chain(&report.new_documents) {
        assert!(a.contains(v) && !b.contains(v), "{v}");
    }
    let deleted = &report.deletes[0];
    assert!(!a.iter().any(|id| id.starts_with(&format!("{deleted}."))));
    // Only changed rows since a recent time.
    let changed = env
        .crawl(
            "ACTIVE",
            "documents/crawl",
            100,
            json!({"edit_date_from": "2026-01-02T00:00:00Z"}),
        )
        .await;
    let changed = ids(&changed);
    for v in report
        .new_versions
        .iter()
        .chain(&report.new_documents)
        .chain(&report.profile_edits)
    {
        assert!(changed.contains(v), "{v} missing from the changed rows");
    }
    assert!(changed.len() <= 6 + 2, "{changed:?}");
    // The same over HTTP, in another library.
    let r = env
        .http
        .post(format!("{}/sim/mutate", env.base))
        .json(&json!({"new_versions": 1, "library": "ARCHIVE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rep: Value = r.json().await.unwrap();
    let v = rep["new_versions"][0].as_str().unwrap();
    assert!(v.starts_with("ARCHIVE!"), "{v}");
    let p = env
        .get_json(&env.lib("ARCHIVE", &format!("/documents/{v}")))
        .await;
    assert_eq!(p["data"]["id"], v);
    let r = env
        .http
        .post(format!("{}/sim/mutate", env.base))
        .json(&json!({"new_versions": 1, "library": "NOPE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Downloads of mutated versions match the content function.
    let vid: VersionId = report.new_versions[0].parse().unwrap();
    let r = env
        .get(&env.lib("ACTIVE", &format!("/documents/{vid}/download")))
        .await;
    assert_eq!(
        &r.bytes().await.unwrap()[..],
        &content::version_bytes(1, &vid)[..]
    );
}

#[tokio::test]
async fn writes_then_reads_back() {
    let env = start(opts(Scale::Tiny)).await;
    let lib = |p: &str| env.lib("ACTIVE", p);
    // New workspace, a tab in it, a folder in the tab.
    let r = env
        .post_json(
            &lib("/workspaces"),
            &json!({"name": "Restored – Müller", "description": "restore target", "default_security": "private",
                    "owner": "JSMITH", "profile": {"custom1": "C99999", "custom2": "M99999.001"}}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let ws: Value = r.json().await.unwrap();
    let ws_id = ws["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(ws["data"]["wstype"], "workspace");
    assert_eq!(ws["data"]["profile"]["custom1"], "C99999");
    let r = env
        .post_json(
            &lib(&format!("/workspaces/{ws_id}/folders")),
            &json!({"name": "Documents", "folder_type": "tab"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let tab: Value = r.json().await.unwrap();
    let tab_id = tab["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(tab["data"]["folder_type"], "tab");
    let r = env
        .post_json(
            &lib(&format!("/folders/{tab_id}/subfolders")),
            &json!({"name": "Drafts", "default_security": "inherit"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let folder: Value = r.json().await.unwrap();
    let folder_id = folder["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(folder["data"]["parent_id"], tab_id.as_str());
    assert_eq!(folder["data"]["workspace_id"], ws_id.as_str());
    // The new workspace is listed, and so are its children.
    let all = env.all_pages(&lib("/workspaces"), 500, true).await;
    assert!(all.iter().any(|w| w["id"] == ws_id.as_str()));
    let kids = env
        .all_pages(&lib(&format!("/workspaces/{ws_id}/children")), 10, false)
        .await;
    assert_eq!(kids.len(), 1);
    // A new document with content, profile and trustees.
    let content1: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let profile = json!({"doc_profile": {"name": "Vertrag – Entwurf", "extension": "docx", "author": "FMUELLER",
            "comment": "Restored from ACTIVE!1.1 as of 2026-11-01T00:00:00Z", "default_security": "private",
            "custom3": "DE", "unknown_field": {"kept": true}},
        "user_trustees": [{"id": "FMUELLER", "access_level": "full_access"}],
        "group_trustees": [{"id": "LITIGATION", "access_level": "read"}]});
    let r = env
        .http
        .post(lib(&format!("/folders/{folder_id}/documents")))
        .header("X-Auth-Token", &env.token)
        .multipart(upload_form(profile, content1.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let doc: Value = r.json().await.unwrap();
    let d = &doc["data"];
    assert_eq!(d["version"], 1);
    assert_eq!(d["size"], 300_000);
    assert_eq!(d["name"], "Vertrag – Entwurf");
    assert_eq!(d["unknown_field"]["kept"], true);
    assert_eq!(d["custom1"], "C99999", "the new workspace's client code");
    assert_eq!(d["custom2"], "M99999.001");
    let doc_no = d["document_number"].as_u64().unwrap();
    let doc_id = format!("ACTIVE!{doc_no}");
    let dl = env
        .get(&lib(&format!("/documents/{doc_id}.1/download")))
        .await;
    assert_eq!(dl.bytes().await.unwrap().to_vec(), content1);
    let sec = env
        .get_json(&lib(&format!("/documents/{doc_id}/security")))
        .await;
    assert_eq!(sec["default_security"], "private");
    assert_eq!(sec["data"].as_array().unwrap().len(), 2);
    let children = env
        .all_pages(&lib(&format!("/folders/{folder_id}/children")), 10, false)
        .await;
    assert_eq!(children.len(), 1);
    assert_eq!(children[0]["id"], format!("{doc_id}.1").as_str());
    // A new version of it: next number, content kept separately.
    let content2 = b"second version".to_vec();
    let r = env
        .http
        .post(lib(&format!("/documents/{doc_id}/versions")))
        .header("X-Auth-Token", &env.token)
        .multipart(upload_form(
            json!({"doc_profile": {"comment": "v2"}}),
            content2.clone(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v2: Value = r.json().await.unwrap();
    assert_eq!(v2["data"]["version"], 2);
    assert_eq!(v2["data"]["name"], "Vertrag – Entwurf");
    let vid: VersionId = format!("{doc_id}.2").parse().unwrap();
    assert_eq!(env.sim.version_bytes(&vid).unwrap(), content2);
    let versions = env
        .get_json(&lib(&format!("/documents/{doc_id}/versions")))
        .await;
    assert_eq!(versions["data"].as_array().unwrap().len(), 2);
    // A new version of a base document gets the next number after its latest.
    let rows = env.crawl("ACTIVE", "documents/crawl", 200, json!({})).await;
    let base_doc = rows[0]["document_number"].as_u64().unwrap();
    let latest = rows
        .iter()
        .filter(|r| r["document_number"] == base_doc)
        .map(|r| r["version"].as_u64().unwrap())
        .max()
        .unwrap();
    let r = env
        .http
        .post(lib(&format!("/documents/ACTIVE!{base_doc}/versions")))
        .header("X-Auth-Token", &env.token)
        .multipart(upload_form(
            json!({"doc_profile": {}}),
            b"restored".to_vec(),
        ))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"]["version"], latest + 1);
    // PATCH a profile.
    let r = env
        .http
        .patch(lib(&format!("/documents/{doc_id}.1")))
        .header("X-Auth-Token", &env.token)
        .json(&json!({"comment": "edited", "custom4": "Privileged", "default_security": "view"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let p = env.get_json(&lib(&format!("/documents/{doc_id}.1"))).await;
    assert_eq!(p["data"]["comment"], "edited");
    assert_eq!(p["data"]["custom4"], "Privileged");
    assert_eq!(p["data"]["default_security"], "view");
    let sec = env
        .get_json(&lib(&format!("/documents/{doc_id}/security")))
        .await;
    assert_eq!(
        sec["default_security"], "view",
        "PATCH of default_security is the ACL's"
    );
    assert_eq!(
        sec["data"].as_array().unwrap().len(),
        2,
        "trustees untouched"
    );
    let r = env
        .http
        .patch(lib(&format!("/documents/{doc_id}.1")))
        .header("X-Auth-Token", &env.token)
        .json(&json!({"name": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "NRC_INVALID_PROFILE");
    assert_eq!(b["error"]["messages"][0]["field"], "name");
    // Security write on a folder.
    let r = env
        .post_json(
            &lib(&format!("/folders/{folder_id}/security")),
            &json!({"default_security": "view", "include": [{"id": "JSMITH", "type": "user", "access_level": "read_write"}],
                    "remove": [{"id": "SVC_BACKUP", "type": "user"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let sec = env
        .get_json(&lib(&format!("/folders/{folder_id}/security")))
        .await;
    assert_eq!(sec["default_security"], "view");
    assert_eq!(
        sec["data"],
        json!([{"id": "JSMITH", "type": "user", "name": "Jane Smith", "access_level": "read_write", "access": 2}])
    );
    // Delete to the trash bin, list it, restore it.
    let r = env
        .http
        .delete(lib(&format!("/documents/{doc_id}")))
        .header("X-Auth-Token", &env.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        env.get(&lib(&format!("/documents/{doc_id}.1")))
            .await
            .status(),
        404
    );
    let trash = env.get_json(&lib("/trash-bin/documents")).await;
    assert_eq!(trash["data"][0]["document_number"], doc_no);
    let r = env
        .post_json(
            &lib(&format!("/trash-bin/documents/{doc_id}/restore")),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        env.get(&lib(&format!("/documents/{doc_id}.1")))
            .await
            .status(),
        200
    );
    // Back out of the trash bin: a second restore finds nothing there; a version id is not
    // a document id.
    let again = env
        .post_json(
            &lib(&format!("/trash-bin/documents/{doc_id}/restore")),
            &json!({}),
        )
        .await;
    assert_eq!(again.status(), 404);
    let r = env
        .http
        .delete(lib(&format!("/documents/{doc_id}")))
        .header("X-Auth-Token", &env.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let by_version = env
        .post_json(
            &lib(&format!("/trash-bin/documents/{doc_id}.1/restore")),
            &json!({}),
        )
        .await;
    assert_eq!(by_version.status(), 400);
    // Purged from the trash bin (by an administrator): gone for good, from every read.
    assert!(env.sim.purge_from_trash(&doc_id));
    assert!(!env.sim.purge_from_trash(&doc_id), "purged twice");
    let trash = env.get_json(&lib("/trash-bin/documents")).await;
    assert!(
        trash["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["document_number"] != doc_no),
        "{trash}"
    );
    for path in [
        format!("/documents/{doc_id}/versions"),
        format!("/documents/{doc_id}.1"),
        format!("/documents/{doc_id}/security"),
    ] {
        assert_eq!(env.get(&lib(&path)).await.status(), 404, "{path}");
    }
    let gone = env
        .post_json(
            &lib(&format!("/trash-bin/documents/{doc_id}/restore")),
            &json!({}),
        )
        .await;
    assert_eq!(gone.status(), 404);
    // Uploads without a name are refused with the profile error.
    let r = env
        .http
        .post(lib(&format!("/folders/{folder_id}/documents")))
        .header("X-Auth-Token", &env.token)
        .multipart(upload_form(
            json!({"doc_profile": {"extension": "txt"}}),
            b"x".to_vec(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn crawl_since_a_time_returns_only_what_changed_since() {
    let env = start(opts(Scale::Small)).await;
    let since = json!({"edit_date_from": "2026-01-01T00:00:00Z"});
    for what in ["workspaces/crawl", "folders/crawl", "documents/crawl"] {
        assert!(
            env.crawl("ACTIVE", what, 100, since.clone())
                .await
                .is_empty(),
            "{what}"
        );
    }
    let ws: Value = env
        .post_json(
            &env.lib("ACTIVE", "/workspaces"),
            &json!({"name": "New matter"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let ws_id = ws["data"]["id"].as_str().unwrap();
    let f: Value = env
        .post_json(
            &env.lib("ACTIVE", &format!("/workspaces/{ws_id}/folders")),
            &json!({"name": "Correspondence"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let report = env.sim.mutate(&MutateRequest {
        acl_edits: 4,
        ..Default::default()
    });
    let wss = env
        .crawl("ACTIVE", "workspaces/crawl", 100, since.clone())
        .await;
    assert_eq!(wss.len(), 1);
    assert_eq!(wss[0]["id"], ws_id);
    let folders = env
        .crawl("ACTIVE", "folders/crawl", 100, since.clone())
        .await;
    assert_eq!(folders.len(), 1);
    assert_eq!(folders[0]["id"], f["data"]["id"]);
    // ACL edits move no date, but show in the bulk security searches.
    assert!(
        env.crawl("ACTIVE", "documents/crawl", 100, since)
            .await
            .is_empty()
    );
    let doc_rows = env
        .crawl(
            "ACTIVE",
            "documents/security/allowed-trustees/search",
            1000,
            json!({}),
        )
        .await;
    let cont_rows = env
        .crawl(
            "ACTIVE",
            "containers/security/allowed-trustees/search",
            1000,
            json!({}),
        )
        .await;
    for id in &report.acl_edits {
        let n = |rows: &[Value], key: &str| rows.iter().filter(|r| r[key] == id.as_str()).count();
        let number: u64 = id.split('!').nth(1).unwrap().parse().unwrap();
        let is_container = env.sim.sim().corpus.libs[0]
            .container_slot(number)
            .is_some();
        let kind = if is_container { "folders" } else { "documents" };
        let sec = env
            .get_json(&env.lib("ACTIVE", &format!("/{kind}/{id}/security")))
            .await;
        let expected = if kind == "folders" {
            n(&cont_rows, "container_id")
        } else {
            n(&doc_rows, "document_id")
        };
        assert_eq!(sec["data"].as_array().unwrap().len(), expected, "{id}");
    }
    let r = env
        .post_json(
            &env.lib("ACTIVE", "/sync/documents/crawl"),
            &json!({"limit": 10, "edit_date_from": "last tuesday"}),
        )
        .await;
    assert_eq!(r.status(), 400);
}
