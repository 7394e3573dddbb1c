//! The directory target (`--to DIR`): a readable tree
//! `DIR/<workspace>/<folder>/…/<name> (doc N v V).<ext>`, a sidecar
//! `<name> (doc N).imvault.json` per document (profiles of every version, filings, ACL), an
//! `imvault-container.json` per directory (the container's profile and ACL), and a manifest
//! `imvault-restore.json` plus `imvault-restore-items.jsonl` (one line per version) at the top.
//!
//! Files are written to a temporary name in the same directory, made durable, then renamed to
//! their final name with `RENAME_NOREPLACE` (which fails if that name exists: nothing is ever
//! overwritten; a hard link and removal of the temporary name where the file system lacks
//! it); a crash never leaves a partial file under a final name. Documents
//! are written in batches (see [`super::source::batches`]): every file of a batch goes to its
//! temporary name, one `syncfs(2)` makes them all durable, then they get their final names;
//! the batch's document sidecars (and container sidecars) are written to temporary names too
//! and get theirs after the next batch's sync: one sync per batch. The manifest is
//! written last, after a final sync, so a manifest means every name it counts is durable. The
//! file primitives are in [`super::files`].

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use tracing::Instrument;

use super::RestoreError;
use super::files::{place_pending, sync_fs, temp_name, write_new, write_temp};
use super::names;
use super::report::{DocumentOutcome, ItemFailure, RestoreReport, RestoredVersion};
use super::source::{SizeCheck, Source};
use super::target::{ContainerOutcome, Place, Target};
use crate::catalog::{ContainerRow, PlannedDocument, SnapshotInfo, VersionRow};
use crate::imanage::model::ContainerKind;
use crate::jobs::progress::Counters;

mod batch;

use batch::{VersionData, VersionJob, write_batch};

/// Name of the manifest at the top of an export.
pub const MANIFEST: &str = "imvault-restore.json";
/// Name of the per-version list next to it (JSON lines).
pub const ITEMS: &str = "imvault-restore-items.jsonl";
/// Name of the per-directory container sidecar.
pub const CONTAINER_SIDECAR: &str = "imvault-container.json";
/// Version of the export layout written into manifests and sidecars.
pub const EXPORT_FORMAT: u32 = 1;

pub struct ExportTarget {
    base: PathBuf,
    dry_run: bool,
    snapshot: SnapshotInfo,
    manifest: PathBuf,
    items_path: PathBuf,
    /// Directory names taken in this run: (parent, name) → container number.
    claimed: Mutex<HashMap<(PathBuf, String), u64>>,
    items: Mutex<Option<std::io::BufWriter<std::fs::File>>>,
    /// Files written under a temporary name, placed after the next sync: (temporary, final).
    pending: Mutex<Vec<(PathBuf, PathBuf)>>,
}

fn io_err(action: &str, path: &Path) -> impl FnOnce(std::io::Error) -> RestoreError {
    let action = action.to_string();
    let path = path.to_path_buf();
    move |source| RestoreError::Io {
        action,
        path,
        source,
    }
}

/// One version as a document sidecar lists it (field order is the file's).
#[derive(Serialize)]
struct SidecarVersion {
    version: u32,
    file: String,
    profile: serde_json::Map<String, Value>,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// A document sidecar `<name> (doc N).imvault.json` (field order is the file's).
#[derive(Serialize)]
struct DocumentSidecar {
    imvault_export: u32,
    document: crate::imanage::model::DocumentId,
    snapshot: crate::catalog::SnapshotId,
    snapshot_time: chrono::DateTime<chrono::Utc>,
    library: crate::imanage::model::LibraryId,
    versions: Vec<SidecarVersion>,
    filings: Vec<crate::imanage::model::ContainerId>,
    acl: Option<crate::imanage::model::Acl>,
}

fn pretty<T: Serialize>(v: &T) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b
}

impl ExportTarget {
    /// Checks (and unless `dry_run`, creates) the target directory. A non-empty directory is
    /// refused unless `merge`.
    pub async fn prepare(
        base: PathBuf,
        merge: bool,
        dry_run: bool,
        snapshot: &SnapshotInfo,
    ) -> Result<Self, RestoreError> {
        let b = base.clone();
        let (manifest, items_path) = tokio::task::spawn_blocking(move || {
            let target_err = |problem: String| RestoreError::TargetDir {
                path: b.clone(),
                problem,
            };
            match std::fs::metadata(&b) {
                Ok(m) if !m.is_dir() => {
                    return Err(target_err("exists and is not a directory".into()));
                }
                Ok(_) => {
                    let mut entries =
                        std::fs::read_dir(&b).map_err(io_err("reading the export target", &b))?;
                    if entries.next().is_some() && !merge {
                        return Err(target_err(
                            "is not empty (pass --merge to add to it; existing files are never overwritten)"
                                .into(),
                        ));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if !dry_run {
                        std::fs::create_dir_all(&b)
                            .map_err(io_err("creating the export target", &b))?;
                    }
                }
                Err(e) => return Err(io_err("reading the export target", &b)(e)),
            }
            // A merge into an earlier export keeps its manifest: this one gets its own name.
            let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
            let (m, i) = if b.join(MANIFEST).exists() || b.join(ITEMS).exists() {
                (
                    b.join(format!("imvault-restore-{stamp}.json")),
                    b.join(format!("imvault-restore-{stamp}-items.jsonl")),
                )
            } else {
                (b.join(MANIFEST), b.join(ITEMS))
            };
            Ok((m, i))
        })
        .await
        .map_err(|e| RestoreError::Task(e.to_string()))??;
        let items = if dry_run {
            None
        } else {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&items_path)
                .map_err(io_err("creating the item list", &items_path))?;
            Some(std::io::BufWriter::new(f))
        };
        Ok(Self {
            base,
            dry_run,
            snapshot: snapshot.clone(),
            manifest,
            items_path,
            claimed: Mutex::new(HashMap::new()),
            items: Mutex::new(items),
            pending: Mutex::new(Vec::new()),
        })
    }

    /// The manifest path (written by `finish`).
    pub fn manifest_path(&self) -> &Path {
        &self.manifest
    }

    fn item_line(&self, v: &Value) {
        let mut g = self.items.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = g.as_mut() {
            let _ = serde_json::to_writer(&mut *w, v);
            let _ = w.write_all(b"\n");
        }
    }

    /// The directory of container `c` under `parent`; a name another container took in this
    /// run gets ` (N)` appended.
    fn dir_name(&self, c: &ContainerRow, parent: &Path) -> String {
        let base = names::component(&c.name, &format!("container {}", c.id.number));
        let mut claimed = self.claimed.lock().unwrap_or_else(|p| p.into_inner());
        let key = (parent.to_path_buf(), base.clone());
        match claimed.get(&key) {
            None => {
                claimed.insert(key, c.id.number);
                base
            }
            Some(n) if *n == c.id.number => base,
            Some(_) => format!("{base} ({})", c.id.number),
        }
    }

    async fn make_dir(
        &self,
        c: &ContainerRow,
        parent: &Path,
    ) -> Result<ContainerOutcome, ItemFailure> {
        let fail = |action: &str, e: String| ItemFailure {
            object: c.id.to_string(),
            action: action.to_string(),
            error: e,
        };
        let sidecar = json!({
            "imvault_export": EXPORT_FORMAT,
            "container": c.id,
            "kind": c.kind,
            "snapshot": self.snapshot.row.id,
            "snapshot_time": self.snapshot.row.time,
            "profile": c.profile,
            "acl": c.acl,
        });
        if c.kind == ContainerKind::SearchFolder {
            // A saved query holds no documents: keep its definition next to its siblings.
            let file = parent.join(format!(
                "{} (search folder {}).imvault.json",
                names::component(&c.name, "search folder"),
                c.id.number
            ));
            if !self.dry_run && !file.exists() {
                let (tmp, bytes) = (temp_name(&file), pretty(&sidecar));
                let t = tmp.clone();
                tokio::task::spawn_blocking(move || {
                    write_temp(&t, &[bytes::Bytes::from(bytes)], None)
                })
                .await
                .map_err(|e| fail("writing a search folder definition", e.to_string()))?
                .map_err(|e| fail("writing a search folder definition", e.to_string()))?;
                self.queue(tmp, file);
            }
            return Ok(ContainerOutcome {
                place: Place::Dir(parent.to_path_buf()),
                created: false,
            });
        }
        let dir = parent.join(self.dir_name(c, parent));
        if self.dry_run {
            return Ok(ContainerOutcome {
                place: Place::Dir(dir),
                created: false,
            });
        }
        let d = dir.clone();
        let bytes = pretty(&sidecar);
        let final_name = d.join(CONTAINER_SIDECAR);
        let tmp = temp_name(&final_name);
        let (f, t) = (final_name.clone(), tmp.clone());
        let created = tokio::task::spawn_blocking(move || -> std::io::Result<(bool, bool)> {
            let existed = d.is_dir();
            std::fs::create_dir_all(&d)?;
            if f.exists() {
                return Ok((!existed, false)); // never overwritten (a merge)
            }
            write_temp(&t, &[bytes::Bytes::from(bytes)], None)?;
            Ok((!existed, true))
        })
        .await
        .map_err(|e| fail("creating its directory", e.to_string()))?
        .map(|(created, queued)| {
            if queued {
                self.queue(tmp, final_name);
            }
            created
        })
        .map_err(|e| {
            fail(
                &format!("creating directory {}", dir.display()),
                e.to_string(),
            )
        })?;
        Ok(ContainerOutcome {
            place: Place::Dir(dir),
            created,
        })
    }

    /// Streams one version (too large to be read ahead) into the new file `tmp`, checking
    /// every chunk and the total size; not synced. `tmp` is removed on failure.
    async fn stream_to_temp(
        &self,
        v: &VersionRow,
        path: &Path,
        tmp: &Path,
        source: &Source,
    ) -> Result<(), ItemFailure> {
        let fail = |action: &str, e: String| ItemFailure {
            object: v.id.to_string(),
            action: action.to_string(),
            error: e,
        };
        let (content, mut chunks) = source.stream(v)?;
        let write_action = format!("writing {}", path.display());
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(|e| fail(&write_action, e.to_string()))?;
        let mut f = Some(std::io::BufWriter::with_capacity(1 << 20, f));
        let mut check = SizeCheck::new(v, &content);
        let result: Result<(), ItemFailure> = async {
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| ItemFailure {
                    object: v.id.to_string(),
                    action: super::source::READ_ACTION.into(),
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
                tokio::task::spawn_blocking(move || w.flush())
                    .await
                    .map_err(|e| fail(&write_action, e.to_string()))?
                    .map_err(|e| fail(&write_action, e.to_string()))?;
            }
            Ok(())
        }
        .await;
        if result.is_err() {
            drop(f);
            let _ = std::fs::remove_file(tmp);
        }
        result
    }

    /// Queues the written temporary file `tmp` to be placed under `path` after the next
    /// [`sync_fs`] (container sidecars, search folder definitions).
    fn queue(&self, tmp: PathBuf, path: PathBuf) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((tmp, path));
    }

    /// The queued files, to be placed after the next sync.
    fn take_pending(&self) -> Vec<(PathBuf, PathBuf)> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait]
impl Target for ExportTarget {
    fn describe(&self) -> String {
        format!("directory {}", self.base.display())
    }

    async fn root_place(&self, ancestors: &[ContainerRow]) -> Result<Place, RestoreError> {
        let mut dir = self.base.clone();
        for a in ancestors {
            match self.make_dir(a, &dir).await {
                Ok(ContainerOutcome {
                    place: Place::Dir(d),
                    ..
                }) => dir = d,
                Ok(_) => {}
                Err(f) => {
                    return Err(RestoreError::TargetDir {
                        path: dir,
                        problem: format!("{}: {}: {}", f.object, f.action, f.error),
                    });
                }
            }
        }
        Ok(Place::Dir(dir))
    }

    async fn container(
        &self,
        c: &ContainerRow,
        parent: &Place,
    ) -> Result<ContainerOutcome, ItemFailure> {
        let Place::Dir(p) = parent else {
            return Err(ItemFailure {
                object: c.id.to_string(),
                action: "placing it in the export".into(),
                error: "its parent is not a directory".into(),
            });
        };
        self.make_dir(c, p).await
    }

    fn reads_ahead(&self) -> bool {
        !self.dry_run
    }

    async fn document(
        &self,
        doc: &PlannedDocument,
        place: &Place,
        source: &Source,
        progress: &Arc<Counters>,
    ) -> DocumentOutcome {
        self.documents(&[(doc, place.clone())], source, progress, 1)
            .await
            .pop()
            .unwrap_or_default()
    }

    /// Writes a batch as a whole: every version to a temporary file (from the blobs read
    /// ahead, on a blocking thread; a version too large to be read ahead is streamed), one
    /// `syncfs` for the batch, then each file gets its final name; the sidecars are written to
    /// temporary names and get theirs after the next sync. A final name only ever appears for
    /// a file whose bytes are durable.
    async fn documents(
        &self,
        docs: &[(&PlannedDocument, Place)],
        source: &Source,
        progress: &Arc<Counters>,
        _concurrency: usize,
    ) -> Vec<DocumentOutcome> {
        let mut outs: Vec<DocumentOutcome> =
            docs.iter().map(|_| DocumentOutcome::default()).collect();
        let mut jobs = Vec::new();
        for (i, (doc, place)) in docs.iter().enumerate() {
            let dir = match place {
                Place::Dir(d) => d.clone(),
                _ => self.base.clone(),
            };
            let Some(latest) = doc.versions.last() else {
                continue;
            };
            for v in &doc.versions {
                let file = names::version_file(
                    &latest.name,
                    doc.id.number,
                    v.id.version,
                    v.extension.as_deref(),
                );
                let path = dir.join(&file);
                let tmp = temp_name(&path);
                let data = if self.dry_run {
                    VersionData::Placed(!path.exists())
                } else {
                    match source.in_memory(v) {
                        Some(Ok((_, blobs))) => VersionData::Memory(blobs),
                        Some(Err(f)) => VersionData::Failed(f),
                        None => match self
                            .stream_to_temp(v, &path, &tmp, source)
                            .instrument(tracing::info_span!("document", id = %doc.id))
                            .await
                        {
                            Ok(()) => VersionData::Streamed,
                            Err(f) => VersionData::Failed(f),
                        },
                    }
                };
                let mtime = v
                    .edit_date
                    .as_deref()
                    .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
                    .map(std::time::SystemTime::from);
                jobs.push(VersionJob {
                    doc: i,
                    version: v.clone(),
                    file,
                    path,
                    tmp,
                    mtime,
                    data,
                });
            }
        }
        if !self.dry_run {
            let pending = self.take_pending();
            let base = self.base.clone();
            let span =
                tracing::debug_span!("write batch", documents = docs.len(), versions = jobs.len());
            jobs = match tokio::task::spawn_blocking(move || {
                span.in_scope(|| write_batch(&base, jobs, pending))
            })
            .await
            {
                Ok(j) => j,
                Err(e) => {
                    return docs
                        .iter()
                        .map(|(d, _)| DocumentOutcome {
                            failures: vec![ItemFailure {
                                object: d.id.to_string(),
                                action: "writing its files".into(),
                                error: e.to_string(),
                            }],
                            ..Default::default()
                        })
                        .collect();
                }
            };
        }
        let mut listed: Vec<Vec<SidecarVersion>> = docs.iter().map(|_| Vec::new()).collect();
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
                VersionData::Memory(_) | VersionData::Streamed => {
                    // Only in a dry run (nothing is written then).
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
                profile: j.version.profile,
                status,
                error,
            });
        }
        if self.dry_run {
            return outs;
        }
        // The sidecars (they record each version's status); built from owned rows and
        // serialized on the blocking thread below.
        let mut sidecars = Vec::new();
        for (i, ((doc, place), listed)) in docs.iter().zip(listed).enumerate() {
            let Some(latest) = doc.versions.last() else {
                continue;
            };
            let dir = match place {
                Place::Dir(d) => d.clone(),
                _ => self.base.clone(),
            };
            let sidecar = DocumentSidecar {
                imvault_export: EXPORT_FORMAT,
                document: doc.id.clone(),
                snapshot: self.snapshot.row.id.clone(),
                snapshot_time: self.snapshot.row.time,
                library: self.snapshot.row.library.clone(),
                versions: listed,
                filings: doc.filings.clone(),
                acl: doc.acl.clone(),
            };
            let path = dir.join(names::sidecar_file(&latest.name, doc.id.number));
            let tmp = temp_name(&path);
            sidecars.push((i, path, tmp, sidecar));
        }
        // Each sidecar goes to a temporary file now and gets its name after the next sync (the
        // next batch's, or the one before the manifest), like the container sidecars: no second
        // sync per batch, and a sidecar still only appears once its bytes are durable and after
        // the files it lists.
        let written = tokio::task::spawn_blocking(move || {
            sidecars
                .into_iter()
                .map(|(i, path, tmp, sidecar)| {
                    if path.exists() {
                        return (i, path, tmp, Ok(false)); // never overwritten (a merge)
                    }
                    let bytes = bytes::Bytes::from(pretty(&sidecar));
                    let r = write_temp(&tmp, &[bytes], None);
                    if r.is_err() {
                        let _ = std::fs::remove_file(&tmp);
                    }
                    (i, path, tmp, r.map(|()| true))
                })
                .collect::<Vec<_>>()
        })
        .await;
        match written {
            Ok(res) => {
                for (i, path, tmp, r) in res {
                    let doc = docs[i].0;
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
        outs
    }

    async fn finish(&self, report: &RestoreReport) -> Result<(), RestoreError> {
        if self.dry_run {
            return Ok(());
        }
        // Sidecars still queued (containers without documents after them) get their names,
        // and every name placed since the last batch becomes durable, before the manifest.
        let (pending, base) = (self.take_pending(), self.base.clone());
        tokio::task::spawn_blocking(move || {
            sync_fs(&base)?;
            place_pending(pending);
            sync_fs(&base)
        })
        .await
        .map_err(|e| RestoreError::Task(e.to_string()))?
        .map_err(io_err("syncing the export", &self.base))?;
        if let Some(mut w) = self.items.lock().unwrap_or_else(|p| p.into_inner()).take() {
            w.flush()
                .and_then(|()| w.get_ref().sync_data())
                .map_err(io_err("writing the item list", &self.items_path))?;
        }
        let manifest = json!({
            "imvault_export": EXPORT_FORMAT,
            "tool_version": env!("CARGO_PKG_VERSION"),
            "created": chrono::Utc::now(),
            "library": self.snapshot.row.library,
            "snapshot": self.snapshot.row.id,
            "snapshot_time": self.snapshot.row.time,
            "items_file": self.items_path.file_name().map(|f| f.to_string_lossy().into_owned()),
            "report": report,
        });
        let path = self.manifest.clone();
        let bytes = pretty(&manifest);
        let p = path.clone();
        let written = tokio::task::spawn_blocking(move || write_new(&p, &bytes))
            .await
            .map_err(|e| RestoreError::Task(e.to_string()))?
            .map_err(io_err("writing the restore manifest", &path))?;
        if !written {
            return Err(RestoreError::TargetDir {
                path,
                problem: "the manifest appeared while the restore ran; not overwritten".into(),
            });
        }
        Ok(())
    }
}
