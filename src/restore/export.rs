//! The directory target (`--to DIR`): a readable tree
//! `DIR/<workspace>/<folder>/…/<name> (doc N v V).<ext>`, a sidecar
//! `<name> (doc N).imvault.json` per document (profiles of every version, filings, ACL), an
//! `imvault-container.json` per directory (the container's profile and ACL), and a manifest
//! `imvault-restore.json` plus `imvault-restore-items.jsonl` (one line per version) at the top.
//!
//! Files are written to a temporary name in the same directory, synced, then hard-linked to
//! their final name (which fails if that name exists: nothing is ever overwritten) and the
//! temporary name removed; a crash never leaves a partial file under a final name.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::RestoreError;
use super::names;
use super::report::{DocumentOutcome, ItemFailure, RestoreReport, RestoredVersion};
use super::source::{SizeCheck, Source};
use super::target::{ContainerOutcome, Place, Target};
use crate::catalog::{ContainerRow, PlannedDocument, SnapshotInfo, VersionRow};
use crate::imanage::model::ContainerKind;
use crate::jobs::progress::Counters;

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

/// Writes `bytes` to `path` only if nothing is there (create_new); `Ok(false)` if it exists.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(mut f) => {
            f.write_all(bytes)?;
            f.sync_data()?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

fn pretty(v: &Value) -> Vec<u8> {
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
            if !self.dry_run {
                let bytes = pretty(&sidecar);
                tokio::task::spawn_blocking(move || write_new(&file, &bytes))
                    .await
                    .map_err(|e| fail("writing a search folder definition", e.to_string()))?
                    .map_err(|e| fail("writing a search folder definition", e.to_string()))?;
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
        let created = tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
            let existed = d.is_dir();
            std::fs::create_dir_all(&d)?;
            write_new(&d.join(CONTAINER_SIDECAR), &bytes)?;
            Ok(!existed)
        })
        .await
        .map_err(|e| fail("creating its directory", e.to_string()))?
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

    /// Writes one version to `path` through a temporary file; `Ok(false)` if `path` exists.
    async fn write_version(
        &self,
        v: &VersionRow,
        path: &Path,
        source: &Source,
    ) -> Result<bool, ItemFailure> {
        let fail = |action: &str, e: String| ItemFailure {
            object: v.id.to_string(),
            action: action.to_string(),
            error: e,
        };
        let (content, mut chunks) = source.stream(v)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let file_name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(
            ".{}.imvault-tmp-{:08x}",
            file_name.chars().take(60).collect::<String>(),
            fastrand::u32(..)
        ));
        let write_action = format!("writing {}", path.display());
        let mut f = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await
            .map_err(|e| fail(&write_action, e.to_string()))?;
        let mut check = SizeCheck::new(v, &content);
        let result: Result<(), ItemFailure> = async {
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| ItemFailure {
                    object: v.id.to_string(),
                    action: super::source::READ_ACTION.into(),
                    error: e,
                })?;
                check.add(chunk.len())?;
                f.write_all(&chunk)
                    .await
                    .map_err(|e| fail(&write_action, e.to_string()))?;
            }
            check.finish()?;
            f.flush()
                .await
                .map_err(|e| fail(&write_action, e.to_string()))?;
            f.sync_data()
                .await
                .map_err(|e| fail(&write_action, e.to_string()))?;
            Ok(())
        }
        .await;
        drop(f);
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        let mtime = v
            .edit_date
            .as_deref()
            .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
            .map(std::time::SystemTime::from);
        let (t, p) = (tmp.clone(), path.to_path_buf());
        let placed = tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
            if let Some(m) = mtime
                && let Ok(f) = std::fs::File::options().write(true).open(&t)
            {
                let _ = f.set_modified(m);
            }
            let r = match std::fs::hard_link(&t, &p) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                // File systems without hard links: rename after checking (not atomic there).
                Err(_) if !p.exists() => std::fs::rename(&t, &p).map(|()| true),
                Err(e) => Err(e),
            };
            let _ = std::fs::remove_file(&t);
            r
        })
        .await
        .map_err(|e| fail(&write_action, e.to_string()))?
        .map_err(|e| fail(&write_action, e.to_string()))?;
        Ok(placed)
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

    async fn document(
        &self,
        doc: &PlannedDocument,
        place: &Place,
        source: &Source,
        progress: &Arc<Counters>,
    ) -> DocumentOutcome {
        let mut out = DocumentOutcome::default();
        let dir = match place {
            Place::Dir(d) => d.clone(),
            _ => self.base.clone(),
        };
        let Some(latest) = doc.versions.last() else {
            return out;
        };
        let span = tracing::info_span!("document", id = %doc.id);
        let _g = span.enter();
        let mut listed = Vec::new();
        for v in &doc.versions {
            let file = names::version_file(
                &latest.name,
                doc.id.number,
                v.id.version,
                v.extension.as_deref(),
            );
            let path = dir.join(&file);
            let status: Result<&str, ItemFailure> = if self.dry_run {
                Ok(if path.exists() { "exists" } else { "restored" })
            } else {
                match self.write_version(v, &path, source).await {
                    Ok(true) => Ok("restored"),
                    Ok(false) => Ok("exists"),
                    Err(f) => Err(f),
                }
            };
            let rel = path
                .strip_prefix(&self.base)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            let mut line = json!({"version": v.id, "path": rel, "size": v.size});
            match status {
                Ok("restored") => {
                    Counters::add(&progress.versions, 1);
                    Counters::add(&progress.bytes_read, v.size);
                    out.restored.push(RestoredVersion {
                        version: v.id.to_string(),
                        size: v.size,
                        restored_as: path.to_string_lossy().into_owned(),
                    });
                    line["status"] = json!("restored");
                }
                Ok(_) => {
                    out.unchanged += 1;
                    out.notes.push(format!(
                        "{}: {} exists, not overwritten",
                        v.id,
                        path.display()
                    ));
                    line["status"] = json!("exists");
                }
                Err(f) => {
                    Counters::add(&progress.skipped, 1);
                    line["status"] = json!("failed");
                    line["error"] = json!(format!("{}: {}", f.action, f.error));
                    out.failures.push(f);
                }
            }
            self.item_line(&line);
            let mut entry = json!({"version": v.id.version, "file": file, "profile": v.profile});
            entry["status"] = line["status"].clone();
            if let Some(e) = line.get("error") {
                entry["error"] = e.clone();
            }
            listed.push(entry);
        }
        if !self.dry_run {
            let sidecar = json!({
                "imvault_export": EXPORT_FORMAT,
                "document": doc.id,
                "snapshot": self.snapshot.row.id,
                "snapshot_time": self.snapshot.row.time,
                "library": self.snapshot.row.library,
                "versions": listed,
                "filings": doc.filings,
                "acl": doc.acl,
            });
            let path = dir.join(names::sidecar_file(&latest.name, doc.id.number));
            let bytes = pretty(&sidecar);
            let p = path.clone();
            match tokio::task::spawn_blocking(move || write_new(&p, &bytes)).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => out.notes.push(format!(
                    "{}: sidecar {} exists, not overwritten",
                    doc.id,
                    path.display()
                )),
                Ok(Err(e)) => out.failures.push(ItemFailure {
                    object: doc.id.to_string(),
                    action: format!("writing {}", path.display()),
                    error: e.to_string(),
                }),
                Err(e) => out.failures.push(ItemFailure {
                    object: doc.id.to_string(),
                    action: format!("writing {}", path.display()),
                    error: e.to_string(),
                }),
            }
        }
        out
    }

    async fn finish(&self, report: &RestoreReport) -> Result<(), RestoreError> {
        if self.dry_run {
            return Ok(());
        }
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
