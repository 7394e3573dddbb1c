//! Rebuild from the snapshots alone gives the same catalog; schema version handling.

use std::collections::HashMap;

use super::fixture::*;
use imvault::catalog::{Catalog, CatalogError, SCHEMA_VERSION, SnapshotId};

#[test]
fn rebuild_in_another_order_gives_the_same_dump() {
    let (mut cat, snaps, _) = loaded();
    let original = cat.canonical_dump().expect("dump");
    assert!(
        original
            .lines()
            .filter(|l| l.starts_with("versions "))
            .count()
            >= 7
    );
    assert!(original.contains("\"Final agreement\""));

    let by_id: HashMap<SnapshotId, SnapData> =
        snaps.iter().map(|s| (s.row.id, s.clone())).collect();
    // Given newest first: the rebuild must sort them.
    let rows = vec![
        snaps[2].row.clone(),
        snaps[0].row.clone(),
        snaps[1].row.clone(),
    ];

    let mut fresh = Catalog::open_in_memory().expect("catalog");
    let reports = fresh
        .rebuild(rows.clone(), |load| by_id[&load.snapshot().id].fill(load))
        .expect("rebuild");
    let order: Vec<SnapshotId> = reports.iter().map(|r| r.snapshot).collect();
    assert_eq!(order, [sid("s1"), sid("s2"), sid("s3")]);
    assert_eq!(fresh.canonical_dump().expect("dump"), original);
    assert!(!fresh.needs_rebuild().expect("flag"));

    // Rebuilding in place (clear first) also gives the same answers.
    cat.rebuild(rows, |load| by_id[&load.snapshot().id].fill(load))
        .expect("rebuild in place");
    assert_eq!(cat.canonical_dump().expect("dump"), original);
}

#[test]
fn failed_rebuild_is_flagged_until_a_rebuild_completes() {
    let (mut cat, snaps, _) = loaded();
    let rows: Vec<_> = snaps.iter().map(|s| s.row.clone()).collect();
    let err = cat
        .rebuild(rows.clone(), |load| {
            if load.snapshot().id == sid("s2") {
                Err(std::io::Error::other("pack 7f3a missing"))
            } else {
                Ok(())
            }
        })
        .expect_err("source failure");
    assert!(matches!(err, CatalogError::RebuildSource { .. }), "{err:?}");
    assert!(err.to_string().contains(&sid("s2").to_string()), "{err}");
    assert!(cat.needs_rebuild().expect("flag"));
    assert!(cat.has_snapshot(&sid("s1")).expect("query"));
    assert!(!cat.has_snapshot(&sid("s2")).expect("query"));

    let by_id: HashMap<_, _> = snaps.iter().map(|s| (s.row.id, s.clone())).collect();
    cat.rebuild(rows, |load| by_id[&load.snapshot().id].fill(load))
        .expect("rebuild");
    assert!(!cat.needs_rebuild().expect("flag"));
    cat.clear().expect("clear");
    assert_eq!(cat.canonical_dump().expect("dump"), "");
}

#[test]
fn file_catalog_persists_uses_wal_and_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/dir/catalog.sqlite");
    let dump = {
        let mut cat = Catalog::open(&path).expect("open creates directories");
        assert_eq!(cat.schema_version().expect("version"), SCHEMA_VERSION);
        for s in three_snapshots() {
            s.load_into(&mut cat);
        }
        cat.canonical_dump().expect("dump")
    };
    {
        let conn = rusqlite::Connection::open(&path).expect("raw open");
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("journal mode");
        assert_eq!(mode.to_lowercase(), "wal");
    }
    let cat = Catalog::open(&path).expect("reopen");
    assert_eq!(cat.canonical_dump().expect("dump"), dump);
    drop(cat);

    {
        let conn = rusqlite::Connection::open(&path).expect("raw open");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 98)
            .expect("set version");
    }
    let err = Catalog::open(&path).expect_err("newer schema refused");
    assert!(
        matches!(err, CatalogError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 98),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&(SCHEMA_VERSION + 98).to_string()) && msg.contains("catalog.sqlite"),
        "{msg}"
    );
}

#[test]
fn open_reports_an_unusable_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").expect("write");
    let err = Catalog::open(blocker.join("catalog.sqlite")).expect_err("parent is a file");
    assert!(matches!(err, CatalogError::CreateDir { .. }), "{err:?}");
    assert!(err.to_string().contains("file"), "{err}");
}

#[test]
fn open_refuses_a_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("catalog.sqlite");
    std::fs::write(&path, vec![b'x'; 4096]).expect("write");
    let err = Catalog::open(&path).expect_err("garbage refused");
    assert!(err.to_string().contains("catalog.sqlite"), "{err}");
    assert_eq!(
        std::fs::read(&path).expect("read"),
        vec![b'x'; 4096],
        "file left untouched"
    );
}

/// Packed columns (schema v2) read back equal, and damage to one is an error naming the item,
/// not a wrong answer.
#[test]
fn packed_values_round_trip_and_damage_names_the_item() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("catalog.sqlite");
    let snaps = three_snapshots();
    let mut cat = Catalog::open(&path).expect("open");
    for s in &snaps {
        s.load_into(&mut cat);
    }
    let s1 = &snaps[0];
    let given = s1
        .versions
        .iter()
        .find(|v| v.id == vid(100, 1))
        .expect("fixture has 100.1");
    let read = cat
        .version_in(&s1.row.id, &vid(100, 1))
        .expect("read")
        .expect("present");
    assert_eq!(&read, given, "profile, content and columns as given");
    let conn = rusqlite::Connection::open(&path).expect("raw open");
    // The stored profile leaves out what the columns hold: smaller than the JSON.
    let stored: Vec<u8> = conn
        .query_row(
            "SELECT profile FROM versions WHERE document = 100 AND version = 1",
            [],
            |r| r.get(0),
        )
        .expect("stored profile");
    let json = serde_json::to_string(&given.profile).expect("json");
    assert!(
        stored.len() * 2 < json.len(),
        "{} vs {}",
        stored.len(),
        json.len()
    );

    for (what, sql) in [
        (
            "flipped",
            "UPDATE versions SET profile = CAST(substr(profile, 1, 3) || x'ffff' || substr(profile, 6) AS BLOB) \
             WHERE document = 100 AND version = 1",
        ),
        (
            "unknown codec",
            "UPDATE versions SET profile = CAST(x'07' || substr(profile, 2) AS BLOB) \
             WHERE document = 100 AND version = 1",
        ),
        (
            "truncated",
            "UPDATE versions SET content = CAST(substr(content, 1, length(content) - 2) AS BLOB) \
             WHERE document = 100 AND version = 1",
        ),
    ] {
        let backup: (Vec<u8>, Vec<u8>) = conn
            .query_row(
                "SELECT profile, content FROM versions WHERE document = 100 AND version = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("row");
        conn.execute(sql, []).expect(what);
        let err = cat.version_in(&s1.row.id, &vid(100, 1)).expect_err(what);
        let msg = err.to_string();
        assert!(
            matches!(err, CatalogError::Corrupt { .. }) && msg.contains("ACTIVE!100.1"),
            "{what}: {msg}"
        );
        conn.execute(
            "UPDATE versions SET profile = ?1, content = ?2 WHERE document = 100 AND version = 1",
            rusqlite::params![backup.0, backup.1],
        )
        .expect("restore");
    }
    assert_eq!(
        cat.version_in(&s1.row.id, &vid(100, 1))
            .expect("read")
            .as_ref(),
        Some(given)
    );
}
