//! Storage backends: one `Arc<dyn ObjectStore>`, the object key layout, and the few write and
//! read helpers every other repo module uses.
//!
//! - `file:///path` (the default): a local directory, fsync on (file and parent directory);
//!   large objects leave the page cache once written ([`crate::repo::uncached_writes`]).
//! - `s3://bucket/prefix`: `AmazonS3Builder::from_env()` (the usual `AWS_*` variables), then the
//!   endpoint, region, `allow_http` and credentials of [`BackendConfig`] override them.
//! - `memory://`: in-memory, for tests.
//!
//! With Object Lock on (`s3://` only), the store is wrapped in
//! [`crate::repo::object_lock::LockedStore`]: every write carries a retain-until date.
//!
//! Objects that must never be overwritten are written with `PutMode::Create`; because their names
//! are content hashes, `AlreadyExists` means the same bytes are already there (a retried or
//! concurrent write), which is success.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutPayload};
use serde::{Deserialize, Serialize};

use crate::repo::error::{RepoError, Result};
use crate::repo::id::{IndexId, PackId, SnapshotId};
use crate::secret::Secret;

/// Where the repository lives. Credentials are optional: S3 falls back to `AWS_*` variables.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendConfig {
    /// `file:///abs/path`, `s3://bucket[/prefix]` or `memory://`. A bare path means `file://`.
    pub url: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub allow_http: bool,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    /// How long a remote store may stay unreachable before calls fail (seconds; `None`: the
    /// default of [`crate::repo::outage::DEFAULT_OUTAGE_WAIT`], `0`: fail at once).
    pub outage_wait_secs: Option<u64>,
    /// S3 Object Lock on every write (`[repository] object_lock`): `None` when off. Only for
    /// `s3://` URLs.
    pub object_lock: Option<crate::repo::object_lock::ObjectLockConfig>,
    /// A local directory must exist already (every command but `init`): a mistyped path or an
    /// unmounted share is "no repository here", not a new empty directory.
    pub existing_only: bool,
}

impl BackendConfig {
    pub fn local(path: impl AsRef<std::path::Path>) -> Self {
        Self {
            url: format!("file://{}", path.as_ref().display()),
            ..Self::default()
        }
    }
}

/// Builds the object store that `cfg` describes. Local directories are created if missing,
/// unless [`BackendConfig::existing_only`].
pub fn open_backend(cfg: &BackendConfig) -> Result<Arc<dyn ObjectStore>> {
    let bad = |reason: &str| RepoError::BackendConfig {
        url: cfg.url.clone(),
        reason: reason.to_string(),
    };
    let url = cfg.url.trim();
    if cfg.object_lock.is_some() && !url.starts_with("s3://") {
        return Err(bad(
            "Object Lock ([repository] object_lock) needs an s3:// repository",
        ));
    }
    if url == "memory://" || url == "memory:" {
        return Ok(Arc::new(InMemory::new()));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = match rest.split_once('/') {
            Some((b, p)) => (b, p.trim_matches('/')),
            None => (rest, ""),
        };
        if bucket.is_empty() {
            return Err(bad(
                "the S3 URL names no bucket (expected s3://bucket/prefix)",
            ));
        }
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(e) = &cfg.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &cfg.region {
            b = b.with_region(r);
        }
        if cfg.allow_http {
            b = b.with_allow_http(true);
        }
        if let Some(k) = &cfg.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &cfg.secret_access_key {
            b = b.with_secret_access_key(s.expose());
        }
        if let Some(t) = &cfg.session_token {
            b = b.with_token(t.expose());
        }
        let wait = cfg
            .outage_wait_secs
            .map(std::time::Duration::from_secs)
            .unwrap_or(crate::repo::outage::DEFAULT_OUTAGE_WAIT);
        if !wait.is_zero() {
            // Short retries of each request; the outage wait takes over from there.
            b = b.with_retry(object_store::RetryConfig {
                max_retries: 3,
                retry_timeout: std::time::Duration::from_secs(30),
                ..Default::default()
            });
        }
        let s3 = b.build().map_err(|source| RepoError::BackendBuild {
            url: cfg.url.clone(),
            source,
        })?;
        let Some(lock) = cfg.object_lock else {
            let s3 = crate::repo::outage::OutageStore::new(s3, wait);
            return Ok(if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(PrefixStore::new(s3, prefix))
            });
        };
        // With Object Lock, the outage wait goes around the locked store, so that its PUTs
        // (through aws-sdk-s3) ride out an outage like every other call.
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        };
        let native = crate::repo::s3_native::S3Native::from_config(cfg)?
            .ok_or_else(|| bad("Object Lock needs an s3:// repository"))?;
        let locked = crate::repo::object_lock::LockedStore::new(store, native, lock);
        return Ok(Arc::new(crate::repo::outage::OutageStore::new(
            locked, wait,
        )));
    }
    let path = match url.strip_prefix("file://") {
        Some(p) => p,
        None if url.contains("://") => {
            return Err(bad("unknown scheme (use file://, s3:// or memory://)"));
        }
        None => url,
    };
    if path.is_empty() {
        return Err(bad("empty path"));
    }
    if cfg.existing_only && !std::path::Path::new(path).is_dir() {
        return Err(RepoError::NotARepository {
            key: format!("{path}/config"),
        });
    }
    // The repository directory is private (0700): nothing below it is reachable by other
    // users, whatever modes the object store gives its files.
    crate::private_fs::make_private_dir(std::path::Path::new(path))
        .map_err(|e| bad(&format!("cannot create directory: {e}")))?;
    let fs = LocalFileSystem::new_with_prefix(path)
        .map_err(|source| RepoError::BackendBuild {
            url: cfg.url.clone(),
            source,
        })?
        .with_fsync(true);
    Ok(Arc::new(crate::repo::uncached_writes::UncachedWrites::new(
        fs,
    )))
}

/// Object key layout (see docs/FORMAT.md, "Layout").
pub mod keys {
    use super::*;

    pub const CONFIG: &str = "config";
    pub const PACKS: &str = "packs";
    pub const INDEX: &str = "index";
    pub const SNAPSHOTS: &str = "snapshots";
    pub const CHECKPOINTS: &str = "checkpoints";

    pub fn config() -> Path {
        Path::from(CONFIG)
    }
    /// `packs/<first 2 hex>/<64 hex>`
    pub fn pack(id: &PackId) -> Path {
        let h = id.to_hex();
        Path::from_iter([PACKS, &h[..2], &h])
    }
    pub fn index(id: &IndexId) -> Path {
        Path::from_iter([INDEX, &id.to_hex()])
    }
    pub fn snapshot(id: &SnapshotId) -> Path {
        Path::from_iter([SNAPSHOTS, &id.to_hex()])
    }
    /// `checkpoints/<library>/<name>`; the library string is one (escaped) path segment.
    pub fn checkpoint(library: &str, name: &str) -> Path {
        Path::from_iter([CHECKPOINTS, library, name])
    }
    pub fn checkpoints_of(library: &str) -> Path {
        Path::from_iter([CHECKPOINTS, library])
    }
}

/// Writes `bytes` under `key` unless an object already exists there.
/// `AlreadyExists` is success: use only for content-addressed names.
pub async fn put_content_addressed(
    store: &dyn ObjectStore,
    key: &Path,
    bytes: Bytes,
) -> Result<()> {
    match store
        .put_opts(key, PutPayload::from(bytes), PutMode::Create.into())
        .await
    {
        Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
        Err(source) => Err(RepoError::Put {
            key: key.to_string(),
            source,
        }),
    }
}

/// Writes `bytes` under `key` unless the key is taken by other bytes (then the backend's
/// `AlreadyExists`). A key holding exactly `bytes` is this very write: a create the store
/// stored but whose answer was lost, sent again by the client's retry, is answered
/// `412 Precondition Failed` although it succeeded. Sealed objects carry a random nonce, so
/// equal bytes are never someone else's.
pub async fn put_create_idempotent(
    store: &dyn ObjectStore,
    key: &Path,
    bytes: Bytes,
) -> Result<()> {
    match put_create(store, key, bytes.clone()).await {
        Err(RepoError::Put {
            source: source @ object_store::Error::AlreadyExists { .. },
            ..
        }) => match get(store, key).await {
            Ok(found) if found == bytes => Ok(()),
            _ => Err(RepoError::Put {
                key: key.to_string(),
                source,
            }),
        },
        r => r,
    }
}

/// Writes `bytes` under `key`; fails with the backend's `AlreadyExists` if the key is taken.
pub async fn put_create(store: &dyn ObjectStore, key: &Path, bytes: Bytes) -> Result<()> {
    store
        .put_opts(key, PutPayload::from(bytes), PutMode::Create.into())
        .await
        .map(|_| ())
        .map_err(|source| map_get_err(key, source, true))
}

fn map_get_err(key: &Path, source: object_store::Error, put: bool) -> RepoError {
    let key = key.to_string();
    match source {
        e @ object_store::Error::NotFound { .. } if !put => RepoError::Missing { key, source: e },
        source if put => RepoError::Put { key, source },
        source => RepoError::Get { key, source },
    }
}

/// The error of a failed read of `key`: [`RepoError::Missing`] when it does not exist.
pub(crate) fn get_error(key: &Path, source: object_store::Error) -> RepoError {
    map_get_err(key, source, false)
}

/// Reads a whole object.
pub async fn get(store: &dyn ObjectStore, key: &Path) -> Result<Bytes> {
    get_noting_reads(store, key).await.map(|(bytes, _)| bytes)
}

/// How a store serves reads: from files of the local file system (a range is a memory map or
/// a positioned read) or as requests (S3, any remote store, memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    LocalFiles,
    Requests,
}

/// Reads a whole object, and tells how the store served it (what [`crate::repo::reader`]
/// sees when it reads a pack range: a local file or a response).
pub async fn get_noting_reads(store: &dyn ObjectStore, key: &Path) -> Result<(Bytes, Reads)> {
    let r = store
        .get(key)
        .await
        .map_err(|e| map_get_err(key, e, false))?;
    let reads = match &r.payload {
        object_store::GetResultPayload::File(..) => Reads::LocalFiles,
        _ => Reads::Requests,
    };
    let bytes = r.bytes().await.map_err(|e| map_get_err(key, e, false))?;
    Ok((bytes, reads))
}

/// Lists every object under `prefix` (recursively).
pub async fn list(store: &dyn ObjectStore, prefix: &Path) -> Result<Vec<ObjectMeta>> {
    store
        .list(Some(prefix))
        .try_collect()
        .await
        .map_err(|source| RepoError::List {
            prefix: prefix.to_string(),
            source,
        })
}

#[cfg(test)]
mod idempotent_create_tests {
    use super::*;

    /// A create the store stored but whose answer was lost is sent again by the client's retry:
    /// the key then holds exactly our bytes, and that is success. Other bytes are someone
    /// else's object: refused as taken, and left as they are.
    #[tokio::test]
    async fn a_retried_create_of_the_same_bytes_succeeds_and_others_are_refused() {
        let store = object_store::memory::InMemory::new();
        let key = Path::from("audit/0000000000000001");
        let ours = Bytes::from_static(b"sealed record, random nonce 1");
        put_create(&store, &key, ours.clone()).await.unwrap();
        // A plain create-only write of the same bytes is refused ...
        assert!(matches!(
            put_create(&store, &key, ours.clone()).await,
            Err(RepoError::Put {
                source: object_store::Error::AlreadyExists { .. },
                ..
            })
        ));
        // ... the idempotent one sees its own write.
        put_create_idempotent(&store, &key, ours.clone())
            .await
            .unwrap();
        let theirs = Bytes::from_static(b"sealed record, random nonce 2");
        assert!(matches!(
            put_create_idempotent(&store, &key, theirs).await,
            Err(RepoError::Put {
                source: object_store::Error::AlreadyExists { .. },
                ..
            })
        ));
        assert_eq!(get(&store, &key).await.unwrap(), ours);
    }
}
