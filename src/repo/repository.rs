//! The typestate repository: `Repository<Opened>` (config read, snapshots listable) →
//! `Repository<Indexed>` (index loaded: backup and read).

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use object_store::ObjectStore;
use serde::de::DeserializeOwned;

use crate::repo::backend::{self, keys};
use crate::repo::cache::{BlobCache, DEFAULT_CACHE_BYTES};
use crate::repo::config::{InitOptions, RepoConfig};
use crate::repo::error::{RepoError, Result};
use crate::repo::id::{BlobId, SnapshotId};
use crate::repo::index::Index;
use crate::repo::meta;
use crate::repo::reader;
use crate::repo::snapshot::{self, CheckpointRecord, ContentRef, MetaRef, Snapshot};
use crate::repo::snapshot_cache::SnapshotCache;
use crate::repo::writer::{BackupSession, SessionOptions};

/// State: config read and checked; no index in memory.
#[derive(Debug, Clone, Copy)]
pub struct Opened;

/// State: the index is loaded; content can be written and read.
#[derive(Clone)]
pub struct Indexed {
    index: Arc<Index>,
    cache: Arc<BlobCache>,
    /// The packs the index names that the store did not hold when first asked
    /// ([`Repository::find_lost_packs`]): listed once per loaded index, not once per library.
    lost_packs: Arc<tokio::sync::OnceCell<Vec<crate::repo::PackId>>>,
}

#[derive(Clone)]
pub struct Repository<S> {
    store: Arc<dyn ObjectStore>,
    config: RepoConfig,
    /// Local copies of snapshot manifests (see [`Repository::with_snapshot_cache`]).
    snapshot_cache: Option<Arc<SnapshotCache>>,
    state: S,
}

impl<S> std::fmt::Debug for Repository<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("id", &self.config.id)
            .field("format_version", &self.config.format_version)
            .field("store", &self.store.to_string())
            .finish()
    }
}

impl Repository<Opened> {
    /// Creates a repository: writes `config` with `PutMode::Create`, so an existing
    /// repository (or a concurrent init) is refused, never overwritten.
    #[tracing::instrument(skip_all)]
    pub async fn init(store: Arc<dyn ObjectStore>, opts: InitOptions) -> Result<Self> {
        let config = RepoConfig::new(&opts)?;
        let bytes = serde_json::to_vec_pretty(&config).map_err(|source| RepoError::Encode {
            what: "repository config".into(),
            source,
        })?;
        let key = keys::config();
        match backend::put_create(store.as_ref(), &key, Bytes::from(bytes)).await {
            Ok(()) => {}
            Err(RepoError::Put {
                source: object_store::Error::AlreadyExists { .. },
                ..
            }) => {
                return Err(RepoError::AlreadyInitialized {
                    key: key.to_string(),
                });
            }
            Err(e) => return Err(e),
        }
        tracing::info!(repo = %config.id, "repository created");
        Ok(Self {
            store,
            config,
            snapshot_cache: None,
            state: Opened,
        })
    }

    /// Opens an existing repository, refusing an unknown format version.
    #[tracing::instrument(skip_all)]
    pub async fn open(store: Arc<dyn ObjectStore>) -> Result<Self> {
        let key = keys::config();
        let bytes = match backend::get(store.as_ref(), &key).await {
            Err(RepoError::Missing { key, .. }) => {
                // Tell a missing bucket (or wrong endpoint) from an empty location.
                if let Err(e) = store.list_with_delimiter(None).await {
                    return Err(RepoError::Unreachable { key, source: e });
                }
                return Err(RepoError::NotARepository { key });
            }
            r => r?,
        };
        let config = RepoConfig::decode(key.as_ref(), &bytes)?;
        Ok(Self {
            store,
            config,
            snapshot_cache: None,
            state: Opened,
        })
    }

    /// Loads every index object (snapshots should be listed before this, see FORMAT.md).
    #[tracing::instrument(skip_all)]
    pub async fn load_index(self) -> Result<Repository<Indexed>> {
        let index = Index::load(&self.store).await?;
        tracing::info!(
            blobs = index.len(),
            bytes = index.memory_bytes(),
            "index loaded"
        );
        Ok(Repository {
            store: self.store,
            config: self.config,
            snapshot_cache: self.snapshot_cache,
            state: Indexed {
                index: Arc::new(index),
                cache: Arc::new(BlobCache::new(DEFAULT_CACHE_BYTES)),
                lost_packs: Arc::default(),
            },
        })
    }
}

impl<S> Repository<S> {
    pub fn config(&self) -> &RepoConfig {
        &self.config
    }
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Keeps local copies of snapshot manifests under `base` (a private directory of the local
    /// state; one subdirectory per repository), so that listing snapshots GETs only manifests
    /// not read before ([`crate::repo::snapshot_cache`]). Without it, every listing GETs every
    /// manifest. A cache that cannot be created is skipped with a warning. For jobs that use
    /// manifests (a backup's planning), not for those that judge the stored objects (verify).
    pub fn with_snapshot_cache(mut self, base: &std::path::Path) -> Self {
        self.snapshot_cache = SnapshotCache::open(base, &self.config.id.to_string()).map(Arc::new);
        self
    }

    /// Snapshots, oldest first, optionally of one library.
    pub async fn list_snapshots(&self, library: Option<&str>) -> Result<Vec<Snapshot>> {
        snapshot::list_snapshots(&self.store, self.snapshot_cache.as_ref(), library).await
    }

    pub async fn load_snapshot(&self, id: &SnapshotId) -> Result<Snapshot> {
        snapshot::load_snapshot(&self.store, self.snapshot_cache.as_deref(), id).await
    }

    /// The newest snapshot of `library` whose time is at or before `at_or_before` (or the newest).
    pub async fn latest_snapshot(
        &self,
        library: &str,
        at_or_before: Option<DateTime<Utc>>,
    ) -> Result<Option<Snapshot>> {
        let all = self.list_snapshots(Some(library)).await?;
        Ok(all
            .into_iter()
            .rev()
            .find(|s| at_or_before.is_none_or(|t| s.manifest.time <= t)))
    }

    /// Resume records written by `checkpoint`, oldest first.
    pub async fn checkpoints(&self, library: &str) -> Result<Vec<CheckpointRecord>> {
        snapshot::list_checkpoints(&self.store, library).await
    }
}

impl Repository<Indexed> {
    pub fn index(&self) -> &Arc<Index> {
        &self.state.index
    }

    /// Lists the store's packs and notes the packs the index names that are gone
    /// ([`Index::note_lost_packs`]): a backup then stores their blobs again instead of
    /// referencing lost data. Returns the lost packs. The store is listed once per loaded index
    /// (the libraries of one run share the answer; the next run loads the index again).
    pub async fn find_lost_packs(&self) -> Result<&[crate::repo::PackId]> {
        let lost = self
            .state
            .lost_packs
            .get_or_try_init(|| async {
                let mut existing = std::collections::HashSet::new();
                for m in backend::list(
                    self.store.as_ref(),
                    &object_store::path::Path::from(keys::PACKS),
                )
                .await?
                {
                    if let Some(id) = m
                        .location
                        .filename()
                        .and_then(|n| n.parse::<crate::repo::PackId>().ok())
                    {
                        existing.insert(id);
                    }
                }
                Ok::<_, RepoError>(self.state.index.note_lost_packs(&existing))
            })
            .await?;
        Ok(lost)
    }

    /// Replaces the cache of verified blobs used by `read_content` (`0` disables it).
    pub fn with_blob_cache(mut self, bytes: usize) -> Self {
        self.state.cache = Arc::new(BlobCache::new(bytes));
        self
    }

    /// Starts a backup session writing into this repository.
    pub fn backup_session(&self, opts: SessionOptions) -> BackupSession {
        BackupSession::new(
            self.store.clone(),
            self.config.clone(),
            self.state.index.clone(),
            opts,
        )
    }

    /// One blob, verified against its id.
    pub async fn read_blob(&self, id: &BlobId) -> Result<Bytes> {
        reader::read_blob(&self.store, &self.state.index, id).await
    }

    /// A content item's bytes, in order, every blob verified.
    pub fn read_content(&self, content: &ContentRef) -> BoxStream<'static, Result<Bytes>> {
        reader::read_content(
            self.store.clone(),
            self.state.index.clone(),
            self.state.cache.clone(),
            content,
        )
    }

    /// Reads `blobs` ahead, verified (see [`reader::read_ahead`]); a `'static` future, to be
    /// spawned.
    pub fn read_ahead(
        &self,
        blobs: Vec<BlobId>,
    ) -> impl std::future::Future<Output = reader::ReadAhead> + Send + 'static {
        reader::read_ahead(self.store.clone(), self.state.index.clone(), blobs)
    }

    /// The blobs of a metadata stream, in order, verified: each holds whole JSON lines
    /// (for readers that look at records before, or instead of, parsing them).
    pub fn read_meta_blobs(
        &self,
        meta: &MetaRef,
    ) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        reader::read_blobs(
            self.store.clone(),
            self.state.index.clone(),
            meta.blobs.clone(),
            2,
        )
        .map(|r| r.map(|(_, bytes)| bytes))
    }

    /// The records of a metadata stream, in order.
    pub fn read_meta_stream<T: DeserializeOwned + Send + 'static>(
        &self,
        name: &str,
        meta: &MetaRef,
    ) -> impl Stream<Item = Result<T>> + Send + 'static {
        let blobs = reader::read_blobs(
            self.store.clone(),
            self.state.index.clone(),
            meta.blobs.clone(),
            2,
        );
        meta::records_from_blobs(name.to_string(), blobs)
    }
}
