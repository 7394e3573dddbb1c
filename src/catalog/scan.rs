//! Whole-snapshot scans, streamed row by row so memory stays flat: the backup job's change
//! detection (previous snapshot's version keys and content references) and library listings.

use rusqlite::params;

use super::Catalog;
use super::encode::{self, U64};
use super::error::{CatalogError, SqlContext};
use super::rows::{self, CONTAINER_COLS, VERSION_COLS};
use super::types::{ContainerRow, SnapshotId, VersionRow};
use crate::imanage::model::LibraryId;

/// What a scan callback can fail with: the catalog's own error or the caller's.
#[derive(Debug, thiserror::Error)]
pub enum ScanError<E> {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("the caller stopped a scan of snapshot {snapshot}")]
    Caller {
        snapshot: SnapshotId,
        #[source]
        source: E,
    },
}

impl Catalog {
    /// The libraries that have at least one snapshot.
    pub fn libraries(&self) -> Result<Vec<LibraryId>, CatalogError> {
        let names: Vec<String> = self
            .conn
            .prepare_cached("SELECT DISTINCT library FROM snapshots ORDER BY library")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .ctx(|| "listing the catalogued libraries".to_string())?;
        names.iter().map(|n| encode::library(n)).collect()
    }

    /// Call `f` with every version present in `snapshot`, ordered by document and version,
    /// one row at a time.
    pub fn for_each_version<E>(
        &self,
        snapshot: &SnapshotId,
        mut f: impl FnMut(VersionRow) -> Result<(), E>,
    ) -> Result<u64, ScanError<E>> {
        let sc = self.scope(snapshot)?;
        let action = || format!("scanning the versions of snapshot {snapshot}");
        let sql = format!(
            "SELECT {VERSION_COLS} FROM versions v WHERE v.library = (SELECT id FROM libraries WHERE name = ?1) AND v.first_seq <= ?2 \
             AND v.last_seq >= ?2 ORDER BY v.document, v.version"
        );
        let mut stmt = self.conn.prepare(&sql).ctx(action)?;
        let iter = stmt
            .query_map(params![sc.library.as_str(), U64(sc.seq)], |r| {
                rows::raw_version(r, 0)
            })
            .ctx(action)?;
        let mut n = 0;
        for raw in iter {
            let v = rows::version(raw.ctx(action)?)?;
            f(v).map_err(|source| ScanError::Caller {
                snapshot: *snapshot,
                source,
            })?;
            n += 1;
        }
        Ok(n)
    }

    /// Call `f` with every container present in `snapshot`, ordered by id, one at a time.
    pub fn for_each_container<E>(
        &self,
        snapshot: &SnapshotId,
        mut f: impl FnMut(ContainerRow) -> Result<(), E>,
    ) -> Result<u64, ScanError<E>> {
        let sc = self.scope(snapshot)?;
        let action = || format!("scanning the containers of snapshot {snapshot}");
        let sql = format!(
            "SELECT {CONTAINER_COLS} FROM containers c WHERE c.library = (SELECT id FROM libraries WHERE name = ?1) \
             AND c.first_seq <= ?2 AND c.last_seq >= ?2 ORDER BY c.number"
        );
        let mut stmt = self.conn.prepare(&sql).ctx(action)?;
        let iter = stmt
            .query_map(params![sc.library.as_str(), U64(sc.seq)], |r| {
                rows::raw_container(r, 0)
            })
            .ctx(action)?;
        let mut n = 0;
        for raw in iter {
            let c = rows::container(raw.ctx(action)?)?;
            f(c).map_err(|source| ScanError::Caller {
                snapshot: *snapshot,
                source,
            })?;
            n += 1;
        }
        Ok(n)
    }
}
