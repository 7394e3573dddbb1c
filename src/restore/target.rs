//! The trait the restore engine talks to: a directory export or iManage.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::RestoreError;
use super::report::{DocumentOutcome, ItemFailure, RestoreReport};
use super::source::Source;
use crate::catalog::{ContainerRow, PlannedDocument};
use crate::imanage::model::ContainerId;
use crate::jobs::progress::Counters;

/// Where children of a restored container go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A directory of an export.
    Dir(PathBuf),
    /// A container in iManage: its id (`None`: one a dry run would have created) and whether
    /// it is a workspace (folders are created differently in workspaces and in folders).
    Container {
        id: Option<ContainerId>,
        workspace: bool,
    },
    /// The top level of a library in iManage (where workspaces go).
    Top,
}

/// A container put in place.
#[derive(Debug, Clone)]
pub struct ContainerOutcome {
    pub place: Place,
    /// Made by this restore (a directory, or a workspace/folder created in iManage).
    pub created: bool,
}

#[async_trait]
pub trait Target: Send + Sync {
    /// One line for the report (`directory /srv/x`, `original place`, `folder ACTIVE!9`).
    fn describe(&self) -> String;

    /// The place of the restored root's parent, given the root's ancestors in the snapshot (top
    /// first; for a document restore they end with the folder it was filed in).
    async fn root_place(&self, ancestors: &[ContainerRow]) -> Result<Place, RestoreError>;

    /// Puts one container in place under `parent`.
    async fn container(
        &self,
        c: &ContainerRow,
        parent: &Place,
    ) -> Result<ContainerOutcome, ItemFailure>;

    /// Restores one document's planned versions (in order) into `place`. Failures of single
    /// versions are part of the outcome; the engine goes on with the other documents.
    async fn document(
        &self,
        doc: &PlannedDocument,
        place: &Place,
        source: &Source,
        progress: &Arc<Counters>,
    ) -> DocumentOutcome;

    /// Whether batches may be gathered into large windows for [`Target::documents`] (the
    /// export writes every version it is given, reading a window's blobs pack by pack; a dry
    /// run or an upload that may skip versions reads only what it uses, version by version).
    fn reads_ahead(&self) -> bool {
        false
    }

    /// Restores a batch (or window) of documents read from `source`. The default runs
    /// [`Target::document`] for `concurrency` of them at a time; a target may instead write
    /// the batch as a whole (the export syncs it once, and takes each version's profile into
    /// its document's sidecar instead of copying it). Outcomes in any order.
    async fn documents(
        &self,
        docs: Vec<(PlannedDocument, Place)>,
        source: &Source,
        progress: &Arc<Counters>,
        concurrency: usize,
    ) -> Vec<DocumentOutcome> {
        use futures::StreamExt;
        let mut out = Vec::with_capacity(docs.len());
        let mut running = futures::stream::FuturesUnordered::new();
        let mut next = docs.iter();
        loop {
            while running.len() < concurrency.max(1) {
                match next.next() {
                    Some((d, p)) => running.push(self.document(d, p, source, progress)),
                    None => break,
                }
            }
            match running.next().await {
                Some(o) => out.push(o),
                None => break,
            }
        }
        out
    }

    async fn finish(&self, report: &RestoreReport) -> Result<(), RestoreError>;

    /// The restore failed (or was cancelled) before `finish`: undo what only this run's
    /// bookkeeping left behind, nothing restored.
    async fn abandon(&self) {}
}
