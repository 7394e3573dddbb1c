//! HTTP-level tests of the iManage simulator, with plain reqwest against `Server::start`.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use imvault::imanage::model::VersionId;
use imvault::sim::{MutateRequest, Scale, Server, SimHandle, SimOptions, content, credentials};
use serde_json::{Value, json};

const P: &str = "/work/api/v2/customers/1234";

struct Env {
    base: String,
    http: reqwest::Client,
    token: String,
    sim: SimHandle,
}

fn opts(scale: Scale) -> SimOptions {
    SimOptions {
        scale,
        ..SimOptions::default()
    }
}

async fn sign_in(http: &reqwest::Client, base: &str) -> reqwest::Response {
    http.post(format!("{base}/auth/oauth2/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", credentials::USERNAME),
            ("password", credentials::AUTH_KEY),
            ("client_id", credentials::CLIENT_ID),
            ("client_secret", credentials::CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap()
}

async fn start(o: SimOptions) -> Env {
    let (addr, sim): (SocketAddr, SimHandle) = Server::start(o).unwrap();
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let resp = sign_in(&http, &base).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1800);
    let token = body["access_token"].as_str().unwrap().to_string();
    Env {
        base,
        http,
        token,
        sim,
    }
}

impl Env {
    fn lib(&self, lib: &str, path: &str) -> String {
        format!("{}{P}/libraries/{lib}{path}", self.base)
    }
    async fn get(&self, url: &str) -> reqwest::Response {
        self.http
            .get(url)
            .header("X-Auth-Token", &self.token)
            .send()
            .await
            .unwrap()
    }
    async fn get_json(&self, url: &str) -> Value {
        let r = self.get(url).await;
        assert_eq!(r.status(), 200, "GET {url}");
        r.json().await.unwrap()
    }
    async fn post_json(&self, url: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(url)
            .header("X-Auth-Token", &self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }
    /// Every item of a paged GET listing, following cursors.
    async fn all_pages(&self, url: &str, limit: u32, search: bool) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req = self
                .http
                .get(url)
                .header("X-Auth-Token", &self.token)
                .query(&[
                    ("limit", limit.to_string()),
                    ("paging_mode", "standard_cursor".into()),
                ]);
            if let Some(c) = &cursor {
                req = req.query(&[("cursor", c)]);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200, "GET {url}");
            let v: Value = r.json().await.unwrap();
            let items = if search {
                &v["data"]["results"]
            } else {
                &v["data"]
            };
            out.extend(items.as_array().unwrap().iter().cloned());
            match v["cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }
    /// Every row of a crawl endpoint.
    async fn crawl(&self, lib: &str, what: &str, limit: u32, extra: Value) -> Vec<Value> {
        let mut out = Vec::new();
        let mut body = json!({ "limit": limit });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        loop {
            let r = self
                .post_json(&self.lib(lib, &format!("/sync/{what}")), &body)
                .await;
            assert_eq!(r.status(), 200, "crawl {what}");
            let v: Value = r.json().await.unwrap();
            let rows = v["data"].as_array().unwrap();
            assert!(rows.len() <= limit as usize);
            out.extend(rows.iter().cloned());
            match v["cursor"].as_str() {
                Some(c) => body["cursor"] = json!(c),
                None => return out,
            }
        }
    }
}

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
    let crawled: BTreeSet<u64> = rows
        .iter()
        .map(|r| r["document_number"].as_u64().unwrap())
        .collect();
    assert_eq!(crawled, docs_walked);
    let crawled_folders = env.crawl("ACTIVE", "folders/crawl", 5, json!({})).await;
    assert_eq!(crawled_folders.len(), folders.len());
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
