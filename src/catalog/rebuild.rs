//! Emptying and rebuilding the catalog from the repository's snapshots.

use rusqlite::OptionalExtension;

use super::Catalog;
use super::error::{CatalogError, SqlContext};
use super::load::SnapshotLoad;
use super::types::{LoadReport, SnapshotRow};

const REBUILD_FLAG: &str = "rebuild_incomplete";

impl Catalog {
    /// Delete every snapshot and item (the job queue is kept).
    pub fn clear(&mut self) -> Result<(), CatalogError> {
        self.clear_marking(false)
    }

    /// Start a rebuild done snapshot by snapshot by the caller: delete every snapshot and item
    /// and mark the catalog incomplete ([`Catalog::needs_rebuild`]) until
    /// [`Catalog::finish_rebuild`].
    pub fn start_rebuild(&mut self) -> Result<(), CatalogError> {
        self.clear_marking(true)
    }

    /// Every snapshot of the repository is loaded again: the catalog is complete.
    pub fn finish_rebuild(&mut self) -> Result<(), CatalogError> {
        self.conn
            .execute("DELETE FROM meta WHERE key = ?1", [REBUILD_FLAG])
            .ctx(|| format!("finishing the rebuild of {}", self.path.display()))?;
        Ok(())
    }

    fn clear_marking(&mut self, mark: bool) -> Result<(), CatalogError> {
        let action = || format!("clearing the catalog {}", self.path.display());
        let tx = self.conn.transaction().ctx(action)?;
        tx.execute_batch(
            "DELETE FROM skipped; DELETE FROM filings; DELETE FROM document_acls; DELETE FROM acls; \
             DELETE FROM version_names; DELETE FROM versions; DELETE FROM authors; DELETE FROM containers; DELETE FROM snapshots;",
        )
        .ctx(action)?;
        if mark {
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, '1')",
                [REBUILD_FLAG],
            )
            .ctx(action)?;
        }
        tx.commit().ctx(action)
    }

    /// True when a rebuild started and did not finish: the catalog is incomplete and should
    /// be rebuilt before it is trusted.
    pub fn needs_rebuild(&self) -> Result<bool, CatalogError> {
        let flag: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [REBUILD_FLAG],
                |r| r.get(0),
            )
            .optional()
            .ctx(|| format!("reading the rebuild state of {}", self.path.display()))?;
        Ok(flag.is_some())
    }

    /// Recreate the catalog from the repository alone: clear it, then load `snapshots` per
    /// library in (time, id) order, whatever order they are given in. `fill` adds one
    /// snapshot's items (reading its metadata streams from the repository). Each snapshot
    /// commits on its own; until the last one did, [`Catalog::needs_rebuild`] says so.
    ///
    /// Also the way to apply a prune: rebuild from the snapshots that remain.
    #[tracing::instrument(name = "catalog_rebuild", skip_all, fields(path = %self.path.display(), snapshots = snapshots.len()))]
    pub fn rebuild<E, F>(
        &mut self,
        mut snapshots: Vec<SnapshotRow>,
        mut fill: F,
    ) -> Result<Vec<LoadReport>, CatalogError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        F: FnMut(&mut SnapshotLoad<'_>) -> Result<(), E>,
    {
        snapshots.sort_by(|a, b| (&a.library, a.time, &a.id).cmp(&(&b.library, b.time, &b.id)));
        tracing::info!(snapshots = snapshots.len(), "rebuilding the catalog");
        self.clear_marking(true)?;
        let mut reports = Vec::with_capacity(snapshots.len());
        for snap in snapshots {
            let id = snap.id;
            let mut load = self.begin_snapshot(snap)?;
            fill(&mut load).map_err(|e| CatalogError::RebuildSource {
                snapshot: id,
                source: e.into(),
            })?;
            reports.push(load.commit()?);
        }
        self.finish_rebuild()?;
        Ok(reports)
    }
}
