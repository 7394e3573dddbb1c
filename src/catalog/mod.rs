//! The local SQLite catalog: a rebuildable index of snapshots, containers, versions, filings,
//! ACLs and skipped items, for fast listing (`ls`), search (`find`), version history
//! (`versions`), point-in-time look-ups (`--at`) and restore planning; plus the daemon's
//! persistent job queue.
//!
//! The catalog is a cache of the repository: [`Catalog::rebuild`] recreates it from the
//! snapshots alone and gives the same [`Catalog::canonical_dump`] as the catalog filled
//! snapshot by snapshot. It never talks to the repository or the network itself.
//!
//! ## Storage at scale
//! Each distinct item state is stored once, with the range of snapshot ordinals of its library
//! it is valid in (see [`schema`]). Loading snapshot N+1 costs one indexed look-up plus one
//! update or insert per item, in one transaction with cached prepared statements. Snapshots of
//! a library must therefore arrive in (time, id) order: [`Catalog::begin_snapshot`] refuses an
//! older one, and [`Catalog::rebuild`] sorts them per library first.
//!
//! ## Forgetting snapshots
//! There is no per-snapshot delete: ordinals are dense per library and ranges span them. After
//! a prune removed snapshots from the repository, run [`Catalog::rebuild`] from the snapshots
//! that remain.
//!
//! ## Threads
//! rusqlite is synchronous: async callers run catalog calls inside `spawn_blocking`.
//! [`Catalog`] is `Send` (not `Sync`); [`SharedCatalog`] wraps it in a mutex and runs each
//! call on the blocking pool.
//!
//! Profiles are stored as canonical JSON (keys sorted): same values, not the API's key order;
//! packed (zstd with built-in dictionaries, see `packed`) since schema v2.
//!
//! ## Example
//! ```
//! use imvault::catalog::{Catalog, SnapshotId, SnapshotRow, VersionRow};
//! use imvault::imanage::model::DocumentVersion;
//! use serde_json::json;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut cat = Catalog::open_in_memory()?;
//! let snap = SnapshotRow {
//!     id: SnapshotId::of(b"the snapshot manifest"),
//!     library: "ACTIVE".parse()?,
//!     time: "2026-11-03T02:00:00Z".parse()?,
//!     parent: None,
//!     host: "backup1".into(),
//!     tool_version: "0.1.0".into(),
//!     summary: json!({}),
//! };
//! let v = DocumentVersion::from_json(json!({"id": "ACTIVE!453.2", "name": "Lease", "size": 10}))?;
//! let mut load = cat.begin_snapshot(snap.clone())?;
//! load.add_version(&VersionRow::from_version(&v, json!({"blob": "b3..."})))?;
//! let report = load.commit()?;
//! assert_eq!(report.versions.added, 1);
//!
//! let found = cat.version_in(&snap.id, &"ACTIVE!453.2".parse()?)?;
//! assert_eq!(found.map(|v| v.name).as_deref(), Some("Lease"));
//! # Ok(())
//! # }
//! ```

mod dump;
mod encode;
mod error;
mod find;
pub mod jobs;
mod load;
mod openapi;
mod packed;
mod plan;
mod query;
mod rebuild;
mod rows;
mod scan;
pub mod schema;
mod shared;
mod types;

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use rusqlite::config::DbConfig;

pub use error::{CatalogError, OutOfOrder};
pub use find::{DEFAULT_FIND_LIMIT, FindPlan};
pub use jobs::{JobFilter, JobId, JobKind, JobRecord, JobState, NewJob};
pub use load::{RowKey, RowKind, SnapshotLoad};
pub use packed::ProfileText;
pub use rows::Profiles;
pub use scan::ScanError;
pub use schema::SCHEMA_VERSION;
pub use shared::SharedCatalog;
pub use types::{
    ChangeCounts, ContainerName, ContainerRow, DocumentEntry, FindHit, FindQuery, ItemCounts,
    LoadReport, PlaceContents, PlaceOutline, PlannedDocument, RestorePlanRows, SkippedRow,
    SnapshotId, SnapshotInfo, SnapshotRef, SnapshotRow, SnapshotSpan, VersionHistory,
    VersionOutline, VersionRow,
};

/// An open catalog database.
pub struct Catalog {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").field("path", &self.path).finish()
    }
}

impl Catalog {
    /// Open (or create) the catalog at `path`: creates missing directories, turns on WAL and
    /// migrates the schema forward. A schema newer than this build knows is refused.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CatalogError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private_fs::create_dir_all(dir).map_err(|source| CatalogError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // Created 0600 before SQLite opens it: its -wal and -shm files take the same mode.
        if let Err(e) = crate::private_fs::options()
            .write(true)
            .create_new(true)
            .open(&path)
            && e.kind() != std::io::ErrorKind::AlreadyExists
        {
            return Err(CatalogError::Open {
                path: path.clone(),
                source: rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some(format!("creating the catalog file: {e}")),
                ),
            });
        }
        // Switching a new database to WAL takes an exclusive lock without waiting on the busy
        // handler: another process (or library backup) opening the same new catalog at that
        // moment gets "database is locked". Such a failure is retried for a while.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let conn = Connection::open(&path).map_err(|source| CatalogError::Open {
                path: path.clone(),
                source,
            })?;
            match Self::setup(conn, path.clone(), true) {
                Err(e) if e.is_busy() && std::time::Instant::now() < until => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    /// A private, empty catalog in memory (tests, dry runs).
    pub fn open_in_memory() -> Result<Self, CatalogError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| CatalogError::Open {
            path: path.clone(),
            source,
        })?;
        Self::setup(conn, path, false)
    }

    fn setup(mut conn: Connection, path: PathBuf, wal: bool) -> Result<Self, CatalogError> {
        let open_err = |source| CatalogError::Open {
            path: path.clone(),
            source,
        };
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        if wal {
            let mode: String = conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
                .map_err(open_err)?;
            tracing::debug!(path = %path.display(), journal_mode = %mode, "catalog opened");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        // 32 MiB of page cache (bounded): a nightly load touches every index page once.
        conn.pragma_update(None, "cache_size", -32768)
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        // Temporary tables (a load's items seen again: `load/carry.rs`) in a temporary file
        // with 8 MiB of cache, not in memory (this build's default): a full listing of ten
        // million versions would otherwise hold them all.
        conn.pragma_update(None, "temp_store", "FILE")
            .map_err(open_err)?;
        conn.pragma_update(Some("temp"), "cache_size", -8192)
            .map_err(open_err)?;
        // Stable query plans: without this, SQLite re-prepares a cached statement whenever a
        // bound value moves to or from 0/1 (e.g. version 1 then 2), a third of load time.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(open_err)?;
        conn.set_prepared_statement_cache_capacity(64);
        schema::migrate(&mut conn, &path)?;
        Ok(Self { conn, path })
    }

    /// The database file (`:memory:` for an in-memory catalog).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, CatalogError> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|source| CatalogError::Sql {
                action: format!("reading the schema version of {}", self.path.display()),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_new_catalog_opened_by_many_at_once_opens_for_all() {
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("catalog.db");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        super::Catalog::open(&path).map(|_| ())
                    })
                })
                .collect();
            for h in handles {
                if let Err(e) = h.join().unwrap() {
                    panic!("round {round}: {}", crate::repo::error_chain(&e));
                }
            }
        }
    }

    use super::*;

    #[test]
    fn catalog_is_send() {
        fn send<T: Send>() {}
        send::<Catalog>();
    }
}
