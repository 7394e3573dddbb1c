//! The iManage targets: `--into original` (back where the items were) and `--into-folder`
//! (as new documents and folders under another folder). Nothing is ever overwritten: an
//! existing document gets a new version; a document, folder or workspace that is gone is
//! created again (containers first, with their names, profiles and default security; then the
//! document with its versions in order). Every restored version's comment says where it came
//! from: "Restored from `<versionId>` as of `<snapshot time>`".

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::Instrument as _;

use super::RestoreError;
use super::report::{
    Comeback, DeletedDocument, DocumentOutcome, ItemFailure, RestoreReport, RestoredVersion,
};
use super::request::{AclMode, Destination, Selection, ValidRequest};
use super::source::Source;
use super::target::{ContainerOutcome, Place, Target};
use crate::catalog::{ContainerRow, PlannedDocument, SnapshotInfo, VersionRow};
use crate::imanage::api_read::SecurityTarget;
use crate::imanage::api_write::{FolderParent, SecurityChange, Upload};
use crate::imanage::model::{Acl, ContainerId, ContainerKind, DefaultSecurity, DocumentId};
use crate::imanage::profiles::{self, FolderType, NewFolder, NewWorkspace};
use crate::imanage::{Client, ImanageError};
use crate::jobs::progress::Counters;
use crate::repo::error_chain;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Original,
    Folder(ContainerId),
}

pub struct ImanageTarget {
    client: Client,
    mode: Mode,
    acl: AclMode,
    dry_run: bool,
    snapshot_time: DateTime<Utc>,
    library: crate::imanage::model::LibraryId,
    /// `--document D --version V`: upload that version even if the document has it unchanged.
    explicit_version: bool,
    /// Into original: the library's trash bin (document number → its latest version), read
    /// once, when the first document is restored.
    trash: tokio::sync::OnceCell<Result<HashMap<u64, u32>, ItemFailure>>,
}

/// The comment every restored version carries.
pub fn restored_comment(version: &str, snapshot_time: DateTime<Utc>) -> String {
    format!(
        "Restored from {version} as of {}",
        snapshot_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

fn fail(object: impl ToString, action: impl Into<String>, e: &ImanageError) -> ItemFailure {
    ItemFailure {
        object: object.to_string(),
        action: action.into(),
        error: error_chain(e),
    }
}

/// The `profile` part of an upload of `v` (see [`profiles::upload_profile`]).
pub fn upload_profile(v: &VersionRow, comment: &str, acl: Option<&Acl>) -> Value {
    profiles::upload_profile(&v.profile, comment, acl)
}

fn file_name(v: &VersionRow) -> String {
    match v.extension.as_deref().filter(|e| !e.is_empty()) {
        Some(e) => format!("{}.{e}", v.name),
        None => v.name.clone(),
    }
}

impl ImanageTarget {
    pub async fn prepare(
        client: Client,
        req: &ValidRequest,
        snapshot: &SnapshotInfo,
    ) -> Result<Self, RestoreError> {
        let mode = match &req.destination {
            Destination::Folder(f) => {
                let c = client
                    .folder(f)
                    .await
                    .map_err(|source| RestoreError::Imanage {
                        action: format!("reading the target folder {f}"),
                        source: Box::new(source),
                    })?;
                if !matches!(c.kind, ContainerKind::Folder | ContainerKind::Tab) {
                    return Err(RestoreError::InvalidRequest(format!(
                        "the target {f} is a {}, not a folder or tab that can hold documents",
                        c.kind
                    )));
                }
                Mode::Folder(f.clone())
            }
            _ => Mode::Original,
        };
        Ok(Self {
            client,
            mode,
            acl: req.acl,
            dry_run: req.dry_run,
            snapshot_time: snapshot.row.time,
            library: snapshot.row.library.clone(),
            explicit_version: matches!(
                req.selection,
                Selection::Document {
                    version: Some(_),
                    ..
                }
            ),
            trash: tokio::sync::OnceCell::new(),
        })
    }

    /// The library's trash bin (read once per restore): document number → latest version.
    async fn trash_bin(&self) -> Result<&HashMap<u64, u32>, ItemFailure> {
        self.trash
            .get_or_init(|| async {
                let rows = self.client.trash_bin(&self.library).await.map_err(|e| {
                    fail(
                        &self.library,
                        format!("reading the trash bin of library {}", self.library),
                        &e,
                    )
                })?;
                Ok(rows
                    .into_iter()
                    .map(|v| (v.id.document.number, v.id.version))
                    .collect())
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Into original: a deleted document still in the trash bin whose folder is still where
    /// it was comes back from the trash bin (`POST L/trash-bin/documents/{docId}/restore`),
    /// keeping its number. Returns the versions it then holds (for a dry run, those the trash
    /// bin implies: every backed-up version up to its latest), `None` when it is not in the
    /// trash bin (or cannot go back where it was). A document whose folder was recreated under
    /// a new number stays in the trash bin (the API cannot file it in another folder) and is
    /// created again there, with a note.
    async fn back_from_trash(
        &self,
        doc: &PlannedDocument,
        folder: Option<&ContainerId>,
        out: &mut DocumentOutcome,
    ) -> Result<Option<Vec<LiveVersion>>, ItemFailure> {
        let Some(&latest) = self.trash_bin().await?.get(&doc.id.number) else {
            return Ok(None);
        };
        match folder {
            Some(f) if doc.filings.contains(f) => {}
            _ => {
                out.notes.push(format!(
                    "{} is in the trash bin, but the folder it was filed in was recreated under a new number (filing a document in another folder is not part of the API): restored as a new document there; the original stays in the trash bin",
                    doc.id
                ));
                out.left_in_trash_bin = true;
                return Ok(None);
            }
        }
        if self.dry_run {
            return Ok(Some(
                doc.versions
                    .iter()
                    .filter(|v| v.id.version <= latest)
                    .map(|v| LiveVersion {
                        version: v.id.version,
                        size: v.size,
                        edit_date: v.edit_date.clone(),
                    })
                    .collect(),
            ));
        }
        match self.client.restore_from_trash(&doc.id).await {
            Ok(()) => {}
            // Purged meanwhile: created again like any document gone for good.
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(fail(&doc.id, "restoring it from the trash bin", &e)),
        }
        tracing::info!(document = %doc.id, "document restored from the trash bin");
        let live = self.client.document_versions(&doc.id).await.map_err(|e| {
            fail(
                &doc.id,
                "reading its versions after restoring it from the trash bin",
                &e,
            )
        })?;
        Ok(Some(live.iter().map(LiveVersion::of).collect()))
    }

    fn keep_acl(&self) -> bool {
        self.acl == AclMode::Keep
    }

    /// Makes `target`'s ACL equal to `want` (one read, and a write only if they differ).
    async fn apply_acl(
        &self,
        object: &str,
        target: SecurityTarget,
        want: &Acl,
    ) -> Result<bool, ItemFailure> {
        let current = self
            .client
            .security(&target)
            .await
            .map_err(|e| fail(object, format!("reading the security of {target}"), &e))?;
        if current.clone().normalized() == want.clone().normalized() {
            return Ok(false);
        }
        if self.dry_run {
            return Ok(true);
        }
        let change = SecurityChange::to_match(&current, want);
        self.client
            .set_security(&target, &change)
            .await
            .map_err(|e| {
                fail(
                    object,
                    format!("re-applying the snapshot's ACL to {target}"),
                    &e,
                )
            })?;
        Ok(true)
    }

    /// Whether the container still exists in iManage.
    async fn exists(&self, c: &ContainerRow) -> Result<bool, ItemFailure> {
        let r = match c.kind {
            ContainerKind::Workspace => self.client.workspace(&c.id).await.map(|_| ()),
            _ => self.client.folder(&c.id).await.map(|_| ()),
        };
        match r {
            Ok(()) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(fail(&c.id, "checking whether it still exists", &e)),
        }
    }

    /// Creates `c` under `parent` (as a folder when `as_folder`, e.g. a workspace restored into
    /// another folder), with its ACL when keeping ACLs.
    async fn create(
        &self,
        c: &ContainerRow,
        parent: &Place,
        as_folder: bool,
    ) -> Result<ContainerOutcome, ItemFailure> {
        let inner_profile = profiles::container_profile(&c.profile);
        let description = profiles::top_field(&c.profile, "description")
            .unwrap_or("")
            .to_string();
        let snap_security = c
            .acl
            .as_ref()
            .map(|a| a.default_security)
            .or_else(|| profiles::default_security(&c.profile));
        let workspace = c.kind == ContainerKind::Workspace && !as_folder;
        let (parent_id, parent_is_ws) = match parent {
            Place::Container { id, workspace } => (id.clone(), *workspace),
            Place::Top => (None, false),
            Place::Dir(_) => (None, false),
        };
        if !workspace && parent_id.is_none() && matches!(parent, Place::Top) {
            return Err(ItemFailure {
                object: c.id.to_string(),
                action: "recreating it".into(),
                error: "a folder needs a parent workspace or folder, and none is known".into(),
            });
        }
        if !self.dry_run && parent_id.is_none() && !workspace {
            return Err(ItemFailure {
                object: c.id.to_string(),
                action: "recreating it".into(),
                error: "its parent was not restored".into(),
            });
        }
        if self.dry_run {
            return Ok(ContainerOutcome {
                place: Place::Container {
                    id: None,
                    workspace,
                },
                created: true,
            });
        }
        let created = if workspace {
            let ds = match snap_security {
                Some(DefaultSecurity::Inherit) | None => DefaultSecurity::Private,
                Some(d) => d,
            };
            let body = NewWorkspace {
                name: c.name.clone(),
                description,
                default_security: ds,
                profile: inner_profile,
                owner: profiles::top_field(&c.profile, "owner").map(str::to_string),
            };
            self.client
                .create_workspace(&self.library, &body)
                .await
                .map_err(|e| fail(&c.id, "recreating the workspace", &e))?
        } else {
            let pid = parent_id.clone().expect("checked above");
            let folder_type = match c.kind {
                ContainerKind::Tab if parent_is_ws => FolderType::Tab,
                ContainerKind::SearchFolder => FolderType::Search,
                _ => FolderType::Regular,
            };
            let ds = if self.keep_acl() {
                snap_security.unwrap_or(DefaultSecurity::Inherit)
            } else {
                DefaultSecurity::Inherit
            };
            let body = NewFolder {
                name: c.name.clone(),
                description,
                default_security: ds,
                folder_type,
                profile: Some(inner_profile),
            };
            let fp = if parent_is_ws {
                FolderParent::Workspace(pid)
            } else {
                FolderParent::Folder(pid)
            };
            self.client
                .create_folder(&fp, &body)
                .await
                .map_err(|e| fail(&c.id, format!("recreating the {} {:?}", c.kind, c.name), &e))?
        };
        if self.keep_acl()
            && let Some(acl) = &c.acl
        {
            let mut want = acl.clone();
            if workspace && want.default_security == DefaultSecurity::Inherit {
                want.default_security = DefaultSecurity::Private;
            }
            self.apply_acl(
                &created.id.to_string(),
                SecurityTarget::container(created.kind, created.id.clone()),
                &want,
            )
            .await?;
        }
        tracing::info!(from = %c.id, to = %created.id, "container recreated");
        Ok(ContainerOutcome {
            place: Place::Container {
                id: Some(created.id),
                workspace,
            },
            created: true,
        })
    }

    /// Finds `c` where it was, or creates it again under `parent`. With `reapply`, an existing
    /// container gets the snapshot's ACL back.
    async fn ensure(
        &self,
        c: &ContainerRow,
        parent: &Place,
        reapply: bool,
    ) -> Result<ContainerOutcome, ItemFailure> {
        if self.exists(c).await? {
            if reapply && let Some(acl) = &c.acl {
                self.apply_acl(
                    &c.id.to_string(),
                    SecurityTarget::container(c.kind, c.id.clone()),
                    acl,
                )
                .await?;
            }
            return Ok(ContainerOutcome {
                place: Place::Container {
                    id: Some(c.id.clone()),
                    workspace: c.kind == ContainerKind::Workspace,
                },
                created: false,
            });
        }
        self.create(c, parent, false).await
    }

    /// Into original: the versions the document holds now, after bringing it back from the
    /// trash bin if it is there (`out.deleted` says so); `None` when it is gone for good.
    async fn live_or_from_trash(
        &self,
        doc: &PlannedDocument,
        folder: Option<&ContainerId>,
        out: &mut DocumentOutcome,
    ) -> Result<Option<Vec<LiveVersion>>, ItemFailure> {
        if let Some(live) = self.back_from_trash(doc, folder, out).await? {
            out.deleted = Some(DeletedDocument {
                document: doc.id.to_string(),
                how: Comeback::FromTrashBin,
                now: Some(doc.id.to_string()),
            });
            return Ok(Some(live));
        }
        match self.client.document_versions(&doc.id).await {
            Ok(v) => Ok(Some(v.iter().map(LiveVersion::of).collect())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(fail(
                &doc.id,
                "checking whether the document still exists",
                &e,
            )),
        }
    }

    async fn upload_version(
        &self,
        v: &VersionRow,
        source: &Source,
        into: UploadInto<'_>,
        acl: Option<&Acl>,
    ) -> Result<RestoredVersion, ItemFailure> {
        let comment = restored_comment(&v.id.to_string(), self.snapshot_time);
        if self.dry_run {
            return Ok(RestoredVersion {
                version: v.id.to_string(),
                size: v.size,
                restored_as: match into {
                    UploadInto::NewVersionOf(d) => format!("new version of {d}"),
                    UploadInto::NewDocumentIn(Some(f)) => format!("new document in {f}"),
                    UploadInto::NewDocumentIn(None) => "new document".into(),
                },
            });
        }
        let bytes = source.read_all(v).await?;
        let upload = Upload::from_bytes(file_name(v), bytes);
        let profile = upload_profile(v, &comment, acl);
        let created = match into {
            UploadInto::NewVersionOf(d) => {
                self.client
                    .create_version(d, &profile, &upload)
                    .await
                    .map_err(|e| fail(&v.id, format!("uploading it as a new version of {d}"), &e))?
            }
            UploadInto::NewDocumentIn(Some(f)) => self
                .client
                .create_document(f, &profile, &upload)
                .await
                .map_err(|e| fail(&v.id, format!("uploading it as a new document in {f}"), &e))?,
            UploadInto::NewDocumentIn(None) => {
                return Err(ItemFailure {
                    object: v.id.to_string(),
                    action: "uploading it as a new document".into(),
                    error: "no folder to put it in".into(),
                });
            }
        };
        Ok(RestoredVersion {
            version: v.id.to_string(),
            size: v.size,
            restored_as: created.id.to_string(),
        })
    }
}

/// What the target holds of a version (to skip versions it already has unchanged).
struct LiveVersion {
    version: u32,
    size: u64,
    edit_date: Option<String>,
}

impl LiveVersion {
    fn of(v: &crate::imanage::model::DocumentVersion) -> Self {
        Self {
            version: v.id.version,
            size: v.size,
            edit_date: v.edit_date.clone(),
        }
    }
}

#[derive(Clone, Copy)]
enum UploadInto<'a> {
    NewVersionOf(&'a DocumentId),
    NewDocumentIn(Option<&'a ContainerId>),
}

#[async_trait]
impl Target for ImanageTarget {
    fn describe(&self) -> String {
        match &self.mode {
            Mode::Original => "original place in iManage".into(),
            Mode::Folder(f) => format!("folder {f} in iManage"),
        }
    }

    async fn root_place(&self, ancestors: &[ContainerRow]) -> Result<Place, RestoreError> {
        match &self.mode {
            Mode::Folder(f) => Ok(Place::Container {
                id: Some(f.clone()),
                workspace: false,
            }),
            Mode::Original => {
                let mut place = Place::Top;
                for a in ancestors {
                    // Parents of what is restored: found as they are, or recreated if gone.
                    place = self
                        .ensure(a, &place, false)
                        .await
                        .map_err(|f| {
                            RestoreError::InvalidRequest(format!(
                                "the parents of what is restored cannot be put back: {}: {}: {}",
                                f.object, f.action, f.error
                            ))
                        })?
                        .place;
                }
                Ok(place)
            }
        }
    }

    async fn container(
        &self,
        c: &ContainerRow,
        parent: &Place,
    ) -> Result<ContainerOutcome, ItemFailure> {
        let span = tracing::info_span!("container", id = %c.id);
        async {
            match &self.mode {
                Mode::Original => self.ensure(c, parent, self.keep_acl()).await,
                Mode::Folder(_) => self.create(c, parent, true).await,
            }
        }
        .instrument(span)
        .await
    }

    async fn document(
        &self,
        doc: &PlannedDocument,
        place: &Place,
        source: &Source,
        progress: &Arc<Counters>,
    ) -> DocumentOutcome {
        let mut out = DocumentOutcome::default();
        let folder = match place {
            Place::Container {
                id,
                workspace: false,
            } => id.clone(),
            _ => None,
        };
        let acl = if self.keep_acl() {
            doc.acl.as_ref()
        } else {
            None
        };
        let record = |out: &mut DocumentOutcome, r: Result<RestoredVersion, ItemFailure>| match r {
            Ok(rv) => {
                Counters::add(&progress.versions, 1);
                Counters::add(&progress.bytes_read, rv.size);
                out.restored.push(rv);
                true
            }
            Err(f) => {
                Counters::add(&progress.skipped, 1);
                out.failures.push(f);
                false
            }
        };
        // Into original: is the document still there, or in the trash bin (some tenants answer
        // the versions of a document in the trash bin: the trash bin is asked first)?
        let live = if self.mode == Mode::Original {
            match self
                .live_or_from_trash(doc, folder.as_ref(), &mut out)
                .await
            {
                Ok(live) => live,
                Err(f) => {
                    Counters::add(&progress.skipped, 1);
                    out.failures.push(f);
                    return out;
                }
            }
        } else {
            None
        };
        if let Some(live) = live {
            for v in &doc.versions {
                let same = live.iter().any(|l| {
                    l.version == v.id.version && l.size == v.size && l.edit_date == v.edit_date
                });
                if same && !self.explicit_version {
                    out.unchanged += 1;
                    continue;
                }
                let r = self
                    .upload_version(v, source, UploadInto::NewVersionOf(&doc.id), None)
                    .await;
                record(&mut out, r);
            }
            // A dry run leaves the document in the trash bin, where its security is not read.
            let still_in_trash = self.dry_run && out.deleted.is_some();
            if let Some(acl) = acl
                && !still_in_trash
                && let Err(f) = self
                    .apply_acl(
                        &doc.id.to_string(),
                        SecurityTarget::Document(doc.id.clone()),
                        acl,
                    )
                    .await
            {
                out.failures.push(f);
            }
            return out;
        }
        // Gone (or into another folder): a new document, then its later versions in order.
        if folder.is_none() && !self.dry_run {
            Counters::add(&progress.skipped, 1);
            out.failures.push(ItemFailure {
                object: doc.id.to_string(),
                action: "recreating the document".into(),
                error: "the folder it belongs in could not be put back".into(),
            });
            return out;
        }
        let mut new_doc: Option<DocumentId> = None;
        for v in &doc.versions {
            let r = match &new_doc {
                None => {
                    self.upload_version(v, source, UploadInto::NewDocumentIn(folder.as_ref()), acl)
                        .await
                }
                Some(d) => {
                    self.upload_version(v, source, UploadInto::NewVersionOf(d), None)
                        .await
                }
            };
            if let Ok(rv) = &r
                && new_doc.is_none()
                && !self.dry_run
            {
                new_doc = rv
                    .restored_as
                    .parse::<crate::imanage::model::VersionId>()
                    .ok()
                    .map(|id| id.document);
            }
            let ok = record(&mut out, r);
            if !ok && new_doc.is_none() && !self.dry_run {
                // The first version failed: later ones become the first of the new document.
                continue;
            }
        }
        if self.mode == Mode::Original && (new_doc.is_some() || self.dry_run) {
            out.deleted = Some(DeletedDocument {
                document: doc.id.to_string(),
                how: match out.left_in_trash_bin {
                    true => Comeback::RecreatedBesideTrashBin,
                    false => Comeback::Recreated,
                },
                now: new_doc.as_ref().map(ToString::to_string),
            });
        }
        if let Some(d) = &new_doc {
            tracing::info!(from = %doc.id, to = %d, "document recreated");
            if doc.filings.len() > 1 {
                out.notes.push(format!(
                    "{} was filed in {} folders; recreated as {d} in one of them (filing in further folders is not part of the API)",
                    doc.id,
                    doc.filings.len()
                ));
            }
        }
        out
    }

    async fn finish(&self, _report: &RestoreReport) -> Result<(), RestoreError> {
        Ok(())
    }
}
