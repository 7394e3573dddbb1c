//! The catalog's own row types: what the backup job feeds in and what queries give back.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::imanage::model::{
    Acl, Container, ContainerId, ContainerKind, DocumentId, DocumentKind, DocumentVersion,
    LibraryId, VersionId,
};
use crate::imanage::profiles;

/// The id of a repository snapshot: the repository's own id (a BLAKE3 hash), stored in the
/// catalog as its 64-character hex text.
pub use crate::repo::SnapshotId;

/// A snapshot manifest, as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRow {
    pub id: SnapshotId,
    pub library: LibraryId,
    pub time: DateTime<Utc>,
    pub parent: Option<SnapshotId>,
    pub host: String,
    pub tool_version: String,
    /// The manifest's summary (counts, durations, warnings...), kept whole.
    pub summary: Value,
}

/// How many distinct items a catalogued snapshot holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemCounts {
    pub containers: u64,
    pub versions: u64,
    pub filings: u64,
    pub document_acls: u64,
    pub skipped: u64,
}

/// A catalogued snapshot: its manifest, its ordinal within the library and its item counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub row: SnapshotRow,
    /// 1, 2, 3... per library, in (time, id) order.
    pub seq: u64,
    pub counts: ItemCounts,
}

/// A short reference to a snapshot, as attached to search hits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRef {
    pub id: SnapshotId,
    pub seq: u64,
    pub time: DateTime<Utc>,
}

/// A run of consecutive snapshots of one library: ordinals `first.seq..=last.seq`, all
/// present (ordinals are dense). Spans keep answers small when an item lives for years of
/// nightly snapshots; [`Catalog::snapshots_in_span`](super::Catalog::snapshots_in_span) lists
/// them one by one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSpan {
    pub library: LibraryId,
    pub first: SnapshotRef,
    pub last: SnapshotRef,
}

impl SnapshotSpan {
    /// How many snapshots the span holds.
    pub fn count(&self) -> u64 {
        self.last.seq.saturating_sub(self.first.seq) + 1
    }
    pub fn contains(&self, seq: u64) -> bool {
        (self.first.seq..=self.last.seq).contains(&seq)
    }
}

/// One workspace, folder, tab or search folder in one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRow {
    pub id: ContainerId,
    pub kind: ContainerKind,
    pub name: String,
    pub parent_id: Option<ContainerId>,
    pub workspace_id: Option<ContainerId>,
    /// The whole JSON object the API returned.
    pub profile: Map<String, Value>,
    pub acl: Option<Acl>,
}

impl ContainerRow {
    pub fn from_container(c: &Container, acl: Option<Acl>) -> Self {
        Self {
            id: c.id.clone(),
            kind: c.kind,
            name: c.name.clone(),
            parent_id: c.parent_id.clone(),
            workspace_id: c.workspace_id.clone(),
            profile: c.raw.clone(),
            acl,
        }
    }

    /// A workspace's client code (see [`profiles::client_code`]).
    pub fn client(&self) -> Option<&str> {
        profiles::client_code(&self.profile)
    }

    /// A workspace's matter code (see [`profiles::matter_code`]).
    pub fn matter(&self) -> Option<&str> {
        profiles::matter_code(&self.profile)
    }
}

/// One document or e-mail version in one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRow {
    pub id: VersionId,
    pub kind: DocumentKind,
    pub name: String,
    pub extension: Option<String>,
    pub size: u64,
    pub edit_date: Option<String>,
    pub edit_profile_date: Option<String>,
    /// The whole JSON object the API returned.
    pub profile: Map<String, Value>,
    /// Where the content lives in the repository; opaque to the catalog.
    pub content: Value,
    /// The profile not parsed, when a restore planned for an export asked for it (see
    /// [`Catalog::subtree_with`](super::Catalog::subtree_with)): then `profile` is empty.
    #[serde(skip)]
    pub profile_text: Option<Box<super::packed::ProfileText>>,
}

impl VersionRow {
    pub fn from_version(v: &DocumentVersion, content: Value) -> Self {
        Self {
            id: v.id.clone(),
            kind: v.kind,
            name: v.name.clone(),
            extension: v.extension.clone(),
            size: v.size,
            edit_date: v.edit_date.clone(),
            edit_profile_date: v.edit_profile_date.clone(),
            profile: v.raw.clone(),
            content,
            profile_text: None,
        }
    }

    pub fn author(&self) -> Option<&str> {
        profiles::field(&self.profile, "author")
    }

    /// The workspace named in the profile (`workspace_id`), if any.
    pub fn workspace_id(&self) -> Option<ContainerId> {
        profiles::field(&self.profile, "workspace_id").and_then(|s| s.parse().ok())
    }
}

/// An item the backup could not take, with the reason (kept per snapshot).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SkippedRow {
    /// The object's id or a description of it (`ACTIVE!12.3`, `listing of ACTIVE!7`).
    pub object: String,
    pub reason: String,
}

impl fmt::Display for ChangeCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} added, {} changed, {} removed, {} unchanged",
            self.added, self.changed, self.removed, self.unchanged
        )?;
        if self.duplicates > 0 {
            write!(f, ", {} duplicates ignored", self.duplicates)?;
        }
        Ok(())
    }
}

/// Item counts of one kind after loading a snapshot, against the library's previous snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeCounts {
    /// Same state as in the previous snapshot: its row was only extended.
    pub unchanged: u64,
    /// Present before with another state: the old row was closed, a new one opened.
    pub changed: u64,
    /// Not present in the previous snapshot.
    pub added: u64,
    /// Present in the previous snapshot, absent now.
    pub removed: u64,
    /// Given twice with the same state in this snapshot (ignored).
    pub duplicates: u64,
}

impl ChangeCounts {
    /// Distinct items in the snapshot.
    pub fn present(&self) -> u64 {
        self.unchanged + self.changed + self.added
    }
}

/// What `SnapshotLoad::commit` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub snapshot: SnapshotId,
    pub library: LibraryId,
    pub seq: u64,
    pub containers: ChangeCounts,
    pub versions: ChangeCounts,
    pub filings: ChangeCounts,
    pub document_acls: ChangeCounts,
    pub skipped: u64,
}

/// All versions of one document present in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentEntry {
    pub id: DocumentId,
    /// Ordered by version number.
    pub versions: Vec<VersionRow>,
}

/// What `ls` shows under one place of one snapshot.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PlaceContents {
    /// Ordered by name, then id.
    pub containers: Vec<ContainerRow>,
    /// Documents filed directly here, ordered by document number.
    pub documents: Vec<DocumentEntry>,
}

/// A container as a listing names it: no profile or ACL read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerName {
    pub id: ContainerId,
    pub kind: ContainerKind,
    pub name: String,
}

/// What `ls` prints under one place of one snapshot: [`PlaceContents`] with the containers
/// named only (a library's top level holds every workspace: tens of thousands).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PlaceOutline {
    /// Ordered by name, then id.
    pub containers: Vec<ContainerName>,
    /// Documents filed directly here, ordered by document number.
    pub documents: Vec<DocumentEntry>,
}

/// One state of a version and the snapshots that hold exactly that state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionHistory {
    pub version: VersionRow,
    pub snapshots: SnapshotSpan,
}

/// Filters of `find`; all given filters must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindQuery {
    pub library: Option<LibraryId>,
    /// Shell glob (`*`, `?`, `[..]`) against the name or `name.extension`; ASCII letters
    /// match case-insensitively, other letters exactly.
    pub name: Option<String>,
    /// Case-insensitive, exact.
    pub author: Option<String>,
    /// The workspace's `custom1`, case-insensitive, exact.
    pub client: Option<String>,
    /// The workspace's `custom2`, case-insensitive, exact.
    pub matter: Option<String>,
    /// `edit_date` strictly after this time.
    pub modified_after: Option<DateTime<Utc>>,
    /// At most this many distinct versions (default 1000).
    pub limit: Option<usize>,
}

/// One version that matched `find`, with the snapshots in which a matching state exists: the
/// whole row ([`VersionRow`]) or its outline ([`VersionOutline`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindHit<V = VersionRow> {
    /// The newest matching state.
    pub version: V,
    /// Runs of snapshots holding a matching state, in time order.
    pub snapshots: Vec<SnapshotSpan>,
}

/// What a listing prints of a version: the row's columns and the profile's author, without the
/// rest of the profile and without the content reference (reading those is most of the cost of
/// a `find` of many hits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionOutline {
    pub id: VersionId,
    pub kind: DocumentKind,
    pub name: String,
    pub extension: Option<String>,
    pub size: u64,
    /// What [`VersionRow::author`] gives of the whole row.
    pub author: Option<String>,
}

impl<V> FindHit<V> {
    /// How many snapshots hold a matching state.
    pub fn snapshot_count(&self) -> u64 {
        self.snapshots.iter().map(SnapshotSpan::count).sum()
    }
}

/// One document in a restore plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedDocument {
    pub id: DocumentId,
    /// Ordered by version number.
    pub versions: Vec<VersionRow>,
    /// Where the document is filed: inside the planned subtree for `subtree`, everywhere for
    /// `document_plan`.
    pub filings: Vec<ContainerId>,
    pub acl: Option<Acl>,
}

/// Everything under a workspace or folder as of one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestorePlanRows {
    pub snapshot: SnapshotId,
    /// The root first; every parent before its children.
    pub containers: Vec<ContainerRow>,
    /// Ordered by document number.
    pub documents: Vec<PlannedDocument>,
}
