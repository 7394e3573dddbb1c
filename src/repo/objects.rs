//! Every read and write of a whole repository object, sealed for its kind: the one place where
//! format 2 encrypts, authenticates and names objects (docs/FORMAT.md, "Encryption").
//!
//! An object of a content-addressed kind is stored as `seal(kind, plaintext)` under
//! `<dir>/[<scope>/]<h>`, `h` the BLAKE3 of the stored bytes. Reading opens the bytes with the
//! kind's associated data (a damaged or tampered object, or one of another kind moved here,
//! fails authentication) and then checks the name (a valid object moved to another object's
//! name is refused too). Packs are not whole objects: they seal blob by blob (`pack.rs`,
//! `blob.rs`) with the same [`Crypto`].
//!
//! # Adding an object kind
//! A new kind of object (a repository lock, a legal-hold manifest, an audit record…) needs:
//! 1. a variant of [`ObjectKind`] with its directory and its label (the associated data that
//!    binds its bytes to the kind: labels are never reused);
//! 2. its plaintext encoding (JSON with a `version` field, as `marks.rs` does);
//! 3. [`Objects::put`] to write, [`Objects::list`] and [`Objects::get`] to read; nothing else.
//!
//! It is then encrypted, authenticated and named like every other kind, refused on read-only
//! (format 1) repositories, and `tests/it/repository/encryption.rs` scans and tampers with it once
//! `repository_with_every_kind` writes one. Document the kind in docs/FORMAT.md ("Layout" and "Encryption").

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use crate::repo::backend;
use crate::repo::crypto::Crypto;
use crate::repo::error::{RepoError, Result};

/// Sealing larger objects than this is done off the async threads.
const INLINE_SEAL_MAX: usize = 64 * 1024;

/// The kinds of whole object the repository stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// `config`: the repository's parameters (not content-addressed).
    Config,
    /// `index/<h>`: where blobs are.
    Index,
    /// `snapshots/<h>`: one backup run of one library.
    Snapshot,
    /// `checkpoints/<library tag>/<h>`: resume records of unfinished backups.
    Checkpoint,
    /// `marks/<h>`: packs a prune marked for deletion.
    Marks,
    /// `locks/maintenance`: who runs maintenance now (not content-addressed; `maint_lock.rs`).
    Lock,
    /// `audit/<writer>/<seq>`: one audit record, chained to the writer's previous one (not
    /// content-addressed: named by its place in the chain, `crate::audit`).
    Audit,
    /// `holds/<h>`: a legal hold placed or released (`holds.rs`).
    Hold,
}

impl ObjectKind {
    /// The directory (key prefix) of this kind.
    pub const fn dir(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Index => "index",
            Self::Snapshot => "snapshots",
            Self::Checkpoint => "checkpoints",
            Self::Marks => "marks",
            Self::Lock => "locks",
            Self::Audit => "audit",
            Self::Hold => "holds",
        }
    }

    /// What the bytes are, for messages.
    pub const fn what(self) -> &'static str {
        match self {
            Self::Config => "repository config",
            Self::Index => "index object",
            Self::Snapshot => "snapshot manifest",
            Self::Checkpoint => "checkpoint record",
            Self::Marks => "prune marks",
            Self::Lock => "maintenance lock",
            Self::Audit => "audit record",
            Self::Hold => "legal hold record",
        }
    }

    /// Associated data of the kind's sealed objects (never reused for another kind).
    pub const fn label(self) -> &'static [u8] {
        match self {
            Self::Config => b"imvault/2 object config",
            Self::Index => b"imvault/2 object index",
            Self::Snapshot => b"imvault/2 object snapshot",
            Self::Checkpoint => b"imvault/2 object checkpoint",
            Self::Marks => b"imvault/2 object marks",
            Self::Lock => b"imvault/2 object lock",
            Self::Audit => b"imvault/2 object audit",
            Self::Hold => b"imvault/2 object hold",
        }
    }
}

/// The repository's storage as the format sees it: a store, the keys (or none) and the format
/// version. Cheap to clone.
#[derive(Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    crypto: Crypto,
    format: u32,
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Objects")
            .field("store", &self.store.to_string())
            .field("crypto", &self.crypto)
            .field("format", &self.format)
            .finish()
    }
}

fn name_of(key: &Path) -> String {
    key.filename().unwrap_or_default().to_string()
}

impl Objects {
    pub fn new(store: Arc<dyn ObjectStore>, crypto: Crypto, format: u32) -> Self {
        Self {
            store,
            crypto,
            format,
        }
    }

    /// The same objects read and written through `store` (a decorator of this store).
    pub fn with_store(&self, store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            crypto: self.crypto.clone(),
            format: self.format,
        }
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }
    pub fn crypto(&self) -> &Crypto {
        &self.crypto
    }
    pub fn format(&self) -> u32 {
        self.format
    }

    /// Refuses `action` on a repository this release only reads (format 1).
    pub fn check_writable(&self, action: &str) -> Result<()> {
        if self.format < 2 {
            return Err(RepoError::ReadOnlyFormat {
                found: self.format,
                action: action.to_string(),
            });
        }
        Ok(())
    }

    /// The key of an object of `kind` named `name`, under `scope` if given.
    pub fn key(kind: ObjectKind, scope: Option<&str>, name: &str) -> Path {
        match scope {
            Some(s) => Path::from_iter([kind.dir(), s, name]),
            None => Path::from_iter([kind.dir(), name]),
        }
    }

    /// Seals `plain` as an object of `kind` (off the async threads when large).
    pub async fn seal(&self, kind: ObjectKind, plain: Bytes) -> Result<Bytes> {
        if !self.crypto.is_encrypted() || plain.len() <= INLINE_SEAL_MAX {
            return Ok(self.crypto.seal(kind.label(), plain)?);
        }
        let c = self.crypto.clone();
        Ok(
            tokio::task::spawn_blocking(move || c.seal(kind.label(), plain))
                .await
                .map_err(|source| RepoError::Task {
                    task: "seal object",
                    source,
                })??,
        )
    }

    /// Opens the stored bytes of `key`, an object of `kind`.
    pub async fn open(&self, kind: ObjectKind, key: &Path, stored: Bytes) -> Result<Bytes> {
        let fail = || RepoError::Authentication {
            key: key.to_string(),
            what: format!(
                "{} {}",
                kind.what(),
                "does not open with the repository key"
            ),
        };
        if !self.crypto.is_encrypted() || stored.len() <= INLINE_SEAL_MAX {
            return self.crypto.open(kind.label(), stored).map_err(|_| fail());
        }
        let c = self.crypto.clone();
        tokio::task::spawn_blocking(move || c.open(kind.label(), stored))
            .await
            .map_err(|source| RepoError::Task {
                task: "open object",
                source,
            })?
            .map_err(|_| fail())
    }

    /// Writes a new object of `kind` (under `scope`) and returns its key and name. Names are the
    /// hash of the stored bytes, written with `PutMode::Create`: an existing object of the same
    /// name holds the same bytes.
    pub async fn put(
        &self,
        kind: ObjectKind,
        scope: Option<&str>,
        plain: Bytes,
    ) -> Result<(Path, [u8; 32])> {
        self.check_writable(&format!("writing a {}", kind.what()))?;
        let stored = self.seal(kind, plain).await?;
        let h = *blake3::hash(&stored).as_bytes();
        let key = Self::key(kind, scope, &hex::encode(h));
        backend::put_content_addressed(self.store.as_ref(), &key, stored).await?;
        Ok((key, h))
    }

    /// Writes a new object of `kind` under the exact name `key` (kinds named by their place, not
    /// their hash: audit records). `PutMode::Create`: an existing object is never replaced; the
    /// error is then [`RepoError::Exists`] (unless it holds exactly these bytes: a retried
    /// write of ours, see [`backend::put_create_idempotent`]). Returns the BLAKE3 of the stored bytes.
    pub async fn put_at(&self, kind: ObjectKind, key: &Path, plain: Bytes) -> Result<[u8; 32]> {
        self.check_writable(&format!("writing a {}", kind.what()))?;
        let stored = self.seal(kind, plain).await?;
        let h = *blake3::hash(&stored).as_bytes();
        match backend::put_create_idempotent(self.store.as_ref(), key, stored).await {
            Ok(()) => Ok(h),
            Err(RepoError::Put {
                source: object_store::Error::AlreadyExists { .. },
                ..
            }) => Err(RepoError::Exists {
                key: key.to_string(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Reads and opens the object `key` of `kind` without checking its name against a hash
    /// (for [`Objects::put_at`] kinds, whose readers check the name against the content);
    /// returns the plaintext and the BLAKE3 of the stored bytes.
    pub async fn get_at(&self, kind: ObjectKind, key: &Path) -> Result<(Bytes, [u8; 32])> {
        let stored = backend::get(self.store.as_ref(), key).await?;
        let h = *blake3::hash(&stored).as_bytes();
        Ok((self.open(kind, key, stored).await?, h))
    }

    /// Reads, authenticates and opens the object `key` of `kind`.
    pub async fn get(&self, kind: ObjectKind, key: &Path) -> Result<Bytes> {
        let stored = backend::get(self.store.as_ref(), key).await?;
        self.open_named(kind, key, stored).await
    }

    /// Opens `stored`, read from `key`, and checks it against its name.
    pub async fn open_named(&self, kind: ObjectKind, key: &Path, stored: Bytes) -> Result<Bytes> {
        let actual = blake3::hash(&stored);
        let plain = self.open(kind, key, stored).await?;
        // Format 1 checkpoint records are named by time and a short hash prefix.
        let named = !(self.format < 2 && kind == ObjectKind::Checkpoint);
        if named && name_of(key) != actual.to_hex().as_str() {
            return Err(if self.crypto.is_encrypted() {
                RepoError::Authentication {
                    key: key.to_string(),
                    what: format!(
                        "the {} opens but is not the one this name stands for (content hash {actual}): it was swapped or renamed",
                        kind.what()
                    ),
                }
            } else {
                RepoError::Corrupt {
                    key: key.to_string(),
                    reason: format!("content hash is {actual}, not the name"),
                }
            });
        }
        Ok(plain)
    }

    /// Every object of `kind` (under `scope` if given), as listed now.
    pub async fn list(&self, kind: ObjectKind, scope: Option<&str>) -> Result<Vec<ObjectMeta>> {
        let prefix = match scope {
            Some(s) => Path::from_iter([kind.dir(), s]),
            None => Path::from(kind.dir()),
        };
        backend::list(self.store.as_ref(), &prefix).await
    }

    /// Deletes `key` (a missing object is not an error).
    pub async fn delete(&self, key: &Path) -> Result<()> {
        self.check_writable(&format!("deleting `{key}`"))?;
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(RepoError::Put {
                key: format!("{key} (delete)"),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::crypto::MasterKey;
    use object_store::PutPayload;
    use object_store::memory::InMemory;

    fn objects(crypto: Crypto, format: u32) -> Objects {
        Objects::new(Arc::new(InMemory::new()), crypto, format)
    }

    fn encrypted() -> Crypto {
        Crypto::with_master(&MasterKey::from_bytes([5; 32]))
    }

    async fn raw(o: &Objects, key: &Path) -> Vec<u8> {
        backend::get(o.store().as_ref(), key)
            .await
            .unwrap()
            .to_vec()
    }

    async fn overwrite(o: &Objects, key: &Path, bytes: Vec<u8>) {
        o.store().put(key, PutPayload::from(bytes)).await.unwrap();
    }

    #[tokio::test]
    async fn every_kind_round_trips_sealed_and_a_flipped_byte_names_the_object() {
        let o = objects(encrypted(), 2);
        for kind in [
            ObjectKind::Index,
            ObjectKind::Snapshot,
            ObjectKind::Checkpoint,
            ObjectKind::Marks,
            ObjectKind::Hold,
        ] {
            let plain = Bytes::from(format!("{{\"secret\":\"Privileged memo of {kind:?}\"}}"));
            let (key, _) = o.put(kind, Some("scope"), plain.clone()).await.unwrap();
            let stored = raw(&o, &key).await;
            assert!(
                !stored.windows(10).any(|w| w == b"Privileged"),
                "{kind:?} stored in the clear"
            );
            assert_eq!(o.get(kind, &key).await.unwrap(), plain);
            // Another kind's label does not open it.
            let other = if kind == ObjectKind::Index {
                ObjectKind::Snapshot
            } else {
                ObjectKind::Index
            };
            assert!(matches!(
                o.get(other, &key).await,
                Err(RepoError::Authentication { .. })
            ));
            for i in [0, stored.len() / 2, stored.len() - 1] {
                let mut bad = stored.clone();
                bad[i] ^= 0x40;
                overwrite(&o, &key, bad).await;
                let e = o.get(kind, &key).await.unwrap_err();
                assert!(matches!(e, RepoError::Authentication { .. }), "{e}");
                let msg = e.to_string();
                assert!(msg.contains(key.as_ref()), "{msg}");
                assert!(msg.contains("failed authentication"), "{msg}");
            }
            // Truncated.
            overwrite(&o, &key, stored[..stored.len() - 3].to_vec()).await;
            assert!(matches!(
                o.get(kind, &key).await,
                Err(RepoError::Authentication { .. })
            ));
            overwrite(&o, &key, stored).await;
            assert_eq!(o.get(kind, &key).await.unwrap(), plain);
        }
    }

    #[tokio::test]
    async fn a_valid_object_swapped_under_another_name_is_refused() {
        let o = objects(encrypted(), 2);
        let (a, _) = o
            .put(ObjectKind::Snapshot, None, Bytes::from_static(b"{\"n\":1}"))
            .await
            .unwrap();
        let (b, _) = o
            .put(ObjectKind::Snapshot, None, Bytes::from_static(b"{\"n\":2}"))
            .await
            .unwrap();
        let a_bytes = raw(&o, &a).await;
        overwrite(&o, &b, a_bytes).await;
        let e = o.get(ObjectKind::Snapshot, &b).await.unwrap_err();
        assert!(matches!(e, RepoError::Authentication { .. }), "{e}");
        assert!(e.to_string().contains("swapped"), "{e}");
        // Another repository's key does not open it either.
        let stranger = Objects::new(
            o.store().clone(),
            Crypto::with_master(&MasterKey::from_bytes([6; 32])),
            2,
        );
        assert!(matches!(
            stranger.get(ObjectKind::Snapshot, &a).await,
            Err(RepoError::Authentication { .. })
        ));
    }

    #[tokio::test]
    async fn clear_text_format_2_and_read_only_format_1() {
        let o = objects(Crypto::plaintext(), 2);
        let plain = Bytes::from_static(b"{\"n\":1}");
        let (key, _) = o.put(ObjectKind::Marks, None, plain.clone()).await.unwrap();
        assert_eq!(raw(&o, &key).await, plain.to_vec());
        assert_eq!(o.get(ObjectKind::Marks, &key).await.unwrap(), plain);
        let v1 = Objects::new(o.store().clone(), Crypto::plaintext(), 1);
        assert_eq!(v1.get(ObjectKind::Marks, &key).await.unwrap(), plain);
        assert!(matches!(
            v1.put(ObjectKind::Marks, None, plain).await,
            Err(RepoError::ReadOnlyFormat { found: 1, .. })
        ));
        assert!(matches!(
            v1.delete(&key).await,
            Err(RepoError::ReadOnlyFormat { .. })
        ));
    }
}
