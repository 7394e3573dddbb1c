//! What a restore did: counts, bytes, speed, and every item that failed with its reason.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::request::ValidRequest;
use crate::catalog::SnapshotInfo;
use crate::jobs::JobState;

/// Failures kept in the report (the count goes on).
pub const MAX_LISTED_FAILURES: usize = 1000;

/// One item that could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemFailure {
    /// The object (`ACTIVE!1042.2`, `ACTIVE!171`).
    pub object: String,
    /// What was being done (`reading the content from the repository`, `uploading`, ...).
    pub action: String,
    /// The error with its causes.
    pub error: String,
}

/// One version restored (or, in a dry run, that would be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoredVersion {
    pub version: String,
    pub size: u64,
    /// Where it went: a path of the export, or the new iManage version id.
    pub restored_as: String,
}

/// How a document that was deleted from iManage came back into its original place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Comeback {
    /// Restored from the library's trash bin: it keeps its document number.
    FromTrashBin,
    /// Gone from the trash bin too (purged), or its folder had to be recreated: created again
    /// under a new number.
    Recreated,
    /// Still in the trash bin, but the folder it was filed in was recreated under a new number
    /// (the API cannot file a document in another folder): created again there under a new
    /// number; the original stays in the trash bin.
    RecreatedBesideTrashBin,
}

/// A deleted document brought back by a restore into the original place: old → new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletedDocument {
    /// The document as backed up (`ACTIVE!1042`).
    pub document: String,
    pub how: Comeback,
    /// The document now (`ACTIVE!1042` from the trash bin, a new number when recreated);
    /// `None` in a dry run that would create it.
    pub now: Option<String>,
}

impl std::fmt::Display for DeletedDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let now = self.now.as_deref().unwrap_or("a new document");
        match self.how {
            Comeback::FromTrashBin => write!(
                f,
                "{} -> {now} (back from the trash bin, document number kept)",
                self.document
            ),
            Comeback::Recreated => write!(
                f,
                "{} -> {now} (deleted and no longer in the trash bin: created again under a new number)",
                self.document
            ),
            Comeback::RecreatedBesideTrashBin => write!(
                f,
                "{} -> {now} (still in the trash bin, but its folder was recreated: created again there under a new number)",
                self.document
            ),
        }
    }
}

/// Deleted documents listed in the report (the counts go on).
pub const MAX_LISTED_DELETED: usize = 1000;

/// What happened to one document.
#[derive(Debug, Clone, Default)]
pub struct DocumentOutcome {
    /// Set when the document had been deleted and came back into its original place.
    pub deleted: Option<DeletedDocument>,
    pub restored: Vec<RestoredVersion>,
    /// Versions not restored because the target already holds them (same content in iManage, or
    /// an existing file of an export that is never overwritten).
    pub unchanged: u64,
    pub failures: Vec<ItemFailure>,
    pub notes: Vec<String>,
    /// In the trash bin, but not brought back from it (its folder was recreated).
    pub left_in_trash_bin: bool,
}

/// The summary of one restore (`--json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub state: JobState,
    pub what: String,
    pub library: String,
    pub snapshot: crate::repo::SnapshotId,
    pub snapshot_time: DateTime<Utc>,
    pub target: String,
    pub dry_run: bool,
    /// Containers put in place (found or created).
    pub containers: u64,
    pub containers_created: u64,
    /// Documents with at least one version restored.
    pub documents: u64,
    /// Versions restored (items).
    pub versions: u64,
    pub bytes: u64,
    /// Versions the target already had.
    pub unchanged: u64,
    pub failed: u64,
    pub seconds: f64,
    pub mb_per_s: f64,
    /// The first [`MAX_LISTED_FAILURES`] failures.
    pub failures: Vec<ItemFailure>,
    pub notes: Vec<String>,
    /// Deleted documents brought back from the trash bin (same number) / created again (new
    /// number), restoring into the original place.
    pub documents_from_trash_bin: u64,
    pub documents_recreated: u64,
    /// The first [`MAX_LISTED_DELETED`] of them: old → new.
    pub deleted_documents: Vec<DeletedDocument>,
    /// Restored versions, kept for small restores (up to 1000) so a caller can see where
    /// each went; an export lists every one in its manifest.
    pub items: Vec<RestoredVersion>,
}

impl RestoreReport {
    pub fn new(req: &ValidRequest, snap: &SnapshotInfo, target: String) -> Self {
        Self {
            state: JobState::Running,
            what: req.selection.to_string(),
            library: snap.row.library.to_string(),
            snapshot: snap.row.id,
            snapshot_time: snap.row.time,
            target,
            dry_run: req.dry_run,
            containers: 0,
            containers_created: 0,
            documents: 0,
            versions: 0,
            bytes: 0,
            unchanged: 0,
            failed: 0,
            seconds: 0.0,
            mb_per_s: 0.0,
            failures: Vec::new(),
            notes: Vec::new(),
            documents_from_trash_bin: 0,
            documents_recreated: 0,
            deleted_documents: Vec::new(),
            items: Vec::new(),
        }
    }

    pub fn add_failure(&mut self, f: ItemFailure) {
        tracing::warn!(object = %f.object, action = %f.action, error = %f.error, "restore item failed");
        self.failed += 1;
        if self.failures.len() < MAX_LISTED_FAILURES {
            self.failures.push(f);
        }
    }

    pub fn add_document(&mut self, o: DocumentOutcome) {
        if let Some(d) = o.deleted {
            let how = d.how;
            match how {
                Comeback::FromTrashBin => self.documents_from_trash_bin += 1,
                Comeback::Recreated | Comeback::RecreatedBesideTrashBin => {
                    self.documents_recreated += 1
                }
            }
            tracing::info!(document = %d.document, now = d.now.as_deref().unwrap_or("-"), how = ?d.how, "deleted document restored");
            if self.deleted_documents.len() < MAX_LISTED_DELETED {
                self.deleted_documents.push(d);
            }
            if o.restored.is_empty() && how == Comeback::FromTrashBin {
                // Nothing uploaded, yet the document is back.
                self.documents += 1;
            }
        }
        if !o.restored.is_empty() {
            self.documents += 1;
        }
        for v in o.restored {
            self.versions += 1;
            self.bytes += v.size;
            if self.items.len() < 1000 {
                self.items.push(v);
            }
        }
        self.unchanged += o.unchanged;
        for f in o.failures {
            self.add_failure(f);
        }
        for n in o.notes {
            if self.notes.len() < 100 {
                self.notes.push(n);
            }
        }
    }

    pub fn finish(&mut self, elapsed: Duration) {
        self.seconds = elapsed.as_secs_f64();
        self.mb_per_s = self.bytes as f64 / 1e6 / self.seconds.max(1e-6);
        self.state = if self.failed > 0 {
            JobState::CompletedWithWarnings
        } else {
            JobState::Completed
        };
    }
}
