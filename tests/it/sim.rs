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

async fn token_request(env_base: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{env_base}/auth/oauth2/token"))
        .form(fields)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn password_form<'a>(secret: &'a str, key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "password"),
        ("username", credentials::USERNAME),
        ("password", key),
        ("client_id", credentials::CLIENT_ID),
        ("client_secret", secret),
        ("scope", "admin"),
    ]
}

#[tokio::test]
async fn sign_in_failures_have_their_oauth_kinds_and_five_failures_lock() {
    let env = start(opts(Scale::Tiny)).await;
    let (s, b) = token_request(
        &env.base,
        &password_form("wrong-secret", credentials::AUTH_KEY),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_client")));
    let (s, b) = token_request(
        &env.base,
        &password_form(credentials::CLIENT_SECRET, "bad-key"),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    assert!(!b.to_string().contains(credentials::CLIENT_SECRET));
    // A good sign-in resets the count; then five failures in a row lock the account.
    let (s, _) = token_request(
        &env.base,
        &password_form(credentials::CLIENT_SECRET, credentials::AUTH_KEY),
    )
    .await;
    assert_eq!(s, 200);
    for i in 1..=5 {
        let (s, b) = token_request(
            &env.base,
            &password_form(credentials::CLIENT_SECRET, "bad-key"),
        )
        .await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("invalid_grant")),
            "attempt {i}"
        );
    }
    let (s, b) = token_request(
        &env.base,
        &password_form(credentials::CLIENT_SECRET, credentials::AUTH_KEY),
    )
    .await;
    assert_eq!(s, 400, "a locked account refuses even the right key");
    assert_eq!(b["error"], "invalid_grant");
    assert!(
        b["error_description"].as_str().unwrap().contains("locked"),
        "{b}"
    );
    env.sim.unlock_account();
    let (s, _) = token_request(
        &env.base,
        &password_form(credentials::CLIENT_SECRET, credentials::AUTH_KEY),
    )
    .await;
    assert_eq!(s, 200);
    let st = env.sim.stats();
    assert!(st.failed_sign_ins >= 8 && st.sign_ins >= 3, "{st:?}");
    // Ten failures lock it until an administrator unlocks it (here the temporary lock is
    // zero seconds long, so failures 6..10 count without waiting).
    let env = start(SimOptions {
        lockout_secs: 0,
        ..opts(Scale::Tiny)
    })
    .await;
    for _ in 0..10 {
        token_request(
            &env.base,
            &password_form(credentials::CLIENT_SECRET, "bad-key"),
        )
        .await;
    }
    let (s, b) = token_request(
        &env.base,
        &password_form(credentials::CLIENT_SECRET, credentials::AUTH_KEY),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains("administrator"),
        "{b}"
    );
    env.sim.unlock_account();
    let (s, _) = token_request(
        &env.base,
        &password_form(credentials::CLIENT_SECRET, credentials::AUTH_KEY),
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn tokens_expire_refresh_and_revoke() {
    let env = start(opts(Scale::Tiny)).await;
    let url = format!("{}/api", env.base);
    let no_token = env.http.get(&url).send().await.unwrap();
    assert_eq!(no_token.status(), 401);
    let body: Value = no_token.json().await.unwrap();
    assert!(body["error"]["transaction"].is_string());
    assert_eq!(env.get(&url).await.status(), 200);
    // Fresh tokens with the refresh grant.
    let signed: Value = sign_in(&env.http, &env.base).await.json().await.unwrap();
    let refresh = signed["refresh_token"].as_str().unwrap();
    env.sim.expire_tokens();
    assert_eq!(env.get(&url).await.status(), 401, "expired token");
    let (s, b) = token_request(
        &env.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", credentials::CLIENT_ID),
            ("client_secret", credentials::CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let fresh = b["access_token"].as_str().unwrap().to_string();
    let r = env
        .http
        .get(&url)
        .header("X-Auth-Token", &fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A forged refresh token is refused.
    let (s, b) = token_request(
        &env.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "simr.0.1.0.0.deadbeef"),
            ("client_id", credentials::CLIENT_ID),
            ("client_secret", credentials::CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    // Revoke.
    let r = env
        .http
        .post(format!("{}/auth/oauth2/revoke-token", env.base))
        .form(&[("access_token", fresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = env
        .http
        .get(&url)
        .header("X-Auth-Token", &fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
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
async fn rate_and_concurrency_limits_answer_429_with_retry_after() {
    let env = start(SimOptions {
        rate_limit: Some(5.0),
        ..opts(Scale::Tiny)
    })
    .await;
    let url = format!("{}/api", env.base);
    let mut limited = None;
    for _ in 0..40 {
        let r = env.get(&url).await;
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
        assert!(r.headers().contains_key("x-ratelimit-remaining"));
    }
    let r = limited.expect("40 quick calls at 5/s must meet a 429");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert!(r.headers().contains_key("x-ratelimit-reset"));
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    let b: Value = r.json().await.unwrap();
    assert!(b["error"]["code"].is_string());
    assert!(env.sim.stats().rate_limited >= 1);

    let env = start(SimOptions {
        max_concurrent: Some(2),
        latency_ms: 300,
        ..opts(Scale::Tiny)
    })
    .await;
    let url = format!("{}/api", env.base);
    let calls = (0..6).map(|_| env.get(&url));
    let statuses: Vec<u16> = futures::future::join_all(calls)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
    let st = env.sim.stats();
    assert!(st.peak_concurrency >= 2, "{st:?}");
    assert_eq!(st.in_flight, 0);
    // The stats endpoint reports the same over HTTP.
    let s: Value = env
        .http
        .get(format!("{}/sim/stats", env.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(s["rate_limited"].as_u64().unwrap() >= 1);
    assert!(s["requests"]["GET /api"].as_u64().unwrap() >= 6);
}

#[tokio::test]
async fn faults_give_transient_errors_and_truncated_downloads() {
    let env = start(opts(Scale::Tiny)).await;
    let rows = env.crawl("ACTIVE", "documents/crawl", 100, json!({})).await;
    let mut by_size: Vec<&Value> = rows.iter().collect();
    by_size.sort_by_key(|r| std::cmp::Reverse(r["size"].as_u64().unwrap()));
    let two: Vec<String> = by_size[..2]
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let big = two[0].clone();
    env.sim.set_fault_rate(1.0);
    let (mut transient, mut truncated, mut whole) = (0, 0, 0);
    // No connection reuse: a truncated download drops its connection, as a real one would.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut last_cut: Option<String> = None;
    for i in 0..60 {
        let id = &two[i % 2];
        let sent = fresh
            .get(env.lib("ACTIVE", &format!("/documents/{id}/download")))
            .header("X-Auth-Token", &env.token)
            .send()
            .await;
        let Ok(r) = sent else {
            // The connection dropped before the head arrived: also a truncated download.
            truncated += 1;
            last_cut = Some(id.clone());
            continue;
        };
        match r.status().as_u16() {
            200 => {
                let promised: usize = r.headers()["content-length"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                match r.bytes().await {
                    Ok(b) if b.len() == promised => {
                        // A truncation draw never cuts the same download twice in a row.
                        assert_eq!(last_cut.as_ref(), Some(id), "only a repeat is spared");
                        assert_eq!(b.to_vec(), content::version_bytes(1, &id.parse().unwrap()));
                        whole += 1;
                    }
                    Ok(b) => {
                        assert!(b.len() < promised);
                        truncated += 1;
                        last_cut = Some(id.clone());
                    }
                    Err(_) => {
                        truncated += 1;
                        last_cut = Some(id.clone());
                    }
                }
            }
            s @ (502 | 503 | 504) => {
                let b: Value = r.json().await.unwrap();
                assert_eq!(b["error"]["code"], "NRC_SERVICE_UNAVAILABLE", "{s}");
                transient += 1;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    let _ = whole;
    assert!(transient > 0 && truncated > 0, "{transient} {truncated}");
    let st = env.sim.stats();
    assert_eq!(st.faults_5xx, transient);
    assert_eq!(st.truncated_downloads, truncated);
    env.sim.set_fault_rate(0.0);
    let r = env
        .get(&env.lib("ACTIVE", &format!("/documents/{big}/download")))
        .await;
    assert_eq!(r.status(), 200);
    let vid: VersionId = big.parse().unwrap();
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        content::version_bytes(1, &vid)
    );
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

#[tokio::test]
async fn regular_accounts_get_403_from_the_crawl() {
    let env = start(SimOptions {
        user_type: imvault::sim::SimUserType::Regular,
        ..opts(Scale::Tiny)
    })
    .await;
    let api = env.get_json(&format!("{}/api", env.base)).await;
    assert_eq!(api["data"]["user"]["user_type"], "regular");
    let r = env
        .post_json(
            &env.lib("ACTIVE", "/sync/documents/crawl"),
            &json!({"limit": 10}),
        )
        .await;
    assert_eq!(r.status(), 403);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "NRC_ACCESS_DENIED");
    assert_eq!(
        env.get(&env.lib("ACTIVE", "/workspaces")).await.status(),
        200
    );
}

fn upload_form(profile: Value, bytes: Vec<u8>) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .part(
            "profile",
            reqwest::multipart::Part::text(profile.to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("upload.bin"),
        )
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
        .json(&json!({"comment": "edited", "custom4": "Privileged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let p = env.get_json(&lib(&format!("/documents/{doc_id}.1"))).await;
    assert_eq!(p["data"]["comment"], "edited");
    assert_eq!(p["data"]["custom4"], "Privileged");
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

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|n| n.parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

/// Measurement, not a gate: crawls every version of every library at `SIM_SCALE` (default
/// `large`) through HTTP and prints rows, time and the process's peak RSS, which must not grow
/// with the corpus. Run: `SIM_SCALE=large cargo test --release --test it sim_crawl_figures -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn sim_crawl_figures() {
    let scale: Scale = std::env::var("SIM_SCALE")
        .unwrap_or_else(|_| "large".into())
        .parse()
        .unwrap();
    let before = vm_hwm_kib();
    let env = start(opts(scale)).await;
    let started = std::time::Instant::now();
    let mut rows = 0u64;
    let mut bytes = 0u64;
    for lib in ["ACTIVE", "ARCHIVE", "RESTRICTED"] {
        let mut body = json!({"limit": 1000});
        loop {
            let r = env
                .post_json(&env.lib(lib, "/sync/documents/crawl"), &body)
                .await;
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            let page = v["data"].as_array().unwrap();
            rows += page.len() as u64;
            bytes += page
                .iter()
                .map(|d| d["size"].as_u64().unwrap())
                .sum::<u64>();
            match v["cursor"].as_str() {
                Some(c) => body["cursor"] = json!(c),
                None => break,
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let after = vm_hwm_kib();
    eprintln!(
        "scale {scale}: {rows} versions ({:.1} GB of content) crawled in {secs:.1} s ({:.0} rows/s); VmHWM {} MiB before start, {} MiB after the crawl",
        bytes as f64 / 1e9,
        rows as f64 / secs,
        before / 1024,
        after / 1024
    );
    assert!(rows > 0);
}

/// Measurement, not a gate: downloads every version of the `ARCHIVE` library at `SIM_SCALE`
/// (default `medium`) with 8 concurrent streams and prints the throughput and peak RSS.
/// Run: `cargo test --test it sim_download_figures -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn sim_download_figures() {
    use futures::StreamExt;
    let scale: Scale = std::env::var("SIM_SCALE")
        .unwrap_or_else(|_| "medium".into())
        .parse()
        .unwrap();
    let env = start(opts(scale)).await;
    for lib in env.sim.libraries() {
        eprintln!("{:?}", env.sim.library_summary(&lib).unwrap());
    }
    let rows = env
        .crawl("ARCHIVE", "documents/crawl", 1000, json!({}))
        .await;
    let started = std::time::Instant::now();
    let env = &env;
    let total: u64 = futures::stream::iter(rows.iter())
        .map(|row| async move {
            let id = row["id"].as_str().unwrap();
            let r = env
                .get(&env.lib("ARCHIVE", &format!("/documents/{id}/download")))
                .await;
            assert_eq!(r.status(), 200);
            let mut n = 0u64;
            let mut body = r.bytes_stream();
            while let Some(chunk) = body.next().await {
                n += chunk.unwrap().len() as u64;
            }
            assert_eq!(n, row["size"].as_u64().unwrap(), "{id}");
            n
        })
        .buffer_unordered(8)
        .fold(0u64, |a, n| async move { a + n })
        .await;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "scale {scale}: downloaded {} versions, {:.2} GB in {secs:.1} s ({:.0} MB/s); VmHWM {} MiB",
        rows.len(),
        total as f64 / 1e9,
        total as f64 / 1e6 / secs,
        vm_hwm_kib() / 1024
    );
}
