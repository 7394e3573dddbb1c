//! Reads (§2, §4, §5, §8): discovery, tree walk and crawl, paging, determinism, corpus shape.

use super::*;

#[tokio::test]
async fn discovery_lists_libraries_including_the_hidden_one() {
    let env = start(opts(Scale::Tiny)).await;
    let api = env.get_json(&format!("{}/api", env.base)).await;
    assert_eq!(api["data"]["user"]["user_type"], "system");
    assert_eq!(api["data"]["user"]["customer_id"], 1234);
    let visible: Vec<&str> = api["data"]["work"]["libraries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["alias"].as_str().unwrap())
        .collect();
    assert_eq!(visible, ["ACTIVE", "ARCHIVE"]);
    let libs = env.get_json(&format!("{}{P}/libraries", env.base)).await;
    let libs = libs["data"].as_array().unwrap();
    assert_eq!(libs.len(), 3);
    assert_eq!(libs[2]["id"], "RESTRICTED");
    assert_eq!(libs[2]["is_hidden"], true);
    assert_eq!(libs[0]["is_hidden"], false);
}

#[tokio::test]
async fn walk_and_crawl_agree_and_downloads_match_the_content_function() {
    let env = start(opts(Scale::Tiny)).await;
    let seed = 1;
    // Tree walk: workspaces → children → folders → documents (latest versions).
    let workspaces = env
        .all_pages(&env.lib("ACTIVE", "/workspaces"), 2, true)
        .await;
    assert!(!workspaces.is_empty());
    let mut folders = Vec::new();
    for ws in &workspaces {
        assert_eq!(ws["wstype"], "workspace");
        assert!(ws["profile"]["custom1"].as_str().unwrap().starts_with('C'));
        let id = ws["id"].as_str().unwrap();
        let kids = env
            .all_pages(
                &env.lib("ACTIVE", &format!("/workspaces/{id}/children")),
                3,
                false,
            )
            .await;
        folders.extend(kids);
    }
    let mut docs_walked = BTreeSet::new();
    let mut i = 0;
    while i < folders.len() {
        let f = folders[i].clone();
        i += 1;
        if f["folder_type"] == "search" {
            continue;
        }
        let id = f["id"].as_str().unwrap();
        for child in env
            .all_pages(
                &env.lib("ACTIVE", &format!("/folders/{id}/children")),
                2,
                false,
            )
            .await
        {
            if child["wstype"] == "folder" {
                folders.push(child);
            } else {
                docs_walked.insert(child["document_number"].as_u64().unwrap());
            }
        }
    }
    // The crawl returns every version of the same documents.
    let rows = env.crawl("ACTIVE", "documents/crawl", 7, json!({})).await;
    let summary = env.sim.library_summary("ACTIVE").unwrap();
    assert_eq!(summary.versions, rows.len() as u64);
    assert_eq!(summary.documents, docs_walked.len() as u64);
    assert_eq!(
        summary.bytes,
        rows.iter()
            .map(|r| r["size"].as_u64().unwrap())
            .sum::<u64>()
    );
    let crawled: BTreeSet<u64> = rows
        .iter()
        .map(|r| r["document_number"].as_u64().unwrap())
        .collect();
    assert_eq!(crawled, docs_walked);
    let crawled_folders = env.crawl("ACTIVE", "folders/crawl", 5, json!({})).await;
    assert_eq!(crawled_folders.len(), folders.len());
    assert_eq!(summary.containers, folders.len() as u64);
    assert_eq!(summary.workspaces, workspaces.len() as u64);
    let ids: BTreeSet<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), rows.len(), "a crawl must not repeat rows");
    // Versions endpoint agrees with the crawl for a document, and downloads are exact.
    let first = rows[0]["document_number"].as_u64().unwrap();
    let versions = env
        .get_json(&env.lib("ACTIVE", &format!("/documents/ACTIVE!{first}/versions")))
        .await;
    let from_crawl = rows
        .iter()
        .filter(|r| r["document_number"] == first)
        .count();
    assert_eq!(versions["data"].as_array().unwrap().len(), from_crawl);
    for row in rows.iter().take(12) {
        let id = row["id"].as_str().unwrap();
        let r = env
            .get(&env.lib(
                "ACTIVE",
                &format!("/documents/{id}/download?activity=export"),
            ))
            .await;
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment; filename=\"")
        );
        let len: u64 = r.headers()["content-length"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let bytes = r.bytes().await.unwrap();
        assert_eq!(bytes.len() as u64, len);
        assert_eq!(row["size"].as_u64().unwrap(), len);
        let vid: VersionId = id.parse().unwrap();
        assert_eq!(&bytes[..], &content::version_bytes(seed, &vid)[..], "{id}");
    }
    // Filings: every document has at least one parent, some more than one.
    let parents = env
        .crawl("ACTIVE", "documents/parents/search", 50, json!({}))
        .await;
    let mut per_doc: HashMap<u64, usize> = HashMap::new();
    for p in &parents {
        *per_doc
            .entry(p["document_number"].as_u64().unwrap())
            .or_default() += 1;
    }
    assert_eq!(per_doc.len(), crawled.len());
    let _ = env.sim.stats();
}

#[tokio::test]
async fn paging_cursors_expire_and_bad_params_are_refused() {
    let env = start(opts(Scale::Small)).await;
    let url = env.lib("ACTIVE", "/workspaces");
    let all = env.all_pages(&url, 3, true).await;
    let one_page = env.all_pages(&url, 500, true).await;
    assert_eq!(
        all, one_page,
        "paging must neither drop nor repeat workspaces"
    );
    assert!(all.len() > 3);
    let first: Value = env
        .get_json(&format!("{url}?limit=3&paging_mode=standard_cursor"))
        .await;
    let cursor = first["cursor"].as_str().unwrap().to_string();
    let next = env.get(&format!("{url}?limit=3&cursor={cursor}")).await;
    assert_eq!(next.status(), 200);
    env.sim.expire_cursors();
    let r = env.get(&format!("{url}?limit=3&cursor={cursor}")).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NRC_INVALID_CURSOR");
    // Crawl cursors expire the same way.
    let lib = env.lib("ACTIVE", "/sync/documents/crawl");
    let page: Value = env
        .post_json(&lib, &json!({"limit": 10}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 10);
    let c = page["cursor"].as_str().unwrap();
    let r: Value = env
        .post_json(&lib, &json!({"limit": 10, "cursor": c}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["data"].as_array().unwrap().len(), 10);
    env.sim.expire_cursors();
    let r = env
        .post_json(&lib, &json!({"limit": 10, "cursor": c}))
        .await;
    assert_eq!(r.status(), 400);
    // Garbage cursors and out-of-range limits.
    for q in ["limit=0", "limit=501", "limit=abc"] {
        let r = env.get(&format!("{url}?{q}")).await;
        assert_eq!(r.status(), 400, "{q}");
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"]["code"], "NRC_INVALID_PARAM");
    }
    let r = env.get(&format!("{url}?cursor=nonsense")).await;
    assert_eq!(r.status(), 400);
    let r = env.post_json(&lib, &json!({"limit": 1001})).await;
    assert_eq!(r.status(), 400);
    // Unknown objects are 404 NRC_NO_RECORD.
    let r = env.get(&env.lib("ACTIVE", "/documents/ACTIVE!1.1")).await;
    assert_eq!(r.status(), 404);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "NRC_NO_RECORD");
    let r = env.get(&env.lib("NOPE", "/workspaces")).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn same_seed_same_corpus_other_seed_other_corpus() {
    async fn snapshot(seed: u64) -> (Vec<Value>, Vec<Value>, Vec<Value>, Vec<u8>) {
        let env = start(SimOptions {
            seed,
            ..opts(Scale::Tiny)
        })
        .await;
        let docs = env.crawl("ARCHIVE", "documents/crawl", 50, json!({})).await;
        let folders = env.crawl("ARCHIVE", "folders/crawl", 50, json!({})).await;
        let acl = env
            .crawl(
                "ARCHIVE",
                "documents/security/allowed-trustees/search",
                50,
                json!({}),
            )
            .await;
        let id = docs[0]["id"].as_str().unwrap();
        let bytes = env
            .get(&env.lib("ARCHIVE", &format!("/documents/{id}/download")))
            .await
            .bytes()
            .await
            .unwrap()
            .to_vec();
        (docs, folders, acl, bytes)
    }
    let a = snapshot(7).await;
    let b = snapshot(7).await;
    assert_eq!(a, b);
    let c = snapshot(8).await;
    assert_ne!(a.0, c.0);
    assert_ne!(a.3, c.3);
}

#[tokio::test]
async fn corpus_has_the_shapes_a_law_firm_has() {
    let env = start(opts(Scale::Small)).await;
    let docs = env
        .crawl("ACTIVE", "documents/crawl", 1000, json!({}))
        .await;
    let folders = env.crawl("ACTIVE", "folders/crawl", 1000, json!({})).await;
    let kinds: BTreeSet<&str> = folders
        .iter()
        .map(|f| f["folder_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, BTreeSet::from(["regular", "search", "tab"]));
    let ds: BTreeSet<&str> = folders
        .iter()
        .map(|f| f["default_security"].as_str().unwrap())
        .collect();
    assert_eq!(ds, BTreeSet::from(["inherit", "private", "public", "view"]));
    assert!(
        docs.iter()
            .any(|d| d["wstype"] == "email" && d["subject"].is_string())
    );
    assert!(docs.iter().any(|d| d["version"].as_u64().unwrap() > 3));
    assert!(
        docs.iter().any(|d| !d["name"].as_str().unwrap().is_ascii()),
        "unicode names"
    );
    // Version gaps: a document whose versions are not 1..=n.
    let mut per_doc: HashMap<u64, Vec<u64>> = HashMap::new();
    for d in &docs {
        per_doc
            .entry(d["document_number"].as_u64().unwrap())
            .or_default()
            .push(d["version"].as_u64().unwrap());
    }
    assert!(
        per_doc
            .values()
            .any(|vs| vs.iter().enumerate().any(|(i, v)| *v != i as u64 + 1))
    );
    let parents = env
        .crawl("ACTIVE", "documents/parents/search", 1000, json!({}))
        .await;
    assert!(
        parents.len() > per_doc.len(),
        "some documents are filed twice"
    );
    // Heavy tail: most small, some large.
    let sizes: Vec<u64> = docs.iter().map(|d| d["size"].as_u64().unwrap()).collect();
    let small = sizes.iter().filter(|s| **s < 200_000).count();
    assert!(small * 10 > sizes.len() * 8, "most files under 200 KB");
    assert!(sizes.iter().any(|s| *s > 1_000_000));
    // Container ACLs come in bulk too.
    let cacl = env
        .crawl(
            "ACTIVE",
            "containers/security/allowed-trustees/search",
            100,
            json!({}),
        )
        .await;
    let ids: BTreeSet<&str> = cacl
        .iter()
        .map(|r| r["container_id"].as_str().unwrap())
        .collect();
    assert!(ids.len() > 10);
    let one = cacl[0]["container_id"].as_str().unwrap();
    let kind = if folders.iter().any(|f| f["id"] == one) {
        "folders"
    } else {
        "workspaces"
    };
    let sec = env
        .get_json(&env.lib("ACTIVE", &format!("/{kind}/{one}/security")))
        .await;
    let n = cacl.iter().filter(|r| r["container_id"] == one).count();
    assert_eq!(sec["data"].as_array().unwrap().len(), n);
}
