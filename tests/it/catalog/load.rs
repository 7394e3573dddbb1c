//! Loading: change counts, refusals, duplicates.

use super::fixture::*;
use imvault::catalog::{Catalog, CatalogError, ChangeCounts, SnapshotRow};
use serde_json::json;

#[test]
fn load_reports_count_changes_against_the_previous_snapshot() {
    let (cat, _, reports) = loaded();
    let [r1, r2, r3] = &reports[..] else {
        panic!("three reports expected, got {}", reports.len())
    };
    assert_eq!((r1.seq, r2.seq, r3.seq), (1, 2, 3));
    assert_eq!(
        r1.versions,
        ChangeCounts {
            added: 5,
            ..Default::default()
        }
    );
    // s2: 100.1, 100.2, 102.1 unchanged; 101.1 changed profile; 100.3 new; 103.1 deleted.
    assert_eq!(
        r2.versions,
        ChangeCounts {
            unchanged: 3,
            changed: 1,
            added: 1,
            removed: 1,
            duplicates: 0
        }
    );
    // s3: 100.x and 102.1 unchanged, 103.1 back (a new row), 101.1 deleted.
    assert_eq!(
        r3.versions,
        ChangeCounts {
            unchanged: 4,
            changed: 0,
            added: 1,
            removed: 1,
            duplicates: 0
        }
    );
    // folder 6 renamed in s2; workspace 1 ACL changed in s3.
    assert_eq!((r2.containers.changed, r2.containers.unchanged), (1, 5));
    assert_eq!((r3.containers.changed, r3.containers.unchanged), (1, 5));
    assert_eq!(
        (r2.filings.removed, r3.filings.removed, r3.filings.added),
        (1, 2, 1)
    );
    assert_eq!((r3.document_acls.changed, r3.document_acls.removed), (1, 1));
    assert_eq!(r2.skipped, 1);

    let infos = cat.snapshots(Some(&lib())).expect("snapshots listed");
    let counts: Vec<_> = infos
        .iter()
        .map(|i| (i.seq, i.counts.versions, i.counts.skipped))
        .collect();
    assert_eq!(counts, vec![(1, 5, 0), (2, 5, 1), (3, 5, 0)]);
    assert_eq!(infos[1].row.parent, Some(sid("s1")));
    assert_eq!(
        infos[1].row.summary,
        json!({"walk_seconds": 2, "warnings": []})
    );
}

#[test]
fn older_snapshot_is_refused_outside_a_rebuild_and_leaves_nothing() {
    let (mut cat, snaps, _) = loaded();
    let before = cat.canonical_dump().expect("dump");
    let mut old = snaps[0].row.clone();
    old.id = sid("s0");
    let err = cat
        .begin_snapshot(old)
        .err()
        .expect("older snapshot refused");
    assert!(matches!(err, CatalogError::OutOfOrder { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&sid("s0").to_string())
            && msg.contains(&sid("s3").to_string())
            && msg.contains("rebuild"),
        "{msg}"
    );

    let err = cat
        .begin_snapshot(snaps[2].row.clone())
        .err()
        .expect("same snapshot twice refused");
    assert!(
        matches!(err, CatalogError::SnapshotExists { .. }),
        "{err:?}"
    );
    assert_eq!(cat.canonical_dump().expect("dump"), before);

    // Another library has its own order.
    let other = SnapshotRow {
        id: sid("a1"),
        library: "ARCHIVE".parse().expect("library"),
        ..snaps[0].row.clone()
    };
    let report = cat
        .begin_snapshot(other)
        .expect("other library")
        .commit()
        .expect("commit");
    assert_eq!(report.seq, 1);
}

#[test]
fn abandoned_load_rolls_back() {
    let mut cat = Catalog::open_in_memory().expect("catalog");
    let snaps = three_snapshots();
    {
        let mut load = cat.begin_snapshot(snaps[0].row.clone()).expect("begin");
        snaps[0].fill(&mut load).expect("fill");
        // dropped without commit
    }
    assert!(!cat.has_snapshot(&sid("s1")).expect("query"));
    assert_eq!(cat.canonical_dump().expect("dump"), "");
    snaps[0].load_into(&mut cat);
    assert!(cat.has_snapshot(&sid("s1")).expect("query"));
}

#[test]
fn duplicates_are_ignored_and_conflicts_refused() {
    let mut cat = Catalog::open_in_memory().expect("catalog");
    let snaps = three_snapshots();
    let mut load = cat.begin_snapshot(snaps[0].row.clone()).expect("begin");
    let v = snaps[0].versions[0].clone();
    load.add_version(&v).expect("first add");
    load.add_version(&v)
        .expect("same state again is a duplicate");
    let mut other = v.clone();
    other.size += 1;
    let err = load.add_version(&other).expect_err("conflicting duplicate");
    assert!(
        matches!(err, CatalogError::ConflictingDuplicate { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("ACTIVE!100.1"), "{err}");
    load.add_filing(&snaps[0].filings[0]).expect("filing");
    load.add_filing(&snaps[0].filings[0]).expect("filing again");

    let mut foreign = v.clone();
    foreign.id = "ARCHIVE!1.1".parse().expect("id");
    let err = load.add_version(&foreign).expect_err("wrong library");
    assert!(matches!(err, CatalogError::WrongLibrary { .. }), "{err:?}");
    assert!(err.to_string().contains("ARCHIVE!1.1"), "{err}");

    let report = load.commit().expect("commit");
    assert_eq!((report.versions.added, report.versions.duplicates), (1, 1));
    assert_eq!((report.filings.added, report.filings.duplicates), (1, 1));
}

/// Loads `now` as the differences from `before` (what the catalog sync does when the catalog
/// holds the parent): carry every kind over, add only items that are not identical to one of
/// `before` (plus `readd`, identical ones given again as if their stored bytes differed), and
/// drop the keys of `before` that `now` lacks.
fn load_as_differences(
    cat: &mut Catalog,
    before: &SnapData,
    now: &SnapData,
    readd: usize,
) -> imvault::catalog::LoadReport {
    use imvault::catalog::{RowKey, RowKind};
    let mut load = cat.begin_snapshot(now.row.clone()).expect("begin");
    assert_eq!(load.previous(), Some(&before.row.id));
    for kind in [
        RowKind::Containers,
        RowKind::Versions,
        RowKind::Filings,
        RowKind::DocumentAcls,
    ] {
        load.carry_over(kind).expect("carry over");
    }
    let mut readd = readd;
    for c in &now.containers {
        if !before.containers.contains(c) || std::mem::take(&mut readd) > 0 {
            load.add_container(c).expect("container");
        }
    }
    for v in &now.versions {
        if !before.versions.contains(v) {
            load.add_version(v).expect("version");
        }
    }
    for f in &now.filings {
        if !before.filings.contains(f) {
            load.add_filing(f).expect("filing");
        }
    }
    for (d, a) in &now.acls {
        if !before.acls.contains(&(d.clone(), a.clone())) {
            load.add_document_acl(d, a).expect("acl");
        }
    }
    // Items of `before` not given again identically: gone (their carried row ends) or
    // replaced by the add above (nothing left to end).
    let mut drop = |key: RowKey, gone: bool| {
        let dropped = load.drop_carried(&key).expect("drop");
        assert_eq!(dropped, gone, "{key:?}: gone {gone}");
    };
    for c in before
        .containers
        .iter()
        .filter(|c| !now.containers.contains(c))
    {
        let gone = !now.containers.iter().any(|n| n.id == c.id);
        drop(RowKey::Container(c.id.clone()), gone);
    }
    for v in before.versions.iter().filter(|v| !now.versions.contains(v)) {
        let gone = !now.versions.iter().any(|n| n.id == v.id);
        drop(RowKey::Version(v.id.clone()), gone);
    }
    for f in before.filings.iter().filter(|f| !now.filings.contains(f)) {
        drop(RowKey::Filing(f.clone()), true);
    }
    for (d, _) in before.acls.iter().filter(|x| !now.acls.contains(x)) {
        let gone = !now.acls.iter().any(|(n, _)| n == d);
        drop(RowKey::DocumentAcl(d.clone()), gone);
    }
    for s in &now.skipped {
        load.add_skipped(s).expect("skipped");
    }
    load.commit().expect("commit")
}

#[test]
fn loading_only_the_differences_gives_the_same_catalog_as_loading_everything() {
    let (reference, snaps, reports) = loaded();
    let mut cat = Catalog::open_in_memory().expect("catalog");
    let first = snaps[0].load_into(&mut cat);
    assert_eq!(first, reports[0]);
    for (i, readd) in [(1, 0), (2, 2)] {
        let report = load_as_differences(&mut cat, &snaps[i - 1], &snaps[i], readd);
        assert_eq!(report, reports[i], "report of snapshot {}", i + 1);
    }
    assert_eq!(
        cat.canonical_dump().expect("dump"),
        reference.canonical_dump().expect("dump")
    );
}

#[test]
fn carry_over_is_refused_after_rows_of_its_kind_were_added() {
    use imvault::catalog::RowKind;
    let (mut cat, _, _) = loaded();
    let mut next = three_snapshots()[2].clone();
    next.row.id = sid("s4");
    next.row.parent = Some(sid("s3"));
    next.row.time = day(4);
    let mut load = cat.begin_snapshot(next.row.clone()).expect("begin");
    load.add_version(&next.versions[0]).expect("version");
    let err = load
        .carry_over(RowKind::Versions)
        .expect_err("versions were added already");
    assert!(err.to_string().contains("versions"), "{err}");
    assert_eq!(load.carry_over(RowKind::Filings).expect("filings"), 3);
}

/// Catalogs written before rows had open ends (rows of the newest snapshot ended at its
/// ordinal) are continued correctly by both ways of loading the next snapshot.
#[test]
fn a_catalog_without_open_ends_is_continued_as_if_it_had_them() {
    let (reference, snaps, reports) = loaded();
    for differences in [false, true] {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("catalog.db");
        {
            let mut cat = Catalog::open(&path).expect("catalog");
            snaps[0].load_into(&mut cat);
            snaps[1].load_into(&mut cat);
        }
        let conn = rusqlite::Connection::open(&path).expect("sqlite");
        for table in ["containers", "versions", "filings", "document_acls"] {
            let n = conn
                .execute(
                    &format!("UPDATE {table} SET last_seq = 2 WHERE last_seq = ''"),
                    [],
                )
                .expect("old-style ends");
            assert!(n > 0, "{table} had open rows");
        }
        drop(conn);
        let mut cat = Catalog::open(&path).expect("catalog");
        let report = if differences {
            load_as_differences(&mut cat, &snaps[1], &snaps[2], 0)
        } else {
            snaps[2].load_into(&mut cat)
        };
        assert_eq!(report, reports[2], "differences: {differences}");
        assert_eq!(
            cat.canonical_dump().expect("dump"),
            reference.canonical_dump().expect("dump"),
            "differences: {differences}"
        );
    }
}

/// A full listing's load given each item of the next snapshot twice, the last item of each
/// kind left out: the second copies are duplicates (told by the load's table of items seen
/// again, a temporary file rather than a set in memory), the items left out end at the
/// previous snapshot, and the catalog is the same as after a load that gave each item once.
#[test]
fn items_seen_again_twice_are_duplicates_and_the_ones_left_out_end() {
    let snaps = three_snapshots();
    let mut next = snaps[1].clone();
    next.containers.pop();
    next.versions.pop();
    next.filings.pop();
    next.acls.pop();
    next.skipped.clear(); // not range rows: each given is recorded
    let load_twice = |cat: &mut Catalog, times: usize| {
        snaps[0].load_into(cat);
        let mut load = cat.begin_snapshot(next.row.clone()).expect("begin");
        for _ in 0..times {
            next.fill(&mut load).expect("items accepted");
        }
        load.commit().expect("commit")
    };
    let mut once = Catalog::open_in_memory().expect("catalog");
    let r1 = load_twice(&mut once, 1);
    let mut twice = Catalog::open_in_memory().expect("catalog");
    let r2 = load_twice(&mut twice, 2);
    assert_eq!(
        twice.canonical_dump().expect("dump"),
        once.canonical_dump().expect("dump")
    );
    for (kind, a, b, given) in [
        (
            "containers",
            r1.containers,
            r2.containers,
            next.containers.len(),
        ),
        ("versions", r1.versions, r2.versions, next.versions.len()),
        ("filings", r1.filings, r2.filings, next.filings.len()),
        (
            "document ACLs",
            r1.document_acls,
            r2.document_acls,
            next.acls.len(),
        ),
    ] {
        assert_eq!(b.duplicates as usize, given, "{kind}");
        assert_eq!(a.duplicates, 0, "{kind}");
        assert_eq!(
            (a.added, a.changed, a.unchanged, a.removed),
            (b.added, b.changed, b.unchanged, b.removed),
            "{kind}"
        );
        assert!(a.removed >= 1, "{kind}: the item left out ends");
    }
    // A third snapshot after the doubled one loads as after the single one.
    snaps[2].load_into(&mut once);
    snaps[2].load_into(&mut twice);
    assert_eq!(
        twice.canonical_dump().expect("dump"),
        once.canonical_dump().expect("dump")
    );
}

/// A full listing's load abandoned (rolled back) after every item was given, then done again on
/// the same catalog with the last item of each kind left out: nothing of the first attempt's
/// table of items seen again is left (the left-out items end, nothing counts as a duplicate),
/// and the catalog is the same as on a catalog that never saw the first attempt.
#[test]
fn a_load_rolled_back_leaves_nothing_seen_for_the_next_one() {
    let snaps = three_snapshots();
    let mut next = snaps[1].clone();
    next.containers.pop();
    next.versions.pop();
    next.filings.pop();
    next.acls.pop();
    let mut fresh = Catalog::open_in_memory().expect("catalog");
    snaps[0].load_into(&mut fresh);
    let expected = next.load_into(&mut fresh);
    let mut cat = Catalog::open_in_memory().expect("catalog");
    snaps[0].load_into(&mut cat);
    {
        let mut load = cat.begin_snapshot(snaps[1].row.clone()).expect("begin");
        snaps[1].fill(&mut load).expect("fill");
        // dropped without commit
    }
    assert!(!cat.has_snapshot(&snaps[1].row.id).expect("query"));
    let report = next.load_into(&mut cat);
    assert_eq!(report, expected);
    for counts in [
        report.containers,
        report.versions,
        report.filings,
        report.document_acls,
    ] {
        assert_eq!(counts.duplicates, 0, "{report:?}");
        assert!(counts.removed >= 1, "the item left out ends: {report:?}");
    }
    assert_eq!(
        cat.canonical_dump().expect("dump"),
        fresh.canonical_dump().expect("dump")
    );
}

/// One load with some kinds given as differences from the parent (carried over, then changes
/// and drops) and the others given in full (what the catalog sync does when only some streams
/// are too far out of step with the parent's): the same reports and catalog as loading
/// everything, for each way of splitting the kinds.
#[test]
fn kinds_loaded_as_differences_and_in_full_in_one_load_agree_with_a_full_load() {
    use imvault::catalog::{RowKey, RowKind};
    let (reference, snaps, reports) = loaded();
    let kinds = [
        RowKind::Containers,
        RowKind::Versions,
        RowKind::Filings,
        RowKind::DocumentAcls,
    ];
    for split in 1..(1u32 << kinds.len()) - 1 {
        let delta: Vec<RowKind> = kinds
            .iter()
            .enumerate()
            .filter(|(i, _)| split & (1 << i) != 0)
            .map(|(_, k)| *k)
            .collect();
        let as_delta = |k: RowKind| delta.contains(&k);
        let mut cat = Catalog::open_in_memory().expect("catalog");
        snaps[0].load_into(&mut cat);
        for i in 1..snaps.len() {
            let (before, now) = (&snaps[i - 1], &snaps[i]);
            let mut load = cat.begin_snapshot(now.row.clone()).expect("begin");
            for k in &delta {
                load.carry_over(*k).expect("carry over");
            }
            for c in &now.containers {
                if !as_delta(RowKind::Containers) || !before.containers.contains(c) {
                    load.add_container(c).expect("container");
                }
            }
            for v in &now.versions {
                if !as_delta(RowKind::Versions) || !before.versions.contains(v) {
                    load.add_version(v).expect("version");
                }
            }
            for f in &now.filings {
                if !as_delta(RowKind::Filings) || !before.filings.contains(f) {
                    load.add_filing(f).expect("filing");
                }
            }
            for (d, a) in &now.acls {
                if !as_delta(RowKind::DocumentAcls)
                    || !before.acls.contains(&(d.clone(), a.clone()))
                {
                    load.add_document_acl(d, a).expect("acl");
                }
            }
            if as_delta(RowKind::Containers) {
                for c in before
                    .containers
                    .iter()
                    .filter(|c| !now.containers.contains(c))
                {
                    load.drop_carried(&RowKey::Container(c.id.clone()))
                        .expect("drop");
                }
            }
            if as_delta(RowKind::Versions) {
                for v in before.versions.iter().filter(|v| !now.versions.contains(v)) {
                    load.drop_carried(&RowKey::Version(v.id.clone()))
                        .expect("drop");
                }
            }
            if as_delta(RowKind::Filings) {
                for f in before.filings.iter().filter(|f| !now.filings.contains(f)) {
                    load.drop_carried(&RowKey::Filing(f.clone())).expect("drop");
                }
            }
            if as_delta(RowKind::DocumentAcls) {
                for (d, _) in before.acls.iter().filter(|x| !now.acls.contains(x)) {
                    load.drop_carried(&RowKey::DocumentAcl(d.clone()))
                        .expect("drop");
                }
            }
            for s in &now.skipped {
                load.add_skipped(s).expect("skipped");
            }
            let report = load.commit().expect("commit");
            assert_eq!(
                report,
                reports[i],
                "snapshot {}, as differences: {delta:?}",
                i + 1
            );
        }
        assert_eq!(
            cat.canonical_dump().expect("dump"),
            reference.canonical_dump().expect("dump"),
            "as differences: {delta:?}"
        );
    }
}
