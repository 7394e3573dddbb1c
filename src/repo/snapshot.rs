//! Snapshot manifests (`snapshots/<blake3>`), written last, and checkpoint records.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::repo::backend::{self, keys};
use crate::repo::config::{FORMAT_VERSION, SUPPORTED_VERSIONS};
use crate::repo::error::{RepoError, Result};
use crate::repo::id::{BlobId, SnapshotId};
use crate::repo::index::IndexWritten;
use crate::repo::objects::{ObjectKind, Objects};
use crate::repo::snapshot_cache::SnapshotCache;

/// A reference to content stored as blobs (one document version, for instance).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContentRef {
    /// Total bytes of the content.
    pub size: u64,
    /// Blobs in order; their concatenation is the content.
    #[serde(deserialize_with = "exact_blobs")]
    pub blobs: Vec<BlobId>,
}

/// Reads a blob list into a `Vec` of exactly its length. A plain `Vec` grows to room for 4 on
/// its first element, so a one-blob version (most versions) would hold 128 bytes for 32; an
/// incremental backup keeps one `ContentRef` per version of the library in memory.
fn exact_blobs<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<BlobId>, D::Error> {
    struct Exact;
    impl<'de> serde::de::Visitor<'de> for Exact {
        type Value = Vec<BlobId>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of blob ids")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Vec<BlobId>, A::Error> {
            let Some(first) = seq.next_element()? else {
                return Ok(Vec::new());
            };
            let Some(second) = seq.next_element()? else {
                return Ok(vec![first]);
            };
            let mut blobs = vec![first, second];
            while let Some(b) = seq.next_element()? {
                blobs.push(b);
            }
            blobs.shrink_to_fit();
            Ok(blobs)
        }
    }
    d.deserialize_seq(Exact)
}

/// A reference to a metadata stream: JSON records grouped into blobs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MetaRef {
    pub records: u64,
    /// Uncompressed bytes of all records (JSON lines).
    pub bytes: u64,
    pub blobs: Vec<BlobId>,
}

/// What one backup session added, recorded in its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionStats {
    /// Bytes of content passed to `add_content` (before dedup).
    pub logical_bytes: u64,
    pub content_items: u64,
    pub blobs_seen: u64,
    pub blobs_new: u64,
    /// Uncompressed bytes of new blobs.
    pub new_raw_bytes: u64,
    /// Stored bytes of new blobs.
    pub new_stored_bytes: u64,
    pub packs_written: u64,
    pub pack_bytes_written: u64,
}

/// What the caller supplies when finishing a session.
#[derive(Debug, Clone, Default)]
pub struct SnapshotDraft {
    pub library: String,
    /// Point in time this snapshot stands for; defaults to the session start.
    pub time: Option<DateTime<Utc>>,
    pub host: Option<String>,
    pub parent: Option<SnapshotId>,
    pub counts: BTreeMap<String, u64>,
    pub streams: BTreeMap<String, MetaRef>,
    pub summary: serde_json::Value,
}

/// The stored manifest (the id is the BLAKE3 of its bytes, so it is not inside).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotManifest {
    pub format_version: u32,
    pub time: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub library: String,
    pub host: String,
    pub tool_version: String,
    pub parent: Option<SnapshotId>,
    pub counts: BTreeMap<String, u64>,
    pub streams: BTreeMap<String, MetaRef>,
    pub session: SessionStats,
    pub summary: serde_json::Value,
    /// Set on a *held snapshot*: what `forget` kept of a forgotten snapshot because legal holds
    /// need it (FORMAT.md §19). Retention never forgets it; prune removes it once every hold it
    /// names is released. Absent on every backup snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<HeldSnapshot>,
}

/// What a held snapshot keeps, and for whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldSnapshot {
    /// The forgotten backup snapshot it was cut from.
    pub from: SnapshotId,
    /// The holds that needed it (every one covers at least one of its versions).
    pub holds: Vec<crate::repo::id::HoldId>,
    /// When forget wrote it.
    pub written: DateTime<Utc>,
}

/// A loaded snapshot: its id and manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub id: SnapshotId,
    #[serde(flatten)]
    pub manifest: SnapshotManifest,
}

impl std::fmt::Display for Snapshot {
    /// One line for `imvault snapshots`: short id, time, library, host, counts, logical size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = &self.manifest;
        write!(
            f,
            "{}  {}  {}  {}",
            self.id.short(),
            m.time.format("%Y-%m-%d %H:%M:%S"),
            m.library,
            m.host
        )?;
        if let Some(h) = &m.held {
            write!(
                f,
                "  held for {} legal hold(s), from {}",
                h.holds.len(),
                h.from.short()
            )?;
        }
        for (k, v) in &m.counts {
            write!(f, "  {k}={v}")?;
        }
        write!(f, "  logical={}B", m.session.logical_bytes)
    }
}

impl SnapshotManifest {
    pub fn from_draft(draft: SnapshotDraft, started: DateTime<Utc>, session: SessionStats) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            time: draft.time.unwrap_or(started),
            finished: Utc::now(),
            library: draft.library,
            host: draft.host.unwrap_or_else(default_host),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            parent: draft.parent,
            counts: draft.counts,
            streams: draft.streams,
            session,
            summary: draft.summary,
            held: None,
        }
    }
}

pub(crate) fn default_host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Writes a manifest. The `IndexWritten` token proves the index of this session's packs is
/// durable; the manifest is the last object of a backup.
pub async fn write_snapshot(
    objects: &Objects,
    _index_durable: &IndexWritten,
    manifest: &SnapshotManifest,
) -> Result<SnapshotId> {
    let bytes = serde_json::to_vec_pretty(manifest).map_err(|source| RepoError::Encode {
        what: format!("snapshot manifest of library {}", manifest.library),
        source,
    })?;
    let (_, h) = objects
        .put(ObjectKind::Snapshot, None, Bytes::from(bytes))
        .await?;
    let id = SnapshotId(h);
    tracing::info!(snapshot = %id.short(), "snapshot stored");
    Ok(id)
}

/// Opens the stored bytes of manifest `id` (checking them against the name) and decodes them.
pub async fn open_snapshot(objects: &Objects, id: &SnapshotId, stored: Bytes) -> Result<Snapshot> {
    let plain = objects
        .open_named(ObjectKind::Snapshot, &keys::snapshot(id), stored)
        .await?;
    decode_snapshot(id, &plain)
}

/// Decodes a manifest's plaintext, refusing unknown format versions.
pub fn decode_snapshot(id: &SnapshotId, bytes: &[u8]) -> Result<Snapshot> {
    let key = keys::snapshot(id).to_string();
    #[derive(Deserialize)]
    struct V {
        format_version: u32,
    }
    let v: V = serde_json::from_slice(bytes).map_err(|source| RepoError::Decode {
        key: key.clone(),
        source,
    })?;
    if !SUPPORTED_VERSIONS.contains(&v.format_version) {
        return Err(RepoError::UnsupportedFormat {
            key,
            found: v.format_version,
            supported: format!("{SUPPORTED_VERSIONS:?}"),
        });
    }
    let manifest =
        serde_json::from_slice(bytes).map_err(|source| RepoError::Decode { key, source })?;
    Ok(Snapshot { id: *id, manifest })
}

/// Reads a manifest: from `cache` when it holds a copy that passes every check of a stored one,
/// else from the repository (keeping the stored bytes in `cache`).
pub async fn load_snapshot(
    objects: &Objects,
    cache: Option<&SnapshotCache>,
    id: &SnapshotId,
) -> Result<Snapshot> {
    if let Some(c) = cache
        && let Some(bytes) = c.get(id).await
    {
        match open_snapshot(objects, id, Bytes::from(bytes)).await {
            Ok(s) => return Ok(s),
            Err(e) => {
                tracing::warn!(snapshot = %id.short(), file = %c.path(id).display(), error = %e, "cached snapshot manifest fails its checks; reading it from the repository");
                c.remove(id).await;
            }
        }
    }
    let bytes = match backend::get(objects.store().as_ref(), &keys::snapshot(id)).await {
        Err(RepoError::Missing { .. }) => return Err(RepoError::SnapshotNotFound { id: *id }),
        r => r?,
    };
    let snap = open_snapshot(objects, id, bytes.clone()).await?;
    if let Some(c) = cache {
        c.put(id, &bytes).await;
    }
    Ok(snap)
}

/// Every snapshot (optionally of one library), oldest first. The LIST says which exist; their
/// manifests come from `cache` when it has them.
pub async fn list_snapshots(
    objects: &Objects,
    cache: Option<&Arc<SnapshotCache>>,
    library: Option<&str>,
) -> Result<Vec<Snapshot>> {
    let metas = objects.list(ObjectKind::Snapshot, None).await?;
    // An object not named by an id is no snapshot (something else written there: a stray
    // upload, an export pointed at the repository): skipped, so that it does not stop every
    // backup and restore; `imvault verify` reports it.
    let ids: Vec<SnapshotId> = metas
        .iter()
        .filter_map(|m| {
            let name = m.location.filename().unwrap_or_default();
            let id = name.parse::<SnapshotId>().ok();
            if id.is_none() {
                tracing::warn!(object = %m.location, "not a snapshot (its name is not a 64-hex id): skipped; `imvault verify` reports it; remove it from the repository");
            }
            id
        })
        .collect();
    if let Some(c) = cache {
        c.retain(&ids.iter().copied().collect()).await;
    }
    let mut out: Vec<Snapshot> = futures::stream::iter(ids.into_iter().map(|id| {
        let objects = objects.clone();
        let cache = cache.cloned();
        async move { load_snapshot(&objects, cache.as_deref(), &id).await }
    }))
    .buffer_unordered(16)
    .try_collect()
    .await?;
    if let Some(lib) = library {
        out.retain(|s| s.manifest.library == lib);
    }
    out.sort_by(|a, b| a.manifest.time.cmp(&b.manifest.time).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// A small resume record written by a checkpoint (not a snapshot; `snapshots` never lists it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    pub library: String,
    pub time: DateTime<Utc>,
    pub record: serde_json::Value,
}

impl CheckpointRecord {
    /// When the run that wrote this record started (`record.run_started`; the snapshot the run
    /// writes has that time). `None` for records without it.
    pub fn run_started(&self) -> Option<DateTime<Utc>> {
        self.record
            .get("run_started")
            .and_then(|v| v.as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    }
}

/// The key segment under `checkpoints/` for `library`: in format 2 a keyed hash of the library
/// (no name shows in object keys), in format 1 the library itself.
pub fn checkpoint_scope(objects: &Objects, library: &str) -> String {
    if objects.format() < 2 {
        library.to_string()
    } else {
        objects.crypto().name_tag("library", library)
    }
}

pub async fn write_checkpoint_record(
    objects: &Objects,
    _index_durable: &IndexWritten,
    rec: &CheckpointRecord,
) -> Result<Path> {
    let bytes = serde_json::to_vec(rec).map_err(|source| RepoError::Encode {
        what: "checkpoint record".into(),
        source,
    })?;
    let scope = checkpoint_scope(objects, &rec.library);
    let (key, _) = objects
        .put(ObjectKind::Checkpoint, Some(&scope), Bytes::from(bytes))
        .await?;
    Ok(key)
}

/// Decodes a checkpoint record's plaintext.
pub fn decode_checkpoint(key: &Path, plain: &[u8]) -> Result<CheckpointRecord> {
    serde_json::from_slice(plain).map_err(|source| RepoError::Decode {
        key: key.to_string(),
        source,
    })
}

/// Checkpoint records of one library, oldest first.
pub async fn list_checkpoints(objects: &Objects, library: &str) -> Result<Vec<CheckpointRecord>> {
    let scope = checkpoint_scope(objects, library);
    let metas = objects.list(ObjectKind::Checkpoint, Some(&scope)).await?;
    let mut out = Vec::with_capacity(metas.len());
    for m in metas {
        let bytes = objects.get(ObjectKind::Checkpoint, &m.location).await?;
        let rec: CheckpointRecord =
            serde_json::from_slice(&bytes).map_err(|source| RepoError::Decode {
                key: m.location.to_string(),
                source,
            })?;
        out.push(rec);
    }
    out.sort_by_key(|r| r.time);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_refs_read_back_equal_and_exactly_sized() {
        for n in [0usize, 1, 2, 5] {
            let c = ContentRef {
                size: 7 * n as u64,
                blobs: (0..n).map(|i| BlobId::of(&[i as u8])).collect(),
            };
            let json = serde_json::to_string(&c).unwrap();
            let back: ContentRef = serde_json::from_str(&json).unwrap();
            assert_eq!(back, c);
            assert_eq!(back.blobs.capacity(), n, "{n} blobs");
        }
        assert!(serde_json::from_str::<ContentRef>(r#"{"size":1,"blobs":"x"}"#).is_err());
        assert!(serde_json::from_str::<ContentRef>(r#"{"size":1,"blobs":["zz"]}"#).is_err());
    }
}
