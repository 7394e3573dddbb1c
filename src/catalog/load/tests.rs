//! Tests of the load's SQL: temporary tables, query plans, look-ups by key.

use super::filings::{FILING_LOOKUP, FILING_SET_END};
use super::*;

/// The items a load sees again go to a temporary table in a file (this build of SQLite
/// would keep it in memory), created for the load and dropped when it commits.
#[test]
fn items_seen_again_are_kept_in_a_temporary_file_for_the_load_only() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cat = Catalog::open(dir.path().join("c.db")).expect("catalog");
    let store: i64 = cat
        .conn
        .query_row("PRAGMA temp_store", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(store, 1, "FILE");
    let exists = |conn: &rusqlite::Connection| -> bool {
        conn.query_row(
            "SELECT count(*) FROM temp.sqlite_schema WHERE name = 'load_seen'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .expect("schema")
            > 0
    };
    let row = |n: u8| SnapshotRow {
        id: SnapshotId([n; 32]),
        library: "ACTIVE".parse().expect("library"),
        time: chrono::DateTime::from_timestamp(1_700_000_000 + i64::from(n), 0).expect("time"),
        parent: None,
        host: "h".into(),
        tool_version: "t".into(),
        summary: serde_json::json!({}),
    };
    for n in 1..=2 {
        let load = cat.begin_snapshot(row(n)).expect("begin");
        assert!(exists(&load.tx));
        load.commit().expect("commit");
        assert!(!exists(&cat.conn), "dropped at commit");
    }
}

/// Ending the rows not seen again looks each one up in `load_seen` by its primary key
/// (not a scan of the temporary table per row).
#[test]
fn rows_not_seen_again_are_looked_up_in_the_seen_table_by_its_key() {
    let cat = Catalog::open_in_memory().expect("catalog");
    cat.conn
        .execute_batch(carry::SEEN_CREATE)
        .expect("seen table");
    for kind in [
        RowKind::Containers,
        RowKind::Versions,
        RowKind::Filings,
        RowKind::DocumentAcls,
    ] {
        let sql = carry::end_unseen_sql(kind);
        let plan = cat
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain")
            .query_map(params![1, "ACTIVE", "", 1], |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<Vec<_>, _>>()
            .expect("steps")
            .join("\n");
        assert!(
            plan.contains("SEARCH s USING PRIMARY KEY (kind=? AND a=? AND b=?)"),
            "{kind:?}:\n{plan}"
        );
    }
}

/// A filing is found, ended and reopened through its primary key: the folder index would
/// read every open filing of its folder each time (1.7 ms per filing in a folder of 50,000).
#[test]
fn filings_are_looked_up_and_ended_by_their_key_not_by_their_folder() {
    let cat = Catalog::open_in_memory().expect("catalog");
    for sql in [FILING_LOOKUP, FILING_SET_END] {
        let mut stmt = cat
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let n = stmt.parameter_count();
        let args: Vec<&dyn ToSql> = (0..n).map(|_| &1 as &dyn ToSql).collect();
        let plan = stmt
            .query_map(args.as_slice(), |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<Vec<_>, _>>()
            .expect("steps")
            .join("\n");
        assert!(
            plan.contains("SEARCH filings USING PRIMARY KEY (library=? AND document=?"),
            "{sql}:\n{plan}"
        );
        assert!(!plan.contains("filings_folder"), "{sql}:\n{plan}");
    }
}
