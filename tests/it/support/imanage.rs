//! Shared helpers for the iManage client and walker tests: a simulator on 127.0.0.1:0, client
//! settings with the simulator's credentials, and a normalised view of a walk's items.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use futures::StreamExt;
use imvault::imanage::model::{Acl, ContainerKind, LibraryId};
use imvault::imanage::walk::{WalkItem, WalkOptions, WalkStrategy, walk};
use imvault::imanage::{Client, ClientSettings};
use imvault::secret::Secret;
use imvault_sim::{Server, SimHandle, SimOptions, credentials};
use serde_json::Value;

pub struct SimEnv {
    pub addr: SocketAddr,
    pub handle: SimHandle,
}

pub fn start_sim(opts: SimOptions) -> SimEnv {
    let (addr, handle) = Server::start(opts).expect("simulator starts on 127.0.0.1:0");
    SimEnv { addr, handle }
}

pub fn tiny() -> SimOptions {
    SimOptions {
        scale: "tiny".parse().expect("scale"),
        ..SimOptions::default()
    }
}

/// Settings for the simulator, generous limits, short backoff (tests stay quick).
pub fn settings(addr: SocketAddr) -> ClientSettings {
    let mut s = ClientSettings::new(
        url::Url::parse(&format!("http://{addr}")).expect("url"),
        credentials::CLIENT_ID,
        Secret::new(credentials::CLIENT_SECRET),
        credentials::USERNAME,
        Secret::new(credentials::AUTH_KEY),
    );
    s.requests_per_second = 2000;
    s.concurrency = 8;
    s.retry_base = std::time::Duration::from_millis(5);
    s.retry_cap = std::time::Duration::from_millis(200);
    s.max_retries = 12;
    s
}

pub async fn connect(addr: SocketAddr) -> Client {
    Client::connect(settings(addr))
        .await
        .expect("sign-in to the simulator")
}

/// Every item of one library's walk; `Err` items are returned separately.
pub async fn collect(
    client: &Client,
    library: &LibraryId,
    strategy: WalkStrategy,
) -> (Vec<WalkItem>, Vec<String>) {
    let mut items = vec![];
    let mut errors = vec![];
    let mut s = std::pin::pin!(walk(client, library, strategy, WalkOptions::default()));
    while let Some(item) = s.next().await {
        match item {
            Ok(i) => items.push(i),
            Err(e) => errors.push(e.to_string()),
        }
    }
    (items, errors)
}

/// An ACL without display names (the crawl's trustee rows carry none), sorted.
pub fn bare(acl: &Acl) -> Acl {
    let mut acl = acl.clone().normalized();
    for e in &mut acl.entries {
        e.name = None;
    }
    acl
}

/// What a walk found, keyed so that two walks can be compared item for item.
#[derive(Debug, Default, PartialEq)]
pub struct Summary {
    /// id → (kind, name, parent, ACL, whole profile JSON)
    pub containers: BTreeMap<String, (ContainerKind, String, Option<String>, Acl, Value)>,
    /// version id → (size, edit_date, edit_profile_date, whole profile JSON); duplicates
    /// counted separately.
    pub versions: BTreeMap<String, (u64, Option<String>, Option<String>, Value)>,
    pub duplicate_versions: usize,
    pub filings: BTreeSet<(String, String)>,
    pub duplicate_filings: usize,
    pub document_acls: BTreeMap<String, Acl>,
    pub duplicate_document_acls: usize,
    pub access_denied: Vec<String>,
    pub warnings: Vec<String>,
    /// Changes-only walks: documents listed one by one, and the closing item.
    pub relisted: Vec<String>,
    pub changes_only: usize,
}

pub fn summarize(items: &[WalkItem]) -> Summary {
    let mut s = Summary::default();
    for item in items {
        match item {
            WalkItem::Container { container, acl } => {
                s.containers.insert(
                    container.id.to_string(),
                    (
                        container.kind,
                        container.name.clone(),
                        container.parent_id.as_ref().map(ToString::to_string),
                        bare(acl),
                        Value::Object(container.raw.clone()),
                    ),
                );
            }
            WalkItem::Version { version } => {
                let prev = s.versions.insert(
                    version.id.to_string(),
                    (
                        version.size,
                        version.edit_date.clone(),
                        version.edit_profile_date.clone(),
                        Value::Object(version.raw.clone()),
                    ),
                );
                s.duplicate_versions += usize::from(prev.is_some());
            }
            WalkItem::Filing(f) => {
                let fresh = s
                    .filings
                    .insert((f.document.to_string(), f.parent.to_string()));
                s.duplicate_filings += usize::from(!fresh);
            }
            WalkItem::DocumentAcl { document, acl } => {
                let prev = s.document_acls.insert(document.to_string(), bare(acl));
                s.duplicate_document_acls += usize::from(prev.is_some());
            }
            WalkItem::AccessDenied { what, .. } => s.access_denied.push(what.clone()),
            WalkItem::Warning { what, detail } => s.warnings.push(format!("{what}: {detail}")),
            WalkItem::Relisted { document } => s.relisted.push(document.to_string()),
            WalkItem::ChangesOnly { .. } | WalkItem::ListedEverything => s.changes_only += 1,
        }
    }
    s
}

fn diff_maps<K: Ord + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
    what: &str,
    a: &BTreeMap<K, V>,
    b: &BTreeMap<K, V>,
    out: &mut Vec<String>,
) {
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("{what} {k:?} only on the left")),
            Some(w) if w != v => out.push(format!("{what} {k:?}: {v:?} != {w:?}")),
            _ => {}
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) {
            out.push(format!("{what} {k:?} only on the right"));
        }
    }
}

/// Assert two summaries are equal, printing at most a few differences.
pub fn assert_same(a: &Summary, b: &Summary, context: &str) {
    let mut out = vec![];
    diff_maps("container", &a.containers, &b.containers, &mut out);
    diff_maps("version", &a.versions, &b.versions, &mut out);
    diff_maps("document ACL", &a.document_acls, &b.document_acls, &mut out);
    for f in a.filings.symmetric_difference(&b.filings) {
        out.push(format!("filing {f:?} on one side only"));
    }
    for (what, x, y) in [
        (
            "duplicate versions",
            a.duplicate_versions,
            b.duplicate_versions,
        ),
        (
            "duplicate filings",
            a.duplicate_filings,
            b.duplicate_filings,
        ),
        (
            "duplicate ACLs",
            a.duplicate_document_acls,
            b.duplicate_document_acls,
        ),
    ] {
        if x != y {
            out.push(format!("{what}: {x} != {y}"));
        }
    }
    if a.access_denied != b.access_denied {
        out.push(format!(
            "access denied: {:?} != {:?}",
            a.access_denied, b.access_denied
        ));
    }
    if a.warnings != b.warnings {
        out.push(format!("warnings: {:?} != {:?}", a.warnings, b.warnings));
    }
    assert!(
        out.is_empty(),
        "{context}: {} differences, first ones:\n{}",
        out.len(),
        out.iter().take(12).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// A minimal tenant that lists two libraries and answers 403 `NRC_ACCESS_DENIED` on everything
/// in `DENIED` (a library whose assignment has not yet applied). The simulator has no such
/// switch, so this one case uses a stand-in server built on the same contract.
pub async fn start_denied_library_tenant(user_type: &'static str) -> SocketAddr {
    use axum::Json;
    use axum::extract::Path;
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    use serde_json::json;

    let app = axum::Router::new()
        .route(
            "/auth/oauth2/token",
            post(|| async {
                Json(
                    json!({"access_token":"t0k3n-denied-test","token_type":"bearer",
                    "expires_in":1800,"refresh_token":"r3fresh","scope":"admin"}),
                )
            }),
        )
        .route(
            "/api",
            get(move || async move {
                Json(
                    json!({"data":{"user":{"id":"SVC","customer_id":1,"user_type":user_type},
                    "versions":[],"work":{"libraries":[{"alias":"OPEN"},{"alias":"DENIED"}]}}}),
                )
            }),
        )
        .route(
            "/work/api/v2/customers/1/libraries",
            get(|| async {
                Json(
                    json!({"data":[{"id":"OPEN","type":"worksite","is_hidden":false},
                    {"id":"DENIED","type":"worksite","is_hidden":false}]}),
                )
            }),
        )
        .route(
            "/work/api/v2/customers/1/libraries/{lib}/workspaces",
            get(|Path(lib): Path<String>| async move {
                if lib == "DENIED" {
                    (
                        StatusCode::FORBIDDEN,
                        Json(json!({"error":{"code":"NRC_ACCESS_DENIED",
                            "code_message":"Access denied","transaction":"x"}})),
                    )
                } else {
                    (
                        StatusCode::OK,
                        Json(
                            json!({"data":{"results":[{"id":"OPEN!7","wstype":"workspace",
                            "name":"Matter","default_security":"public"}]}}),
                        ),
                    )
                }
            }),
        )
        .route(
            "/work/api/v2/customers/1/libraries/OPEN/workspaces/{id}/children",
            get(|| async { Json(json!({"data":[]})) }),
        )
        .route(
            "/work/api/v2/customers/1/libraries/OPEN/workspaces/{id}/security",
            get(|| async { Json(json!({"data":[],"default_security":"public"})) }),
        )
        .route(
            "/work/api/v2/customers/1/libraries/{lib}/sync/{*rest}",
            post(|| async {
                (
                    StatusCode::FORBIDDEN,
                    Json(json!({"error":{"code":"NRC_ACCESS_DENIED",
                        "code_message":"Sync API not enabled","transaction":"y"}})),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// What the stand-in token endpoint saw.
#[derive(Debug, Default, Clone)]
pub struct GrantLog {
    pub password: u32,
    pub refresh: u32,
    pub api_401: u32,
}

/// A stand-in tenant whose first access token is already dead (401) and whose refresh token is
/// refused (`invalid_grant`), so the client must sign in again with the auth key, once.
/// `second_sign_in_ok = false` makes that second password grant fail too.
pub async fn start_refresh_refusing_tenant(
    second_sign_in_ok: bool,
) -> (SocketAddr, std::sync::Arc<std::sync::Mutex<GrantLog>>) {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use axum::{Form, Json};
    use serde_json::json;

    let log = Arc::new(Mutex::new(GrantLog::default()));
    let token = {
        let log = log.clone();
        move |Form(f): Form<HashMap<String, String>>| {
            let log = log.clone();
            async move {
                let mut l = log.lock().expect("log");
                let refused = (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error":"invalid_grant",
                        "error_description":"The refresh token has expired"})),
                );
                match f.get("grant_type").map(String::as_str) {
                    Some("refresh_token") => {
                        l.refresh += 1;
                        refused
                    }
                    _ => {
                        l.password += 1;
                        if l.password > 1 && !second_sign_in_ok {
                            return (
                                StatusCode::BAD_REQUEST,
                                Json(json!({"error":"invalid_grant",
                                    "error_description":"Invalid username or auth key"})),
                            );
                        }
                        let t = format!("tok{}", l.password);
                        (
                            StatusCode::OK,
                            Json(json!({"access_token": t, "token_type":"bearer",
                                "expires_in":1800, "refresh_token":"r1"})),
                        )
                    }
                }
            }
        }
    };
    let app = axum::Router::new()
        .route("/auth/oauth2/token", post(token))
        .route(
            "/api",
            get(|| async {
                Json(json!({"data":{"user":{"id":"SVC","customer_id":1,"user_type":"system"}}}))
            }),
        )
        .route(
            "/work/api/v2/customers/1/libraries",
            get(
                |State(log): State<Arc<Mutex<GrantLog>>>, h: HeaderMap| async move {
                    let tok = h
                        .get("x-auth-token")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if tok == "tok1" && log.lock().expect("log").api_401 == 0 {
                        log.lock().expect("log").api_401 += 1;
                        return (StatusCode::UNAUTHORIZED, Json(json!({})));
                    }
                    if tok.starts_with("tok") {
                        (
                            StatusCode::OK,
                            Json(json!({"data":[{"id":"ONE","is_hidden":false}]})),
                        )
                    } else {
                        (StatusCode::UNAUTHORIZED, Json(json!({})))
                    }
                },
            ),
        )
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, log)
}
