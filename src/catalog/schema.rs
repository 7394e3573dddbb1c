//! The catalog's SQL schema and its forward migrations, versioned by `PRAGMA user_version`.
//!
//! Layout: every item state is stored once with the range of snapshots it is valid in, per
//! library: `first_seq..=last_seq` over the library's snapshot ordinals (`snapshots.seq`).
//! "As of snapshot S" is `first_seq <= S.seq AND last_seq >= S.seq`. A row still present in the
//! library's newest snapshot is open-ended (`last_seq` is the empty text, which SQLite orders
//! after every integer; `i64::MAX` before schema version 3), so an unchanged item costs
//! no write; a changed one ends its old row at the previous snapshot and gets a new one; a
//! deleted one ends its row. (Catalogs written before open ends hold the newest ordinal instead;
//! the next load opens those rows.) `state` is an 8-byte BLAKE3 prefix of the row's canonical
//! contents (versions, from schema version 3, compute it from the row instead of storing it).
//!
//! Migrations only go forward: `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
//! A database with a newer version than `MIGRATIONS.len()` is refused.

use std::path::Path;

use rusqlite::Connection;

use super::error::CatalogError;

const V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE snapshots (
    id           TEXT PRIMARY KEY,
    library      TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    time_ns      INTEGER NOT NULL,
    parent       TEXT,
    host         TEXT NOT NULL,
    tool_version TEXT NOT NULL,
    summary      TEXT NOT NULL,
    n_containers INTEGER NOT NULL,
    n_versions   INTEGER NOT NULL,
    n_filings    INTEGER NOT NULL,
    n_doc_acls   INTEGER NOT NULL,
    n_skipped    INTEGER NOT NULL,
    UNIQUE (library, seq)
) STRICT;
CREATE INDEX snapshots_time ON snapshots (library, time_ns);

CREATE TABLE containers (
    rid       INTEGER PRIMARY KEY,
    library   TEXT NOT NULL,
    number    INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    state     BLOB NOT NULL,
    kind      TEXT NOT NULL,
    name      TEXT NOT NULL,
    parent    INTEGER,
    workspace INTEGER,
    client    TEXT,
    matter    TEXT,
    profile   TEXT NOT NULL,
    acl       TEXT
) STRICT;
CREATE UNIQUE INDEX containers_key ON containers (library, number, last_seq);
CREATE INDEX containers_parent ON containers (library, parent);

CREATE TABLE versions (
    rid               INTEGER PRIMARY KEY,
    library           TEXT NOT NULL,
    document          INTEGER NOT NULL,
    version           INTEGER NOT NULL,
    first_seq         INTEGER NOT NULL,
    last_seq          INTEGER NOT NULL,
    state             BLOB NOT NULL,
    kind              TEXT NOT NULL,
    name              TEXT NOT NULL,
    extension         TEXT,
    size              INTEGER NOT NULL,
    edit_date         TEXT,
    edit_ns           INTEGER,
    edit_profile_date TEXT,
    author            TEXT,
    workspace         INTEGER,
    profile           TEXT NOT NULL,
    content           TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX versions_key ON versions (library, document, version, last_seq);

CREATE TABLE filings (
    rid       INTEGER PRIMARY KEY,
    library   TEXT NOT NULL,
    document  INTEGER NOT NULL,
    folder    INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX filings_key ON filings (library, document, folder, last_seq);
CREATE INDEX filings_folder ON filings (library, folder);

CREATE TABLE document_acls (
    rid       INTEGER PRIMARY KEY,
    library   TEXT NOT NULL,
    document  INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    state     BLOB NOT NULL,
    acl       TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX document_acls_key ON document_acls (library, document, last_seq);

CREATE TABLE skipped (
    snapshot TEXT NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    object   TEXT NOT NULL,
    reason   TEXT NOT NULL
) STRICT;
CREATE INDEX skipped_snapshot ON skipped (snapshot);

CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    params      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'completed',
                    'completed_with_warnings', 'failed', 'cancelled')),
    created_ns  INTEGER NOT NULL,
    started_ns  INTEGER,
    finished_ns INTEGER,
    updated_ns  INTEGER NOT NULL,
    progress    TEXT,
    last_error  TEXT
) STRICT;
CREATE INDEX jobs_state ON jobs (state, created_ns);
"#;

/// Version 2: compact rows (issue 21; v1 took ~2,300 bytes per version). Version profiles,
/// container profiles, content references and ACLs are packed ([`super::packed`]: a version
/// profile without the fields the row keeps as columns, zstd with built-in dictionaries);
/// version kinds are integers (0 document, 1 e-mail); API dates (`edit_date`,
/// `edit_profile_date`) are seconds since 1970 when that gives back their exact text
/// (`2026-11-03T14:02:11Z`), else the text, and `edit_ns` is kept only for such text; row states
/// are 8 bytes; item rows name their library by its `libraries.id`; `find --name` has an index
/// on the lower-cased name. Packing needs code, not SQL: the derived tables are emptied and, when the
/// catalog held snapshots, marked for a rebuild from the repository (the next `catalog sync`,
/// restore or hold does it; the repository is the truth, the catalog its cache).
const V2: &str = r#"
INSERT OR REPLACE INTO meta (key, value)
    SELECT 'rebuild_incomplete', '1' WHERE EXISTS (SELECT 1 FROM snapshots);
DROP TABLE skipped;
DROP TABLE filings;
DROP TABLE document_acls;
DROP TABLE versions;
DROP TABLE containers;
DELETE FROM snapshots;

CREATE TABLE libraries (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
) STRICT;

CREATE TABLE containers (
    rid       INTEGER PRIMARY KEY,
    library   INTEGER NOT NULL,
    number    INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    state     BLOB NOT NULL,
    kind      TEXT NOT NULL,
    name      TEXT NOT NULL,
    parent    INTEGER,
    workspace INTEGER,
    client    TEXT,
    matter    TEXT,
    profile   BLOB NOT NULL,
    acl       BLOB
) STRICT;
CREATE UNIQUE INDEX containers_key ON containers (library, number, last_seq);
CREATE INDEX containers_parent ON containers (library, parent);

CREATE TABLE versions (
    rid               INTEGER PRIMARY KEY,
    library           INTEGER NOT NULL,
    document          INTEGER NOT NULL,
    version           INTEGER NOT NULL,
    first_seq         INTEGER NOT NULL,
    last_seq          INTEGER NOT NULL,
    state             BLOB NOT NULL,
    kind              INTEGER NOT NULL,
    name              TEXT NOT NULL,
    extension         TEXT,
    size              INTEGER NOT NULL,
    edit_date         ANY,
    edit_ns           INTEGER,
    edit_profile_date ANY,
    author            TEXT,
    workspace         INTEGER,
    profile           BLOB NOT NULL,
    content           BLOB NOT NULL,
    base              INTEGER
) STRICT;
CREATE UNIQUE INDEX versions_key ON versions (library, document, version, last_seq);
CREATE INDEX versions_name ON versions (lower(name));

CREATE TABLE filings (
    rid       INTEGER PRIMARY KEY,
    library   INTEGER NOT NULL,
    document  INTEGER NOT NULL,
    folder    INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX filings_key ON filings (library, document, folder, last_seq);
CREATE INDEX filings_folder ON filings (library, folder);

CREATE TABLE document_acls (
    rid       INTEGER PRIMARY KEY,
    library   INTEGER NOT NULL,
    document  INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    state     BLOB NOT NULL,
    acl       BLOB NOT NULL
) STRICT;
CREATE UNIQUE INDEX document_acls_key ON document_acls (library, document, last_seq);

CREATE TABLE skipped (
    snapshot TEXT NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    object   TEXT NOT NULL,
    reason   TEXT NOT NULL
) STRICT;
CREATE INDEX skipped_snapshot ON skipped (snapshot);
"#;

/// Version 3: an open row's `last_seq` is the empty text instead of `i64::MAX` (no bytes in
/// the record or in the keys; SQLite orders text after every integer, so `last_seq >= S` still
/// holds for it): ~40 bytes less per version. The name index on versions becomes the
/// `version_names` table (one entry per document and name), and versions keep no `state`
/// column (computed from the row when needed). The derived tables are emptied
/// and filled again from the repository (as for version 2).
const V3: &str = r#"
INSERT OR REPLACE INTO meta (key, value)
    SELECT 'rebuild_incomplete', '1' WHERE EXISTS (SELECT 1 FROM snapshots);
DROP INDEX versions_name;
DROP TABLE skipped;
DROP TABLE filings;
DROP TABLE document_acls;
DROP TABLE versions;
DROP TABLE containers;
DELETE FROM snapshots;

CREATE TABLE containers (
    rid       INTEGER PRIMARY KEY,
    library   INTEGER NOT NULL,
    number    INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq  ANY NOT NULL,
    state     BLOB NOT NULL,
    kind      TEXT NOT NULL,
    name      TEXT NOT NULL,
    parent    INTEGER,
    workspace INTEGER,
    client    TEXT,
    matter    TEXT,
    profile   BLOB NOT NULL,
    acl       BLOB
) STRICT;
CREATE UNIQUE INDEX containers_key ON containers (library, number, last_seq);
CREATE INDEX containers_parent ON containers (library, parent);

CREATE TABLE versions (
    rid               INTEGER PRIMARY KEY,
    library           INTEGER NOT NULL,
    document          INTEGER NOT NULL,
    version           INTEGER NOT NULL,
    first_seq         INTEGER NOT NULL,
    last_seq          ANY NOT NULL,
    kind              INTEGER NOT NULL,
    name              TEXT NOT NULL,
    extension         TEXT,
    size              INTEGER NOT NULL,
    edit_date         ANY,
    edit_ns           INTEGER,
    edit_profile_date ANY,
    author            TEXT,
    workspace         INTEGER,
    profile           BLOB NOT NULL,
    content           BLOB NOT NULL,
    base              INTEGER
) STRICT;
CREATE UNIQUE INDEX versions_key ON versions (library, document, version, last_seq);
-- The lower-cased names of each document's versions, once per document and name (versions of
-- a document mostly share their name): what `find --name` ranges over (half the entries of an
-- index on versions, and no table look-up until a document is known to match).
CREATE TABLE version_names (
    name     TEXT NOT NULL,
    library  INTEGER NOT NULL,
    document INTEGER NOT NULL,
    PRIMARY KEY (name, library, document)
) STRICT, WITHOUT ROWID;

CREATE TABLE filings (
    rid       INTEGER PRIMARY KEY,
    library   INTEGER NOT NULL,
    document  INTEGER NOT NULL,
    folder    INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq  ANY NOT NULL
) STRICT;
CREATE UNIQUE INDEX filings_key ON filings (library, document, folder, last_seq);
CREATE INDEX filings_folder ON filings (library, folder);

CREATE TABLE document_acls (
    rid       INTEGER PRIMARY KEY,
    library   INTEGER NOT NULL,
    document  INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq  ANY NOT NULL,
    state     BLOB NOT NULL,
    acl       BLOB NOT NULL
) STRICT;
CREATE UNIQUE INDEX document_acls_key ON document_acls (library, document, last_seq);

CREATE TABLE skipped (
    snapshot TEXT NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    object   TEXT NOT NULL,
    reason   TEXT NOT NULL
) STRICT;
CREATE INDEX skipped_snapshot ON skipped (snapshot);
"#;

/// Version 4: filings and document ACLs are tables keyed by the item and the first snapshot
/// of the row (`WITHOUT ROWID`): no rid, and no separate key index beside the table (~20
/// bytes per version less). The folder index carries `last_seq`, so a folder's listing reads
/// the index alone. Rows are copied: the catalog stays complete.
const V4: &str = r#"
CREATE TABLE filings_v4 (
    library   INTEGER NOT NULL,
    document  INTEGER NOT NULL,
    folder    INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq  ANY NOT NULL,
    PRIMARY KEY (library, document, folder, first_seq)
) STRICT, WITHOUT ROWID;
INSERT INTO filings_v4 (library, document, folder, first_seq, last_seq)
    SELECT library, document, folder, first_seq, last_seq FROM filings;
DROP TABLE filings;
ALTER TABLE filings_v4 RENAME TO filings;
CREATE INDEX filings_folder ON filings (library, folder, last_seq);

CREATE TABLE document_acls_v4 (
    library   INTEGER NOT NULL,
    document  INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq  ANY NOT NULL,
    state     BLOB NOT NULL,
    acl       BLOB NOT NULL,
    PRIMARY KEY (library, document, first_seq)
) STRICT, WITHOUT ROWID;
INSERT INTO document_acls_v4 (library, document, first_seq, last_seq, state, acl)
    SELECT library, document, first_seq, last_seq, state, acl FROM document_acls;
DROP TABLE document_acls;
ALTER TABLE document_acls_v4 RENAME TO document_acls;
"#;

/// Version 5: document ACLs are stored once per distinct value (`acls`, keyed by the value's
/// state hash and a variant number that tells colliding values apart); a document's ACL row
/// keeps the state and the variant. Rows are copied: the catalog stays complete.
const V5: &str = r#"
CREATE TABLE acls (
    state   BLOB NOT NULL,
    variant INTEGER NOT NULL,
    acl     BLOB NOT NULL,
    PRIMARY KEY (state, variant)
) STRICT, WITHOUT ROWID;
CREATE TEMP TABLE acl_values AS
    SELECT state, acl, DENSE_RANK() OVER (PARTITION BY state ORDER BY acl) - 1 AS variant
    FROM (SELECT DISTINCT state, acl FROM document_acls);
INSERT INTO acls (state, variant, acl) SELECT state, variant, acl FROM acl_values;

CREATE TABLE document_acls_v5 (
    library   INTEGER NOT NULL,
    document  INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq  ANY NOT NULL,
    state     BLOB NOT NULL,
    variant   INTEGER NOT NULL,
    PRIMARY KEY (library, document, first_seq)
) STRICT, WITHOUT ROWID;
INSERT INTO document_acls_v5 (library, document, first_seq, last_seq, state, variant)
    SELECT d.library, d.document, d.first_seq, d.last_seq, d.state, v.variant
    FROM document_acls d JOIN acl_values v ON v.state = d.state AND v.acl = d.acl;
DROP TABLE document_acls;
DROP TABLE acl_values;
ALTER TABLE document_acls_v5 RENAME TO document_acls;
"#;

/// Version 6: a version's (lower-cased) author, what `find --author` matches, is the id of a
/// row of `authors` instead of the text (a library has few authors: ~6 bytes per version
/// less). Migrated in place.
const V6: &str = r#"
CREATE TABLE authors (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
) STRICT;
INSERT INTO authors (name)
    SELECT DISTINCT author FROM versions WHERE author IS NOT NULL ORDER BY author;
ALTER TABLE versions ADD COLUMN author_id INTEGER;
UPDATE versions SET author_id = (SELECT id FROM authors WHERE name = versions.author)
    WHERE author IS NOT NULL;
ALTER TABLE versions DROP COLUMN author;
ALTER TABLE versions RENAME COLUMN author_id TO author;
"#;

/// Version 7: a version's `edit_profile_date` equal to its `edit_date` (most are) is the empty
/// blob (no bytes) instead of a copy of the date. Migrated in place.
const V7: &str = r#"
UPDATE versions SET edit_profile_date = x''
    WHERE edit_date IS NOT NULL AND edit_profile_date IS edit_date;
"#;

/// `MIGRATIONS[i]` migrates schema version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Bring the database to [`SCHEMA_VERSION`], refusing a newer one.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), CatalogError> {
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|source| CatalogError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    if found < 0 {
        return Err(CatalogError::Corrupt {
            what: format!("the schema version of {}", path.display()),
            problem: format!("negative user_version {found}"),
        });
    }
    if found > SCHEMA_VERSION {
        return Err(CatalogError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for from in found..SCHEMA_VERSION {
        let err = |source| CatalogError::Migrate {
            path: path.to_path_buf(),
            from,
            source,
        };
        // IMMEDIATE: two processes opening a new catalog at once must not both migrate it;
        // the second waits for the first, then sees the version it wrote.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let now: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(err)?;
        if now > from {
            continue;
        }
        let Some(sql) = usize::try_from(from).ok().and_then(|i| MIGRATIONS.get(i)) else {
            continue;
        };
        tx.execute_batch(sql).map_err(err)?;
        tx.pragma_update(None, "user_version", from + 1)
            .map_err(err)?;
        tx.commit().map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-1 catalog file: its schema, one snapshot (when `with_snapshot`) and one job.
    fn v1_catalog(path: &Path, with_snapshot: bool) {
        let conn = Connection::open(path).expect("open");
        conn.execute_batch(V1).expect("v1 schema");
        conn.pragma_update(None, "user_version", 1)
            .expect("version");
        if with_snapshot {
            conn.execute_batch(
                "INSERT INTO snapshots VALUES ('aa', 'ACTIVE', 1, 0, NULL, 'h', '0.1', '{}', 0, 1, 0, 0, 0);
                 INSERT INTO versions (library, document, version, first_seq, last_seq, state, \
                 kind, name, size, profile, content) VALUES ('ACTIVE', 1, 1, 1, 1, x'00', \
                 'document', 'Lease', 3, '{}', '{}');",
            )
            .expect("v1 rows");
        }
        conn.execute(
            "INSERT INTO jobs (id, kind, params, state, created_ns, updated_ns) \
             VALUES ('j1', 'backup', '{}', 'completed', 1, 1)",
            [],
        )
        .expect("v1 job");
    }

    #[test]
    fn v1_with_snapshots_migrates_to_an_empty_v2_marked_for_rebuild_and_keeps_jobs() {
        let dir = tempfile::tempdir().expect("tempdir");
        for with_snapshot in [true, false] {
            let path = dir.path().join(format!("catalog-{with_snapshot}.db"));
            v1_catalog(&path, with_snapshot);
            let cat = super::super::Catalog::open(&path).expect("migrates");
            assert_eq!(cat.schema_version().expect("version"), SCHEMA_VERSION);
            assert_eq!(SCHEMA_VERSION, 7);
            // Only a catalog that held snapshots needs the repository to fill it again.
            assert_eq!(cat.needs_rebuild().expect("flag"), with_snapshot);
            let conn = Connection::open(&path).expect("raw open");
            let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).expect(sql) };
            assert_eq!(count("SELECT COUNT(*) FROM snapshots"), 0);
            assert_eq!(count("SELECT COUNT(*) FROM versions"), 0);
            assert_eq!(count("SELECT COUNT(*) FROM jobs WHERE id = 'j1'"), 1);
            let profile_type: String = conn
                .query_row(
                    "SELECT type FROM pragma_table_info('versions') WHERE name = 'profile'",
                    [],
                    |r| r.get(0),
                )
                .expect("column");
            assert_eq!(profile_type, "BLOB");
        }
    }

    #[test]
    fn a_v2_catalog_with_snapshots_is_emptied_and_marked_for_rebuild_with_open_ends_as_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.db");
        v1_catalog(&path, false);
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(V2).expect("v2 schema");
            conn.pragma_update(None, "user_version", 2)
                .expect("version");
            conn.execute_batch(
                "INSERT INTO libraries VALUES (1, 'ACTIVE');
                 INSERT INTO snapshots VALUES ('aa', 'ACTIVE', 1, 0, NULL, 'h', '0.1', '{}', 0, 1, 0, 0, 0);
                 INSERT INTO versions (library, document, version, first_seq, last_seq, state, \
                 kind, name, size, profile, content) VALUES (1, 1, 1, 1, 9223372036854775807, \
                 x'00', 0, 'Lease', 3, x'00', x'00');",
            )
            .expect("v2 rows");
        }
        let cat = super::super::Catalog::open(&path).expect("migrates");
        assert_eq!(cat.schema_version().expect("version"), SCHEMA_VERSION);
        assert!(cat.needs_rebuild().expect("flag"));
        let conn = Connection::open(&path).expect("raw open");
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).expect(sql) };
        assert_eq!(count("SELECT COUNT(*) FROM versions"), 0);
        assert_eq!(count("SELECT COUNT(*) FROM snapshots"), 0);
        assert_eq!(count("SELECT COUNT(*) FROM libraries"), 1);
        assert_eq!(count("SELECT COUNT(*) FROM jobs WHERE id = 'j1'"), 1);
        for table in ["containers", "versions", "filings", "document_acls"] {
            let ty: String = conn
                .query_row(
                    &format!(
                        "SELECT type FROM pragma_table_info('{table}') WHERE name = 'last_seq'"
                    ),
                    [],
                    |r| r.get(0),
                )
                .expect("column");
            assert_eq!(ty, "ANY", "{table}.last_seq");
        }
    }

    #[test]
    fn a_v3_catalog_keeps_its_filings_and_acls_in_tables_keyed_by_the_item_each_acl_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.db");
        v1_catalog(&path, false);
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(V2).expect("v2 schema");
            conn.execute_batch(V3).expect("v3 schema");
            conn.pragma_update(None, "user_version", 3)
                .expect("version");
            conn.execute_batch(
                "INSERT INTO libraries VALUES (1, 'ACTIVE');
                 INSERT INTO snapshots VALUES ('aa', 'ACTIVE', 1, 0, NULL, 'h', '0.1', '{}', 0, 1, 0, 0, 0);
                 INSERT INTO filings (library, document, folder, first_seq, last_seq) VALUES \
                 (1, 5, 7, 1, 1), (1, 5, 7, 2, ''), (1, 6, 7, 1, '');
                 INSERT INTO document_acls (library, document, first_seq, last_seq, state, acl) \
                 VALUES (1, 5, 1, '', x'0102', x'03'), (1, 6, 1, 1, x'0102', x'03'), \
                 (1, 6, 2, '', x'0102', x'04'), (1, 7, 1, '', x'09', x'05');
                 INSERT INTO versions (library, document, version, first_seq, last_seq, kind, \
                 name, size, author, edit_date, edit_profile_date, profile, content) VALUES \
                 (1, 5, 1, 1, '', 0, 'Lease', 3, 'ann', 100, 100, x'00', x'00'), \
                 (1, 6, 1, 1, '', 0, 'Deed', 3, 'bob', 100, 101, x'00', x'00'), \
                 (1, 7, 1, 1, '', 0, 'Note', 3, NULL, NULL, NULL, x'00', x'00'), \
                 (1, 8, 1, 1, '', 0, 'Will', 3, 'ann', '2026-01-01T00:00:00.5Z', \
                 '2026-01-01T00:00:00.5Z', x'00', x'00');",
            )
            .expect("v3 rows");
        }
        let cat = super::super::Catalog::open(&path).expect("migrates");
        assert_eq!(cat.schema_version().expect("version"), SCHEMA_VERSION);
        assert!(
            !cat.needs_rebuild().expect("flag"),
            "rows are copied, not dropped"
        );
        let conn = Connection::open(&path).expect("raw open");
        let rows = |sql: &str| -> Vec<String> {
            conn.prepare(sql)
                .expect(sql)
                .query_map([], |r| r.get::<_, String>(0))
                .expect(sql)
                .collect::<Result<_, _>>()
                .expect(sql)
        };
        assert_eq!(
            rows(
                "SELECT format('%d %d %d %d %s', library, document, folder, first_seq, \
                  quote(last_seq)) FROM filings ORDER BY document, first_seq"
            ),
            ["1 5 7 1 1", "1 5 7 2 ''", "1 6 7 1 ''"]
        );
        // Each distinct ACL once; two values of one state (a collision) are two variants.
        assert_eq!(
            rows(
                "SELECT format('%d %d %s %s %d %s', d.document, d.first_seq, \
                  quote(d.last_seq), hex(d.state), d.variant, hex(a.acl)) FROM document_acls d \
                  JOIN acls a ON a.state = d.state AND a.variant = d.variant \
                  ORDER BY d.document, d.first_seq"
            ),
            [
                "5 1 '' 0102 0 03",
                "6 1 1 0102 0 03",
                "6 2 '' 0102 1 04",
                "7 1 '' 09 0 05"
            ]
        );
        assert_eq!(
            rows(
                "SELECT format('%s %d %s', hex(state), variant, hex(acl)) FROM acls \
                  ORDER BY state, variant"
            ),
            ["0102 0 03", "0102 1 04", "09 0 05"]
        );
        // Authors are ids of `authors` rows, each name once.
        assert_eq!(
            rows(
                "SELECT format('%d %s %s', v.document, typeof(v.author), \
                  coalesce(a.name, '-')) FROM versions v LEFT JOIN authors a ON a.id = v.author \
                  ORDER BY v.document"
            ),
            [
                "5 integer ann",
                "6 integer bob",
                "7 null -",
                "8 integer ann"
            ]
        );
        assert_eq!(rows("SELECT name FROM authors ORDER BY id"), ["ann", "bob"]);
        // A profile date equal to the edit date is the empty blob.
        assert_eq!(
            rows(
                "SELECT format('%d %s', document, quote(edit_profile_date)) FROM versions \
                  ORDER BY document"
            ),
            ["5 X''", "6 101", "7 NULL", "8 X''"]
        );
        for table in ["filings", "document_acls", "acls"] {
            let err = conn
                .prepare(&format!("SELECT rid FROM {table}"))
                .expect_err("no rid column");
            assert!(err.to_string().contains("rid"), "{table}: {err}");
            let without_rowid: i64 = conn
                .query_row(
                    "SELECT wr FROM pragma_table_list WHERE name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .expect("table list");
            assert_eq!(without_rowid, 1, "{table} is WITHOUT ROWID");
        }
        let indexes = rows(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL \
             AND tbl_name IN ('filings', 'document_acls') ORDER BY name",
        );
        assert_eq!(indexes, ["filings_folder"]);
    }
}
