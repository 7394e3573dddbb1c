//! The overlay of mutations and writes on top of the lazy base corpus. Only touched objects are
//! stored here, so memory grows with the number of changes, never with the corpus.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::wire::{AccessLevel, ContainerKind, DefaultSecurity, TrusteeType};

use super::corpus::{BaseAcl, Corpus};

/// An ACL as stored in the overlay (after a write or an `acl_edits` mutation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclState {
    pub default_security: DefaultSecurity,
    pub entries: Vec<(String, TrusteeType, AccessLevel)>,
}

impl From<BaseAcl> for AclState {
    fn from(b: BaseAcl) -> Self {
        Self {
            default_security: b.default_security,
            entries: b
                .entries
                .into_iter()
                .map(|(id, t, l)| (id.to_string(), t, l))
                .collect(),
        }
    }
}

/// Where a version's bytes come from.
#[derive(Debug, Clone)]
pub enum VersionContent {
    /// Computed from (seed, version id) like the base corpus (`mutate`).
    Generated,
    /// Uploaded through a write endpoint.
    Stored(Bytes),
}

/// A version created after the base corpus (upload or `mutate`).
#[derive(Debug, Clone)]
pub struct AddedVersion {
    pub content: VersionContent,
    pub size: u64,
    pub created: i64,
    /// Profile fields given with the upload (`doc_profile`), over the document's own.
    pub profile: Map<String, Value>,
}

/// A profile edit of one version.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    pub fields: Map<String, Value>,
    pub at: i64,
}

/// A document created after the base corpus.
#[derive(Debug, Clone)]
pub struct NewDoc {
    pub folder: u64,
    pub workspace: u64,
    pub email: bool,
    pub extension: String,
    pub name: String,
    pub author: String,
    pub class: String,
    pub subclass: String,
    pub created: i64,
}

/// Everything that changed about one document.
#[derive(Debug, Clone, Default)]
pub struct DocOverlay {
    pub new: Option<NewDoc>,
    /// Deleted to the trash bin at this time.
    pub trashed: Option<i64>,
    /// Purged from the trash bin (test hook [`crate::delete::purge_from_trash`]): gone from
    /// every read, the trash bin included.
    pub purged: bool,
    pub added: BTreeMap<u32, AddedVersion>,
    pub patches: HashMap<u32, Patch>,
    pub acl: Option<AclState>,
    pub extra_parents: Vec<u64>,
}

/// A container created after the base corpus.
#[derive(Debug, Clone)]
pub struct NewContainer {
    pub kind: ContainerKind,
    pub name: String,
    pub description: String,
    pub parent: Option<u64>,
    pub workspace: Option<u64>,
    pub owner: String,
    pub default_security: DefaultSecurity,
    pub profile: Map<String, Value>,
    pub created: i64,
}

#[derive(Debug, Clone, Default)]
pub struct ContainerOverlay {
    pub new: Option<NewContainer>,
    pub acl: Option<AclState>,
    pub acl_changed: Option<i64>,
}

/// The overlay of one library.
#[derive(Debug, Clone, Default)]
pub struct LibOverlay {
    pub docs: BTreeMap<u64, DocOverlay>,
    pub containers: BTreeMap<u64, ContainerOverlay>,
    /// New containers and documents filed in a container, in creation order.
    pub new_children: HashMap<u64, Vec<u64>>,
    /// New workspaces, in creation order.
    pub new_workspaces: Vec<u64>,
    pub next_number: u64,
    /// How many `mutate` operations have run (seeds the next choice).
    pub mutations: u64,
    /// Folders deleted by the `delete_folder` test hook (with every folder under them).
    pub deleted_containers: std::collections::BTreeSet<u64>,
}

impl LibOverlay {
    pub fn take_number(&mut self) -> u64 {
        let n = self.next_number;
        self.next_number += 1;
        n
    }
}

/// One overlay per library, each behind its own lock (readers never block each other).
#[derive(Debug)]
pub struct Overlay {
    pub libs: Vec<RwLock<LibOverlay>>,
}

impl Overlay {
    pub fn new(corpus: &Corpus) -> Self {
        Self {
            libs: corpus
                .libs
                .iter()
                .map(|l| {
                    RwLock::new(LibOverlay {
                        next_number: l.new_base,
                        ..Default::default()
                    })
                })
                .collect(),
        }
    }
}
