//! `find`'s two plans (by name range, in document order) give the same hits as a model of the
//! library, and the automatic choice takes the name range only for names few documents have.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use imvault::catalog::{Catalog, FindPlan, FindQuery, VersionOutline};
use imvault::imanage::model::LibraryId;

use super::fixture::*;

/// The name document `doc` has in snapshot `s` (1..=3) of a library, `None` when it is not in
/// that snapshot. Most are memos; every tenth a lease; a third (those ending in 2, 5 or 8 when
/// counted in threes) "Minutes", a name they share; one "Zeta"; every seventh is renamed in
/// snapshot 2; every eleventh is deleted in snapshot 3; one is named with `%`, `_` and `\`.
fn name_of(doc: u64, s: u32) -> Option<String> {
    if s == 3 && doc.is_multiple_of(11) {
        return None;
    }
    let base = if doc == 77 {
        "Zeta".to_string()
    } else if doc == 88 {
        // LIKE's wildcards and escape character, which a pattern's literal start must not be.
        r"50%_Off\Draft".to_string()
    } else if doc.is_multiple_of(10) {
        format!("Lease {doc}")
    } else if doc % 3 == 2 {
        "Minutes".to_string()
    } else {
        format!("Memo {doc}")
    };
    Some(if s >= 2 && doc.is_multiple_of(7) {
        format!("Renamed {base}")
    } else {
        base
    })
}

/// Versions of a document: 1 to 3.
fn versions_of(doc: u64) -> u32 {
    (doc % 3) as u32 + 1
}

fn author_of(doc: u64) -> &'static str {
    if doc.is_multiple_of(4) { "CD" } else { "AB" }
}

/// Edited on day `1 + doc % 20` of November 2026.
fn edit_day(doc: u64) -> u32 {
    1 + (doc % 20) as u32
}

const DOCS: u64 = 600;

/// Two libraries (ARCHIVE, then ACTIVE, so ids do not follow names), three snapshots each.
fn loaded() -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cat = Catalog::open(dir.path().join("catalog.sqlite")).expect("catalog");
    for library in ["ARCHIVE", "ACTIVE"] {
        let lib_id = LibraryId::new(library).expect("library");
        let mut parent: Option<String> = None;
        for s in 1..=3u32 {
            let id = format!("{}{s}", &library[..2]);
            let mut snap = snapshot(&id, s + if library == "ACTIVE" { 3 } else { 0 }, None);
            snap.library = lib_id.clone();
            snap.parent = parent.as_deref().map(sid);
            let mut load = cat.begin_snapshot(snap).expect("begin");
            for doc in 1..=DOCS {
                let Some(name) = name_of(doc, s) else {
                    continue;
                };
                for ver in 1..=versions_of(doc) {
                    let date = format!("2026-11-{:02}T10:00:00Z", edit_day(doc));
                    let mut v = version(
                        doc,
                        ver,
                        &name,
                        "docx",
                        author_of(doc),
                        1,
                        &date,
                        &date,
                        false,
                    );
                    v.id.document.library = lib_id.clone();
                    load.add_version(&v).expect("add");
                }
            }
            load.commit().expect("commit");
            parent = Some(id);
        }
    }
    (dir, cat)
}

/// What a query should find, from the model: version ids in order (libraries by name), each
/// with its snapshot count, at most `limit`. `matches` tests a name.
fn expected(
    library: Option<&str>,
    matches: impl Fn(&str) -> bool,
    author: Option<&str>,
    after_day: Option<u32>,
    limit: usize,
) -> Vec<(String, u64)> {
    let mut out: BTreeMap<(String, u64, u32), u64> = BTreeMap::new();
    for l in ["ACTIVE", "ARCHIVE"] {
        if library.is_some_and(|want| want != l) {
            continue;
        }
        for doc in 1..=DOCS {
            if author.is_some_and(|a| a != author_of(doc)) {
                continue;
            }
            if after_day.is_some_and(|d| edit_day(doc) <= d) {
                continue;
            }
            for s in 1..=3 {
                if name_of(doc, s).is_some_and(|n| matches(&n.to_lowercase())) {
                    for ver in 1..=versions_of(doc) {
                        *out.entry((l.to_string(), doc, ver)).or_default() += 1;
                    }
                }
            }
        }
    }
    out.into_iter()
        .take(limit)
        .map(|((l, doc, ver), n)| (format!("{l}!{doc}.{ver}"), n))
        .collect()
}

fn run(cat: &Catalog, q: &FindQuery, plan: FindPlan) -> Vec<(String, u64)> {
    cat.find_planned(q, plan)
        .expect("find")
        .into_iter()
        .map(|h| (h.version.id.to_string(), h.snapshot_count()))
        .collect()
}

#[test]
fn both_plans_find_what_the_model_holds() {
    let (_dir, cat) = loaded();
    type Matcher = fn(&str) -> bool;
    let cases: [(&str, Matcher); 11] = [
        ("memo*", |n| n.starts_with("memo")),
        ("lease*", |n| n.starts_with("lease")),
        ("zeta*", |n| n.starts_with("zeta")),
        ("memo 1*", |n| n.starts_with("memo 1")),
        ("renamed*", |n| n.starts_with("renamed")),
        ("*5", |n| n.ends_with('5')),
        ("memo 15", |n| n == "memo 15"),
        // A whole name hundreds of documents share, in both libraries.
        ("minutes", |n| n == "minutes"),
        ("renamed minutes", |n| n == "renamed minutes"),
        (r"50%_off\d*", |n| n.starts_with(r"50%_off\d")),
        (r"50%_off\draft", |n| n == r"50%_off\draft"),
    ];
    let (mut compared, mut authored) = (0, 0);
    for (pattern, matches) in cases {
        for library in [None, Some("ARCHIVE")] {
            for (author, after_day) in [(None, None), (Some("CD"), None), (None, Some(15))] {
                for limit in [1, 7, 200, 10_000] {
                    let q = FindQuery {
                        library: library.map(|l| LibraryId::new(l).expect("library")),
                        name: Some(pattern.to_uppercase()),
                        author: author.map(str::to_string),
                        modified_after: after_day.map(|d| {
                            Utc.with_ymd_and_hms(2026, 11, d, 12, 0, 0)
                                .single()
                                .expect("date")
                        }),
                        limit: Some(limit),
                        ..Default::default()
                    };
                    let want = expected(library, matches, author, after_day, limit);
                    for plan in [FindPlan::ByName, FindPlan::InDocumentOrder, FindPlan::Auto] {
                        assert_eq!(run(&cat, &q, plan), want, "{plan:?} for {q:?}");
                    }
                    // The outlines are the whole hits' columns, author and snapshots.
                    let outlines = cat.find_outlines(&q).expect("find outlines");
                    let whole: Vec<_> = cat
                        .find(&q)
                        .expect("find")
                        .into_iter()
                        .map(|h| {
                            let v = &h.version;
                            let outline = VersionOutline {
                                id: v.id.clone(),
                                kind: v.kind,
                                name: v.name.clone(),
                                extension: v.extension.clone(),
                                size: v.size,
                                author: v.author().map(str::to_string),
                            };
                            (outline, h.snapshots)
                        })
                        .collect();
                    let outlines: Vec<_> = outlines
                        .into_iter()
                        .map(|h| (h.version, h.snapshots))
                        .collect();
                    assert_eq!(outlines, whole, "outlines for {q:?}");
                    authored += outlines.iter().filter(|(v, _)| v.author.is_some()).count();
                    compared += usize::from(!want.is_empty());
                }
            }
        }
    }
    // Most cases have hits (a model mistake giving empty answers everywhere would pass above).
    assert!(compared > 100, "only {compared} cases had hits");
    assert!(authored > 1000, "only {authored} outlines named an author");
}

#[test]
fn the_name_range_is_taken_only_for_names_few_documents_have() {
    let (_dir, cat) = loaded();
    let plan = |name: &str, limit: usize| {
        cat.find_plan(&FindQuery {
            name: Some(name.into()),
            limit: Some(limit),
            ..Default::default()
        })
        .expect("plan")
    };
    // 2 libraries x ~2,400 version rows; with a limit of 10 a range is common from
    // sqrt(10 * rows) ~ 220 documents: memos (~700 documents) and minutes (~360) are,
    // leases (~120) and "Zeta" (2) are not.
    assert_eq!(plan("memo*", 10), FindPlan::InDocumentOrder);
    assert_eq!(plan("minutes*", 10), FindPlan::InDocumentOrder);
    assert_eq!(plan("lease*", 10), FindPlan::ByName);
    assert_eq!(plan("zeta", 10), FindPlan::ByName);
    // A whole name, however common: the name index gives its documents in order.
    assert_eq!(plan("minutes", 10), FindPlan::ByName);
    // A large limit makes even the memos cheaper by name.
    assert_eq!(plan("memo*", 10_000), FindPlan::ByName);
    // No literal start: no range to read.
    assert_eq!(plan("*memo", 10), FindPlan::InDocumentOrder);
    assert_eq!(
        cat.find_plan(&FindQuery::default()).expect("plan"),
        FindPlan::InDocumentOrder
    );
}
