//! Filling the catalog from the repository: after each backup (the new snapshot) and on
//! `imvault catalog rebuild` (every snapshot). The repository is the truth; the catalog is a
//! cache that can always be recreated from it.
//!
//! The catalog is synchronous SQLite: one blocking thread loads a snapshot while an async task
//! reads the snapshot's metadata streams and hands rows over a bounded channel.

use futures::StreamExt;
use tokio::sync::mpsc;

use crate::catalog::{
    self, Catalog, ContainerRow, LoadReport, SkippedRow, SnapshotLoad, SnapshotRow, VersionRow,
};
use crate::imanage::model::{LibraryId, ParseError};
use crate::jobs::records::{
    ContainerRecord, DocumentAclRecord, FilingRecord, STREAM_CONTAINERS, STREAM_DOCUMENT_ACLS,
    STREAM_FILINGS, STREAM_SKIPPED, STREAM_VERSIONS, SkippedRecord, VersionRecord,
};
use crate::repo::{Indexed, RepoError, Repository, Snapshot};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("reading snapshot {snapshot} from the repository")]
    Repo {
        snapshot: String,
        #[source]
        source: Box<RepoError>,
    },
    #[error("snapshot {snapshot} holds a malformed record in stream {stream}: {problem}")]
    Record {
        snapshot: String,
        stream: &'static str,
        problem: String,
    },
    #[error("snapshot {snapshot} names an invalid library {library:?}")]
    Library {
        snapshot: String,
        library: String,
        #[source]
        source: ParseError,
    },
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    #[error("the catalog loader thread stopped: {0}")]
    Task(String),
}

enum Row {
    Container(ContainerRow),
    Version(VersionRow),
    Filing(FilingRecord),
    Acl(DocumentAclRecord),
    Skipped(SkippedRow),
}

fn snapshot_row(s: &Snapshot) -> Result<SnapshotRow, SyncError> {
    let library =
        LibraryId::new(s.manifest.library.clone()).map_err(|source| SyncError::Library {
            snapshot: s.id.to_string(),
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
        id: catalog::SnapshotId::new(s.id.to_hex()).map_err(|e| SyncError::Record {
            snapshot: s.id.to_string(),
            stream: "manifest",
            problem: e.to_string(),
        })?,
        library,
        time: s.manifest.time,
        parent: s
            .manifest
            .parent
            .and_then(|p| catalog::SnapshotId::new(p.to_hex()).ok()),
        host: s.manifest.host.clone(),
        tool_version: s.manifest.tool_version.clone(),
        summary,
    })
}

/// Reads every stream of `snap` and sends catalog rows, in the order containers, versions,
/// filings, ACLs, skipped (containers first, so parents exist when children arrive).
async fn read_rows(
    repo: &Repository<Indexed>,
    snap: &Snapshot,
    tx: mpsc::Sender<Row>,
) -> Result<(), SyncError> {
    let sid = snap.id.to_string();
    let repo_err = |source| SyncError::Repo {
        snapshot: sid.clone(),
        source: Box::new(source),
    };
    let bad = |stream: &'static str, problem: String| SyncError::Record {
        snapshot: sid.clone(),
        stream,
        problem,
    };
    macro_rules! each {
        ($stream:expr, $ty:ty, |$r:ident| $body:expr) => {
            if let Some(meta) = snap.manifest.streams.get($stream) {
                let mut records = std::pin::pin!(repo.read_meta_stream::<$ty>($stream, meta));
                while let Some($r) = records.next().await {
                    let $r = $r.map_err(repo_err)?;
                    let row = $body;
                    if tx.send(row).await.is_err() {
                        return Ok(());
                    }
                }
            }
        };
    }
    each!(STREAM_CONTAINERS, ContainerRecord, |r| {
        let c = r
            .container()
            .map_err(|e| bad(STREAM_CONTAINERS, e.to_string()))?;
        Row::Container(ContainerRow::from_container(&c, r.acl))
    });
    each!(STREAM_VERSIONS, VersionRecord, |r| {
        let v = r
            .version()
            .map_err(|e| bad(STREAM_VERSIONS, e.to_string()))?;
        let content = serde_json::to_value(&r.content).unwrap_or_default();
        Row::Version(VersionRow::from_version(&v, content))
    });
    each!(STREAM_FILINGS, FilingRecord, |r| Row::Filing(r));
    each!(STREAM_DOCUMENT_ACLS, DocumentAclRecord, |r| Row::Acl(r));
    each!(STREAM_SKIPPED, SkippedRecord, |r| Row::Skipped(
        SkippedRow {
            object: r.object,
            reason: format!("{}: {}", r.action, r.reason)
        }
    ));
    Ok(())
}

fn add_row(load: &mut SnapshotLoad<'_>, row: Row) -> Result<(), catalog::CatalogError> {
    match row {
        Row::Container(c) => load.add_container(&c),
        Row::Version(v) => load.add_version(&v),
        Row::Filing(f) => load.add_filing(&f),
        Row::Acl(a) => load.add_document_acl(&a.document, &a.acl),
        Row::Skipped(s) => load.add_skipped(&s),
    }
}

/// Loads `snap` into the catalog at `catalog` (a file path), unless it is there already.
/// Returns `None` when the snapshot was already catalogued.
pub async fn sync_snapshot(
    repo: &Repository<Indexed>,
    catalog_path: &std::path::Path,
    snap: &Snapshot,
) -> Result<Option<LoadReport>, SyncError> {
    let row = snapshot_row(snap)?;
    let (tx, mut rx) = mpsc::channel::<Row>(4096);
    let path = catalog_path.to_path_buf();
    let loader = tokio::task::spawn_blocking(
        move || -> Result<Option<LoadReport>, catalog::CatalogError> {
            let mut cat = Catalog::open(&path)?;
            if cat.has_snapshot(&row.id)? {
                return Ok(None);
            }
            let mut load = cat.begin_snapshot(row)?;
            while let Some(r) = rx.blocking_recv() {
                add_row(&mut load, r)?;
            }
            load.commit().map(Some)
        },
    );
    let read = read_rows(repo, snap, tx).await;
    let loaded = loader.await.map_err(|e| SyncError::Task(e.to_string()))?;
    // A read error dropped the sender early: report it rather than the partial load.
    read?;
    Ok(loaded?)
}

/// Catalogues every repository snapshot the catalog lacks, oldest first per library. A missing
/// snapshot older than one already catalogued (e.g. after the catalog was lost and a later backup
/// ran) makes this a full rebuild.
pub async fn sync_all(
    repo: &Repository<Indexed>,
    catalog_path: &std::path::Path,
) -> Result<SyncReport, SyncError> {
    let snaps = repo
        .list_snapshots(None)
        .await
        .map_err(|source| SyncError::Repo {
            snapshot: "(list)".into(),
            source: Box::new(source),
        })?;
    let path = catalog_path.to_path_buf();
    let ids: Vec<(String, String, chrono::DateTime<chrono::Utc>)> = snaps
        .iter()
        .map(|s| (s.id.to_hex(), s.manifest.library.clone(), s.manifest.time))
        .collect();
    let needs_rebuild =
        tokio::task::spawn_blocking(move || -> Result<bool, catalog::CatalogError> {
            let cat = Catalog::open(&path)?;
            if cat.needs_rebuild()? {
                return Ok(true);
            }
            for (id, library, time) in &ids {
                let Ok(sid) = catalog::SnapshotId::new(id.clone()) else {
                    continue;
                };
                if cat.has_snapshot(&sid)? {
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
        return rebuild(repo, catalog_path).await;
    }
    let mut report = SyncReport::default();
    for s in &snaps {
        if sync_snapshot(repo, catalog_path, s).await?.is_some() {
            report.loaded += 1;
        } else {
            report.already += 1;
        }
    }
    Ok(report)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    pub loaded: u64,
    pub already: u64,
    pub rebuilt: bool,
}

/// Empties the catalog and loads every snapshot of the repository again.
pub async fn rebuild(
    repo: &Repository<Indexed>,
    catalog_path: &std::path::Path,
) -> Result<SyncReport, SyncError> {
    let path = catalog_path.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<(), catalog::CatalogError> {
        Catalog::open(&path)?.clear()
    })
    .await
    .map_err(|e| SyncError::Task(e.to_string()))??;
    let mut snaps = repo
        .list_snapshots(None)
        .await
        .map_err(|source| SyncError::Repo {
            snapshot: "(list)".into(),
            source: Box::new(source),
        })?;
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
        sync_snapshot(repo, catalog_path, s).await?;
        report.loaded += 1;
    }
    Ok(report)
}
