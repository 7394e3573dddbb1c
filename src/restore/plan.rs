//! Planning a restore from the catalog: which snapshot, then the units to restore. A unit is one
//! subtree (containers parents first, the documents filed in them with every version, filings
//! and ACLs) or one document; it also carries the ancestors of its root, so a target can
//! rebuild the path (export) or the missing parents (iManage).

use std::path::Path;

use super::RestoreError;
use super::request::{Selection, ValidRequest};
use crate::catalog::{
    Catalog, CatalogError, ContainerRow, PlannedDocument, Profiles, SharedCatalog, SnapshotInfo,
};
use crate::imanage::model::{ContainerId, DocumentId};

/// One piece of a restore, before its rows are loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitRef {
    Document {
        id: DocumentId,
        version: Option<u32>,
    },
    Subtree(ContainerId),
}

/// One piece of a restore with its rows.
#[derive(Debug, Clone, Default)]
pub struct Unit {
    /// Containers above the restored ones, top first. For a document: the folder it is filed
    /// in (first filing) and that folder's ancestors.
    pub ancestors: Vec<ContainerRow>,
    /// The restored containers, parents before children (empty for a document).
    pub containers: Vec<ContainerRow>,
    /// The restored documents with the versions to restore, in version order.
    pub documents: Vec<PlannedDocument>,
}

impl Unit {
    pub fn versions(&self) -> usize {
        self.documents.iter().map(|d| d.versions.len()).sum()
    }
}

pub struct Planner {
    cat: SharedCatalog,
    names: super::OptionNames,
    /// How subtrees' version rows carry their profiles.
    profiles: Profiles,
}

fn cat_err(action: String) -> impl FnOnce(CatalogError) -> RestoreError {
    move |source| RestoreError::Catalog {
        action,
        source: Box::new(source),
    }
}

/// The containers above `first` (its parent, grandparent, ...), top first.
fn ancestors_of(
    cat: &Catalog,
    snap: &crate::repo::SnapshotId,
    first: Option<&ContainerId>,
) -> Result<Vec<ContainerRow>, CatalogError> {
    let mut out = Vec::new();
    let mut next = first.cloned();
    while let Some(id) = next {
        if out.len() > 64 {
            break; // a damaged parent chain must not loop
        }
        match cat.container_in(snap, &id)? {
            Some(c) => {
                next = c.parent_id.clone();
                out.push(c);
            }
            None => break,
        }
    }
    out.reverse();
    Ok(out)
}

impl Planner {
    pub async fn open(path: &Path) -> Result<Self, RestoreError> {
        let p = path.to_path_buf();
        let cat = tokio::task::spawn_blocking(move || Catalog::open(&p))
            .await
            .map_err(|e| RestoreError::Task(e.to_string()))?
            .map_err(cat_err(format!("opening the catalog {}", path.display())))?;
        Ok(Self {
            cat: SharedCatalog::new(cat),
            names: super::OptionNames::Cli,
            profiles: Profiles::Parsed,
        })
    }

    /// Subtrees' version rows carry their profiles as `profiles` says (an export only prints
    /// them: [`Profiles::Text`] spares parsing them into maps).
    pub fn with_profiles(mut self, profiles: Profiles) -> Self {
        self.profiles = profiles;
        self
    }

    /// Messages name the options as `names` spells them (`--at` or `"at"`).
    pub fn naming_options(mut self, names: super::OptionNames) -> Self {
        self.names = names;
        self
    }

    /// The snapshot the request means: `snapshot` (id or unique prefix), else the newest taken
    /// at or before `at`, else the newest, of the selection's library.
    pub async fn resolve_snapshot(&self, req: &ValidRequest) -> Result<SnapshotInfo, RestoreError> {
        let library = req.selection.library().clone();
        let (prefix, at, lib) = (req.snapshot.clone(), req.at, library.clone());
        self.cat
            .run("finding the snapshot", move |cat| {
                Ok(pick_snapshot(cat, &lib, at, prefix.as_deref()))
            })
            .await
            .map_err(cat_err(format!(
                "finding the snapshot of library {library}"
            )))?
    }

    /// The units of a restore, in order.
    pub async fn units(
        &self,
        req: &ValidRequest,
        snap: &SnapshotInfo,
    ) -> Result<Vec<UnitRef>, RestoreError> {
        Ok(match &req.selection {
            Selection::Document { id, version } => vec![UnitRef::Document {
                id: id.clone(),
                version: *version,
            }],
            Selection::Folder(c) | Selection::Workspace(c) => vec![UnitRef::Subtree(c.clone())],
            Selection::Library(_) => {
                let sid = snap.row.id;
                let top = self
                    .cat
                    .run("listing the top level", move |cat| cat.children(&sid, None))
                    .await
                    .map_err(cat_err(format!(
                        "listing the workspaces of snapshot {}",
                        snap.row.id
                    )))?;
                top.containers
                    .into_iter()
                    .map(|c| UnitRef::Subtree(c.id))
                    .collect()
            }
        })
    }

    /// Where a document (or one of its versions) missing from the chosen snapshot can be found:
    /// the newest snapshot holding it, with the flags that pick it. Restoring a deleted
    /// document is the most common restore; the newest snapshot is the default.
    /// `chosen` is the time of the snapshot that does not hold it: a newer one that does says
    /// it was added after, an older one that it was deleted since.
    async fn where_else(
        &self,
        id: &DocumentId,
        version: Option<u32>,
        chosen: chrono::DateTime<chrono::Utc>,
    ) -> String {
        let did = id.clone();
        let history = self
            .cat
            .run("finding the snapshots holding a document", move |cat| {
                cat.document_versions(&did)
            })
            .await
            .unwrap_or_default();
        let newest = history
            .iter()
            .filter(|h| version.is_none_or(|v| h.version.id.version == v))
            .map(|h| &h.snapshots.last)
            .max_by_key(|s| (s.time, s.seq));
        match newest {
            Some(s) => format!(
                "; the newest snapshot holding it is {} taken {} ({}): restore it with {} {} or {} {}",
                s.id,
                s.time.format("%Y-%m-%d %H:%M:%S UTC"),
                match s.time > chosen {
                    true => "after the one chosen: added since",
                    false => "deleted since?",
                },
                self.names.name("snapshot"),
                &s.id.to_hex()[..12],
                self.names.name("at"),
                s.time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            ),
            None => "; no snapshot holds it (`imvault find --name` searches every snapshot)".into(),
        }
    }

    /// Whether a restore whose first unit is `first`, followed by `more`, reads at least
    /// `bytes` of content: the first unit's versions tell when they reach it or are all there
    /// is; else the catalog adds up the snapshot's versions ([`Catalog::content_at_least`]; a
    /// library restore has one unit per workspace, and a small library may have several).
    pub async fn reads_at_least(
        &self,
        snap: &SnapshotInfo,
        first: Option<&Unit>,
        more: &[UnitRef],
        bytes: u64,
    ) -> Result<bool, RestoreError> {
        let in_first: u64 = first.map_or(0, |u| {
            u.documents
                .iter()
                .flat_map(|d| &d.versions)
                .map(|v| v.size)
                .sum()
        });
        if in_first >= bytes {
            return Ok(true);
        }
        if more.is_empty() {
            return Ok(false);
        }
        let sid = snap.row.id;
        self.cat
            .run("adding up a snapshot's content", move |cat| {
                cat.content_at_least(&sid, bytes)
            })
            .await
            .map_err(cat_err(format!(
                "choosing how to read the packs of snapshot {}",
                snap.row.id
            )))
    }

    /// Loads the rows of one unit.
    pub async fn load_unit(
        &self,
        req: &ValidRequest,
        snap: &SnapshotInfo,
        unit: UnitRef,
    ) -> Result<Unit, RestoreError> {
        let sid = snap.row.id;
        let not_in_hint = |what: String, hint: String| RestoreError::NotInSnapshot {
            what,
            snapshot: snap.row.id,
            time: snap.row.time,
            hint,
        };
        let not_in = |what: String| not_in_hint(what, String::new());
        let kind_check = req.selection.clone();
        match unit {
            UnitRef::Document { id, version } => {
                let did = id.clone();
                let found = self
                    .cat
                    .run("planning a document restore", move |cat| {
                        let Some(doc) = cat.document_plan(&sid, &did)? else {
                            return Ok(None);
                        };
                        let ancestors = ancestors_of(cat, &sid, doc.filings.first())?;
                        Ok(Some((doc, ancestors)))
                    })
                    .await
                    .map_err(cat_err(format!("planning the restore of document {id}")))?;
                let Some((mut doc, ancestors)) = found else {
                    let hint = self.where_else(&id, None, snap.row.time).await;
                    return Err(not_in_hint(format!("document {id}"), hint));
                };
                if let Some(v) = version {
                    doc.versions.retain(|r| r.id.version == v);
                    if doc.versions.is_empty() {
                        let hint = self.where_else(&id, Some(v), snap.row.time).await;
                        return Err(not_in_hint(format!("version {}", id.version(v)), hint));
                    }
                }
                Ok(Unit {
                    ancestors,
                    containers: Vec::new(),
                    documents: vec![doc],
                })
            }
            UnitRef::Subtree(root) => {
                let rid = root.clone();
                let profiles = self.profiles;
                let found = self
                    .cat
                    .run("planning a subtree restore", move |cat| {
                        let Some(rows) = cat.subtree_with(&sid, &rid, profiles)? else {
                            return Ok(None);
                        };
                        let parent = rows.containers.first().and_then(|c| c.parent_id.clone());
                        let ancestors = ancestors_of(cat, &sid, parent.as_ref())?;
                        Ok(Some((rows, ancestors)))
                    })
                    .await
                    .map_err(cat_err(format!("planning the restore of {root}")))?;
                let Some((rows, ancestors)) = found else {
                    return Err(not_in(format!("container {root}")));
                };
                if let Some(r) = rows.containers.first() {
                    use crate::imanage::model::ContainerKind as K;
                    let ok = match &kind_check {
                        Selection::Workspace(_) => r.kind == K::Workspace,
                        Selection::Folder(_) => matches!(r.kind, K::Folder | K::Tab),
                        _ => true,
                    };
                    if !ok {
                        return Err(RestoreError::InvalidRequest(format!(
                            "{root} is a {} in snapshot {}, not what the request names",
                            r.kind, snap.row.id
                        )));
                    }
                }
                Ok(Unit {
                    ancestors,
                    containers: rows.containers,
                    documents: rows.documents,
                })
            }
        }
    }
}

/// The snapshot of `library` named by `prefix` (an id or a unique prefix), else the newest taken
/// at or before `at`, else the newest.
pub fn pick_snapshot(
    cat: &Catalog,
    library: &crate::imanage::model::LibraryId,
    at: Option<chrono::DateTime<chrono::Utc>>,
    prefix: Option<&str>,
) -> Result<SnapshotInfo, RestoreError> {
    let ce = |action: String| {
        move |source| RestoreError::Catalog {
            action,
            source: Box::new(source),
        }
    };
    if let Some(p) = prefix {
        let p = p.to_ascii_lowercase();
        let hits: Vec<SnapshotInfo> = cat
            .snapshots(Some(library))
            .map_err(ce(format!("listing the snapshots of library {library}")))?
            .into_iter()
            .filter(|s| s.row.id.to_hex().starts_with(&p))
            .collect();
        return match hits.len() {
            1 => Ok(hits.into_iter().next().expect("one")),
            0 => Err(RestoreError::UnknownSnapshot {
                id: p,
                library: Some(library.to_string()),
            }),
            count => Err(RestoreError::AmbiguousSnapshot { prefix: p, count }),
        };
    }
    let found = match at {
        Some(t) => cat.snapshot_at(library, t),
        None => cat.latest_snapshot(library),
    }
    .map_err(ce(format!("finding the snapshot of library {library}")))?;
    found.ok_or_else(|| RestoreError::NoSnapshot {
        library: library.to_string(),
        at,
    })
}
