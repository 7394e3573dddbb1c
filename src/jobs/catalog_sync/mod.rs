//! Filling the catalog from the repository: after each backup (the new snapshot) and on
//! `imvault catalog rebuild` (every snapshot). The repository is the truth; the catalog is a
//! cache that can always be recreated from it.
//!
//! The catalog is synchronous SQLite: one blocking thread loads a snapshot while an async task
//! reads the snapshot's metadata streams and hands rows over a bounded channel (`streams`:
//! only the differences from the parent snapshot when the catalog holds the parent).

mod lines;
mod streams;

use tokio::sync::mpsc;

use crate::catalog::{
    self, Catalog, ContainerRow, LoadReport, RowKey, RowKind, SkippedRow, SnapshotLoad,
    SnapshotRow, VersionRow,
};
use crate::imanage::model::{LibraryId, ParseError};
use crate::jobs::records::{DocumentAclRecord, FilingRecord};
use crate::repo::{Indexed, RepoError, Repository, Snapshot, SnapshotId};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("reading snapshot {snapshot} from the repository")]
    Repo {
        /// The snapshot's id, or `(list)` when listing them failed.
        snapshot: String,
        #[source]
        source: Box<RepoError>,
    },
    #[error("snapshot {snapshot} holds a malformed record in stream {stream}: {problem}")]
    Record {
        snapshot: SnapshotId,
        stream: &'static str,
        problem: String,
    },
    #[error("snapshot {snapshot} names an invalid library {library:?}")]
    Library {
        snapshot: SnapshotId,
        library: String,
        #[source]
        source: ParseError,
    },
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    #[error("the catalog loader thread stopped: {0}")]
    Task(String),
    #[error("locking {path} to update the catalog")]
    Lock {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Held while the catalog is being filled: one update (a snapshot, a sync or a rebuild) of a
/// catalog at a time on this host. Backups of several libraries run at once and each updates
/// the catalog; without it, two of them finding the catalog marked incomplete rebuilt it at the
/// same time, and a snapshot could be left out. An OS file lock next to the catalog, released
/// with the process.
struct SyncLock {
    _file: std::fs::File,
}

impl SyncLock {
    fn path(catalog_path: &std::path::Path) -> std::path::PathBuf {
        let mut name = catalog_path.as_os_str().to_owned();
        name.push(".update-lock");
        std::path::PathBuf::from(name)
    }

    async fn acquire(catalog_path: &std::path::Path) -> Result<Self, SyncError> {
        let path = Self::path(catalog_path);
        let at = path.clone();
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            let file = match crate::jobs::lock::try_lock_file(&at)? {
                crate::jobs::lock::Locked::Ours(f) => return Ok(f),
                crate::jobs::lock::Locked::Busy(f) => f,
            };
            tracing::info!(lock = %at.display(), "waiting for another update of the catalog to finish");
            file.lock()?;
            Ok(file)
        })
        .await
        .map_err(|e| SyncError::Task(e.to_string()))?
        .map_err(|source| SyncError::Lock { path, source })?;
        Ok(Self { _file: file })
    }
}

pub(super) enum Row {
    /// Extend every row of this kind valid in the previous snapshot (the parent's).
    CarryOver(RowKind),
    /// After `CarryOver`: this item of the parent is gone (or replaced); end its carried row.
    Drop(RowKey),
    Container(ContainerRow),
    Version(VersionRow),
    Filing(FilingRecord),
    Acl(DocumentAclRecord),
    Skipped(SkippedRow),
    /// Every row was sent: the load may commit. Without it (a read failed) nothing is kept.
    End,
}

fn snapshot_row(s: &Snapshot) -> Result<SnapshotRow, SyncError> {
    let library =
        LibraryId::new(s.manifest.library.clone()).map_err(|source| SyncError::Library {
            snapshot: s.id,
            library: s.manifest.library.clone(),
            source,
        })?;
    let mut summary = s.manifest.summary.clone();
    if let serde_json::Value::Object(m) = &mut summary {
        m.insert(
            "counts".into(),
            serde_json::to_value(&s.manifest.counts).unwrap_or_default(),
        );
    }
    Ok(SnapshotRow {
        id: s.id,
        library,
        time: s.manifest.time,
        parent: s.manifest.parent,
        host: s.manifest.host.clone(),
        tool_version: s.manifest.tool_version.clone(),
        summary,
    })
}

fn add_row(load: &mut SnapshotLoad<'_>, row: Row) -> Result<(), catalog::CatalogError> {
    match row {
        Row::CarryOver(kind) => load.carry_over(kind).map(|_| ()),
        Row::Drop(key) => load.drop_carried(&key).map(|_| ()),
        Row::Container(c) => load.add_container(&c),
        Row::Version(v) => load.add_version(&v),
        Row::Filing(f) => load.add_filing(&f),
        Row::Acl(a) => load.add_document_acl(&a.document, &a.acl),
        Row::Skipped(s) => load.add_skipped(&s),
        Row::End => Ok(()),
    }
}

/// Loads `snap` into the catalog at `catalog` (a file path), unless it is there already.
/// Returns `None` when the snapshot was already catalogued.
pub async fn sync_snapshot(
    repo: &Repository<Indexed>,
    catalog_path: &std::path::Path,
    snap: &Snapshot,
) -> Result<Option<Loaded>, SyncError> {
    let _lock = SyncLock::acquire(catalog_path).await?;
    load_snapshot(repo, catalog_path, snap, Diff::FromParent).await
}

/// Whether a load may use the differences from the parent snapshot (see [`streams`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Diff {
    /// Within [`streams::MAX_PENDING_LINES`] lines out of step per stream.
    FromParent,
    /// Within this many lines out of step per stream (tests of the fallback to a full load).
    FromParentWithin(u64),
    /// Every record is read and added: the reference the shortcut is checked against.
    Off,
}

/// A snapshot loaded into the catalog.
pub struct Loaded {
    pub report: LoadReport,
    /// Its streams loaded in full although the parent is catalogued (see [`SyncReport`]).
    pub out_of_step: u32,
}

async fn load_snapshot(
    repo: &Repository<Indexed>,
    catalog_path: &std::path::Path,
    snap: &Snapshot,
    diff: Diff,
) -> Result<Option<Loaded>, SyncError> {
    let row = snapshot_row(snap)?;
    let (tx, mut rx) = mpsc::channel::<Row>(4096);
    let (prev_tx, prev_rx) = tokio::sync::oneshot::channel();
    let path = catalog_path.to_path_buf();
    let loader = tokio::task::spawn_blocking(
        move || -> Result<Option<LoadReport>, catalog::CatalogError> {
            let mut cat = Catalog::open(&path)?;
            if cat.has_snapshot(&row.id)? {
                return Ok(None);
            }
            let mut load = cat.begin_snapshot(row)?;
            let _ = prev_tx.send(load.previous().cloned());
            while let Some(r) = rx.blocking_recv() {
                if let Row::End = r {
                    return load.commit().map(Some);
                }
                add_row(&mut load, r)?;
            }
            // The reader stopped early (its error is reported): roll the partial load back.
            Ok(None)
        },
    );
    let read = async {
        // Dropped without an answer: already catalogued, or the loader failed (reported below).
        let Ok(previous) = prev_rx.await else {
            return Ok::<u32, SyncError>(0);
        };
        let (previous, max_lines) = match diff {
            Diff::FromParent => (previous, streams::MAX_PENDING_LINES),
            Diff::FromParentWithin(n) => (previous, n),
            Diff::Off => (None, 0),
        };
        let sent = streams::send_rows(repo, snap, previous.as_ref(), max_lines, &tx).await?;
        if sent.complete {
            let _ = tx.send(Row::End).await;
        }
        Ok(sent.out_of_step)
    }
    .await;
    // The loader commits on `End`, and rolls back when the channel closes without it.
    drop(tx);
    let loaded = loader.await.map_err(|e| SyncError::Task(e.to_string()))?;
    // A read error dropped the sender early: report it rather than the partial load.
    let out_of_step = read?;
    Ok(loaded?.map(|report| Loaded {
        report,
        out_of_step,
    }))
}

/// Every snapshot of the repository.
async fn list_all(
    repo: &Repository<Indexed>,
) -> Result<Vec<crate::repo::snapshot::Snapshot>, SyncError> {
    repo.list_snapshots(None)
        .await
        .map_err(|source| SyncError::Repo {
            snapshot: "(list)".into(),
            source: Box::new(source),
        })
}

/// Catalogues every repository snapshot the catalog lacks, oldest first per library. A missing
/// snapshot older than one already catalogued (e.g. after the catalog was lost and a later backup
/// ran) makes this a full rebuild.
pub async fn sync_all(
    repo: &Repository<Indexed>,
    catalog_path: &std::path::Path,
) -> Result<SyncReport, SyncError> {
    let _lock = SyncLock::acquire(catalog_path).await?;
    let snaps = list_all(repo).await?;
    let path = catalog_path.to_path_buf();
    let ids: Vec<(SnapshotId, String, chrono::DateTime<chrono::Utc>)> = snaps
        .iter()
        .map(|s| (s.id, s.manifest.library.clone(), s.manifest.time))
        .collect();
    let needs_rebuild =
        tokio::task::spawn_blocking(move || -> Result<bool, catalog::CatalogError> {
            let cat = Catalog::open(&path)?;
            if cat.needs_rebuild()? {
                return Ok(true);
            }
            for (id, library, time) in &ids {
                if cat.has_snapshot(id)? {
                    continue;
                }
                let Ok(lib) = LibraryId::new(library.clone()) else {
                    continue;
                };
                if let Some(latest) = cat.latest_snapshot(&lib)?
                    && latest.row.time >= *time
                {
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .await
        .map_err(|e| SyncError::Task(e.to_string()))??;
    if needs_rebuild {
        return rebuild_as(repo, catalog_path, Diff::FromParent).await;
    }
    let mut report = SyncReport::default();
    for s in &snaps {
        match load_snapshot(repo, catalog_path, s, Diff::FromParent).await? {
            Some(l) => {
                report.loaded += 1;
                report.out_of_step += u64::from(l.out_of_step);
            }
            None => report.already += 1,
        }
    }
    Ok(report)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    pub loaded: u64,
    pub already: u64,
    pub rebuilt: bool,
    /// Streams loaded in full although their parent snapshot was catalogued: too far out of
    /// step with the parent's to compare in memory (see `streams::MAX_PENDING_LINES`).
    pub out_of_step: u64,
}

/// Empties the catalog and loads every snapshot of the repository again.
pub async fn rebuild(
    repo: &Repository<Indexed>,
    catalog_path: &std::path::Path,
) -> Result<SyncReport, SyncError> {
    let _lock = SyncLock::acquire(catalog_path).await?;
    rebuild_as(repo, catalog_path, Diff::FromParent).await
}

/// Like [`rebuild`], but a stream more than `max_pending_lines` lines out of step with the
/// parent's is loaded in full: what a stream too far out of step for the comparison in memory
/// gets (tests and benchmarks; see `streams.rs`).
pub async fn rebuild_within(
    repo: &Repository<Indexed>,
    catalog_path: &std::path::Path,
    max_pending_lines: u64,
) -> Result<SyncReport, SyncError> {
    let _lock = SyncLock::acquire(catalog_path).await?;
    rebuild_as(
        repo,
        catalog_path,
        Diff::FromParentWithin(max_pending_lines),
    )
    .await
}

/// Like [`rebuild`], but reads and adds every record of every snapshot instead of the
/// differences from each parent: slower, the reference the difference loading is tested against.
pub async fn rebuild_reading_everything(
    repo: &Repository<Indexed>,
    catalog_path: &std::path::Path,
) -> Result<SyncReport, SyncError> {
    let _lock = SyncLock::acquire(catalog_path).await?;
    rebuild_as(repo, catalog_path, Diff::Off).await
}

async fn rebuild_as(
    repo: &Repository<Indexed>,
    catalog_path: &std::path::Path,
    diff: Diff,
) -> Result<SyncReport, SyncError> {
    let path = catalog_path.to_path_buf();
    // Marked incomplete until the last snapshot is in: an interrupted rebuild is done again by
    // the next `sync_all`, and browsing refuses the partial catalog meanwhile.
    tokio::task::spawn_blocking(move || -> Result<(), catalog::CatalogError> {
        Catalog::open(&path)?.start_rebuild()
    })
    .await
    .map_err(|e| SyncError::Task(e.to_string()))??;
    let mut snaps = list_all(repo).await?;
    snaps.sort_by(|a, b| {
        (&a.manifest.library, a.manifest.time, a.id).cmp(&(
            &b.manifest.library,
            b.manifest.time,
            b.id,
        ))
    });
    let mut report = SyncReport {
        rebuilt: true,
        ..SyncReport::default()
    };
    for s in &snaps {
        if let Some(l) = load_snapshot(repo, catalog_path, s, diff).await? {
            report.out_of_step += u64::from(l.out_of_step);
        }
        report.loaded += 1;
    }
    let path = catalog_path.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<(), catalog::CatalogError> {
        Catalog::open(&path)?.finish_rebuild()
    })
    .await
    .map_err(|e| SyncError::Task(e.to_string()))??;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::SyncLock;
    use crate::jobs::lock::{Locked, try_lock_file};

    #[tokio::test]
    async fn the_update_lock_is_exclusive_private_and_released_on_drop() {
        let dir = tempfile::tempdir().expect("temp dir");
        let catalog = dir.path().join("catalog.db");
        let path = SyncLock::path(&catalog);
        let held = SyncLock::acquire(&catalog).await.expect("lock");
        assert!(
            matches!(try_lock_file(&path).expect("open"), Locked::Busy(_)),
            "another update must wait"
        );
        let mode = std::fs::metadata(&path)
            .expect("lock file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(held);
        assert!(matches!(
            try_lock_file(&path).expect("open"),
            Locked::Ours(_)
        ));
        // Taken again by the next update once free.
        drop(SyncLock::acquire(&catalog).await.expect("lock again"));
    }
}
