//! Writing one batch of an export: every version to a temporary file (in pack order, see
//! [`super::window`]; a version too large for that, or whose blobs it could not read, is
//! streamed on its own), one `syncfs` for the batch, then each file under its final name (never over an existing one);
//! the batch's document sidecars go to temporary names and get theirs after the next sync. A
//! final name only ever appears for a file whose bytes are durable.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;
use tracing::Instrument;

use super::sidecar_profile::{sidecar_profile, sidecar_profiles};
use super::{EXPORT_FORMAT, ExportTarget, pretty};
use crate::catalog::{PlannedDocument, VersionRow};
use crate::jobs::progress::Counters;
use crate::restore::files::{Tree, temp_name};
use crate::restore::names;
use crate::restore::report::{DocumentOutcome, ItemFailure, RestoredVersion};
use crate::restore::source::{READ_ACTION, SizeCheck, Source};
use crate::restore::target::Place;

/// One version as a document sidecar lists it (field order is the file's).
#[derive(Serialize)]
struct SidecarVersion {
    version: u32,
    file: String,
    /// Rendered by [`sidecar_profile`] when the batch arrives.
    profile: Box<RawValue>,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// A document sidecar `<name> (doc N).imvault.json` (field order is the file's).
#[derive(Serialize)]
struct DocumentSidecar {
    imvault_export: u32,
    document: crate::imanage::model::DocumentId,
    snapshot: crate::repo::SnapshotId,
    snapshot_time: chrono::DateTime<chrono::Utc>,
    library: crate::imanage::model::LibraryId,
    versions: Vec<SidecarVersion>,
    filings: Vec<crate::imanage::model::ContainerId>,
    acl: Option<crate::imanage::model::Acl>,
}

/// The directory of a document placed at `place`.
fn dir_of(place: &Place, base: &Path) -> PathBuf {
    match place {
        Place::Dir(d) => d.clone(),
        _ => base.to_path_buf(),
    }
}

impl ExportTarget {
    /// Writes a batch of documents (see the module docs); one outcome per document, in order.
    pub(super) async fn write_documents(
        &self,
        docs: Vec<(PlannedDocument, Place)>,
        source: &Source,
        progress: &Arc<Counters>,
    ) -> Vec<DocumentOutcome> {
        let failed_all = |ids: &mut dyn Iterator<Item = String>, e: tokio::task::JoinError| {
            ids.map(|id| DocumentOutcome {
                failures: vec![ItemFailure {
                    object: id,
                    action: "writing its files".into(),
                    error: e.to_string(),
                }],
                ..Default::default()
            })
            .collect::<Vec<_>>()
        };
        // Each version's profile as its sidecar prints it, now (on a blocking thread: the task
        // polling this window polls the others too): the rows of a window waiting for a writer
        // or syncing hold that text (~2 KB a version), not the parsed map (~10 KB). A dry run
        // writes no sidecar.
        let (docs, mut profiles) = if self.dry_run {
            let none = docs
                .iter()
                .map(|(d, _)| vec![None; d.versions.len()])
                .collect();
            (docs, none)
        } else {
            let ids: Vec<String> = docs.iter().map(|(d, _)| d.id.to_string()).collect();
            let rendered = tokio::task::spawn_blocking(move || {
                let mut docs = docs;
                let profiles = sidecar_profiles(&mut docs);
                (docs, profiles)
            })
            .await;
            match rendered {
                Ok(r) => r,
                Err(e) => return failed_all(&mut ids.into_iter(), e),
            }
        };
        let mut outs: Vec<DocumentOutcome> =
            docs.iter().map(|_| DocumentOutcome::default()).collect();
        let all_failed = |e: tokio::task::JoinError| {
            failed_all(&mut docs.iter().map(|(d, _)| d.id.to_string()), e)
        };
        // Only the files' writing holds a writer: the sync and placing overlap the next window's
        // reads (the semaphore is never closed).
        let writing = self.writers.acquire().await.ok();
        let mut jobs = match self.version_jobs(&docs, source).await {
            Ok(j) => j,
            Err(e) => return all_failed(e),
        };
        drop(writing);
        if !self.dry_run {
            jobs = match self.write_jobs(jobs, docs.len()).await {
                Ok(j) => j,
                Err(e) => return all_failed(e),
            };
        }
        let listed = self.account(&mut profiles, jobs, &mut outs, progress);
        if !self.dry_run {
            self.write_sidecars(&docs, listed, &mut outs).await;
        }
        outs
    }

    /// Every version of the batch with its data: written into its temporary file (in pack
    /// order, or streamed on its own), failed, or (dry run) whether its name is free.
    async fn version_jobs(
        &self,
        docs: &[(PlannedDocument, Place)],
        source: &Source,
    ) -> Result<Vec<VersionJob>, tokio::task::JoinError> {
        let mut jobs = Vec::new();
        for (i, (doc, place)) in docs.iter().enumerate() {
            let dir = dir_of(place, &self.base);
            let Some(latest) = doc.versions.last() else {
                continue;
            };
            for (nth, v) in doc.versions.iter().enumerate() {
                let file = names::version_file(
                    &latest.name,
                    doc.id.number,
                    v.id.version,
                    v.extension.as_deref(),
                );
                let path = dir.join(&file);
                let tmp = temp_name(&path);
                let data = match self.dry_run {
                    true => VersionData::Placed(!path.exists()),
                    false => VersionData::Pending,
                };
                let mtime = v
                    .edit_date
                    .as_deref()
                    .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
                    .map(std::time::SystemTime::from);
                jobs.push(VersionJob {
                    doc: i,
                    nth,
                    // Without its profile (rendered for the sidecar when the batch came): a
                    // window holds thousands of jobs.
                    version: VersionRow {
                        id: v.id.clone(),
                        kind: v.kind,
                        name: String::new(),
                        extension: None,
                        size: v.size,
                        edit_date: None,
                        edit_profile_date: None,
                        profile: Default::default(),
                        content: v.content.clone(),
                        profile_text: None,
                    },
                    file,
                    path,
                    tmp,
                    mtime,
                    data,
                });
            }
        }
        let Some(tree) = self.tree.clone() else {
            return Ok(jobs); // a dry run writes nothing
        };
        let mut jobs = super::window::write_in_pack_order(tree, source, jobs).await?;
        // What the window did not write: large versions, and those with a blob it could not
        // read (each read alone now; a lost pack fails them, naming it).
        for j in jobs.iter_mut() {
            if !matches!(j.data, VersionData::Pending) {
                continue;
            }
            let doc = &docs[j.doc].0;
            j.data = match self
                .stream_to_temp(&j.version, &j.path, &j.tmp, j.mtime, source)
                .instrument(tracing::info_span!("document", id = %doc.id))
                .await
            {
                Ok(()) => VersionData::Streamed,
                Err(f) => VersionData::Failed(f),
            };
        }
        Ok(jobs)
    }

    /// [`write_batch`] on a blocking thread, with the sidecars queued so far.
    async fn write_jobs(
        &self,
        jobs: Vec<VersionJob>,
        documents: usize,
    ) -> Result<Vec<VersionJob>, tokio::task::JoinError> {
        let pending = self.take_pending();
        let Some(tree) = self.tree.clone() else {
            return Ok(jobs); // a dry run writes nothing
        };
        let span = tracing::debug_span!("write batch", documents, versions = jobs.len());
        tokio::task::spawn_blocking(move || span.in_scope(|| write_batch(&tree, jobs, pending)))
            .await
    }

    /// Counts each version's outcome, writes its line of the item list, and returns what each
    /// document's sidecar lists (each version's rendered profile taken out of `profiles`).
    fn account(
        &self,
        profiles: &mut [Vec<Option<Box<RawValue>>>],
        jobs: Vec<VersionJob>,
        outs: &mut [DocumentOutcome],
        progress: &Counters,
    ) -> Vec<Vec<SidecarVersion>> {
        let mut listed: Vec<Vec<SidecarVersion>> = outs.iter().map(|_| Vec::new()).collect();
        for j in jobs {
            let (out, v, path) = (&mut outs[j.doc], &j.version, &j.path);
            let rel = path
                .strip_prefix(&self.base)
                .unwrap_or(path)
                .to_string_lossy()
                .into_owned();
            let mut line = json!({"version": v.id, "path": rel, "size": v.size});
            match j.data {
                VersionData::Placed(true) => {
                    Counters::add(&progress.versions, 1);
                    Counters::add(&progress.bytes_read, v.size);
                    out.restored.push(RestoredVersion {
                        version: v.id.to_string(),
                        size: v.size,
                        restored_as: path.to_string_lossy().into_owned(),
                    });
                    line["status"] = json!("restored");
                }
                VersionData::Placed(false) => {
                    out.unchanged += 1;
                    out.notes.push(format!(
                        "{}: {} exists, not overwritten",
                        v.id,
                        path.display()
                    ));
                    line["status"] = json!("exists");
                }
                VersionData::Failed(f) => {
                    Counters::add(&progress.skipped, 1);
                    line["status"] = json!("failed");
                    line["error"] = json!(format!("{}: {}", f.action, f.error));
                    out.failures.push(f);
                }
                VersionData::Pending | VersionData::Streamed => {
                    // Not reached: the batch writer places or fails every version.
                    line["status"] = json!("restored");
                }
            }
            self.item_line(&line);
            let status = line["status"].as_str().unwrap_or_default().to_string();
            let error = line
                .get("error")
                .and_then(|e| e.as_str())
                .map(str::to_string);
            listed[j.doc].push(SidecarVersion {
                version: j.version.id.version,
                file: j.file,
                profile: profiles[j.doc][j.nth]
                    .take()
                    .unwrap_or_else(|| sidecar_profile(&serde_json::Map::new())),
                status,
                error,
            });
        }
        listed
    }

    /// Each document's sidecar (it records each version's status) goes to a temporary file now
    /// and gets its name after the next sync (the next batch's, or the one before the
    /// manifest), like the container sidecars: no second sync per batch, and a sidecar still
    /// only appears once its bytes are durable and after the files it lists.
    async fn write_sidecars(
        &self,
        docs: &[(PlannedDocument, Place)],
        listed: Vec<Vec<SidecarVersion>>,
        outs: &mut [DocumentOutcome],
    ) {
        // Built from owned rows and serialized on the blocking thread below.
        let mut sidecars = Vec::new();
        for (i, ((doc, place), listed)) in docs.iter().zip(listed).enumerate() {
            let Some(latest) = doc.versions.last() else {
                continue;
            };
            let sidecar = DocumentSidecar {
                imvault_export: EXPORT_FORMAT,
                document: doc.id.clone(),
                snapshot: self.snapshot.row.id,
                snapshot_time: self.snapshot.row.time,
                library: self.snapshot.row.library.clone(),
                versions: listed,
                filings: doc.filings.clone(),
                acl: doc.acl.clone(),
            };
            let dir = dir_of(place, &self.base);
            let path = dir.join(names::sidecar_file(&latest.name, doc.id.number));
            // A merge that adds versions beside an earlier export's sidecar writes its own.
            let beside = (!outs[i].restored.is_empty()).then(|| {
                dir.join(names::merge_sidecar_file(
                    &latest.name,
                    doc.id.number,
                    &self.stamp,
                ))
            });
            sidecars.push((i, path, beside, sidecar));
        }
        let Some(tree) = self.tree.clone() else {
            return; // a dry run writes nothing
        };
        let written = tokio::task::spawn_blocking(move || {
            sidecars
                .into_iter()
                .map(|(i, path, beside, sidecar)| {
                    // Never overwritten (a merge); this run's goes beside it when the run
                    // added versions of the document.
                    let (path, existing) = match (tree.exists(&path), beside) {
                        (false, _) => (path, None),
                        (true, Some(b)) if !tree.exists(&b) => (b, Some(path)),
                        (true, _) => return (i, path, None, PathBuf::new(), Ok(false)),
                    };
                    let tmp = temp_name(&path);
                    let bytes = bytes::Bytes::from(pretty(&sidecar));
                    let r = tree.write_temp(&tmp, &[bytes], None);
                    if r.is_err() {
                        tree.remove(&tmp);
                    }
                    (i, path, existing, tmp, r.map(|()| true))
                })
                .collect::<Vec<_>>()
        })
        .await;
        match written {
            Ok(res) => {
                for (i, path, existing, tmp, r) in res {
                    let doc = &docs[i].0;
                    if let (Ok(true), Some(e)) = (&r, &existing) {
                        outs[i].notes.push(format!(
                            "{}: sidecar {} exists, not overwritten; this restore's is {}",
                            doc.id,
                            e.display(),
                            path.display()
                        ));
                    }
                    match r {
                        Ok(true) => self.queue(tmp, path),
                        Ok(false) => outs[i].notes.push(format!(
                            "{}: sidecar {} exists, not overwritten",
                            doc.id,
                            path.display()
                        )),
                        Err(e) => outs[i].failures.push(ItemFailure {
                            object: doc.id.to_string(),
                            action: format!("writing {}", path.display()),
                            error: e.to_string(),
                        }),
                    }
                }
            }
            Err(e) => {
                for (i, (doc, _)) in docs.iter().enumerate() {
                    outs[i].failures.push(ItemFailure {
                        object: doc.id.to_string(),
                        action: "writing its sidecar".into(),
                        error: e.to_string(),
                    });
                }
            }
        }
    }

    /// Streams one version (too large for a window, or whose blobs the window could not read)
    /// into the new file `tmp`, checking
    /// every chunk and the total size; not synced. `tmp` is removed on failure.
    async fn stream_to_temp(
        &self,
        v: &VersionRow,
        path: &Path,
        tmp: &Path,
        mtime: Option<std::time::SystemTime>,
        source: &Source,
    ) -> Result<(), ItemFailure> {
        let fail = |action: &str, e: String| ItemFailure {
            object: v.id.to_string(),
            action: action.to_string(),
            error: e,
        };
        let (content, mut chunks) = source.stream(v)?;
        let write_action = format!("writing {}", path.display());
        let tree = self
            .tree()
            .map_err(|e| fail(&write_action, e.to_string()))?;
        let f = tree
            .create_new(tmp)
            .map_err(|e| fail(&write_action, e.to_string()))?;
        let mut f = Some(std::io::BufWriter::with_capacity(1 << 20, f));
        let mut check = SizeCheck::new(v, &content);
        let result: Result<(), ItemFailure> = async {
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| ItemFailure {
                    object: v.id.to_string(),
                    action: READ_ACTION.into(),
                    error: e,
                })?;
                check.add(chunk.len())?;
                let mut w = f.take().expect("writer");
                let (w, r) = tokio::task::spawn_blocking(move || {
                    let r = w.write_all(&chunk);
                    (w, r)
                })
                .await
                .map_err(|e| fail(&write_action, e.to_string()))?;
                f = Some(w);
                r.map_err(|e| fail(&write_action, e.to_string()))?;
            }
            check.finish()?;
            if let Some(mut w) = f.take() {
                tokio::task::spawn_blocking(move || {
                    w.flush()?;
                    if let Some(m) = mtime {
                        let _ = w.get_ref().set_modified(m);
                    }
                    Ok::<(), std::io::Error>(())
                })
                .await
                .map_err(|e| fail(&write_action, e.to_string()))?
                .map_err(|e| fail(&write_action, e.to_string()))?;
            }
            Ok(())
        }
        .await;
        if result.is_err() {
            drop(f);
            tree.remove(tmp);
        }
        result
    }
}

/// Syncs the file system once for a batch whose versions are in their temporary files, then
/// places every written file (and the queued `pending` ones) under its final name.
pub(super) fn write_batch(
    tree: &Tree,
    mut jobs: Vec<VersionJob>,
    pending: Vec<(PathBuf, PathBuf)>,
) -> Vec<VersionJob> {
    let failed = |j: &VersionJob, error: String| {
        tree.remove(&j.tmp);
        VersionData::Failed(ItemFailure {
            object: j.version.id.to_string(),
            action: format!("writing {}", j.path.display()),
            error,
        })
    };
    let synced = tree.sync();
    for j in &mut jobs {
        if !matches!(j.data, VersionData::Streamed) {
            continue;
        }
        j.data = match &synced {
            Ok(()) => match tree.place(&j.tmp, &j.path) {
                Ok(b) => VersionData::Placed(b),
                Err(e) => failed(j, e.to_string()),
            },
            Err(e) => failed(j, format!("syncing the file system: {e}")),
        };
    }
    match synced {
        Ok(()) => tree.place_pending(pending),
        Err(e) => {
            for (tmp, path) in pending {
                tree.remove(&tmp);
                tracing::warn!(path = %path.display(), error = %e, "could not sync a sidecar; not placed");
            }
        }
    }
    jobs
}

/// One version of a batch on its way to its final name.
pub(super) struct VersionJob {
    pub(super) doc: usize,
    /// Which of the document's versions (where the batch keeps its rendered profile).
    pub(super) nth: usize,
    pub(super) version: VersionRow,
    pub(super) file: String,
    pub(super) path: PathBuf,
    pub(super) tmp: PathBuf,
    pub(super) mtime: Option<std::time::SystemTime>,
    pub(super) data: VersionData,
}

pub(super) enum VersionData {
    /// Not written yet.
    Pending,
    /// Written (verified) into its temporary file, with its modification time; not synced.
    Streamed,
    /// Placed under its final name (`false`: the name existed, nothing written).
    Placed(bool),
    Failed(ItemFailure),
}
