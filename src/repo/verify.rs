//! `verify`: is every reference in the repository backed by durable, intact data?
//!
//! Structure (always): every object under `packs/`, `index/` and `snapshots/` is named by an
//! id; every index object decodes and matches its name; every pack an index names exists and
//! has exactly the size its index entries describe (an index entry whose pack is missing is an
//! *orphaned* entry); every blob a snapshot references (metadata blobs and content blobs found
//! in its records) is indexed, in a pack that exists.
//!
//! Data (`ReadData::All` or a rotating `ReadData::Subset`): each selected pack is downloaded
//! whole and checked against its name (BLAKE3 of the pack), its header is checked against the
//! index entries, and every blob is decompressed and checked against its BLAKE3 id.
//!
//! Checkpoint records and key slots (read otherwise only by a resumed backup or an unlock) are
//! each read and checked under their names. Prune marks are read with the index: a damaged
//! marks object stops verify, naming it.
//!
//! Problems are collected, each naming the object it concerns; nothing is modified. Packs that
//! no index names are not problems (an interrupted backup leaves them; `prune` removes them).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::repo::backend::{self, keys};
use crate::repo::blob;
use crate::repo::crypto::Crypto;
use crate::repo::error::{RepoError, Result};
use crate::repo::id::{IndexId, PackId, SnapshotId};
use crate::repo::objects::{ObjectKind, Objects};
use crate::repo::pack::{self, PACK_MAGIC, PackEntry};
use crate::repo::repository::{Indexed, Repository};

use crate::repo::references::References;

/// Bytes of a pack that are not blobs: magic, count, trailer.
const PACK_FIXED: u64 = (PACK_MAGIC.len() + 4 + 4) as u64;

/// How much pack data to download and check.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum ReadData {
    /// Structure only.
    #[default]
    None,
    /// Every pack.
    All,
    /// `percent` of the packs (at least one), taken in pack-id order after `after`, wrapping
    /// round: passing each run's [`VerifyReport::next_cursor`] to the next covers every pack in
    /// `ceil(100 / percent)` runs.
    Subset {
        percent: f64,
        #[serde(default)]
        after: Option<PackId>,
    },
}

/// What to verify.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifyOptions {
    pub read_data: ReadData,
    /// Only the snapshots of this library (and, when reading data, only the packs they use).
    pub library: Option<String>,
    /// Packs downloaded at once (0: 4).
    pub packs_in_flight: usize,
}

/// Live counters of a running verify, for progress display.
#[derive(Debug, Default)]
pub struct VerifyProgress {
    pub snapshots_done: AtomicU64,
    pub packs_to_read: AtomicU64,
    pub packs_read: AtomicU64,
    pub bytes_read: AtomicU64,
}

impl std::fmt::Display for ProblemKind {
    /// The name the JSON report uses.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(s)) => f.write_str(&s),
            _ => f.write_str("problem"),
        }
    }
}

/// The kind of a problem, for machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// An object whose name is not an id of its kind.
    BadName,
    /// An index object that cannot be read, does not match its name or does not decode.
    CorruptIndex,
    /// An index names a pack that does not exist (its entries are orphaned).
    MissingPack,
    /// A pack's size differs from what its index entries describe.
    PackSize,
    /// A pack's bytes do not match its name, or its header is unreadable.
    CorruptPack,
    /// A pack's header differs from the index entries for it.
    HeaderMismatch,
    /// A blob does not decompress or does not match its BLAKE3 id.
    CorruptBlob,
    /// A snapshot manifest that cannot be read, does not match its name or does not decode.
    CorruptSnapshot,
    /// A checkpoint (resume) record that cannot be read, does not open under its name or does
    /// not decode.
    CorruptCheckpoint,
    /// A key slot (`keys/`) that does not match its name or does not decode.
    CorruptKeySlot,
    /// A snapshot references blobs that no index names.
    NotIndexed,
    /// A snapshot references blobs indexed in a pack that does not exist.
    BlobInMissingPack,
    /// A metadata blob of a snapshot cannot be read or parsed.
    UnreadableMetadata,
    /// Downloading a pack failed.
    ReadFailed,
    /// An audit record that does not open, decode or sit under its own name (`crate::audit`).
    AuditRecord,
    /// An audit chain with a record missing, reordered or not linked to the one before.
    AuditChain,
}

/// One thing that is wrong, and the object it concerns (a repository key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The object, e.g. `packs/ab/ab12…`, `index/…`, `snapshots/…`.
    pub object: String,
    pub detail: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.object, self.detail)
    }
}

/// What `verify` looked at and what it found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VerifyReport {
    pub snapshots: u64,
    pub index_objects: u64,
    pub packs: u64,
    /// Packs no index names (left by interrupted backups; not a problem).
    pub unindexed_packs: u64,
    /// Bytes of all pack objects.
    pub pack_bytes: u64,
    /// Distinct blobs the verified snapshots reference (metadata and content).
    pub blobs_referenced: u64,
    pub packs_read: u64,
    pub bytes_read: u64,
    pub blobs_read: u64,
    pub seconds: f64,
    /// Where the next `ReadData::Subset` run should continue.
    pub next_cursor: Option<PackId>,
    /// Audit records checked (every writer's chain).
    #[serde(default)]
    pub audit_records: u64,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What one index object names: each pack with its blob entries.
pub type IndexPacks = Vec<(PackId, Vec<PackEntry>)>;

/// The pack and index objects as listed now.
#[derive(Debug, Default)]
pub(crate) struct PacksAndIndexes {
    /// Every pack object and its size.
    pub packs: BTreeMap<PackId, u64>,
    /// When each pack object was last written.
    pub modified: HashMap<PackId, chrono::DateTime<chrono::Utc>>,
    /// Every readable index object and what it names.
    pub indexes: Vec<(IndexId, IndexPacks)>,
    pub problems: Vec<Problem>,
}

impl PacksAndIndexes {
    pub fn pack_set(&self) -> HashSet<PackId> {
        self.packs.keys().copied().collect()
    }
}

/// Lists packs and reads every index object; bad names and unreadable index objects are
/// problems, not errors. Listing failures are errors.
pub(crate) async fn list_packs_and_indexes(objects: &Objects) -> Result<PacksAndIndexes> {
    let store = objects.store();
    // Index objects before packs: every pack a listed index names was stored before it.
    let mut l = PacksAndIndexes::default();
    let metas = backend::list(store.as_ref(), &Path::from(keys::INDEX)).await?;
    for m in backend::list(store.as_ref(), &Path::from(keys::PACKS)).await? {
        match m.location.filename().and_then(|n| n.parse::<PackId>().ok()) {
            Some(id) => {
                l.packs.insert(id, m.size);
                l.modified.insert(id, m.last_modified);
            }
            None => l.problems.push(Problem {
                kind: ProblemKind::BadName,
                object: m.location.to_string(),
                detail: "object under packs/ is not named by a pack id".into(),
            }),
        }
    }
    let mut reads = futures::stream::iter(metas.into_iter().map(|m| {
        let objects = objects.clone();
        async move {
            let Some(id) = m
                .location
                .filename()
                .and_then(|n| n.parse::<IndexId>().ok())
            else {
                return Err(Problem {
                    kind: ProblemKind::BadName,
                    object: m.location.to_string(),
                    detail: "object under index/ is not named by an index id".into(),
                });
            };
            let decoded = match objects.get(ObjectKind::Index, &m.location).await {
                Ok(bytes) => tokio::task::spawn_blocking(move || {
                    crate::repo::index::decode_index(&id, &bytes)
                })
                .await
                .map_err(|source| RepoError::Task {
                    task: "decode index",
                    source,
                })
                .and_then(|r| r),
                Err(e) => Err(e),
            };
            decoded.map(|f| (id, f.packs)).map_err(|e| Problem {
                kind: ProblemKind::CorruptIndex,
                object: m.location.to_string(),
                detail: crate::repo::error_chain(&e),
            })
        }
    }))
    .buffer_unordered(8);
    while let Some(r) = reads.next().await {
        match r {
            Ok(x) => l.indexes.push(x),
            Err(p) => l.problems.push(p),
        }
    }
    l.indexes.sort_by_key(|(id, _)| *id);
    Ok(l)
}

/// Picks the packs of a rotating subset (see [`ReadData::Subset`]); `sorted` is in id order.
pub fn rotating_subset(
    sorted: &[PackId],
    percent: f64,
    after: Option<PackId>,
) -> (Vec<PackId>, Option<PackId>) {
    if sorted.is_empty() {
        return (Vec::new(), after);
    }
    let pct = if percent.is_finite() {
        percent.clamp(0.0, 100.0)
    } else {
        100.0
    };
    let n = ((sorted.len() as f64 * pct / 100.0).ceil() as usize).clamp(1, sorted.len());
    let start = match after {
        Some(a) => sorted.partition_point(|p| *p <= a) % sorted.len(),
        None => 0,
    };
    let picked: Vec<PackId> = (0..n).map(|i| sorted[(start + i) % sorted.len()]).collect();
    let next = picked.last().copied();
    (picked, next)
}

/// Result of reading one pack.
pub(crate) struct PackRead {
    pub bytes: u64,
    pub blobs: u64,
    pub problems: Vec<Problem>,
}

/// Checks a whole pack's bytes: its name, its header against `indexed`, and every blob.
/// CPU-bound: call from a blocking thread.
pub(crate) fn check_pack_bytes(
    crypto: &Crypto,
    id: &PackId,
    bytes: &Bytes,
    indexed: Option<&[PackEntry]>,
) -> PackRead {
    let key = keys::pack(id).to_string();
    let mut problems = Vec::new();
    let mut blobs = 0u64;
    let actual = PackId::of(bytes);
    if actual != *id {
        problems.push(Problem {
            kind: ProblemKind::CorruptPack,
            object: key.clone(),
            detail: format!("content hash is {actual}, not the name: the pack is damaged"),
        });
    }
    let header = (|| {
        let len = bytes.len();
        if len < PACK_FIXED as usize {
            return Err(format!("pack is only {len} bytes"));
        }
        let mut t = [0u8; 4];
        t.copy_from_slice(&bytes[len - 4..]);
        let hlen = u32::from_le_bytes(t) as usize;
        if hlen + 4 > len {
            return Err(format!("header length {hlen} exceeds pack size {len}"));
        }
        let sealed = bytes.slice(len - 4 - hlen..len - 4);
        pack::open_header(crypto, &key, sealed)
            .and_then(|h| pack::decode_header(&key, &h, hlen as u64, len as u64))
            .map_err(|e| crate::repo::error_chain(&e))
    })();
    let entries = match header {
        Ok(h) => h,
        Err(e) => {
            problems.push(Problem {
                kind: ProblemKind::CorruptPack,
                object: key.clone(),
                detail: format!("header unreadable: {e}"),
            });
            // Fall back on the index's view to check the blobs one by one.
            match indexed {
                Some(i) => i.to_vec(),
                None => {
                    return PackRead {
                        bytes: bytes.len() as u64,
                        blobs,
                        problems,
                    };
                }
            }
        }
    };
    if let Some(i) = indexed
        && i != entries.as_slice()
    {
        problems.push(Problem {
            kind: ProblemKind::HeaderMismatch,
            object: key.clone(),
            detail: "the pack header differs from the index entries for it".into(),
        });
    }
    for e in &entries {
        let start = e.offset as usize;
        let end = start + e.stored_len as usize;
        let Some(stored) = (end <= bytes.len()).then(|| bytes.slice(start..end)) else {
            problems.push(Problem {
                kind: ProblemKind::CorruptBlob,
                object: key.clone(),
                detail: format!("blob {} lies beyond the end of the pack", e.id),
            });
            continue;
        };
        blobs += 1;
        if let Err(err) = blob::decode(crypto, &e.stored(*id), stored) {
            problems.push(Problem {
                kind: ProblemKind::CorruptBlob,
                object: key.clone(),
                detail: crate::repo::error_chain(&err),
            });
        }
    }
    PackRead {
        bytes: bytes.len() as u64,
        blobs,
        problems,
    }
}

async fn read_and_check_pack(
    objects: Objects,
    id: PackId,
    indexed: Option<Vec<PackEntry>>,
) -> PackRead {
    let key = keys::pack(&id);
    let bytes = match crate::repo::reader::read_pack(objects.store(), &id).await {
        Ok(b) => b,
        Err(e) => {
            return PackRead {
                bytes: 0,
                blobs: 0,
                problems: vec![Problem {
                    kind: ProblemKind::ReadFailed,
                    object: key.to_string(),
                    detail: crate::repo::error_chain(&e),
                }],
            };
        }
    };
    let crypto = objects.crypto().clone();
    match tokio::task::spawn_blocking(move || {
        check_pack_bytes(&crypto, &id, &bytes, indexed.as_deref())
    })
    .await
    {
        Ok(r) => r,
        Err(e) => PackRead {
            bytes: 0,
            blobs: 0,
            problems: vec![Problem {
                kind: ProblemKind::ReadFailed,
                object: key.to_string(),
                detail: format!("checking task failed: {e}"),
            }],
        },
    }
}

impl Repository<Indexed> {
    /// Every checkpoint record and key slot that does not read back authentic under its name.
    async fn check_checkpoints_and_key_slots(&self) -> Result<Vec<Problem>> {
        let mut problems = Vec::new();
        for m in self.objects().list(ObjectKind::Checkpoint, None).await? {
            let read = match self
                .objects()
                .get(ObjectKind::Checkpoint, &m.location)
                .await
            {
                Ok(bytes) => {
                    serde_json::from_slice::<crate::repo::snapshot::CheckpointRecord>(&bytes)
                        .map(|_| ())
                        .map_err(|source| RepoError::Decode {
                            key: m.location.to_string(),
                            source,
                        })
                }
                Err(e) => Err(e),
            };
            if let Err(e) = read {
                problems.push(Problem {
                    kind: ProblemKind::CorruptCheckpoint,
                    object: m.location.to_string(),
                    detail: crate::repo::error_chain(&e),
                });
            }
        }
        let slots = crate::repo::keyslot::read_all(self.store()).await?;
        for slot in crate::repo::keyslot::describe(&slots, None) {
            if let Some(why) = slot.problem {
                problems.push(Problem {
                    kind: ProblemKind::CorruptKeySlot,
                    object: crate::repo::keyslot::key_of(&slot.id).to_string(),
                    detail: format!("key slot failed authentication: {why}"),
                });
            }
        }
        Ok(problems)
    }

    /// Verifies the repository (see the module docs). `progress` is updated as work is done.
    #[tracing::instrument(skip_all, fields(library = opts.library.as_deref().unwrap_or("*")))]
    pub async fn verify(
        &self,
        opts: &VerifyOptions,
        progress: &VerifyProgress,
    ) -> Result<VerifyReport> {
        let started = std::time::Instant::now();
        let mut r = VerifyReport::default();
        // Snapshots first, then index objects and packs, then the in-memory index: everything
        // a listed snapshot needs was stored before it, so a backup finishing meanwhile does
        // not look like damage.
        let snap_metas = backend::list(self.store().as_ref(), &Path::from(keys::SNAPSHOTS)).await?;
        let listing = list_packs_and_indexes(self.objects()).await?;
        let fresh = self.reopened().load_index().await?;
        let this = &fresh;
        r.problems.extend(listing.problems.iter().cloned());
        r.packs = listing.packs.len() as u64;
        r.pack_bytes = listing.packs.values().sum();
        r.index_objects = listing.indexes.len() as u64;
        let packs = listing.pack_set();

        // Index → packs: every named pack exists, with the size its entries describe.
        let mut indexed: HashMap<PackId, Vec<PackEntry>> = HashMap::new();
        for (iid, file) in &listing.indexes {
            for (p, entries) in file {
                match listing.packs.get(p) {
                    None => r.problems.push(Problem {
                        kind: ProblemKind::MissingPack,
                        object: keys::index(iid).to_string(),
                        detail: format!(
                            "names missing pack {} ({} orphaned blob entries)",
                            keys::pack(p),
                            entries.len()
                        ),
                    }),
                    Some(size) => {
                        let want = pack::expected_size(entries, self.crypto());
                        if *size != want {
                            r.problems.push(Problem {
                                kind: ProblemKind::PackSize,
                                object: keys::pack(p).to_string(),
                                detail: format!(
                                    "pack is {size} bytes but index/{iid} describes {want} (truncated or replaced?)"
                                ),
                            });
                        }
                    }
                }
                indexed.entry(*p).or_insert_with(|| entries.clone());
            }
        }
        r.unindexed_packs = packs.iter().filter(|p| !indexed.contains_key(p)).count() as u64;

        // Snapshots → index.
        let mut refs = References::default();
        for m in snap_metas {
            let Some(id) = m
                .location
                .filename()
                .and_then(|n| n.parse::<SnapshotId>().ok())
            else {
                r.problems.push(Problem {
                    kind: ProblemKind::BadName,
                    object: m.location.to_string(),
                    detail: "object under snapshots/ is not named by a snapshot id".into(),
                });
                continue;
            };
            let snap = match this.load_snapshot(&id).await {
                Ok(s) => s,
                Err(e) => {
                    r.problems.push(Problem {
                        kind: ProblemKind::CorruptSnapshot,
                        object: m.location.to_string(),
                        detail: crate::repo::error_chain(&e),
                    });
                    continue;
                }
            };
            if opts
                .library
                .as_deref()
                .is_some_and(|l| !snap.manifest.library.eq_ignore_ascii_case(l))
            {
                continue;
            }
            r.snapshots += 1;
            refs.add_snapshot(this, &packs, &snap).await;
            progress.snapshots_done.fetch_add(1, Ordering::Relaxed);
        }
        r.blobs_referenced = refs.blobs.len() as u64;
        r.problems.append(&mut refs.problems);
        r.problems
            .extend(self.check_checkpoints_and_key_slots().await?);

        // Data.
        let candidates: Vec<PackId> = {
            let mut v: Vec<PackId> = match &opts.library {
                None => indexed.keys().copied().collect(),
                Some(_) => {
                    let mut used = HashSet::new();
                    for b in &refs.blobs {
                        if let Some(loc) = this.index().get(b) {
                            used.insert(loc.pack);
                        }
                    }
                    used.into_iter().collect()
                }
            };
            v.retain(|p| packs.contains(p));
            v.sort();
            v
        };
        drop(refs);
        let selected = match opts.read_data {
            ReadData::None => Vec::new(),
            ReadData::All => candidates,
            ReadData::Subset { percent, after } => {
                let (picked, next) = rotating_subset(&candidates, percent, after);
                r.next_cursor = next;
                picked
            }
        };
        progress
            .packs_to_read
            .store(selected.len() as u64, Ordering::Relaxed);
        let in_flight = if opts.packs_in_flight == 0 {
            4
        } else {
            opts.packs_in_flight
        };
        let mut reads = futures::stream::iter(
            selected
                .into_iter()
                .map(|p| read_and_check_pack(self.objects().clone(), p, indexed.get(&p).cloned())),
        )
        .buffer_unordered(in_flight);
        while let Some(pr) = reads.next().await {
            r.packs_read += 1;
            r.bytes_read += pr.bytes;
            r.blobs_read += pr.blobs;
            r.problems.extend(pr.problems);
            progress.packs_read.fetch_add(1, Ordering::Relaxed);
            progress.bytes_read.fetch_add(pr.bytes, Ordering::Relaxed);
        }
        r.seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            snapshots = r.snapshots,
            packs = r.packs,
            packs_read = r.packs_read,
            problems = r.problems.len(),
            "verify finished"
        );
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotating_subsets_cover_every_pack() {
        let mut ids: Vec<PackId> = (0..37u32).map(|i| PackId::of(&i.to_le_bytes())).collect();
        ids.sort();
        let mut seen = HashSet::new();
        let mut cursor = None;
        for _ in 0..10 {
            let (picked, next) = rotating_subset(&ids, 10.0, cursor);
            assert_eq!(picked.len(), 4, "ceil(37 × 10 %)");
            seen.extend(picked);
            cursor = next;
        }
        assert_eq!(seen.len(), ids.len(), "ten runs of 10 % cover all packs");
        let (all, _) = rotating_subset(&ids, 100.0, cursor);
        assert_eq!(all.len(), ids.len());
        let (one, _) = rotating_subset(&ids, 0.0, None);
        assert_eq!(one.len(), 1, "at least one pack");
    }
}
