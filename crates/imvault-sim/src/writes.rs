//! The write operations restore needs (§6 write, §7), applied to one library's overlay.
//! Handlers in `routes/writes.rs` parse the request and call these.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::wire::{AccessLevel, ContainerKind, DefaultSecurity, TrusteeType};

use super::Sim;
use super::content::kind_of;
use super::corpus::BASE_DATES_END;
use super::error::ApiError;
use super::state::{
    AclState, AddedVersion, ContainerOverlay, NewContainer, NewDoc, Patch, VersionContent,
};
use super::view::Ctx;

/// The current time in Unix seconds, never earlier than the base corpus.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp().max(BASE_DATES_END + 1)
}

/// One trustee of a security write.
#[derive(Debug, Clone, Deserialize)]
pub struct TrusteeChange {
    pub id: String,
    #[serde(rename = "type")]
    pub trustee_type: TrusteeType,
    #[serde(default)]
    pub access_level: Option<AccessLevel>,
}

/// `POST L/{kind}/{id}/security` body.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct AclChange {
    #[serde(default)]
    pub default_security: Option<DefaultSecurity>,
    #[serde(default)]
    pub include: Vec<TrusteeChange>,
    #[serde(default)]
    pub remove: Vec<TrusteeChange>,
}

pub fn apply_acl_change(
    mut acl: AclState,
    change: &AclChange,
    document: bool,
) -> Result<AclState, ApiError> {
    if let Some(ds) = change.default_security {
        if document && ds == DefaultSecurity::Inherit {
            return Err(ApiError::InvalidParam(
                "default_security \"inherit\" is for containers only".into(),
            ));
        }
        acl.default_security = ds;
    }
    for r in &change.remove {
        acl.entries
            .retain(|(id, t, _)| !(id == &r.id && *t == r.trustee_type));
    }
    for inc in &change.include {
        let level = inc
            .access_level
            .ok_or_else(|| ApiError::InvalidParam(format!("access_level of trustee {}", inc.id)))?;
        if inc.id.is_empty() {
            return Err(ApiError::InvalidParam("trustee id is empty".into()));
        }
        match acl
            .entries
            .iter_mut()
            .find(|(id, t, _)| id == &inc.id && *t == inc.trustee_type)
        {
            Some(e) => e.2 = level,
            None => acl.entries.push((inc.id.clone(), inc.trustee_type, level)),
        }
    }
    Ok(acl)
}

pub fn set_container_acl(
    sim: &Sim,
    li: usize,
    n: u64,
    change: &AclChange,
) -> Result<AclState, ApiError> {
    let seed = sim.seed();
    sim.write(li, |lib, ov| {
        let ctx = Ctx { seed, lib, ov };
        if ctx.container(n).is_none() {
            return Err(ApiError::NoRecord(format!("container {}!{n}", lib.alias)));
        }
        let acl = apply_acl_change(ctx.container_acl(n), change, false)?;
        let entry = ov.containers.entry(n).or_default();
        entry.acl = Some(acl.clone());
        entry.acl_changed = Some(now());
        Ok(acl)
    })
}

pub fn set_doc_acl(sim: &Sim, li: usize, n: u64, change: &AclChange) -> Result<AclState, ApiError> {
    let seed = sim.seed();
    sim.write(li, |lib, ov| {
        let ctx = Ctx { seed, lib, ov };
        if ctx.doc(n).is_none_or(|d| d.trashed()) {
            return Err(ApiError::NoRecord(format!("document {}!{n}", lib.alias)));
        }
        let acl = apply_acl_change(ctx.doc_acl(n), change, true)?;
        ov.docs.entry(n).or_default().acl = Some(acl.clone());
        Ok(acl)
    })
}

/// `POST L/workspaces` and the folder-creating calls.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct NewContainerRequest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub default_security: Option<DefaultSecurity>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub folder_type: Option<String>,
    #[serde(default)]
    pub profile: Option<Map<String, Value>>,
}

/// Create a workspace (`parent` None) or a folder in `parent`. Returns the new number.
pub fn create_container(
    sim: &Sim,
    li: usize,
    parent: Option<u64>,
    req: NewContainerRequest,
) -> Result<u64, ApiError> {
    if req.name.trim().is_empty() {
        return Err(ApiError::InvalidProfile {
            field: "name".into(),
            code: "required",
        });
    }
    let seed = sim.seed();
    sim.write(li, |lib, ov| {
        let ctx = Ctx { seed, lib, ov };
        let (kind, workspace) = match parent {
            None => (ContainerKind::Workspace, None),
            Some(p) => {
                let pc = ctx
                    .container(p)
                    .ok_or_else(|| ApiError::NoRecord(format!("container {}!{p}", lib.alias)))?;
                if pc.kind == ContainerKind::SearchFolder {
                    return Err(ApiError::InvalidParam(
                        "a search folder cannot hold folders".into(),
                    ));
                }
                let kind = match req.folder_type.as_deref() {
                    None | Some("regular") => ContainerKind::Folder,
                    Some("tab") if pc.kind == ContainerKind::Workspace => ContainerKind::Tab,
                    Some("search") => ContainerKind::SearchFolder,
                    Some(other) => {
                        return Err(ApiError::InvalidParam(format!(
                            "folder_type {other:?} here"
                        )));
                    }
                };
                (kind, pc.workspace)
            }
        };
        let default_security = req.default_security.unwrap_or(match kind {
            ContainerKind::Workspace => DefaultSecurity::Private,
            _ => DefaultSecurity::Inherit,
        });
        if kind == ContainerKind::Workspace && default_security == DefaultSecurity::Inherit {
            return Err(ApiError::InvalidParam(
                "a workspace cannot inherit security".into(),
            ));
        }
        let n = ov.take_number();
        let owner = req
            .owner
            .clone()
            .unwrap_or_else(|| super::credentials::USER_ID.to_string());
        ov.containers.insert(
            n,
            ContainerOverlay {
                new: Some(NewContainer {
                    kind,
                    name: req.name.clone(),
                    description: req.description.clone().unwrap_or_default(),
                    parent,
                    workspace,
                    owner: owner.clone(),
                    default_security,
                    profile: req.profile.clone().unwrap_or_default(),
                    created: now(),
                }),
                acl: Some(AclState {
                    default_security,
                    entries: vec![(owner, TrusteeType::User, AccessLevel::FullAccess)],
                }),
                acl_changed: None,
            },
        );
        match parent {
            None => ov.new_workspaces.push(n),
            Some(p) => ov.new_children.entry(p).or_default().push(n),
        }
        Ok(n)
    })
}

/// The `profile` part of a document upload (§7).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct UploadProfile {
    #[serde(default)]
    pub doc_profile: Map<String, Value>,
    #[serde(default)]
    pub user_trustees: Vec<UploadTrustee>,
    #[serde(default)]
    pub group_trustees: Vec<UploadTrustee>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UploadTrustee {
    pub id: String,
    pub access_level: AccessLevel,
}

/// Fields of an uploaded profile the server decides, never the client.
const SERVER_FIELDS: &[&str] = &[
    "id",
    "document_number",
    "version",
    "database",
    "size",
    "workspace_id",
    "wstype",
    "edit_date",
    "edit_profile_date",
    "create_date",
];

/// Profile fields kept per version. `default_security` is not among them: it belongs to the
/// document's ACL, which every version's profile reflects.
fn stored_fields(p: &Map<String, Value>) -> Map<String, Value> {
    p.iter()
        .filter(|(k, _)| !SERVER_FIELDS.contains(&k.as_str()) && k.as_str() != "default_security")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn str_field(p: &Map<String, Value>, k: &str) -> Option<String> {
    p.get(k).and_then(Value::as_str).map(str::to_string)
}

fn upload_acl(up: &UploadProfile) -> Result<AclState, ApiError> {
    let default_security = match up.doc_profile.get("default_security") {
        None | Some(Value::Null) => DefaultSecurity::Private,
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| ApiError::InvalidParam(format!("default_security {v}")))?,
    };
    if default_security == DefaultSecurity::Inherit {
        return Err(ApiError::InvalidParam(
            "default_security \"inherit\" is for containers only".into(),
        ));
    }
    let entries = up
        .user_trustees
        .iter()
        .map(|t| (t.id.clone(), TrusteeType::User, t.access_level))
        .chain(
            up.group_trustees
                .iter()
                .map(|t| (t.id.clone(), TrusteeType::Group, t.access_level)),
        )
        .collect();
    Ok(AclState {
        default_security,
        entries,
    })
}

/// `POST L/folders/{id}/documents`: returns the new document number (its version is 1).
pub fn create_document(
    sim: &Sim,
    li: usize,
    folder: u64,
    up: UploadProfile,
    file: Bytes,
) -> Result<u64, ApiError> {
    let name = str_field(&up.doc_profile, "name").unwrap_or_default();
    if name.trim().is_empty() {
        return Err(ApiError::InvalidProfile {
            field: "name".into(),
            code: "required",
        });
    }
    let acl = upload_acl(&up)?;
    let seed = sim.seed();
    sim.write(li, |lib, ov| {
        let ctx = Ctx { seed, lib, ov };
        let fc = ctx
            .container(folder)
            .ok_or_else(|| ApiError::NoRecord(format!("folder {}!{folder}", lib.alias)))?;
        if !matches!(fc.kind, ContainerKind::Folder | ContainerKind::Tab) {
            return Err(ApiError::InvalidParam(format!(
                "{}!{folder} is not a folder or tab that can hold documents",
                lib.alias
            )));
        }
        let extension = str_field(&up.doc_profile, "extension").unwrap_or_default();
        let created = now();
        let n = ov.take_number();
        let doc = ov.docs.entry(n).or_default();
        doc.new = Some(NewDoc {
            folder,
            workspace: fc.workspace.unwrap_or(folder),
            email: matches!(extension.as_str(), "eml" | "msg")
                && kind_of(&extension) == super::content::ContentKind::Text,
            name,
            author: str_field(&up.doc_profile, "author")
                .unwrap_or_else(|| super::credentials::USER_ID.to_string()),
            class: str_field(&up.doc_profile, "class").unwrap_or_else(|| "DOC".into()),
            subclass: str_field(&up.doc_profile, "subclass").unwrap_or_default(),
            extension,
            created,
        });
        doc.acl = Some(acl);
        doc.added.insert(
            1,
            AddedVersion {
                size: file.len() as u64,
                content: VersionContent::Stored(file),
                created,
                profile: stored_fields(&up.doc_profile),
            },
        );
        ov.new_children.entry(folder).or_default().push(n);
        Ok(n)
    })
}

/// `POST L/documents/{docId}/versions`: returns the new version number.
pub fn create_version(
    sim: &Sim,
    li: usize,
    n: u64,
    up: UploadProfile,
    file: Bytes,
) -> Result<u32, ApiError> {
    let seed = sim.seed();
    sim.write(li, |lib, ov| {
        let ctx = Ctx { seed, lib, ov };
        let d = ctx
            .doc(n)
            .filter(|d| !d.trashed())
            .ok_or_else(|| ApiError::NoRecord(format!("document {}!{n}", lib.alias)))?;
        let v = d.latest().unwrap_or(0) + 1;
        ov.docs.entry(n).or_default().added.insert(
            v,
            AddedVersion {
                size: file.len() as u64,
                content: VersionContent::Stored(file),
                created: now(),
                profile: stored_fields(&up.doc_profile),
            },
        );
        Ok(v)
    })
}

/// `PATCH L/documents/{versionId}`.
pub fn patch_version(
    sim: &Sim,
    li: usize,
    n: u64,
    v: Option<u32>,
    fields: Map<String, Value>,
) -> Result<u32, ApiError> {
    if let Some(name) = fields.get("name")
        && name.as_str().is_none_or(|s| s.trim().is_empty())
    {
        return Err(ApiError::InvalidProfile {
            field: "name".into(),
            code: "required",
        });
    }
    let security = match fields.get("default_security") {
        None | Some(Value::Null) => None,
        Some(val) => {
            let ds: DefaultSecurity = serde_json::from_value(val.clone())
                .map_err(|_| ApiError::InvalidParam(format!("default_security {val}")))?;
            if ds == DefaultSecurity::Inherit {
                return Err(ApiError::InvalidParam(
                    "default_security \"inherit\" is for containers only".into(),
                ));
            }
            Some(ds)
        }
    };
    let seed = sim.seed();
    sim.write(li, |lib, ov| {
        let ctx = Ctx { seed, lib, ov };
        let d = ctx
            .doc(n)
            .filter(|d| !d.trashed())
            .ok_or_else(|| ApiError::NoRecord(format!("document {}!{n}", lib.alias)))?;
        let v = v.or_else(|| d.latest()).unwrap_or(0);
        if !d.has_version(v) {
            return Err(ApiError::NoRecord(format!(
                "document version {}!{n}.{v}",
                lib.alias
            )));
        }
        if let Some(ds) = security {
            let mut acl = ctx.doc_acl(n);
            acl.default_security = ds;
            ov.docs.entry(n).or_default().acl = Some(acl);
        }
        let patch = ov
            .docs
            .entry(n)
            .or_default()
            .patches
            .entry(v)
            .or_insert_with(Patch::default);
        for (k, val) in stored_fields(&fields) {
            patch.fields.insert(k, val);
        }
        patch.at = now();
        Ok(v)
    })
}

/// `DELETE L/documents/{docId}` (to the trash bin) and its restore.
pub fn set_trashed(sim: &Sim, li: usize, n: u64, trashed: bool) -> Result<(), ApiError> {
    let seed = sim.seed();
    sim.write(li, |lib, ov| {
        let ctx = Ctx { seed, lib, ov };
        let d = ctx
            .doc(n)
            .ok_or_else(|| ApiError::NoRecord(format!("document {}!{n}", lib.alias)))?;
        if d.trashed() == trashed {
            return Err(ApiError::NoRecord(format!(
                "document {}!{n} {}",
                lib.alias,
                if trashed {
                    "outside the trash bin"
                } else {
                    "in the trash bin"
                }
            )));
        }
        ov.docs.entry(n).or_default().trashed = trashed.then(now);
        Ok(())
    })
}
