//! `stats` and the `cat` debug dumps, as printable / serializable values.

use std::collections::HashSet;

use object_store::path::Path;
use serde::Serialize;

use crate::repo::backend::{self, keys};
use crate::repo::blob::BlobKind;
use crate::repo::config::RepoConfig;
use crate::repo::error::Result;
use crate::repo::id::{BlobId, IndexId, PackId, SnapshotId};
use crate::repo::index::{self, BlobLocation, IndexFile, IndexTotals};
use crate::repo::pack::{self, PackEntry};
use crate::repo::references::References;
use crate::repo::repository::{Indexed, Repository};
use crate::repo::snapshot::Snapshot;

/// Repository totals. The byte figures and ratios describe what the kept snapshots reference,
/// so they stay meaningful after `forget` (blobs only forgotten snapshots used are counted
/// apart, in `unreferenced_bytes`, until `prune` removes them).
#[derive(Debug, Clone, Serialize)]
pub struct RepoStats {
    /// The repository's format version (docs/FORMAT.md).
    pub format_version: u32,
    /// Whether its objects are encrypted (format 2 unless `--insecure-no-encryption`).
    pub encrypted: bool,
    pub snapshots: u64,
    /// Bytes of content the kept snapshots' backups read (sum over snapshots of their
    /// sessions' input: downloads, not versions reused from a parent).
    pub logical_bytes: u64,
    /// Bytes the kept snapshots protect: the sum over snapshots of the manifest count `bytes`
    /// (the logical size of every version each snapshot describes), what a restore of them all
    /// would write.
    pub protected_bytes: u64,
    /// Uncompressed bytes of the unique content blobs the kept snapshots reference.
    pub unique_bytes: u64,
    /// Uncompressed bytes of the metadata blobs the kept snapshots reference (profiles, ACLs,
    /// the tree).
    pub metadata_bytes: u64,
    /// Bytes of the blobs the kept snapshots reference (content and metadata) as stored
    /// (after compression).
    pub stored_blob_bytes: u64,
    /// Uncompressed bytes of indexed blobs no kept snapshot references (what `prune` frees).
    pub unreferenced_bytes: u64,
    /// Bytes of all pack objects (headers and unindexed packs included).
    pub pack_bytes: u64,
    pub pack_objects: u64,
    pub index: IndexTotals,
    /// protected / unique: how many bytes of versions the kept snapshots describe per unique
    /// content byte.
    pub dedup_ratio: f64,
    /// (unique + metadata) / stored.
    pub compression_ratio: f64,
    /// protected / pack bytes.
    pub total_ratio: f64,
    /// protected / pack bytes: what incremental snapshots plus dedup and compression save.
    pub protected_ratio: f64,
}

impl std::fmt::Display for RepoStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "snapshots:          {}", self.snapshots)?;
        writeln!(f, "logical bytes:      {}", self.logical_bytes)?;
        writeln!(f, "protected bytes:    {}", self.protected_bytes)?;
        writeln!(f, "unique bytes:       {}", self.unique_bytes)?;
        writeln!(f, "metadata bytes:     {}", self.metadata_bytes)?;
        writeln!(f, "stored blob bytes:  {}", self.stored_blob_bytes)?;
        writeln!(f, "unreferenced bytes: {}", self.unreferenced_bytes)?;
        writeln!(
            f,
            "pack bytes:         {} in {} packs",
            self.pack_bytes, self.pack_objects
        )?;
        writeln!(
            f,
            "blobs:              {} ({} data, {} meta)",
            self.index.blobs, self.index.data_blobs, self.index.meta_blobs
        )?;
        writeln!(f, "dedup ratio:        {:.2}", self.dedup_ratio)?;
        writeln!(f, "compression ratio:  {:.2}", self.compression_ratio)?;
        write!(f, "total ratio:        {:.2}", self.total_ratio)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl Repository<Indexed> {
    pub async fn stats(&self) -> Result<RepoStats> {
        let snaps = self.list_snapshots(None).await?;
        let packs = backend::list(self.store().as_ref(), &Path::from(keys::PACKS)).await?;
        let totals = self.index().totals()?;
        let logical: u64 = snaps.iter().map(|s| s.manifest.session.logical_bytes).sum();
        // A snapshot without the `bytes` count (written by other writers than the backup job)
        // protects at least what its session read.
        let protected: u64 = snaps
            .iter()
            .map(|s| {
                s.manifest
                    .counts
                    .get("bytes")
                    .copied()
                    .unwrap_or(s.manifest.session.logical_bytes)
            })
            .sum();
        let pack_bytes: u64 = packs.iter().map(|m| m.size).sum();
        // What the kept snapshots reference (metadata and content), each blob once.
        let pack_ids: HashSet<PackId> = packs
            .iter()
            .filter_map(|m| m.location.filename().and_then(|n| n.parse().ok()))
            .collect();
        let mut refs = References::default();
        for snap in &snaps {
            refs.add_snapshot(self, &pack_ids, snap).await;
        }
        let (mut unique, mut metadata, mut stored) = (0u64, 0u64, 0u64);
        for b in &refs.blobs {
            if let Some(loc) = self.index().get(b) {
                match loc.kind {
                    BlobKind::Data => unique += u64::from(loc.raw_len),
                    BlobKind::Meta => metadata += u64::from(loc.raw_len),
                }
                stored += u64::from(loc.stored_len);
            }
        }
        Ok(RepoStats {
            format_version: self.config().format_version,
            encrypted: self.is_encrypted(),
            snapshots: snaps.len() as u64,
            logical_bytes: logical,
            unique_bytes: unique,
            metadata_bytes: metadata,
            stored_blob_bytes: stored,
            unreferenced_bytes: totals.raw_bytes.saturating_sub(unique + metadata),
            pack_bytes,
            pack_objects: packs.len() as u64,
            index: totals,
            dedup_ratio: ratio(protected, unique),
            compression_ratio: ratio(unique + metadata, stored),
            total_ratio: ratio(protected, pack_bytes),
            protected_bytes: protected,
            protected_ratio: ratio(protected, pack_bytes),
        })
    }

    /// `cat blob ID`: the verified plaintext and where it lives.
    pub async fn cat_blob(&self, id: &BlobId) -> Result<(BlobLocation, bytes::Bytes)> {
        let loc = self
            .index()
            .get(id)
            .ok_or(crate::repo::error::RepoError::BlobNotFound { blob: *id })?;
        Ok((loc, self.read_blob(id).await?))
    }
}

/// What [`Repository::rebuild_index`] added.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RebuildReport {
    pub packs_scanned: u64,
    pub packs_added: u64,
    pub blobs_added: u64,
    pub index: Option<IndexId>,
}

impl Repository<Indexed> {
    /// Writes one new index object for every pack that no index names, from the pack headers.
    /// Nothing is deleted or overwritten; a corrupt pack header stops with an error naming it.
    pub async fn rebuild_index(&self) -> Result<RebuildReport> {
        let ids = self.list_pack_ids().await?;
        let known: std::collections::HashSet<PackId> = {
            let mut s = std::collections::HashSet::new();
            for i in self.list_index_ids().await? {
                s.extend(self.cat_index(&i).await?.packs.into_iter().map(|(p, _)| p));
            }
            s
        };
        let mut receipts = Vec::new();
        for id in &ids {
            if !known.contains(id) {
                receipts.push(pack::receipt_from_store(self.objects(), id).await?);
            }
        }
        let written = index::write_index(self.objects(), &receipts).await?;
        self.index().add_written(&written, &receipts);
        Ok(RebuildReport {
            packs_scanned: ids.len() as u64,
            packs_added: written.packs,
            blobs_added: written.blobs,
            index: written.id,
        })
    }
}

/// `cat pack ID`: the pack header as read from the object (no index needed).
#[derive(Debug, Clone, Serialize)]
pub struct PackDump {
    pub id: PackId,
    pub blobs: Vec<PackEntry>,
}

impl<S> Repository<S> {
    pub fn cat_config(&self) -> RepoConfig {
        self.config().clone()
    }

    pub async fn cat_snapshot(&self, id: &SnapshotId) -> Result<Snapshot> {
        self.load_snapshot(id).await
    }

    pub async fn cat_pack(&self, id: &PackId) -> Result<PackDump> {
        let blobs = pack::read_header(self.objects(), id).await?;
        Ok(PackDump { id: *id, blobs })
    }

    /// Reads a whole pack, checks it against its name and its header, and returns the header.
    pub async fn verify_pack(&self, id: &PackId) -> Result<PackDump> {
        let bytes = crate::repo::reader::read_pack(self.store(), id).await?;
        let id2 = *id;
        let crypto = self.crypto().clone();
        let blobs = tokio::task::spawn_blocking(move || pack::parse_pack(&crypto, &id2, &bytes))
            .await
            .map_err(|source| crate::repo::error::RepoError::Task {
                task: "verify pack",
                source,
            })??;
        Ok(PackDump { id: *id, blobs })
    }

    pub async fn cat_index(&self, id: &IndexId) -> Result<IndexFile> {
        let bytes = self
            .objects()
            .get(crate::repo::objects::ObjectKind::Index, &keys::index(id))
            .await?;
        index::decode_index(id, &bytes)
    }

    /// Ids of every index object.
    pub async fn list_index_ids(&self) -> Result<Vec<IndexId>> {
        list_ids(self, keys::INDEX).await
    }

    /// Ids of every pack object.
    pub async fn list_pack_ids(&self) -> Result<Vec<PackId>> {
        list_ids(self, keys::PACKS).await
    }
}

async fn list_ids<S, T: std::str::FromStr>(repo: &Repository<S>, prefix: &str) -> Result<Vec<T>> {
    let metas = backend::list(repo.store().as_ref(), &Path::from(prefix)).await?;
    Ok(metas
        .iter()
        .filter_map(|m| m.location.filename().and_then(|n| n.parse().ok()))
        .collect())
}
