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
use crate::repo::crypto::{Crypto, MasterKey};
use crate::repo::error::{RepoError, Result};
use crate::repo::id::{BlobId, SnapshotId};
use crate::repo::index::Index;
use crate::repo::keyslot::{self, Credential, KdfParams, SlotInfo};
use crate::repo::meta;
use crate::repo::objects::{ObjectKind, Objects};
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
    objects: Objects,
    config: RepoConfig,
    /// The key slot that opened the repository (encrypted repositories).
    slot: Option<String>,
    /// Local copies of snapshot manifests (see [`Repository::with_snapshot_cache`]).
    snapshot_cache: Option<Arc<SnapshotCache>>,
    /// Where the loaded index keeps its temporary files ([`Repository::with_scratch_dir`]).
    scratch_dir: Option<std::path::PathBuf>,
    /// The bucket's Object Lock, when the repository writes with it
    /// ([`Repository::with_retention`]): prune waits for retention and extends it.
    retention: Option<Arc<crate::repo::object_lock::RetentionControl>>,
    /// How far one ranged read of a restore's window reaches: chosen by [`Repository::open`]
    /// from how the store served the config ([`reader::window_limits`]), or
    /// [`Repository::with_window_ranges`].
    window_ranges: reader::RangeLimits,
    /// How the store serves reads (from the config read at open; requests if that failed).
    reads: backend::Reads,
    state: S,
}

impl<S> std::fmt::Debug for Repository<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("id", &self.config.id)
            .field("format_version", &self.config.format_version)
            .field("objects", &self.objects)
            .finish()
    }
}

/// A clear-text `config` starts with `{` and decodes as JSON with a format version.
fn clear_text_config(bytes: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct VersionOnly {
        #[allow(dead_code)]
        format_version: u32,
    }
    bytes.first() == Some(&b'{') && serde_json::from_slice::<VersionOnly>(bytes).is_ok()
}

impl Repository<Opened> {
    /// Creates a repository: format 2, encrypted under a new random master key wrapped for
    /// `credential` (required), unless `opts.insecure_no_encryption` (then `credential` must be
    /// `None`). An existing repository (or a concurrent init) is refused, never changed.
    #[tracing::instrument(skip_all)]
    pub async fn init(
        store: Arc<dyn ObjectStore>,
        opts: InitOptions,
        credential: Option<&Credential>,
    ) -> Result<Self> {
        let config = RepoConfig::new(&opts)?;
        let key = keys::config();
        let exists = || RepoError::AlreadyInitialized {
            key: key.to_string(),
        };
        match backend::get(store.as_ref(), &key).await {
            Ok(_) => return Err(exists()),
            Err(RepoError::Missing { key, source }) => {
                // A missing bucket (or a wrong endpoint) answers "not found" too.
                if let Err(e) = store.list_with_delimiter(None).await {
                    return Err(RepoError::Unreachable { key, source: e });
                }
                drop(source);
            }
            Err(e) => return Err(e),
        }
        let json = serde_json::to_vec_pretty(&config).map_err(|source| RepoError::Encode {
            what: "repository config".into(),
            source,
        })?;
        let (crypto, slot, stored) = if opts.insecure_no_encryption {
            if credential.is_some() {
                return Err(RepoError::KeySlot {
                    reason: "a password is configured, but the repository is to be created without encryption: give one or the other".into(),
                });
            }
            (Crypto::plaintext(), None, Bytes::from(json))
        } else {
            let credential = credential.ok_or(RepoError::PasswordRequired)?;
            if !keyslot::read_all(&store).await?.is_empty() {
                return Err(RepoError::AlreadyInitialized {
                    key: keyslot::KEYS.to_string(),
                });
            }
            let master = MasterKey::generate()?;
            let crypto = Crypto::with_master(&master);
            // The slot first: a config without a slot could never be opened.
            let slot = keyslot::add(&store, &master, credential, &opts.kdf).await?;
            let stored = crypto.seal(ObjectKind::Config.label(), Bytes::from(json))?;
            (crypto, Some(slot), stored)
        };
        if let Err(e) = backend::put_create_idempotent(store.as_ref(), &key, stored).await {
            // Another init won the race (or the write failed): take our slot back.
            if let Some(s) = &slot {
                let _ = keyslot::remove(&store, s).await;
            }
            return Err(match e {
                RepoError::Put {
                    source: object_store::Error::AlreadyExists { .. },
                    ..
                } => exists(),
                e => e,
            });
        }
        tracing::info!(repo = %config.id, encrypted = crypto.is_encrypted(), "repository created");
        // How the store serves reads (the restore's read limits, as `open` chooses them): the
        // config read back; the narrow limits if that read fails (they are correct anywhere).
        let (window_ranges, reads) = match backend::get_noting_reads(store.as_ref(), &key).await {
            Ok((_, reads)) => (reader::window_limits(reads), reads),
            Err(_) => (reader::WINDOW, backend::Reads::Requests),
        };
        Ok(Self {
            objects: Objects::new(store, crypto, config.format_version),
            config,
            slot,
            snapshot_cache: None,
            scratch_dir: None,
            retention: None,
            window_ranges,
            reads,
            state: Opened,
        })
    }

    /// Opens an existing repository: unlocks an encrypted one with `credential` (one KDF run
    /// per key slot of its kind, no retry), refuses an unknown format version, and refuses a
    /// clear-text format 2 repository when a credential is given (its config may have been
    /// replaced to turn encryption off). Format 1 opens read-only, with or without one.
    #[tracing::instrument(skip_all)]
    pub async fn open(
        store: Arc<dyn ObjectStore>,
        credential: Option<&Credential>,
    ) -> Result<Self> {
        let key = keys::config();
        let (bytes, reads) = match backend::get_noting_reads(store.as_ref(), &key).await {
            Err(RepoError::Missing { key, .. }) => {
                // Tell a missing bucket (or wrong endpoint) from an empty location.
                if let Err(e) = store.list_with_delimiter(None).await {
                    return Err(RepoError::Unreachable { key, source: e });
                }
                return Err(RepoError::NotARepository { key });
            }
            r => r?,
        };
        let slots = keyslot::read_all(&store).await?;
        if clear_text_config(&bytes) {
            let config = RepoConfig::decode(key.as_ref(), &bytes)?;
            if config.is_encrypted() {
                return Err(RepoError::Authentication {
                    key: key.to_string(),
                    what: "it says the repository is encrypted, but it is not sealed".into(),
                });
            }
            if !slots.is_empty() {
                return Err(RepoError::Authentication {
                    key: key.to_string(),
                    what: format!(
                        "it is in the clear, but the repository has {} key slot(s): it may have been replaced to turn encryption off",
                        slots.len()
                    ),
                });
            }
            if config.format_version >= 2 && credential.is_some() {
                return Err(RepoError::NotEncrypted {
                    why: "created with --insecure-no-encryption".into(),
                });
            }
            if config.format_version < 2 {
                tracing::warn!(
                    format = config.format_version,
                    "repository format 1 is not encrypted and is read-only in this release"
                );
            }
            return Ok(Self {
                objects: Objects::new(store, Crypto::plaintext(), config.format_version),
                config,
                slot: None,
                snapshot_cache: None,
                scratch_dir: None,
                retention: None,
                window_ranges: reader::window_limits(reads),
                reads,
                state: Opened,
            });
        }
        let credential = credential.ok_or(RepoError::PasswordRequired)?;
        if slots.is_empty() {
            return Err(RepoError::KeySlot {
                reason: format!(
                    "the repository is encrypted but has no key slot under `{}/`: it cannot be opened (were the key slots deleted?)",
                    keyslot::KEYS
                ),
            });
        }
        let (master, slot) = keyslot::unlock(slots, credential).await?;
        let crypto = Crypto::with_master(&master);
        let plain = crypto
            .open(ObjectKind::Config.label(), bytes)
            .map_err(|_| RepoError::Authentication {
                key: key.to_string(),
                what: "the repository config does not open with the key of its key slots".into(),
            })?;
        let config = RepoConfig::decode(key.as_ref(), &plain)?;
        if config.format_version < 2 || !config.is_encrypted() {
            return Err(RepoError::Corrupt {
                key: key.to_string(),
                reason: "a sealed config must be of an encrypted format 2 repository".into(),
            });
        }
        tracing::debug!(slot = %&slot[..8], "repository unlocked");
        Ok(Self {
            objects: Objects::new(store, crypto, config.format_version),
            config,
            slot: Some(slot),
            snapshot_cache: None,
            scratch_dir: None,
            retention: None,
            window_ranges: reader::window_limits(reads),
            reads,
            state: Opened,
        })
    }

    /// The same repository (config and keys) over another store holding its objects: opened
    /// from a view of its `config` and key slots (`recover` opens one as it was at a time),
    /// then read and written where it lives. The restore read limits (and [`Repository::reads`])
    /// stay those of the view: set the limits for `store` with
    /// [`Repository::with_window_ranges`].
    pub fn on_store(self, store: Arc<dyn ObjectStore>) -> Self {
        let (crypto, format) = (self.objects.crypto().clone(), self.objects.format());
        Self {
            objects: Objects::new(store, crypto, format),
            ..self
        }
    }

    /// Loads every index object (snapshots should be listed before this, see FORMAT.md).
    #[tracing::instrument(skip_all)]
    pub async fn load_index(self) -> Result<Repository<Indexed>> {
        let dir = self.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
        let index = Index::load(&self.objects, &dir).await?;
        tracing::info!(
            blobs = index.len(),
            bytes = index.memory_bytes(),
            "index loaded"
        );
        Ok(Repository {
            objects: self.objects,
            config: self.config,
            slot: self.slot,
            snapshot_cache: self.snapshot_cache,
            scratch_dir: self.scratch_dir,
            retention: self.retention,
            window_ranges: self.window_ranges,
            reads: self.reads,
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
        self.objects.store()
    }
    /// The repository's objects, sealed for their kind (every read and write goes through it).
    pub fn objects(&self) -> &Objects {
        &self.objects
    }
    /// The keys (or none).
    pub fn crypto(&self) -> &Crypto {
        self.objects.crypto()
    }
    pub fn is_encrypted(&self) -> bool {
        self.objects.crypto().is_encrypted()
    }

    /// The same repository, opened again without asking for the credential: the config and the
    /// keys are kept, the index is not (for a fresh look after other writers).
    pub fn reopened(&self) -> Repository<Opened> {
        Repository {
            objects: self.objects.clone(),
            config: self.config.clone(),
            slot: self.slot.clone(),
            snapshot_cache: None,
            scratch_dir: self.scratch_dir.clone(),
            retention: self.retention.clone(),
            window_ranges: self.window_ranges,
            reads: self.reads,
            state: Opened,
        }
    }

    /// The repository writes with S3 Object Lock: maintenance (prune) deletes nothing still
    /// retained and extends the retention of what is still needed (docs/FORMAT.md §20).
    pub fn with_retention(mut self, control: crate::repo::object_lock::RetentionControl) -> Self {
        self.retention = Some(Arc::new(control));
        self
    }

    /// Ranged reads of a restore's window reach as far as `limits` instead of what
    /// [`Repository::open`] chose for the store ([`reader::WINDOW`] for pack files read from a
    /// local directory, [`reader::WINDOW_REQUESTS`] where every ranged read is a request).
    pub fn with_window_ranges(mut self, limits: reader::RangeLimits) -> Self {
        self.window_ranges = limits;
        self
    }

    /// How the store serves reads: from local files, or as requests (S3 and the others).
    pub fn reads(&self) -> backend::Reads {
        self.reads
    }

    /// How far one ranged read of a restore's window reaches.
    pub fn window_ranges(&self) -> reader::RangeLimits {
        self.window_ranges
    }

    /// The repository's Object Lock, if it writes with one.
    pub fn retention(&self) -> Option<&crate::repo::object_lock::RetentionControl> {
        self.retention.as_deref()
    }

    /// Refuses `action` on a repository this release only reads (format 1).
    pub fn check_writable(&self, action: &str) -> Result<()> {
        self.objects.check_writable(action)
    }

    /// Every key slot, with the one that opened this handle marked `current`.
    pub async fn key_slots(&self) -> Result<Vec<SlotInfo>> {
        let slots = keyslot::read_all(self.store()).await?;
        Ok(keyslot::describe(&slots, self.slot.as_deref()))
    }

    /// Adds a key slot for `credential` (the master key, and so every snapshot, stays the same).
    pub async fn add_key_slot(&self, credential: &Credential, kdf: &KdfParams) -> Result<String> {
        self.check_writable("adding a key slot")?;
        let master = self.crypto().master().ok_or_else(|| RepoError::KeySlot {
            reason: "the repository is not encrypted: it has no keys".into(),
        })?;
        keyslot::add(self.store(), master, credential, kdf).await
    }

    /// Removes the key slot whose id starts with `prefix`. The last slot, and the slot that
    /// opened this handle, are refused (open with another slot's credential to remove it).
    pub async fn remove_key_slot(&self, prefix: &str) -> Result<SlotInfo> {
        self.check_writable("removing a key slot")?;
        let slots = self.key_slots().await?;
        let s = keyslot::resolve(&slots, prefix)?.clone();
        if slots.iter().filter(|x| x.problem.is_none()).count() <= 1 && s.problem.is_none() {
            return Err(RepoError::KeySlot {
                reason: format!(
                    "refusing to remove key slot {}: it is the repository's last key slot, and without it nothing in the repository can ever be read again",
                    &s.id[..8.min(s.id.len())]
                ),
            });
        }
        if s.current {
            return Err(RepoError::KeySlot {
                reason: format!(
                    "refusing to remove key slot {}: it is the one this command opened the repository with; open the repository with another slot's password or key file to remove it (or use `imvault key passwd` to change this one)",
                    &s.id[..8.min(s.id.len())]
                ),
            });
        }
        keyslot::remove(self.store(), &s.id).await?;
        Ok(s)
    }

    /// Replaces the slot that opened this handle by one for `new`: the new slot is written
    /// before the old one is deleted, so a crash leaves at worst both.
    pub async fn change_key(&mut self, new: &Credential, kdf: &KdfParams) -> Result<String> {
        let old = self.slot.clone().ok_or_else(|| RepoError::KeySlot {
            reason: "the repository is not encrypted: it has no password to change".into(),
        })?;
        let id = self.add_key_slot(new, kdf).await?;
        keyslot::remove(self.store(), &old).await?;
        self.slot = Some(id.clone());
        Ok(id)
    }

    /// Keeps the loaded index's temporary files (unnamed: never visible, gone with the
    /// process) in `dir`, a private directory of the local state, instead of the system's
    /// temporary directory (often a RAM-backed tmpfs). About 50 bytes per blob while loaded.
    pub fn with_scratch_dir(mut self, dir: &std::path::Path) -> Self {
        self.scratch_dir = Some(dir.to_path_buf());
        self
    }

    /// Reads packs one whole pack per request, kept in unnamed local files (at most `kept`
    /// bytes; see [`crate::repo::pack_spill`]), where each read of the store is a request;
    /// ranges of packs are then read from those files, with a local repository's limits.
    /// The files go to the scratch directory ([`Repository::with_scratch_dir`]), else the
    /// system's temporary directory; to memory instead when that directory shares its file
    /// system with `synced`, which the restore syncs (an export's target: its syncs would
    /// write every copy to disk; [`crate::repo::spill_room`]). For a restore, which reads
    /// most of the packs it touches.
    pub fn with_pack_spill(mut self, kept: u64, synced: Option<&std::path::Path>) -> Self {
        if self.reads != backend::Reads::Requests {
            return self;
        }
        let dir = self.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
        let Some((to, cap)) = crate::repo::spill_room::choose(&dir, synced, kept) else {
            tracing::info!(
                dir = %dir.display(),
                "too little room for local copies of packs: a restore reads them range by range"
            );
            return self;
        };
        tracing::debug!(to = ?to, cap, "packs are read whole into local copies");
        let spill = crate::repo::pack_spill::PackSpill::new(self.objects.store().clone(), to, cap);
        self.objects = self.objects.with_store(Arc::new(spill));
        self.reads = backend::Reads::LocalFiles;
        self.window_ranges = reader::window_limits(self.reads);
        self
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
        snapshot::list_snapshots(&self.objects, self.snapshot_cache.as_ref(), library).await
    }

    pub async fn load_snapshot(&self, id: &SnapshotId) -> Result<Snapshot> {
        snapshot::load_snapshot(&self.objects, self.snapshot_cache.as_deref(), id).await
    }

    /// The newest backup snapshot of `library` whose time is at or before `at_or_before` (or
    /// the newest); held snapshots (what forget kept for legal holds) are never one.
    pub async fn latest_snapshot(
        &self,
        library: &str,
        at_or_before: Option<DateTime<Utc>>,
    ) -> Result<Option<Snapshot>> {
        let all = self.list_snapshots(Some(library)).await?;
        Ok(all
            .into_iter()
            .rev()
            .filter(|s| s.manifest.held.is_none())
            .find(|s| at_or_before.is_none_or(|t| s.manifest.time <= t)))
    }

    /// Resume records written by `checkpoint`, oldest first.
    pub async fn checkpoints(&self, library: &str) -> Result<Vec<CheckpointRecord>> {
        snapshot::list_checkpoints(&self.objects, library).await
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
                    self.store().as_ref(),
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
            self.objects.clone(),
            self.config.clone(),
            self.state.index.clone(),
            opts,
        )
    }

    /// One blob, verified against its id.
    pub async fn read_blob(&self, id: &BlobId) -> Result<Bytes> {
        reader::read_blob(&self.objects, &self.state.index, id).await
    }

    /// A content item's bytes, in order, every blob verified.
    pub fn read_content(&self, content: &ContentRef) -> BoxStream<'static, Result<Bytes>> {
        reader::read_content(
            self.objects.clone(),
            self.state.index.clone(),
            self.state.cache.clone(),
            content,
        )
    }

    /// Reads each of `blobs` once in pack order, handing each to `sink` verified (see
    /// [`reader::read_each`]); a `'static` future, to be spawned.
    pub fn read_each<F>(
        &self,
        blobs: Vec<BlobId>,
        limits: reader::RangeLimits,
        in_flight: usize,
        sink: Arc<F>,
    ) -> impl std::future::Future<Output = Vec<reader::Unread>> + Send + 'static
    where
        F: Fn(BlobId, std::result::Result<Bytes, String>) + Send + Sync + 'static,
    {
        reader::read_each(
            self.objects.clone(),
            self.state.index.clone(),
            blobs,
            limits,
            in_flight,
            sink,
        )
    }

    /// The blobs of a metadata stream, in order, verified: each holds whole JSON lines
    /// (for readers that look at records before, or instead of, parsing them).
    pub fn read_meta_blobs(
        &self,
        meta: &MetaRef,
    ) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        reader::read_blobs(
            self.objects.clone(),
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
            self.objects.clone(),
            self.state.index.clone(),
            meta.blobs.clone(),
            2,
        );
        meta::records_from_blobs(name.to_string(), blobs)
    }
}
