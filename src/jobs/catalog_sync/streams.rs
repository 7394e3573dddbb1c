//! Reading a snapshot's metadata streams into catalog rows, as differences from the parent
//! snapshot when the catalog holds that parent last for the library (the nightly case).
//!
//! A range stream (containers, versions, filings, document ACLs) is loaded in one of three ways:
//! - **carry**: the stream is the parent's, byte for byte: every row of the parent is extended
//!   with one statement and nothing is read;
//! - **delta**: the parent's rows are carried over, then only the records whose JSON line is not
//!   in the parent's stream are parsed and added (new or changed items), and the parent's lines
//!   not in this stream are parsed for their keys, whose carried rows are ended (removed items).
//!   Lines are compared by a 128-bit BLAKE3 prefix held in memory for the parent's lines that
//!   are not in a blob both streams share (about 40-70 bytes per line); the order of records
//!   does not matter. More than [`MAX_PARENT_LINES`] such lines (e.g. the first full listing
//!   after a full backup, whose stream is in download order, not crawl order: at 10 M versions
//!   ~0.6 GB of hashes) and the stream is loaded in full instead;
//! - **full**: every record is parsed and added (first snapshot, a catalog that does not hold
//!   the parent, or too many differing lines); the catalog tells duplicates and removed items
//!   through a temporary table on disk, so memory does not grow with the stream.

use std::collections::HashMap;

use futures::StreamExt;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::{Row, SyncError};
use crate::catalog::{ContainerRow, RowKey, RowKind, SkippedRow, VersionRow};
use crate::jobs::records::{
    ContainerRecord, DocumentAclRecord, FilingRecord, STREAM_CONTAINERS, STREAM_DOCUMENT_ACLS,
    STREAM_FILINGS, STREAM_SKIPPED, STREAM_VERSIONS, SkippedRecord, VersionRecord,
};
use crate::repo::{BlobId, Indexed, MetaRef, RepoError, Repository, Snapshot, SnapshotId};

/// The most parent lines held in memory to load a stream as differences (up to ~52 MB of
/// hashes as the map grows); beyond, the stream is loaded in full (slower: a look-up per
/// record, but flat in memory). Counted are the lines of the parent's blobs that the new stream
/// does not share (blobs of 0.75-2 MiB): edits scattered over the whole stream make most blobs
/// differ, so such a night also takes the full load.
pub(super) const MAX_PARENT_LINES: u64 = 500_000;

/// How one range stream is loaded (see the module docs).
#[derive(Debug, Clone, Copy)]
enum Mode<'a> {
    Full,
    Carry,
    Delta(&'a MetaRef),
}

/// The JSON lines of a stream, as a multiset of 128-bit hashes.
#[derive(Default)]
struct Lines {
    counts: HashMap<u128, u32>,
    left: u64,
}

fn line_hash(line: &[u8]) -> u128 {
    let h = blake3::hash(line);
    u128::from_le_bytes(h.as_bytes()[..16].try_into().expect("16 bytes"))
}

impl Lines {
    fn add(&mut self, h: u128) {
        *self.counts.entry(h).or_default() += 1;
        self.left += 1;
    }

    /// Takes one occurrence of `h`, if one is left.
    fn take(&mut self, h: u128) -> bool {
        match self.counts.get_mut(&h) {
            Some(n) if *n > 0 => {
                *n -= 1;
                self.left -= 1;
                true
            }
            _ => false,
        }
    }
}

fn lines(blob: &[u8]) -> impl Iterator<Item = &[u8]> {
    blob.split(|b| *b == b'\n').filter(|l| !l.is_empty())
}

/// One range stream: its name, row kind, and how a record becomes a row and a key.
struct Spec<T> {
    name: &'static str,
    kind: RowKind,
    row: fn(T) -> Result<Row, String>,
    key: fn(T) -> Result<RowKey, String>,
}

/// Sends the rows of every stream of `snap`: containers, versions, filings, ACLs, skipped.
/// `previous` is the library's newest snapshot in the catalog; `max_parent_lines`, see
/// [`MAX_PARENT_LINES`]. Returns false when the loader stopped listening (its error is reported
/// by the caller).
pub(super) async fn send_rows(
    repo: &Repository<Indexed>,
    snap: &Snapshot,
    previous: Option<&SnapshotId>,
    max_parent_lines: u64,
    tx: &mpsc::Sender<Row>,
) -> Result<bool, SyncError> {
    let parent = match (snap.manifest.parent, previous) {
        (Some(p), Some(prev)) if p == *prev => Some(repo.load_snapshot(&p).await.map_err(
            |source| SyncError::Repo {
                snapshot: p.to_string(),
                source: Box::new(source),
            },
        )?),
        _ => None,
    };
    let mode = |name: &str| -> Mode<'_> {
        let Some(parent) = &parent else {
            return Mode::Full;
        };
        match (
            snap.manifest.streams.get(name),
            parent.manifest.streams.get(name),
        ) {
            (Some(new), Some(old)) if new == old => Mode::Carry,
            (_, Some(old)) => Mode::Delta(old),
            (_, None) => Mode::Full,
        }
    };
    let containers = Spec::<ContainerRecord> {
        name: STREAM_CONTAINERS,
        kind: RowKind::Containers,
        row: |r| {
            let c = r.container().map_err(|e| e.to_string())?;
            Ok(Row::Container(ContainerRow::from_container(&c, r.acl)))
        },
        key: |r| {
            Ok(RowKey::Container(
                r.container().map_err(|e| e.to_string())?.id,
            ))
        },
    };
    let versions = Spec::<VersionRecord> {
        name: STREAM_VERSIONS,
        kind: RowKind::Versions,
        row: |r| {
            let v = r.version().map_err(|e| e.to_string())?;
            let content = serde_json::to_value(&r.content).unwrap_or_default();
            Ok(Row::Version(VersionRow::from_version(&v, content)))
        },
        key: |r| Ok(RowKey::Version(r.version().map_err(|e| e.to_string())?.id)),
    };
    let filings = Spec::<FilingRecord> {
        name: STREAM_FILINGS,
        kind: RowKind::Filings,
        row: |r| Ok(Row::Filing(r)),
        key: |r| Ok(RowKey::Filing(r)),
    };
    let acls = Spec::<DocumentAclRecord> {
        name: STREAM_DOCUMENT_ACLS,
        kind: RowKind::DocumentAcls,
        row: |r| Ok(Row::Acl(r)),
        key: |r| Ok(RowKey::DocumentAcl(r.document)),
    };
    let sid = snap.id;
    let modes = [
        mode(STREAM_CONTAINERS),
        mode(STREAM_VERSIONS),
        mode(STREAM_FILINGS),
        mode(STREAM_DOCUMENT_ACLS),
    ];
    tracing::debug!(snapshot = %snap.id, modes = ?modes, "cataloguing streams (containers, versions, filings, ACLs)");
    let max = max_parent_lines;
    let go = send_stream(repo, &sid, snap, containers, modes[0], max, tx).await?
        && send_stream(repo, &sid, snap, versions, modes[1], max, tx).await?
        && send_stream(repo, &sid, snap, filings, modes[2], max, tx).await?
        && send_stream(repo, &sid, snap, acls, modes[3], max, tx).await?;
    if !go {
        return Ok(false);
    }
    if let Some(meta) = snap.manifest.streams.get(STREAM_SKIPPED) {
        let mut records =
            std::pin::pin!(repo.read_meta_stream::<SkippedRecord>(STREAM_SKIPPED, meta));
        while let Some(r) = records.next().await {
            let r = r.map_err(|source| repo_err(&sid, source))?;
            let row = Row::Skipped(SkippedRow {
                object: r.object,
                reason: format!("{}: {}", r.action, r.reason),
            });
            if tx.send(row).await.is_err() {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn repo_err(snapshot: &SnapshotId, source: RepoError) -> SyncError {
    SyncError::Repo {
        snapshot: snapshot.to_string(),
        source: Box::new(source),
    }
}

async fn send_stream<T: DeserializeOwned>(
    repo: &Repository<Indexed>,
    sid: &SnapshotId,
    snap: &Snapshot,
    spec: Spec<T>,
    mode: Mode<'_>,
    max_parent_lines: u64,
    tx: &mpsc::Sender<Row>,
) -> Result<bool, SyncError> {
    let parse = |index: u64, line: &[u8]| -> Result<T, SyncError> {
        serde_json::from_slice(line).map_err(|e| SyncError::Record {
            snapshot: *sid,
            stream: spec.name,
            problem: format!("record {index}: {e}"),
        })
    };
    let bad = |index: u64, problem: String| SyncError::Record {
        snapshot: *sid,
        stream: spec.name,
        problem: format!("record {index}: {problem}"),
    };
    let mut parent_lines = Lines::default();
    // Blobs both streams hold (a blob id names its bytes) hold the same lines on both sides:
    // they cancel out and are not read at all; only the differing blobs are compared by line.
    let new_meta = snap.manifest.streams.get(spec.name);
    let (old_only, mut new_only) = match (mode, new_meta) {
        (Mode::Delta(old), Some(new)) => differing_blobs(old, new),
        (Mode::Delta(old), None) => (old.clone(), MetaRef::default()),
        (_, new) => (MetaRef::default(), new.cloned().unwrap_or_default()),
    };
    let mut delta = false;
    match mode {
        Mode::Full => {}
        Mode::Carry => return Ok(tx.send(Row::CarryOver(spec.kind)).await.is_ok()),
        Mode::Delta(_) => {
            let mut too_many = false;
            let mut blobs = std::pin::pin!(repo.read_meta_blobs(&old_only));
            'read: while let Some(blob) = blobs.next().await {
                let blob = blob.map_err(|source| repo_err(sid, source))?;
                for line in lines(&blob) {
                    parent_lines.add(line_hash(line));
                    if parent_lines.left > max_parent_lines {
                        too_many = true;
                        break 'read;
                    }
                }
            }
            if too_many {
                tracing::info!(
                    snapshot = %sid,
                    stream = spec.name,
                    max_parent_lines,
                    "more of the parent's lines differ than are compared in memory: loading the stream in full"
                );
                parent_lines = Lines::default();
                new_only = new_meta.cloned().unwrap_or_default();
            } else {
                delta = true;
                if tx.send(Row::CarryOver(spec.kind)).await.is_err() {
                    return Ok(false);
                }
            }
        }
    }
    if new_meta.is_some() {
        let mut index = 0u64;
        let mut blobs = std::pin::pin!(repo.read_meta_blobs(&new_only));
        while let Some(blob) = blobs.next().await {
            let blob = blob.map_err(|source| repo_err(sid, source))?;
            for line in lines(&blob) {
                index += 1;
                if delta && parent_lines.take(line_hash(line)) {
                    continue;
                }
                let row = (spec.row)(parse(index, line)?).map_err(|e| bad(index, e))?;
                if tx.send(row).await.is_err() {
                    return Ok(false);
                }
            }
        }
    }
    // Lines of the parent left over: items changed (already replaced) or removed since.
    if delta && parent_lines.left > 0 {
        let mut index = 0u64;
        let mut blobs = std::pin::pin!(repo.read_meta_blobs(&old_only));
        while let Some(blob) = blobs.next().await {
            let blob = blob.map_err(|source| repo_err(sid, source))?;
            for line in lines(&blob) {
                index += 1;
                if !parent_lines.take(line_hash(line)) {
                    continue;
                }
                let key = (spec.key)(parse(index, line)?).map_err(|e| bad(index, e))?;
                if tx.send(Row::Drop(key)).await.is_err() {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

/// The blobs of `old` and of `new` once the blobs they share (counted with multiplicity) are
/// taken out of both, in stream order.
fn differing_blobs(old: &MetaRef, new: &MetaRef) -> (MetaRef, MetaRef) {
    let mut in_new: HashMap<BlobId, usize> = HashMap::new();
    for b in &new.blobs {
        *in_new.entry(*b).or_default() += 1;
    }
    let mut shared: HashMap<BlobId, usize> = HashMap::new();
    let mut old_only = MetaRef::default();
    for b in &old.blobs {
        match in_new.get_mut(b) {
            Some(n) if *n > 0 => {
                *n -= 1;
                *shared.entry(*b).or_default() += 1;
            }
            _ => old_only.blobs.push(*b),
        }
    }
    let mut new_only = MetaRef::default();
    for b in &new.blobs {
        match shared.get_mut(b) {
            Some(n) if *n > 0 => *n -= 1,
            _ => new_only.blobs.push(*b),
        }
    }
    (old_only, new_only)
}

#[cfg(test)]
mod blob_tests {
    use super::*;

    #[test]
    fn shared_blobs_cancel_out_with_their_multiplicity() {
        let b = |i: u8| BlobId::of(&[i]);
        let old = MetaRef {
            records: 0,
            bytes: 0,
            blobs: vec![b(1), b(2), b(2), b(3)],
        };
        let new = MetaRef {
            records: 0,
            bytes: 0,
            blobs: vec![b(2), b(4), b(1), b(1)],
        };
        let (o, n) = differing_blobs(&old, &new);
        assert_eq!(o.blobs, vec![b(2), b(3)]);
        assert_eq!(n.blobs, vec![b(4), b(1)]);
    }
}
