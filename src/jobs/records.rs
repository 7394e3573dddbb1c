//! The records a backup snapshot holds, one metadata stream per kind (see docs/FORMAT.md,
//! "Backup snapshot streams"). Profiles are stored exactly as the API returned them, so the
//! stored form is the contract's JSON and survives changes to our typed models.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::imanage::model::{Acl, Container, DocumentId, DocumentVersion, Filing, ShapeError};
use crate::repo::ContentRef;

/// Workspaces, folders, tabs and search folders, each with its ACL.
pub const STREAM_CONTAINERS: &str = "containers";
/// Every version of every document and e-mail, with its content reference.
pub const STREAM_VERSIONS: &str = "versions";
/// Every place a document is filed.
pub const STREAM_FILINGS: &str = "filings";
/// The ACL of every document.
pub const STREAM_DOCUMENT_ACLS: &str = "document_acls";
/// Items the run could not back up, with the reason.
pub const STREAM_SKIPPED: &str = "skipped";
/// Resume deltas inside checkpoint records (never part of a snapshot).
pub const STREAM_RESUME: &str = "resume";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// The container object as the API returned it.
    pub profile: Map<String, Value>,
    /// `None` when the ACL could not be read (the reason is in the skipped stream).
    pub acl: Option<Acl>,
}

impl ContainerRecord {
    pub fn new(container: Container, acl: Option<Acl>) -> Self {
        Self {
            profile: container.raw,
            acl,
        }
    }
    pub fn container(&self) -> Result<Container, ShapeError> {
        Container::from_json(Value::Object(self.profile.clone()))
    }
    /// Like [`Self::container`], without copying the profile.
    pub fn into_parts(self) -> (Result<Container, ShapeError>, Option<Acl>) {
        (Container::from_json(Value::Object(self.profile)), self.acl)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// The document object (one version) as the API returned it.
    pub profile: Map<String, Value>,
    pub content: ContentRef,
}

impl VersionRecord {
    pub fn new(version: DocumentVersion, content: ContentRef) -> Self {
        Self {
            profile: version.raw,
            content,
        }
    }
    pub fn version(&self) -> Result<DocumentVersion, ShapeError> {
        DocumentVersion::from_json(Value::Object(self.profile.clone()))
    }
    /// Like [`Self::version`], without copying the profile.
    pub fn into_parts(self) -> (Result<DocumentVersion, ShapeError>, ContentRef) {
        (
            DocumentVersion::from_json(Value::Object(self.profile)),
            self.content,
        )
    }
}

pub type FilingRecord = Filing;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentAclRecord {
    pub document: DocumentId,
    pub acl: Acl,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRecord {
    /// The object concerned (`ACTIVE!12.3`, `ACTIVE!77`, or a library).
    pub object: String,
    /// What was being done (`download`, `read security`, ...).
    pub action: String,
    pub reason: String,
}
