//! Typed writes that restore needs (contract §6 write, §7).
//!
//! Restoring never overwrites: content comes back as a new document or a new version. Writes go
//! through the same retry loop as reads; a 429 or 502/503/504 means the service did not act, so
//! repeating is safe. A connection dropped after the request was sent is ambiguous: the caller
//! (restore) checks for a duplicate by the `comment` it set before trying again.

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};

use super::api_read::{SecurityTarget, data_of, parse_acl, to_container, to_version};
use super::client::{Body, Call, Client};
use super::error::ImanageError;
use super::model::{
    AccessLevel, Acl, Container, ContainerId, DefaultSecurity, DocumentId, DocumentVersion,
    LibraryId, TrusteeType, VersionId,
};
use super::paging::{Listing, PageState};
use super::profiles::{NewFolder, NewWorkspace};

type OpenFn = dyn Fn() -> BoxStream<'static, Result<Bytes, std::io::Error>> + Send + Sync;

/// Content to upload; it can be opened again, so a failed upload can be retried.
#[derive(Clone)]
pub struct Upload {
    pub file_name: String,
    pub length: u64,
    open: Arc<OpenFn>,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("file_name", &self.file_name)
            .field("length", &self.length)
            .finish()
    }
}

impl Upload {
    /// Content already in memory (small files, tests).
    pub fn from_bytes(file_name: impl Into<String>, bytes: Bytes) -> Self {
        let length = bytes.len() as u64;
        Self {
            file_name: file_name.into(),
            length,
            open: Arc::new(move || {
                let b = bytes.clone();
                Box::pin(futures::stream::once(async move { Ok(b) }))
            }),
        }
    }

    /// Content streamed from elsewhere (a repository restore); `open` is called once per attempt
    /// and must yield exactly `length` bytes.
    pub fn from_stream_fn(
        file_name: impl Into<String>,
        length: u64,
        open: impl Fn() -> BoxStream<'static, Result<Bytes, std::io::Error>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            file_name: file_name.into(),
            length,
            open: Arc::new(open),
        }
    }

    fn form(&self, profile: &Value) -> reqwest::multipart::Form {
        let body = reqwest::Body::wrap_stream((self.open)());
        let file = reqwest::multipart::Part::stream_with_length(body, self.length)
            .file_name(self.file_name.clone());
        let profile_part = reqwest::multipart::Part::text(profile.to_string());
        let profile_part = match profile_part.mime_str("application/json") {
            Ok(p) => p,
            Err(_) => reqwest::multipart::Part::text(profile.to_string()),
        };
        reqwest::multipart::Form::new()
            .part("profile", profile_part)
            .part("file", file)
    }
}

/// Where a new folder goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderParent {
    Workspace(ContainerId),
    Folder(ContainerId),
}

/// One trustee to add (or change) in a security write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrusteeGrant {
    pub id: String,
    #[serde(rename = "type")]
    pub trustee_type: TrusteeType,
    pub access_level: AccessLevel,
}

/// One trustee to remove in a security write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrusteeRef {
    pub id: String,
    #[serde(rename = "type")]
    pub trustee_type: TrusteeType,
}

/// Body of `POST L/{kind}/{id}/security`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_security: Option<DefaultSecurity>,
    pub include: Vec<TrusteeGrant>,
    pub remove: Vec<TrusteeRef>,
}

impl SecurityChange {
    /// The change that makes an object's ACL equal to `acl` given its `current` one.
    pub fn to_match(current: &Acl, acl: &Acl) -> Self {
        let include = acl
            .entries
            .iter()
            .map(|e| TrusteeGrant {
                id: e.id.clone(),
                trustee_type: e.trustee_type,
                access_level: e.access_level,
            })
            .collect();
        let remove = current
            .entries
            .iter()
            .filter(|c| {
                !acl.entries
                    .iter()
                    .any(|e| e.id == c.id && e.trustee_type == c.trustee_type)
            })
            .map(|c| TrusteeRef {
                id: c.id.clone(),
                trustee_type: c.trustee_type,
            })
            .collect();
        Self {
            default_security: Some(acl.default_security),
            include,
            remove,
        }
    }
}

impl Client {
    async fn post_multipart(
        &self,
        path: String,
        action: String,
        profile: &Value,
        content: &Upload,
    ) -> Result<DocumentVersion, ImanageError> {
        let content = content.clone();
        let profile = profile.clone();
        let call = Call {
            method: Method::POST,
            path,
            query: vec![],
            body: Body::Multipart(Arc::new(move || content.form(&profile))),
            action: action.clone(),
        };
        to_version(data_of(self.json(&call).await?, &action)?, &action)
    }

    /// A new document in a folder (`POST L/folders/{folderId}/documents`). `profile` is the
    /// whole `profile` part: `{"doc_profile":{…}, "user_trustees":[…], "group_trustees":[…]}`.
    pub async fn create_document(
        &self,
        folder: &ContainerId,
        profile: &Value,
        content: &Upload,
    ) -> Result<DocumentVersion, ImanageError> {
        self.post_multipart(
            format!(
                "{}/folders/{folder}/documents",
                self.lib_path(&folder.library)
            ),
            format!(
                "creating document {:?} in folder {folder}",
                content.file_name
            ),
            profile,
            content,
        )
        .await
    }

    /// A new version of a document (`POST L/documents/{docId}/versions`).
    pub async fn create_version(
        &self,
        doc: &DocumentId,
        profile: &Value,
        content: &Upload,
    ) -> Result<DocumentVersion, ImanageError> {
        self.post_multipart(
            format!("{}/documents/{doc}/versions", self.lib_path(&doc.library)),
            format!("creating a new version of document {doc}"),
            profile,
            content,
        )
        .await
    }

    /// Change profile fields of one version (`PATCH L/documents/{versionId}`).
    pub async fn patch_document(
        &self,
        version: &VersionId,
        fields: &Value,
    ) -> Result<DocumentVersion, ImanageError> {
        let action = format!("changing the profile of {version}");
        let call = Call::get(
            format!(
                "{}/documents/{version}",
                self.lib_path(&version.document.library)
            ),
            action.clone(),
        )
        .with_json(Method::PATCH, fields.clone());
        to_version(data_of(self.json(&call).await?, &action)?, &action)
    }

    /// A new workspace (`POST L/workspaces`).
    pub async fn create_workspace(
        &self,
        library: &LibraryId,
        body: &NewWorkspace,
    ) -> Result<Container, ImanageError> {
        let action = format!("creating a workspace in library {library}");
        let call = Call::get(
            format!("{}/workspaces", self.lib_path(library)),
            action.clone(),
        )
        .with_json(Method::POST, json!(body));
        to_container(data_of(self.json(&call).await?, &action)?, &action)
    }

    /// A new folder in a workspace or folder.
    pub async fn create_folder(
        &self,
        parent: &FolderParent,
        body: &NewFolder,
    ) -> Result<Container, ImanageError> {
        let (path, action) = match parent {
            FolderParent::Workspace(w) => (
                format!("{}/workspaces/{w}/folders", self.lib_path(&w.library)),
                format!("creating a folder in workspace {w}"),
            ),
            FolderParent::Folder(f) => (
                format!("{}/folders/{f}/subfolders", self.lib_path(&f.library)),
                format!("creating a sub-folder in folder {f}"),
            ),
        };
        let call = Call::get(path, action.clone()).with_json(Method::POST, json!(body));
        to_container(data_of(self.json(&call).await?, &action)?, &action)
    }

    /// Change an ACL (`POST L/{kind}/{id}/security`); returns the new ACL.
    pub async fn set_security(
        &self,
        target: &SecurityTarget,
        change: &SecurityChange,
    ) -> Result<Acl, ImanageError> {
        let action = format!("changing the security of {target}");
        let body = serde_json::to_value(change).map_err(|e| ImanageError::Decode {
            action: action.clone(),
            source: e,
        })?;
        let call = Call::get(format!("{}/security", target.path(self)), action.clone())
            .with_json(Method::POST, body);
        parse_acl(self.json(&call).await?, &action)
    }

    /// Move a document to the trash bin (`DELETE L/documents/{docId}`).
    pub async fn delete_document(&self, doc: &DocumentId) -> Result<(), ImanageError> {
        let action = format!("deleting document {doc}");
        let mut call = Call::get(
            format!("{}/documents/{doc}", self.lib_path(&doc.library)),
            action,
        );
        call.method = Method::DELETE;
        self.json(&call).await.map(|_| ())
    }

    /// Documents in the trash bin (`GET L/trash-bin/documents`, every page), latest version of
    /// each; `raw` keeps fields such as `deleted_date`.
    pub async fn trash_bin(
        &self,
        library: &LibraryId,
    ) -> Result<Vec<DocumentVersion>, ImanageError> {
        let listing = Listing::TrashBin(library.clone());
        let action = format!("listing the trash bin of library {library}");
        let mut state = PageState::default();
        let mut out = vec![];
        while !state.is_done() {
            for row in self.next_page(&listing, &mut state).await? {
                out.push(to_version(row, &action)?);
            }
        }
        Ok(out)
    }

    /// Bring a document back from the trash bin.
    pub async fn restore_from_trash(&self, doc: &DocumentId) -> Result<(), ImanageError> {
        let action = format!("restoring document {doc} from the trash bin");
        let call = Call::get(
            format!(
                "{}/trash-bin/documents/{doc}/restore",
                self.lib_path(&doc.library)
            ),
            action,
        )
        .with_json(Method::POST, json!({}));
        self.json(&call).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imanage::model::AclEntry;

    fn entry(id: &str, t: TrusteeType, lvl: AccessLevel) -> AclEntry {
        AclEntry {
            id: id.into(),
            trustee_type: t,
            name: None,
            access_level: lvl,
        }
    }

    #[test]
    fn security_change_adds_and_removes() {
        let current = Acl {
            default_security: DefaultSecurity::Public,
            entries: vec![
                entry("OLD", TrusteeType::User, AccessLevel::Read),
                entry("KEEP", TrusteeType::Group, AccessLevel::Read),
            ],
        };
        let want = Acl {
            default_security: DefaultSecurity::Private,
            entries: vec![entry("KEEP", TrusteeType::Group, AccessLevel::FullAccess)],
        };
        let c = SecurityChange::to_match(&current, &want);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            json!({"default_security":"private",
                "include":[{"id":"KEEP","type":"group","access_level":"full_access"}],
                "remove":[{"id":"OLD","type":"user"}]})
        );
    }
}
