//! The repository's one error type.
//!
//! Rules: every variant names the object (key, blob, pack, snapshot) and the action that failed,
//! and chains its cause as `#[source]`. No variant carries a credential: backend configuration
//! errors name the URL only.

use crate::repo::id::{BlobId, PackId, SnapshotId};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    #[error("backend configuration for `{url}` is invalid: {reason}")]
    BackendConfig { url: String, reason: String },

    #[error("opening backend `{url}` failed")]
    BackendBuild {
        url: String,
        #[source]
        source: object_store::Error,
    },

    #[error("writing object `{key}` failed")]
    Put {
        key: String,
        #[source]
        source: object_store::Error,
    },

    #[error("reading object `{key}` failed")]
    Get {
        key: String,
        #[source]
        source: object_store::Error,
    },

    #[error("reading object `{key}` from {} failed", path.display())]
    ReadFile {
        key: String,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{action} in the temporary files under {} failed", dir.display())]
    ScratchFile {
        action: &'static str,
        dir: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("object `{key}` does not exist")]
    Missing {
        key: String,
        #[source]
        source: object_store::Error,
    },

    #[error("listing objects under `{prefix}` failed")]
    List {
        prefix: String,
        #[source]
        source: object_store::Error,
    },

    #[error(
        "a repository already exists here (object `{key}` is present); refusing to overwrite it"
    )]
    AlreadyInitialized { key: String },

    /// Another maintainer holds the maintenance lock (`holder`: who, what, since when).
    #[error(
        "another maintenance run holds the repository lock `{key}`: {holder}; wait for it to end (or for the lock to expire), or remove it with --force-unlock if that run is dead"
    )]
    Locked { key: String, holder: String },

    /// The location is reachable and holds no repository (the store's own error only says
    /// "not found" again, so it is not kept).
    #[error("no repository here (object `{key}` is missing); run `imvault init` to create one")]
    NotARepository { key: String },

    #[error(
        "object `{key}` is missing and the storage location cannot be listed (missing bucket, wrong endpoint or credentials?)"
    )]
    Unreachable {
        key: String,
        #[source]
        source: object_store::Error,
    },

    #[error(
        "repository format version {found} in `{key}` is not supported by this release (it reads versions {supported})"
    )]
    UnsupportedFormat {
        key: String,
        found: u32,
        supported: String,
    },

    /// A create-only write found the name taken (by another writer's object).
    #[error("object `{key}` already exists; it is never overwritten")]
    Exists { key: String },

    #[error("object `{key}` is corrupt: {reason}")]
    Corrupt { key: String, reason: String },

    #[error("decoding object `{key}` failed")]
    Decode {
        key: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("encoding {what} failed")]
    Encode {
        what: String,
        #[source]
        source: serde_json::Error,
    },

    #[error(
        "blob {blob} read from pack {pack} does not match its id (got {actual}): data is corrupt"
    )]
    BlobMismatch {
        blob: BlobId,
        pack: PackId,
        actual: BlobId,
    },

    #[error("decompressing blob {blob} from pack {pack} failed")]
    Decompress {
        blob: BlobId,
        pack: PackId,
        #[source]
        source: std::io::Error,
    },

    #[error("compressing blob {blob} failed")]
    Compress {
        blob: BlobId,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "blob {blob} is not in the index (an index object may be missing: `rebuild_index` restores it from the pack headers)"
    )]
    BlobNotFound { blob: BlobId },

    #[error("snapshot {id} does not exist")]
    SnapshotNotFound { id: SnapshotId },

    #[error("reading the content input failed")]
    Input {
        #[source]
        source: std::io::Error,
    },

    #[error("metadata record {index} of stream `{stream}` is invalid")]
    Record {
        stream: String,
        index: u64,
        #[source]
        source: serde_json::Error,
    },

    #[error("background task `{task}` failed")]
    Task {
        task: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },

    #[error("the backup session already failed earlier ({reason}); nothing more can be written")]
    SessionFailed { reason: String },

    #[error(
        "object `{key}` failed authentication ({what}): it was damaged or tampered with, or moved from where it was written; nothing is repaired by guessing"
    )]
    Authentication { key: String, what: String },

    #[error("wrong repository {what}: {detail}")]
    WrongPassword {
        /// "password" or "key file".
        what: &'static str,
        detail: String,
    },

    #[error(
        "the repository is encrypted: a password is needed (set [repository] password_file or password in the configuration, or the environment variable IMVAULT_PASSWORD)"
    )]
    PasswordRequired,

    #[error(
        "the repository is not encrypted ({why}), but a password is configured: refusing to use it, as its `config` may have been replaced; if this repository is meant to be unencrypted, remove the password from the configuration"
    )]
    NotEncrypted { why: String },

    #[error(
        "repository format {found} (unencrypted, written by imvault before format 2) is read-only in this release: snapshots, restore, verify and catalog rebuild work, but {action} is refused; back up into a new, encrypted repository (`imvault init` with another url) and keep this one while its snapshots are needed"
    )]
    ReadOnlyFormat { found: u32, action: String },

    #[error("{reason}")]
    KeySlot { reason: String },

    #[error("deriving the key of a key slot failed: {reason}")]
    Kdf { reason: String },

    #[error(transparent)]
    Random(#[from] crate::repo::crypto::RandomError),

    /// Extending Object Lock retention failed for some objects (the sweep went on for the
    /// others); prune deletes nothing then.
    #[error(
        "extending the Object Lock retention failed for {count} object(s) (the first: {key}); the others were extended and nothing was deleted"
    )]
    RetentionNotExtended {
        count: usize,
        key: String,
        #[source]
        source: Box<crate::repo::s3_native::S3Error>,
    },
    /// A call of the native S3 client (Object Lock, retention, versioning): names the
    /// operation, bucket and key.
    #[error(transparent)]
    S3(#[from] crate::repo::s3_native::S3Error),
}

pub type Result<T, E = RepoError> = std::result::Result<T, E>;

impl RepoError {
    /// Maps an I/O error of the temporary files under `dir` (the local tables of the loaded
    /// index and of the last snapshot's versions) to [`RepoError::ScratchFile`].
    pub fn scratch(
        action: &'static str,
        dir: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let dir = dir.to_path_buf();
        move |source| Self::ScratchFile {
            action,
            dir,
            source,
        }
    }
}
