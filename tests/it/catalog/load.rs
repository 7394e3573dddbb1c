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
        msg.contains("s0") && msg.contains("s3") && msg.contains("rebuild"),
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
