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
//! are written in windows of batches (see [`super::source::batches`] and `window`): every
//! file of a window goes to its temporary name (its blobs read pack by pack), one `syncfs(2)` makes them all durable, then they get their final names;
//! the batch's document sidecars (and container sidecars) are written to temporary names too
//! and get theirs after the next batch's sync: one sync per batch. The manifest is
//! written last, after a final sync, so a manifest means every name it counts is durable. The
//! file primitives are in `super::files`.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Value, json};

use super::RestoreError;
use super::files::{Tree, temp_name};
use super::names;
use super::report::{DocumentOutcome, ItemFailure, RestoreReport};
use super::source::Source;
use super::target::{ContainerOutcome, Place, Target};
use crate::catalog::{ContainerRow, PlannedDocument, SnapshotInfo};
use crate::imanage::model::ContainerKind;
use crate::jobs::progress::Counters;

mod batch;
mod sidecar_profile;
mod window;

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
    /// The target directory's handle every write goes through (`None` in a dry run).
    tree: Option<Arc<Tree>>,
    dry_run: bool,
    snapshot: SnapshotInfo,
    manifest: PathBuf,
    items_path: PathBuf,
    /// This run's time stamp (names what a merge writes beside an earlier export's files).
    stamp: String,
    /// Directory names taken in this run: (parent, name) → container number.
    claimed: Mutex<HashMap<(PathBuf, String), u64>>,
    items: Mutex<Option<std::io::BufWriter<std::fs::File>>>,
    /// Files written under a temporary name, placed after the next sync: (temporary, final).
    pending: Mutex<Vec<(PathBuf, PathBuf)>>,
    /// Windows creating and writing their files at once (see [`super::window_shape`]); a
    /// window that syncs, places its files and writes its sidecars holds none, so the next
    /// window reads meanwhile.
    writers: tokio::sync::Semaphore,
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
        names: super::OptionNames,
    ) -> Result<Self, RestoreError> {
        let b = base.clone();
        let merge_option = names.switch("merge");
        let (manifest, items_path, stamp) = tokio::task::spawn_blocking(move || {
            let target_err = |problem: String| RestoreError::TargetDir {
                path: b.clone(),
                problem,
            };
            match std::fs::metadata(&b) {
                Ok(m) if !m.is_dir() => {
                    return Err(target_err("exists and is not a directory".into()));
                }
                Ok(_) => {
                    // Someone else could read or swap what is written into a directory they
                    // own or may write to: only an explicit --merge writes there.
                    if !merge
                        && let Some(why) = crate::private_fs::unsafe_dir_reason(&b)
                            .map_err(io_err("reading the export target", &b))?
                    {
                        return Err(target_err(format!(
                            "{why}: other users could read or replace the restored files (pass {merge_option} to write there anyway, or export into a new directory)"
                        )));
                    }
                    let mut entries =
                        std::fs::read_dir(&b).map_err(io_err("reading the export target", &b))?;
                    if entries.next().is_some() && !merge {
                        return Err(target_err(format!(
                            "is not empty (pass {merge_option} to add to it; existing files are never overwritten)"
                        )));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if !dry_run {
                        crate::private_fs::create_dir_all(&b)
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
            Ok((m, i, stamp.to_string()))
        })
        .await
        .map_err(|e| RestoreError::Task(e.to_string()))??;
        let (tree, items) = if dry_run {
            (None, None)
        } else {
            let tree = Tree::open(&base).map_err(io_err("opening the export target", &base))?;
            let f = tree
                .create_new(&items_path)
                .map_err(io_err("creating the item list", &items_path))?;
            (Some(Arc::new(tree)), Some(std::io::BufWriter::new(f)))
        };
        Ok(Self {
            base,
            tree,
            dry_run,
            snapshot: snapshot.clone(),
            manifest,
            items_path,
            stamp,
            claimed: Mutex::new(HashMap::new()),
            items: Mutex::new(items),
            pending: Mutex::new(Vec::new()),
            writers: tokio::sync::Semaphore::new(super::window_shape().0),
        })
    }

    /// The target's handle; only a dry run has none (and writes nothing).
    fn tree(&self) -> std::io::Result<Arc<Tree>> {
        self.tree
            .clone()
            .ok_or_else(|| std::io::Error::other("a dry run writes nothing"))
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
        let base = names::directory(&c.name, c.id.number);
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
                let (tmp, bytes) = (temp_name(&file), pretty(&sidecar));
                let (t, f) = (tmp.clone(), file.clone());
                let tree = self
                    .tree()
                    .map_err(|e| fail("writing a search folder definition", e.to_string()))?;
                let written = tokio::task::spawn_blocking(move || {
                    if tree.exists(&f) {
                        return Ok(false); // never overwritten (a merge)
                    }
                    tree.write_temp(&t, &[bytes::Bytes::from(bytes)], None)
                        .map(|()| true)
                })
                .await
                .map_err(|e| fail("writing a search folder definition", e.to_string()))?
                .map_err(|e| fail("writing a search folder definition", e.to_string()))?;
                if written {
                    self.queue(tmp, file);
                }
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
        let tree = self
            .tree()
            .map_err(|e| fail("creating its directory", e.to_string()))?;
        let created = tokio::task::spawn_blocking(move || -> std::io::Result<(bool, bool)> {
            let created = tree.create_dir_all(&d)?;
            if tree.exists(&f) {
                return Ok((created, false)); // never overwritten (a merge)
            }
            tree.write_temp(&t, &[bytes::Bytes::from(bytes)], None)?;
            Ok((created, true))
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

    /// Queues the written temporary file `tmp` to be placed under `path` after the next
    /// `Tree::sync` (container sidecars, search folder definitions).
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
        // Not on the restore's path (batches go to `documents`): a copy of the row is fine.
        self.documents(vec![(doc.clone(), place.clone())], source, progress, 1)
            .await
            .pop()
            .unwrap_or_default()
    }

    /// Writes a batch as a whole (see `batch`).
    async fn documents(
        &self,
        docs: Vec<(PlannedDocument, Place)>,
        source: &Source,
        progress: &Arc<Counters>,
        _concurrency: usize,
    ) -> Vec<DocumentOutcome> {
        self.write_documents(docs, source, progress).await
    }

    /// An item list still empty goes (a restore that failed while planning its first unit):
    /// it would make the corrected command's target "not empty". One with lines stays, as a
    /// record of what was written.
    async fn abandon(&self) {
        let Some(w) = self.items.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let empty = w.buffer().is_empty() && w.get_ref().metadata().is_ok_and(|m| m.len() == 0);
        if let (true, Ok(tree)) = (empty, self.tree()) {
            drop(w);
            let path = self.items_path.clone();
            let _ = tokio::task::spawn_blocking(move || tree.remove(&path)).await;
        }
    }

    async fn finish(&self, report: &RestoreReport) -> Result<(), RestoreError> {
        if self.dry_run {
            return Ok(());
        }
        // Sidecars still queued (containers without documents after them) get their names,
        // and every name placed since the last batch becomes durable, before the manifest.
        let pending = self.take_pending();
        let tree = self
            .tree()
            .map_err(io_err("syncing the export", &self.base))?;
        let t = tree.clone();
        tokio::task::spawn_blocking(move || {
            t.sync()?;
            t.place_pending(pending);
            t.sync()
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
        let written = tokio::task::spawn_blocking(move || tree.write_new(&p, &bytes))
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
