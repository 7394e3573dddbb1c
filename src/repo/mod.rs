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
//! let password = Credential::Password(imvault::secret::Secret::new("correct horse"));
//! let repo = Repository::open(store, Some(&password)).await?.load_index().await?;
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
pub mod crypto;
pub mod error;
pub mod holds;
pub mod id;
pub mod index;
pub mod inspect;
pub mod keyslot;
pub mod maint_lock;
pub mod marks;
pub mod meta;
pub mod object_lock;
pub mod objects;
pub mod outage;
pub mod pack;
pub mod pack_spill;
pub mod prune;
pub mod reader;
pub mod recover;
pub mod references;
pub mod repository;
pub mod retention;
pub mod s3_native;
pub mod snapshot;
pub mod snapshot_cache;
pub mod spill_room;
pub(crate) mod store_forward;
pub mod uncached_writes;
pub mod verify;
pub mod writer;

pub use backend::{BackendConfig, open_backend};
pub use blob::{BlobKind, Compression};
pub use check::RepositoryCheck;
pub use config::{ChunkerParams, Encryption, FORMAT_VERSION, InitOptions, RepoConfig};
pub use crypto::Crypto;
pub use error::RepoError;
pub use id::{BlobId, HoldId, IndexId, PackId, ParseIdError, SnapshotId};
pub use index::{BlobLocation, IndexWritten};
pub use inspect::{PackDump, RebuildReport, RepoStats};
pub use keyslot::{Credential, KdfParams, SlotInfo, SlotKind};
pub use meta::MetaStreamWriter;
pub use objects::{ObjectKind, Objects};
pub use pack::{PackEntry, PackReceipt};
pub use repository::{Indexed, Opened, Repository};
pub use snapshot::{
    CheckpointRecord, ContentRef, MetaRef, SessionStats, Snapshot, SnapshotDraft, SnapshotManifest,
};
pub use writer::{BackupSession, CheckpointInfo, SessionOptions};

/// An error and its causes on one line (`a: b: c`), for records and logs. Each cause is named
/// once: a cause whose text the line already holds (libraries such as object_store and
/// reqwest repeat their sources inside their own message) is left out.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !text.is_empty() && !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    #[derive(Debug)]
    struct E(String, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }
    fn chain(texts: &[&str]) -> E {
        texts
            .iter()
            .rev()
            .fold(None, |inner, t| Some(E(t.to_string(), inner.map(Box::new))))
            .unwrap()
    }

    #[test]
    fn every_cause_is_named_once() {
        let e = chain(&[
            "reading object `config` failed",
            "Generic S3 error: Error performing GET in 2s - HTTP error: error sending request",
            "Error performing GET in 2s - HTTP error: error sending request",
            "HTTP error: error sending request",
            "HTTP error: error sending request",
            "error sending request",
            "client error (Connect)",
            "Connection refused (os error 111)",
        ]);
        assert_eq!(
            super::error_chain(&e),
            "reading object `config` failed: Generic S3 error: Error performing GET in 2s - HTTP error: error sending request: client error (Connect): Connection refused (os error 111)"
        );
        let plain = chain(&["a failed", "b failed", "c"]);
        assert_eq!(super::error_chain(&plain), "a failed: b failed: c");
    }
}
