//! The content-addressed repository: packs, index and snapshots over object storage.
//!
//! The on-storage format is specified in `docs/FORMAT.md`; this module never imports
//! `imanage`. Entry points: [`Repository::init`] / [`Repository::open`] →
//! [`Repository::load_index`] → [`Repository::backup_session`] (write) or
//! [`Repository::read_content`] (read).
//!
//! ```no_run
//! # async fn demo() -> Result<(), imvault::repo::RepoError> {
//! use imvault::repo::*;
//! let store = open_backend(&BackendConfig::local("/var/lib/imvault/repo"))?;
//! let repo = Repository::open(store).await?.load_index().await?;
//! let session = repo.backup_session(SessionOptions::default());
//! let content = session.add_bytes(bytes::Bytes::from_static(b"hello")).await?;
//! let mut versions = MetaStreamWriter::new(&session, "versions");
//! versions.push(&serde_json::json!({"doc": "1", "content": content})).await?;
//! let mut draft = SnapshotDraft { library: "ACTIVE".into(), ..Default::default() };
//! draft.streams.insert("versions".into(), versions.finish().await?);
//! let id = session.finish(draft).await?;
//! # Ok(()) }
//! ```

pub mod backend;
pub mod blob;
pub mod cache;
pub mod check;
pub mod chunker;
pub mod config;
pub mod error;
pub mod id;
pub mod index;
pub mod inspect;
pub mod marks;
pub mod meta;
pub mod pack;
pub mod prune;
pub mod reader;
pub mod references;
pub mod repository;
pub mod retention;
pub mod snapshot;
pub mod verify;
pub mod writer;

pub use backend::{BackendConfig, open_backend};
pub use blob::{BlobKind, Compression};
pub use check::CheckReport;
pub use config::{ChunkerParams, FORMAT_VERSION, InitOptions, RepoConfig};
pub use error::RepoError;
pub use id::{BlobId, IndexId, PackId, ParseIdError, SnapshotId};
pub use index::{BlobLocation, IndexWritten};
pub use inspect::{PackDump, RebuildReport, RepoStats};
pub use meta::MetaStreamWriter;
pub use pack::{PackEntry, PackReceipt};
pub use repository::{Indexed, Opened, Repository};
pub use snapshot::{
    CheckpointRecord, ContentRef, MetaRef, SessionStats, Snapshot, SnapshotDraft, SnapshotManifest,
};
pub use writer::{BackupSession, CheckpointInfo, SessionOptions};

/// An error and its causes on one line (`a: b: c`), for records and logs.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
