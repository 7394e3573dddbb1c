//! Every object the simulator answers with has the fields the contract names, with their JSON
//! types: discovery (§2), ids (§3), envelopes (§4), container and document objects (§5), ACLs
//! (§6), crawl rows (§8) and error bodies (§9). Written from imanage-api.md alone, as a client
//! would read it.

use super::*;

/// A field's JSON type as the contract gives it.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Int,
    Num,
    Bool,
    /// ISO 8601 UTC, e.g. `2026-11-03T14:02:11Z`.
    Date,
    Object,
    /// `LIB!<number>`.
    ObjectId,
    /// `LIB!<document_number>.<version>`.
    VersionId,
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// `^[^!]+![0-9]+$`, and with `version` `^[^!]+![0-9]+\.[0-9]+$` (§3).
fn is_id(s: &str, version: bool) -> bool {
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit());
    let Some((lib, rest)) = s.split_once('!') else {
        return false;
    };
    if lib.is_empty() || rest.contains('!') {
        return false;
    }
    match (version, rest.split_once('.')) {
        (false, None) => digits(rest),
        (true, Some((n, v))) => digits(n) && digits(v),
        _ => false,
    }
}

fn kind_ok(v: &Value, kind: Kind) -> bool {
    match kind {
        Kind::Str => v.is_string(),
        Kind::Int => v.is_u64(),
        Kind::Num => v.is_number(),
        Kind::Bool => v.is_boolean(),
        Kind::Date => v.as_str().is_some_and(is_date),
        Kind::Object => v.is_object(),
        Kind::ObjectId => v.as_str().is_some_and(|s| is_id(s, false)),
        Kind::VersionId => v.as_str().is_some_and(|s| is_id(s, true)),
    }
}

/// `required` fields must be there with their type; `optional` ones, when there and not null.
fn check(what: &str, obj: &Value, required: &[(&str, Kind)], optional: &[(&str, Kind)]) {
    let map = obj
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {obj}"));
    for (field, kind) in required {
        let v = map
            .get(*field)
            .unwrap_or_else(|| panic!("{what}: no {field} in {obj}"));
        assert!(kind_ok(v, *kind), "{what}: {field} is not {kind:?}: {v}");
    }
    for (field, kind) in optional {
        if let Some(v) = map.get(*field).filter(|v| !v.is_null()) {
            assert!(kind_ok(v, *kind), "{what}: {field} is not {kind:?}: {v}");
        }
    }
}

fn one_of(what: &str, v: &Value, allowed: &[&str]) {
    assert!(
        v.as_str().is_some_and(|s| allowed.contains(&s)),
        "{what} is {v}, not one of {allowed:?}"
    );
}

const CONTAINER: &[(&str, Kind)] = &[
    ("id", Kind::ObjectId),
    ("name", Kind::Str),
    ("description", Kind::Str),
    ("database", Kind::Str),
    ("wstype", Kind::Str),
    ("workspace_id", Kind::ObjectId),
    ("owner", Kind::Str),
    ("default_security", Kind::Str),
    ("has_subfolders", Kind::Bool),
    ("has_documents", Kind::Bool),
    ("edit_date", Kind::Date),
    ("create_date", Kind::Date),
    ("is_external", Kind::Bool),
    ("profile", Kind::Object),
];

fn check_container(c: &Value, library: &str) {
    let id = c["id"].to_string();
    check(&format!("container {id}"), c, CONTAINER, &[]);
    assert_eq!(c["database"], library, "{id}");
    one_of(
        &format!("default_security of {id}"),
        &c["default_security"],
        &["inherit", "public", "view", "private"],
    );
    match c["wstype"].as_str() {
        Some("workspace") => {
            assert!(
                c.get("folder_type").is_none(),
                "workspace {id} has a folder_type"
            );
            assert_ne!(c["default_security"], "inherit", "workspace {id}");
            assert_eq!(c["workspace_id"], c["id"], "{id}");
            // Workspaces carry the matter's client and matter codes.
            check(
                &format!("profile of {id}"),
                &c["profile"],
                &[("custom1", Kind::Str), ("custom2", Kind::Str)],
                &[
                    ("class", Kind::Str),
                    ("subclass", Kind::Str),
                    ("author", Kind::Str),
                ],
            );
        }
        Some("folder") => {
            one_of(
                &format!("folder_type of {id}"),
                &c["folder_type"],
                &["regular", "tab", "search"],
            );
            check(
                &format!("container {id}"),
                c,
                &[("parent_id", Kind::ObjectId)],
                &[],
            );
        }
        _ => panic!("container {id}: wstype {}", c["wstype"]),
    }
}

const DOCUMENT: &[(&str, Kind)] = &[
    ("id", Kind::VersionId),
    ("database", Kind::Str),
    ("document_number", Kind::Int),
    ("version", Kind::Int),
    ("name", Kind::Str),
    ("extension", Kind::Str),
    ("type", Kind::Str),
    ("size", Kind::Int),
    ("content_type", Kind::Str),
    ("class", Kind::Str),
    ("author", Kind::Str),
    ("operator", Kind::Str),
    ("last_user", Kind::Str),
    ("comment", Kind::Str),
    ("create_date", Kind::Date),
    ("edit_date", Kind::Date),
    ("edit_profile_date", Kind::Date),
    ("file_create_date", Kind::Date),
    ("file_edit_date", Kind::Date),
    ("default_security", Kind::Str),
    ("is_checked_out", Kind::Bool),
    ("is_declared", Kind::Bool),
    ("is_hipaa", Kind::Bool),
    ("retain_days", Kind::Int),
    ("workspace_id", Kind::ObjectId),
    ("wstype", Kind::Str),
];

const EMAIL: &[(&str, Kind)] = &[
    ("from", Kind::Str),
    ("to", Kind::Str),
    ("subject", Kind::Str),
    ("sent_date", Kind::Date),
    ("received_date", Kind::Date),
    ("has_attachment", Kind::Bool),
    ("conversation_id", Kind::Str),
];

/// `custom1`…`custom30` with their types, each optional (unset is absent or null).
fn custom_fields() -> Vec<(String, Kind)> {
    (1..=30)
        .map(|i| {
            let kind = match i {
                17..=20 => Kind::Num,
                21..=24 => Kind::Date,
                25..=28 => Kind::Bool,
                _ => Kind::Str,
            };
            (format!("custom{i}"), kind)
        })
        .collect()
}

fn check_document(d: &Value, library: &str) {
    let id = d["id"].as_str().unwrap_or_default().to_string();
    let what = format!("document {id}");
    let customs = custom_fields();
    let customs: Vec<(&str, Kind)> = customs.iter().map(|(f, k)| (f.as_str(), *k)).collect();
    check(&what, d, DOCUMENT, &customs);
    check(
        &what,
        d,
        &[],
        &[
            ("subclass", Kind::Str),
            ("cc", Kind::Str),
            ("bcc", Kind::Str),
        ],
    );
    assert_eq!(d["database"], library, "{id}");
    assert_eq!(
        id,
        format!("{library}!{}.{}", d["document_number"], d["version"]),
        "the id is LIB!<document_number>.<version>"
    );
    assert!(d["version"].as_u64() >= Some(1), "{id}");
    one_of(
        &format!("default_security of {id}"),
        &d["default_security"],
        &["public", "view", "private"],
    );
    match d["wstype"].as_str() {
        Some("document") => {}
        Some("email") => check(&what, d, EMAIL, &[]),
        _ => panic!("{what}: wstype {}", d["wstype"]),
    }
}

fn check_acl(what: &str, acl: &Value, containers: bool) {
    let allowed: &[&str] = if containers {
        &["inherit", "public", "view", "private"]
    } else {
        &["public", "view", "private"]
    };
    one_of(
        &format!("default_security of {what}"),
        &acl["default_security"],
        allowed,
    );
    for e in acl["data"].as_array().expect("data is an array") {
        check(
            what,
            e,
            &[
                ("id", Kind::Str),
                ("type", Kind::Str),
                ("name", Kind::Str),
                ("access_level", Kind::Str),
                ("access", Kind::Int),
            ],
            &[],
        );
        one_of(
            &format!("trustee type in {what}"),
            &e["type"],
            &["user", "group"],
        );
        let levels = ["no_access", "read", "read_write", "full_access"];
        let level = levels
            .iter()
            .position(|l| e["access_level"] == *l)
            .unwrap_or_else(|| panic!("{what}: access_level {}", e["access_level"]));
        assert_eq!(
            e["access"], level,
            "{what}: access is the code of access_level"
        );
    }
}

#[tokio::test]
async fn every_object_has_the_fields_and_types_the_contract_names() {
    let env = start(opts(Scale::Tiny)).await;
    // §2 discovery.
    let api = env.get_json(&format!("{}/api", env.base)).await;
    check(
        "data.user",
        &api["data"]["user"],
        &[
            ("id", Kind::Str),
            ("customer_id", Kind::Int),
            ("user_type", Kind::Str),
        ],
        &[("email", Kind::Str)],
    );
    one_of(
        "user_type",
        &api["data"]["user"]["user_type"],
        &["system", "regular"],
    );
    let v2 = &api["data"]["versions"][0];
    assert_eq!(v2["name"], "v2");
    assert!(
        v2["url"].as_str().unwrap().ends_with("/work/api/v2"),
        "{v2}"
    );
    check(
        "data.work",
        &api["data"]["work"],
        &[("preferred_library", Kind::Str)],
        &[],
    );
    let libs = env.get_json(&format!("{}{P}/libraries", env.base)).await;
    let libs = libs["data"].as_array().unwrap();
    for l in libs {
        check(
            "library",
            l,
            &[
                ("id", Kind::Str),
                ("type", Kind::Str),
                ("is_hidden", Kind::Bool),
            ],
            &[],
        );
    }

    for lib in libs.iter().map(|l| l["id"].as_str().unwrap()) {
        // §4/§5: workspaces come in the search envelope, children in the listing envelope.
        let page = env
            .get_json(&env.lib(lib, "/workspaces?limit=1&paging_mode=standard_cursor"))
            .await;
        assert!(page["data"]["results"].is_array(), "{page}");
        let workspaces = env.all_pages(&env.lib(lib, "/workspaces"), 100, true).await;
        let folders = env.crawl(lib, "folders/crawl", 1000, json!({})).await;
        for c in workspaces.iter().chain(&folders) {
            check_container(c, lib);
        }
        for ws in &workspaces {
            let id = ws["id"].as_str().unwrap();
            let one = env
                .get_json(&env.lib(lib, &format!("/workspaces/{id}")))
                .await;
            assert_eq!(&one["data"], ws, "GET one workspace is the listed object");
            let acl = env
                .get_json(&env.lib(lib, &format!("/workspaces/{id}/security")))
                .await;
            check_acl(&format!("workspace {id}"), &acl, true);
        }
        for f in folders.iter().take(5) {
            let id = f["id"].as_str().unwrap();
            let acl = env
                .get_json(&env.lib(lib, &format!("/folders/{id}/security")))
                .await;
            check_acl(&format!("folder {id}"), &acl, true);
            let kids = env
                .get_json(&env.lib(lib, &format!("/folders/{id}/children")))
                .await;
            for k in kids["data"].as_array().unwrap() {
                match k["wstype"].as_str() {
                    Some("folder") => check_container(k, lib),
                    _ => check_document(k, lib),
                }
            }
        }
        // §5: every version from the crawl and from the versions call.
        let versions = env.crawl(lib, "documents/crawl", 1000, json!({})).await;
        assert!(!versions.is_empty(), "{lib} has documents");
        for d in &versions {
            check_document(d, lib);
        }
        let doc = format!("{lib}!{}", versions[0]["document_number"]);
        let listed = env
            .get_json(&env.lib(lib, &format!("/documents/{doc}/versions")))
            .await;
        for d in listed["data"].as_array().unwrap() {
            check_document(d, lib);
        }
        let acl = env
            .get_json(&env.lib(lib, &format!("/documents/{doc}/security")))
            .await;
        check_acl(&format!("document {doc}"), &acl, false);
        // §8 rows.
        for row in env
            .crawl(lib, "documents/parents/search", 1000, json!({}))
            .await
        {
            check(
                "parent row",
                &row,
                &[
                    ("document_number", Kind::Int),
                    ("parent_id", Kind::ObjectId),
                ],
                &[],
            );
        }
        for (what, id_field) in [
            ("documents/security/allowed-trustees/search", "document_id"),
            (
                "containers/security/allowed-trustees/search",
                "container_id",
            ),
        ] {
            for row in env.crawl(lib, what, 1000, json!({})).await {
                check(
                    what,
                    &row,
                    &[
                        (id_field, Kind::ObjectId),
                        ("id", Kind::Str),
                        ("type", Kind::Str),
                        ("access_level", Kind::Str),
                    ],
                    &[],
                );
                one_of(what, &row["type"], &["user", "group"]);
                one_of(
                    what,
                    &row["access_level"],
                    &["no_access", "read", "read_write", "full_access"],
                );
            }
        }
    }

    // §9 error bodies: 404 and 400 with their codes.
    for (path, status, code) in [
        ("/documents/ACTIVE!999999999.1", 404, "NRC_NO_RECORD"),
        ("/workspaces?limit=501", 400, "NRC_INVALID_PARAM"),
        ("/workspaces?cursor=forged", 400, "NRC_INVALID_CURSOR"),
    ] {
        let r = env.get(&env.lib("ACTIVE", path)).await;
        assert_eq!(r.status(), status, "{path}");
        let body: Value = r.json().await.unwrap();
        check(
            path,
            &body["error"],
            &[
                ("code", Kind::Str),
                ("code_message", Kind::Str),
                ("transaction", Kind::Str),
            ],
            &[],
        );
        assert_eq!(body["error"]["code"], code, "{path}");
    }
}

#[test]
fn the_checks_refuse_what_the_contract_does_not_allow() {
    assert!(is_date("2026-11-03T14:02:11Z"));
    for bad in [
        "2026-11-03T14:02:11",
        "2026-11-03 14:02:11Z",
        "2026-11-03T14:02:11.5Z",
    ] {
        assert!(!is_date(bad), "{bad}");
    }
    assert!(is_id("ACTIVE!453", false) && is_id("ACTIVE!453.2", true));
    for bad in ["ACTIVE!453.2", "!453", "A!B!1", "ACTIVE!", "ACTIVE!x"] {
        assert!(!is_id(bad, false), "{bad}");
    }
    for bad in ["ACTIVE!453", "ACTIVE!453.", "A!.2", "A!1.2.3"] {
        assert!(!is_id(bad, true), "{bad}");
    }
    assert!(!kind_ok(&json!(1.5), Kind::Int) && kind_ok(&json!(1.5), Kind::Num));
}
