//! Every query as of each of the three snapshots.

use super::fixture::*;
use imvault::catalog::{Catalog, ContainerName, FindQuery, PlaceContents, SnapshotId};
use imvault::imanage::model::{ContainerKind, DocumentKind};

fn names(l: &PlaceContents) -> Vec<&str> {
    l.containers.iter().map(|c| c.name.as_str()).collect()
}

/// (document number, [(version, name)]) of a listing.
fn docs(l: &PlaceContents) -> Vec<(u64, Vec<(u32, String)>)> {
    l.documents
        .iter()
        .map(|d| {
            (
                d.id.number,
                d.versions
                    .iter()
                    .map(|v| (v.id.version, v.name.clone()))
                    .collect(),
            )
        })
        .collect()
}

/// A place's listing; its outline (what `ls` prints) checked to name the same containers and
/// hold the same documents.
fn ls(cat: &Catalog, s: &str, parent: Option<u64>) -> PlaceContents {
    let full = cat
        .children(&sid(s), parent.map(cid).as_ref())
        .expect("listing");
    let outline = cat
        .children_outline(&sid(s), parent.map(cid).as_ref())
        .expect("outline");
    let named: Vec<ContainerName> = full
        .containers
        .iter()
        .map(|c| ContainerName {
            id: c.id.clone(),
            kind: c.kind,
            name: c.name.clone(),
        })
        .collect();
    assert_eq!(outline.containers, named, "{s} {parent:?}");
    assert_eq!(outline.documents, full.documents, "{s} {parent:?}");
    full
}

/// The snapshot ids of a span, expanded.
fn refs(cat: &Catalog, span: &imvault::catalog::SnapshotSpan) -> Vec<&'static str> {
    let all = cat.snapshots_in_span(span).expect("expand span");
    assert_eq!(all.len() as u64, span.count());
    all.into_iter()
        .map(|s| match s.id {
            id if id == sid("s1") => "s1",
            id if id == sid("s2") => "s2",
            id if id == sid("s3") => "s3",
            other => panic!("unexpected snapshot {other}"),
        })
        .collect()
}

#[test]
fn ls_as_of_each_snapshot() {
    let (cat, _, _) = loaded();
    for s in ["s1", "s2", "s3"] {
        let top = ls(&cat, s, None);
        assert_eq!(names(&top), ["Acme v Beta", "Gamma"], "{s}");
        assert!(top.documents.is_empty());
        assert_eq!(top.containers[0].client(), Some("ACME"));
        assert_eq!(top.containers[0].matter(), Some("M-001"));
        let w1 = ls(&cat, s, Some(1));
        assert_eq!(names(&w1), ["Documents", "Recent"], "{s}");
        assert_eq!(w1.containers[0].kind, ContainerKind::Tab);
        assert_eq!(w1.containers[1].kind, ContainerKind::SearchFolder);
        assert_eq!(
            docs(&ls(&cat, s, Some(2))),
            [(102, vec![(1, "Re: settlement".into())])]
        );
    }
    let lease = |vs: &[u32]| (100, vs.iter().map(|v| (*v, "Lease".to_string())).collect());
    assert_eq!(
        docs(&ls(&cat, "s1", Some(3))),
        [lease(&[1, 2]), (101, vec![(1, "Draft agreement".into())])]
    );
    assert_eq!(
        docs(&ls(&cat, "s2", Some(3))),
        [
            lease(&[1, 2, 3]),
            (101, vec![(1, "Final agreement".into())])
        ]
    );
    assert_eq!(docs(&ls(&cat, "s3", Some(3))), [lease(&[1, 2, 3])]);

    assert_eq!(names(&ls(&cat, "s1", Some(5))), ["Drafts"]);
    assert_eq!(names(&ls(&cat, "s2", Some(5))), ["Drafts 2"]);
    let doc_numbers = |s| -> Vec<u64> {
        ls(&cat, s, Some(6))
            .documents
            .iter()
            .map(|d| d.id.number)
            .collect()
    };
    assert_eq!(doc_numbers("s1"), [101, 103]);
    assert_eq!(doc_numbers("s2"), [101]);
    assert_eq!(doc_numbers("s3"), [103]);

    let err = cat
        .children(&sid("nope"), None)
        .expect_err("unknown snapshot");
    assert!(err.to_string().contains(&sid("nope").to_string()), "{err}");
}

#[test]
fn paths_containers_versions_and_acls_as_of_snapshots() {
    let (cat, _, _) = loaded();
    let p = cat
        .resolve_path(&sid("s1"), "Acme v Beta/Documents/Contracts")
        .expect("resolve")
        .expect("found");
    assert_eq!(p.id, cid(3));
    assert!(
        cat.resolve_path(&sid("s2"), "Gamma/Drafts")
            .expect("resolve")
            .is_none()
    );
    assert_eq!(
        cat.resolve_path(&sid("s2"), "/Gamma/Drafts 2/")
            .expect("resolve")
            .map(|c| c.id),
        Some(cid(6))
    );

    let w1 = |s| {
        cat.container_in(&sid(s), &cid(1))
            .expect("query")
            .expect("present")
    };
    assert_eq!(w1("s2").acl, Some(acl_x().normalized()));
    assert_eq!(w1("s3").acl, Some(acl_y().normalized()));

    let v = |s, d, n| cat.version_in(&sid(s), &vid(d, n)).expect("query");
    assert_eq!(v("s1", 101, 1).expect("present").name, "Draft agreement");
    assert_eq!(v("s2", 101, 1).expect("present").name, "Final agreement");
    assert!(v("s3", 101, 1).is_none());
    assert!(v("s1", 100, 3).is_none());
    let v3 = v("s3", 100, 3).expect("present");
    assert_eq!(v3.size, 100_003);
    assert_eq!(v3.content["blob"], "b3-100-3");
    assert_eq!(v3.profile["custom17"], 42);
    let email = v("s2", 102, 1).expect("present");
    assert_eq!(email.kind, DocumentKind::Email);

    let acl = |s, d| cat.document_acl_in(&sid(s), &did(d)).expect("query");
    assert_eq!(acl("s2", 102), Some(acl_a().normalized()));
    assert_eq!(acl("s3", 102), Some(acl_b().normalized()));
    assert_eq!(acl("s3", 101), None);

    assert_eq!(cat.skipped(&sid("s2")).expect("query").len(), 1);
    assert!(cat.skipped(&sid("s3")).expect("query").is_empty());
}

#[test]
fn snapshot_at_latest_and_listing() {
    let (cat, _, _) = loaded();
    let at = |d: u32, h: u32| {
        let t = day(d) + chrono::Duration::hours(i64::from(h));
        cat.snapshot_at(&lib(), t).expect("query").map(|i| i.row.id)
    };
    assert_eq!(at(1, 0), Some(sid("s1")));
    assert_eq!(at(2, 5), Some(sid("s2")));
    assert_eq!(at(9, 0), Some(sid("s3")));
    let before = cat
        .snapshot_at(&lib(), day(1) - chrono::Duration::seconds(1))
        .expect("query");
    assert!(before.is_none());
    assert_eq!(
        cat.latest_snapshot(&lib())
            .expect("query")
            .map(|i| i.row.id),
        Some(sid("s3"))
    );
    assert!(
        cat.latest_snapshot(&"OTHER".parse().expect("lib"))
            .expect("query")
            .is_none()
    );
    let all: Vec<SnapshotId> = cat
        .snapshots(None)
        .expect("query")
        .into_iter()
        .map(|i| i.row.id)
        .collect();
    assert_eq!(all, [sid("s1"), sid("s2"), sid("s3")]);
    assert_eq!(
        cat.snapshot(&sid("s2"))
            .expect("query")
            .expect("present")
            .row
            .time,
        day(2)
    );
}

#[test]
fn document_versions_lists_every_state_with_its_snapshots() {
    let (cat, _, _) = loaded();
    let h = cat.document_versions(&did(100)).expect("history");
    let got: Vec<_> = h
        .iter()
        .map(|x| (x.version.id.version, refs(&cat, &x.snapshots)))
        .collect();
    assert_eq!(
        got,
        [
            (1, vec!["s1", "s2", "s3"]),
            (2, vec!["s1", "s2", "s3"]),
            (3, vec!["s2", "s3"])
        ]
    );
    let h = cat.document_versions(&did(101)).expect("history");
    let got: Vec<_> = h
        .iter()
        .map(|x| (x.version.name.as_str(), refs(&cat, &x.snapshots)))
        .collect();
    assert_eq!(
        got,
        [
            ("Draft agreement", vec!["s1"]),
            ("Final agreement", vec!["s2"])
        ]
    );
    let h = cat.document_versions(&did(103)).expect("history");
    let got: Vec<_> = h.iter().map(|x| refs(&cat, &x.snapshots)).collect();
    assert_eq!(got, [vec!["s1"], vec!["s3"]]);
    assert!(
        cat.document_versions(&did(999))
            .expect("history")
            .is_empty()
    );
}

#[test]
fn find_filters_and_reports_snapshots() {
    let (cat, _, _) = loaded();
    let find = |q: FindQuery| -> Vec<(String, Vec<String>)> {
        cat.find(&q)
            .expect("find")
            .into_iter()
            .map(|h| {
                let ids: Vec<String> = h
                    .snapshots
                    .iter()
                    .flat_map(|s| refs(&cat, s))
                    .map(String::from)
                    .collect();
                assert_eq!(ids.len() as u64, h.snapshot_count());
                (h.version.id.to_string(), ids)
            })
            .collect()
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    let hits = find(FindQuery {
        name: Some("draft*".into()),
        ..Default::default()
    });
    assert_eq!(hits, [("ACTIVE!101.1".to_string(), s(&["s1"]))]);
    // A literal start reads the documents named so (version_names), then their versions:
    // the renamed state only, and the extension matches as `name.extension`.
    let hits = find(FindQuery {
        name: Some("FINAL*".into()),
        ..Default::default()
    });
    assert_eq!(hits, [("ACTIVE!101.1".to_string(), s(&["s2"]))]);
    let txt = cat
        .find(&FindQuery {
            name: Some("*.TXT".into()),
            ..Default::default()
        })
        .expect("find");
    let start: String = txt[0].version.name.chars().take(1).collect();
    let hits = find(FindQuery {
        name: Some(format!("{start}*.TxT")),
        ..Default::default()
    });
    assert!(
        hits.iter().any(|h| h.0 == "ACTIVE!103.1"),
        "{start}*.TxT: {hits:?}"
    );

    let hits = find(FindQuery {
        name: Some("*agreement".into()),
        ..Default::default()
    });
    assert_eq!(hits, [("ACTIVE!101.1".to_string(), s(&["s1", "s2"]))]);
    let full = cat
        .find(&FindQuery {
            name: Some("*agreement".into()),
            ..Default::default()
        })
        .expect("find");
    assert_eq!(
        full[0].version.name, "Final agreement",
        "newest matching state"
    );

    let hits = find(FindQuery {
        name: Some("*.TXT".into()),
        ..Default::default()
    });
    assert_eq!(hits, [("ACTIVE!103.1".to_string(), s(&["s1", "s3"]))]);

    let hits = find(FindQuery {
        client: Some("acme".into()),
        matter: Some("M-001".into()),
        ..Default::default()
    });
    let ids: Vec<&str> = hits.iter().map(|h| h.0.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ACTIVE!100.1",
            "ACTIVE!100.2",
            "ACTIVE!100.3",
            "ACTIVE!101.1",
            "ACTIVE!102.1"
        ]
    );
    assert!(
        find(FindQuery {
            client: Some("acme".into()),
            matter: Some("M-002".into()),
            ..Default::default()
        })
        .is_empty()
    );

    let hits = find(FindQuery {
        author: Some("jsmith".into()),
        modified_after: Some(day(1)),
        ..Default::default()
    });
    let ids: Vec<&str> = hits.iter().map(|h| h.0.as_str()).collect();
    assert_eq!(
        ids,
        Vec::<&str>::new(),
        "JSMITH's documents were all edited before November"
    );
    let hits = find(FindQuery {
        author: Some("JSMITH".into()),
        modified_after: Some(day(1) - chrono::Duration::days(35)),
        library: Some(lib()),
        ..Default::default()
    });
    let ids: Vec<&str> = hits.iter().map(|h| h.0.as_str()).collect();
    assert_eq!(ids, ["ACTIVE!100.1", "ACTIVE!100.2", "ACTIVE!100.3"]);

    let hits = find(FindQuery {
        limit: Some(2),
        ..Default::default()
    });
    assert_eq!(hits.len(), 2);
    assert!(
        find(FindQuery {
            library: Some("ARCHIVE".parse().expect("lib")),
            ..Default::default()
        })
        .is_empty()
    );
}

#[test]
fn subtree_plans_a_restore_as_of_a_snapshot() {
    let (cat, _, _) = loaded();
    let plan = cat
        .subtree(&sid("s1"), &cid(1))
        .expect("plan")
        .expect("workspace present");
    let order: Vec<u64> = plan.containers.iter().map(|c| c.id.number).collect();
    assert_eq!(order, [1, 2, 4, 3], "root, then by level and name");
    let docs: Vec<(u64, Vec<u32>, Vec<u64>)> = plan
        .documents
        .iter()
        .map(|d| {
            (
                d.id.number,
                d.versions.iter().map(|v| v.id.version).collect(),
                d.filings.iter().map(|f| f.number).collect(),
            )
        })
        .collect();
    assert_eq!(
        docs,
        [
            (100, vec![1, 2], vec![3]),
            (101, vec![1], vec![3]),
            (102, vec![1], vec![2])
        ]
    );
    assert_eq!(plan.documents[2].acl, Some(acl_a().normalized()));
    assert_eq!(plan.containers[0].acl, Some(acl_x().normalized()));

    let plan3 = cat
        .subtree(&sid("s3"), &cid(1))
        .expect("plan")
        .expect("present");
    let docs3: Vec<u64> = plan3.documents.iter().map(|d| d.id.number).collect();
    assert_eq!(docs3, [100, 102]);
    assert_eq!(plan3.documents[0].versions.len(), 3);
    assert_eq!(plan3.documents[1].acl, Some(acl_b().normalized()));
    assert_eq!(plan3.containers[0].acl, Some(acl_y().normalized()));

    let folder = cat
        .subtree(&sid("s2"), &cid(6))
        .expect("plan")
        .expect("present");
    assert_eq!(folder.containers.len(), 1);
    assert_eq!(folder.containers[0].name, "Drafts 2");
    let d: Vec<u64> = folder.documents.iter().map(|d| d.id.number).collect();
    assert_eq!(d, [101]);
    assert_eq!(folder.documents[0].versions[0].name, "Final agreement");

    assert!(cat.subtree(&sid("s1"), &cid(77)).expect("plan").is_none());
}

/// `content_at_least` adds up the sizes of the versions a snapshot holds (not those of other
/// snapshots): true up to their total, false one byte past it.
#[test]
fn content_at_least_adds_up_the_versions_of_one_snapshot() {
    let (cat, snaps, _) = loaded();
    let totals: Vec<u64> = snaps
        .iter()
        .map(|s| s.versions.iter().map(|v| v.size).sum())
        .collect();
    assert!(
        totals.windows(2).any(|w| w[0] != w[1]),
        "the snapshots hold different content: {totals:?}"
    );
    for (s, total) in snaps.iter().zip(&totals) {
        let id = s.row.id;
        for (bytes, want) in [(0, true), (1, true), (*total, true), (total + 1, false)] {
            assert_eq!(
                cat.content_at_least(&id, bytes).expect("query"),
                want,
                "{id} holds {total} bytes; at least {bytes}?"
            );
        }
    }
    assert!(cat.content_at_least(&sid("nope"), 1).is_err());
}

#[test]
fn scans_stream_a_whole_snapshot() {
    let (cat, _, _) = loaded();
    assert_eq!(cat.libraries().expect("libraries"), [lib()]);
    let mut seen = Vec::new();
    let n = cat
        .for_each_version(&sid("s2"), |v| {
            seen.push((v.id.to_string(), v.name));
            Ok::<_, std::convert::Infallible>(())
        })
        .expect("scan");
    assert_eq!(n, 5);
    let ids: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ACTIVE!100.1",
            "ACTIVE!100.2",
            "ACTIVE!100.3",
            "ACTIVE!101.1",
            "ACTIVE!102.1"
        ]
    );
    assert_eq!(seen[3].1, "Final agreement");

    let mut names = Vec::new();
    cat.for_each_container(&sid("s1"), |c| {
        names.push(c.name);
        Ok::<_, std::convert::Infallible>(())
    })
    .expect("scan");
    assert_eq!(
        names,
        [
            "Acme v Beta",
            "Documents",
            "Contracts",
            "Recent",
            "Gamma",
            "Drafts"
        ]
    );

    let err = cat
        .for_each_version(&sid("s1"), |_| Err(std::io::Error::other("disk full")))
        .expect_err("caller error propagates");
    assert!(
        matches!(err, imvault::catalog::ScanError::Caller { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&sid("s1").to_string()), "{err}");
}

#[test]
fn document_plan_has_every_filing_versions_and_acl() {
    let (cat, _, _) = loaded();
    let plan = cat
        .document_plan(&sid("s1"), &did(101))
        .expect("plan")
        .expect("present");
    let filings: Vec<u64> = plan.filings.iter().map(|f| f.number).collect();
    assert_eq!(filings, [3, 6], "filed in two folders of two workspaces");
    assert_eq!(plan.versions.len(), 1);
    assert_eq!(plan.versions[0].content["blob"], "b3-101-1");
    assert_eq!(plan.acl, Some(acl_x().normalized()));
    assert!(
        cat.document_plan(&sid("s3"), &did(101))
            .expect("plan")
            .is_none()
    );
    let d100 = cat
        .document_plan(&sid("s2"), &did(100))
        .expect("plan")
        .expect("present");
    assert_eq!(
        d100.versions
            .iter()
            .map(|v| v.id.version)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

/// API dates are stored as seconds when they format back exactly, else as text: both read back
/// as given, and `find --modified-after` compares both by time.
#[test]
fn dates_read_back_exactly_and_filter_by_time_however_stored() {
    let mut cat = Catalog::open_in_memory().expect("catalog");
    let dates = [
        (200, "2026-10-05T10:00:00Z"),
        (201, "2026-10-05T10:00:00.500Z"),
        (202, "2026-10-05T11:00:00+01:00"),
        (203, "5 October 2026"),
    ];
    let mut load = cat
        .begin_snapshot(snapshot("dates", 6, None))
        .expect("begin");
    for (doc, date) in dates {
        load.add_version(&version(doc, 1, "Memo", "docx", "AB", 1, date, date, false))
            .expect("add");
    }
    // A profile date other than the edit date (the catalog stores an equal one as "same").
    let (edit, profile_date) = ("2026-10-05T10:00:00Z", "2026-10-06T09:00:00.250Z");
    load.add_version(&version(
        204,
        1,
        "Memo",
        "docx",
        "AB",
        1,
        edit,
        profile_date,
        false,
    ))
    .expect("add");
    load.commit().expect("commit");
    let v = cat
        .version_in(&sid("dates"), &vid(204, 1))
        .expect("read")
        .expect("present");
    assert_eq!(v.edit_date.as_deref(), Some(edit));
    assert_eq!(v.edit_profile_date.as_deref(), Some(profile_date));
    assert_eq!(v.profile["edit_profile_date"], profile_date);
    for (doc, date) in dates {
        let v = cat
            .version_in(&sid("dates"), &vid(doc, 1))
            .expect("read")
            .expect("present");
        assert_eq!(v.edit_date.as_deref(), Some(date));
        assert_eq!(v.edit_profile_date.as_deref(), Some(date));
        assert_eq!(v.profile["edit_date"], date);
    }
    let after = |t: &str| -> Vec<u64> {
        cat.find(&FindQuery {
            modified_after: Some(t.parse().expect("time")),
            ..Default::default()
        })
        .expect("find")
        .iter()
        .map(|h| h.version.id.document.number)
        .collect()
    };
    // 202 and 204 are 10:00:00Z too (204's later profile date is not its edit date); 203
    // has no time and never matches a time filter.
    assert_eq!(after("2026-10-05T09:59:59Z"), [200, 201, 202, 204]);
    assert_eq!(after("2026-10-05T10:00:00Z"), [201]);
    assert_eq!(after("2026-10-05T10:00:01Z"), Vec::<u64>::new());
}

/// `find --name` with a literal start lists libraries in name order (whatever order they were
/// first catalogued in), documents ascending within each, each document once however many of
/// its versions match.
#[test]
fn find_by_name_orders_libraries_by_name_and_documents_by_number() {
    let mut cat = Catalog::open_in_memory().expect("catalog");
    let zed = imvault::imanage::model::LibraryId::new("ZED").expect("library");
    let mut snap = snapshot("z1", 5, None);
    snap.library = zed.clone();
    let mut load = cat.begin_snapshot(snap).expect("begin");
    for (doc, ver, name) in [(9, 1, "Memo a"), (3, 1, "Memo b"), (3, 2, "Memo c")] {
        let mut v = version(
            doc,
            ver,
            name,
            "docx",
            "AB",
            1,
            "2026-10-05T10:00:00Z",
            "2026-10-05T10:00:00Z",
            false,
        );
        v.id.document.library = zed.clone();
        load.add_version(&v).expect("add");
    }
    load.commit().expect("commit");
    let mut load = cat.begin_snapshot(snapshot("a1", 6, None)).expect("begin");
    for (doc, name) in [(7, "Memo x"), (2, "Memo y")] {
        load.add_version(&version(
            doc,
            1,
            name,
            "docx",
            "AB",
            1,
            "2026-10-05T10:00:00Z",
            "2026-10-05T10:00:00Z",
            false,
        ))
        .expect("add");
    }
    load.commit().expect("commit");
    let hits: Vec<String> = cat
        .find(&FindQuery {
            name: Some("memo*".into()),
            ..Default::default()
        })
        .expect("find")
        .iter()
        .map(|h| h.version.id.to_string())
        .collect();
    assert_eq!(
        hits,
        ["ACTIVE!2.1", "ACTIVE!7.1", "ZED!3.1", "ZED!3.2", "ZED!9.1"]
    );
}
