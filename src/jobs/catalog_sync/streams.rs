//! Reading a snapshot's metadata streams into catalog rows, as differences from the parent
//! snapshot when the catalog holds that parent last for the library (the nightly case).
//!
//! A range stream (containers, versions, filings, document ACLs) is loaded in one of three ways:
//! - **carry**: the stream is the parent's, byte for byte: every row of the parent is extended
//!   with one statement and nothing is read;
//! - **delta**: the parent's rows are carried over, then only the records whose JSON line is not
//!   in the parent's stream are parsed and added (new or changed items), and the parent's lines
//!   not in this stream are parsed for their keys, whose carried rows are ended (removed items).
//!   Blobs both streams hold cancel out unread. The lines of the other blobs are compared by a
//!   128-bit BLAKE3 prefix (about 40-70 bytes in memory per line held):
//!   - if the parent's differing lines fit in [`MAX_PENDING_LINES`] (few records removed or
//!     changed, however many new ones), they are held, the new side is read once and each of
//!     its lines not among them is parsed and added;
//!   - else both streams are read side by side, line for line: a line waits only until the same
//!     line turns up on the other side, so memory follows how far the streams are out of step,
//!     not their length. A nightly's stream is the lines it listed again followed by the
//!     parent's lines in the parent's order (see `jobs::backup::carry`): what waits is about
//!     twice the lines listed again (those lines, and as many of the parent's read meanwhile),
//!     even when edits are spread over every blob. More than
//!     [`MAX_PENDING_LINES`] waiting lines (the first full listing after a full backup:
//!     download order against crawl order) and the stream is loaded in full instead.
//!
//!   The lines left unmatched are read again, only from the blobs that hold them: new and
//!   changed records are parsed and added, removed ones parsed for their keys;
//! - **full**: every record is parsed and added (first snapshot, a catalog that does not hold
//!   the parent, or too far out of step with it); the catalog tells duplicates and removed items
//!   through a temporary table on disk, so memory does not grow with the stream.

use std::collections::HashMap;

use futures::StreamExt;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::lines::{LineHashes, Pending, Side, line_hash, lines};
use super::{Row, SyncError};
use crate::catalog::{ContainerRow, RowKey, RowKind, SkippedRow, VersionRow};
use crate::jobs::records::{
    ContainerRecord, DocumentAclRecord, FilingRecord, STREAM_CONTAINERS, STREAM_DOCUMENT_ACLS,
    STREAM_FILINGS, STREAM_SKIPPED, STREAM_VERSIONS, SkippedRecord, VersionRecord,
};
use crate::repo::{BlobId, Indexed, MetaRef, RepoError, Repository, Snapshot, SnapshotId};

/// The most lines waiting for their match while a stream is compared with its parent's (up to
/// ~52 MB of hashes as the map grows); beyond, the stream is loaded in full (slower: a look-up
/// per record, but flat in memory). What waits is how far the two streams are out of step (see
/// the module docs), not how many lines differ.
pub(super) const MAX_PENDING_LINES: u64 = 500_000;

/// How one range stream is loaded (see the module docs).
#[derive(Debug, Clone, Copy)]
enum Mode<'a> {
    Full,
    Carry,
    Delta(&'a MetaRef),
}

/// One range stream: its name, row kind, and how a record becomes a row and a key.
struct Spec<T> {
    name: &'static str,
    kind: RowKind,
    row: fn(T) -> Result<Row, String>,
    key: fn(T) -> Result<RowKey, String>,
}

/// Sends the rows of every stream of `snap`: containers, versions, filings, ACLs, skipped.
/// `previous` is the library's newest snapshot in the catalog; `max_pending_lines`, see
/// [`MAX_PENDING_LINES`]. Not complete when the loader stopped listening (its error is
/// reported by the caller).
pub(super) async fn send_rows(
    repo: &Repository<Indexed>,
    snap: &Snapshot,
    previous: Option<&SnapshotId>,
    max_pending_lines: u64,
    tx: &mpsc::Sender<Row>,
) -> Result<SentRows, SyncError> {
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
    let max = max_pending_lines;
    let mut sent = SentRows::default();
    if !(sent.add(send_stream(repo, &sid, snap, containers, modes[0], max, tx).await?)
        && sent.add(send_stream(repo, &sid, snap, versions, modes[1], max, tx).await?)
        && sent.add(send_stream(repo, &sid, snap, filings, modes[2], max, tx).await?)
        && sent.add(send_stream(repo, &sid, snap, acls, modes[3], max, tx).await?))
    {
        return Ok(sent);
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
                return Ok(sent);
            }
        }
    }
    sent.complete = true;
    Ok(sent)
}

/// What [`send_rows`] sent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct SentRows {
    /// Every row was sent (false: the loader stopped listening).
    pub complete: bool,
    /// Streams loaded in full although the parent is catalogued: too far out of step with it.
    pub out_of_step: u32,
}

impl SentRows {
    /// Counts one stream; false when the loader stopped listening.
    fn add(&mut self, s: Sent) -> bool {
        match s {
            Sent::Stopped => return false,
            Sent::OutOfStep => self.out_of_step += 1,
            Sent::Delta | Sent::Full => {}
        }
        true
    }
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
    max_pending_lines: u64,
    tx: &mpsc::Sender<Row>,
) -> Result<Sent, SyncError> {
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
    let new_meta = snap.manifest.streams.get(spec.name);
    let old = match mode {
        Mode::Carry => {
            return Ok(match tx.send(Row::CarryOver(spec.kind)).await {
                Ok(()) => Sent::Delta,
                Err(_) => Sent::Stopped,
            });
        }
        Mode::Delta(old) => old,
        Mode::Full => {
            let all = new_meta.cloned().unwrap_or_default();
            return send_all(repo, sid, &spec, &all, tx, &parse, &bad).await;
        }
    };
    // Blobs both streams hold (a blob id names its bytes) hold the same lines on both sides:
    // they cancel out and are not read at all; only the differing blobs are compared by line.
    let (old_only, new_only) = match new_meta {
        Some(new) => differing_blobs(old, new),
        None => (old.clone(), MetaRef::default()),
    };
    // One side without differing blobs: every line of the other side differs (rows, or drops).
    if old_only.blobs.is_empty() || new_only.blobs.is_empty() {
        if tx.send(Row::CarryOver(spec.kind)).await.is_err() {
            return Ok(Sent::Stopped);
        }
        let side = match old_only.blobs.is_empty() {
            true => (Side::New, &new_only, &[][..]),
            false => (Side::Old, &old_only, &[][..]),
        };
        return send_waiting(repo, sid, &spec, side, None, tx, &parse, &bad).await;
    }
    // The parent's differing lines alone first, if they fit in memory (few records removed or
    // changed, however many new ones): the new side is then read once, and each of its lines
    // not among them is sent at once. Not tried when they are expected to be well over the
    // limit (their blobs' bytes at the stream's bytes per line, with a margin for longer lines
    // than the average): trying costs reading them and holding the limit's hashes for nothing.
    let mut pending = Pending::default();
    let mut olds = LineHashes::new(repo.read_meta_blobs(&old_only));
    let mut fits = expected_lines(repo, old, &old_only) <= max_pending_lines.saturating_mul(2);
    while fits && let Some((h, blob)) = olds.next().await.map_err(|source| repo_err(sid, source))? {
        pending.offer(Side::Old, h, blob);
        if pending.len > max_pending_lines {
            fits = false;
        }
    }
    if fits {
        if tx.send(Row::CarryOver(spec.kind)).await.is_err() {
            return Ok(Sent::Stopped);
        }
        let mut index = 0u64;
        let mut blobs = std::pin::pin!(repo.read_meta_blobs(&new_only));
        while let Some(blob) = blobs.next().await {
            let blob = blob.map_err(|source| repo_err(sid, source))?;
            for line in lines(&blob) {
                index += 1;
                if pending.take(Side::Old, line_hash(line)) {
                    continue;
                }
                let row = (spec.row)(parse(index, line)?).map_err(|e| bad(index, e))?;
                if tx.send(row).await.is_err() {
                    return Ok(Sent::Stopped);
                }
            }
        }
        let old_side = (Side::Old, &old_only, olds.starts.as_slice());
        return send_waiting(
            repo,
            sid,
            &spec,
            old_side,
            Some(&mut pending),
            tx,
            &parse,
            &bad,
        )
        .await;
    }
    // Too many: both sides side by side, line for line; a line waits only until its match.
    drop(olds);
    pending = Pending::default();
    let mut olds = LineHashes::new(repo.read_meta_blobs(&old_only));
    let mut news = LineHashes::new(repo.read_meta_blobs(&new_only));
    let (mut old_done, mut new_done) = (false, false);
    while !(old_done && new_done) {
        if !new_done {
            match news.next().await.map_err(|source| repo_err(sid, source))? {
                Some((h, blob)) => pending.offer(Side::New, h, blob),
                None => new_done = true,
            }
        }
        if !old_done {
            match olds.next().await.map_err(|source| repo_err(sid, source))? {
                Some((h, blob)) => pending.offer(Side::Old, h, blob),
                None => old_done = true,
            }
        }
        if pending.len > max_pending_lines {
            tracing::info!(
                snapshot = %sid,
                stream = spec.name,
                max_pending_lines,
                "the stream is too far out of step with the parent's to compare in memory: loading it in full"
            );
            drop((olds, news, pending));
            let all = new_meta.cloned().unwrap_or_default();
            return Ok(
                match send_all(repo, sid, &spec, &all, tx, &parse, &bad).await? {
                    Sent::Stopped => Sent::Stopped,
                    _ => Sent::OutOfStep,
                },
            );
        }
    }
    if tx.send(Row::CarryOver(spec.kind)).await.is_err() {
        return Ok(Sent::Stopped);
    }
    // The lines left waiting: the new side's are new or changed records, the old side's the
    // records removed (or replaced) since.
    let new_side = (Side::New, &new_only, news.starts.as_slice());
    if send_waiting(
        repo,
        sid,
        &spec,
        new_side,
        Some(&mut pending),
        tx,
        &parse,
        &bad,
    )
    .await?
        == Sent::Stopped
    {
        return Ok(Sent::Stopped);
    }
    let old_side = (Side::Old, &old_only, olds.starts.as_slice());
    send_waiting(
        repo,
        sid,
        &spec,
        old_side,
        Some(&mut pending),
        tx,
        &parse,
        &bad,
    )
    .await
}

/// Sends the lines of one side left waiting in `pending`, read again from only the blobs that
/// hold them (`starts`: the index of each blob's first record), or every line of the side
/// (`None`): rows for the new side, the keys to end for the old side.
#[allow(clippy::too_many_arguments)]
async fn send_waiting<T: DeserializeOwned>(
    repo: &Repository<Indexed>,
    sid: &SnapshotId,
    spec: &Spec<T>,
    (side, meta, starts): (Side, &MetaRef, &[u64]),
    mut pending: Option<&mut Pending>,
    tx: &mpsc::Sender<Row>,
    parse: &impl Fn(u64, &[u8]) -> Result<T, SyncError>,
    bad: &impl Fn(u64, String) -> SyncError,
) -> Result<Sent, SyncError> {
    let wanted: Vec<u32> = match &pending {
        Some(p) => p.blobs(side, meta.blobs.len()),
        None => (0..meta.blobs.len() as u32).collect(),
    };
    let some = MetaRef {
        blobs: wanted.iter().map(|i| meta.blobs[*i as usize]).collect(),
        ..MetaRef::default()
    };
    let mut blobs = std::pin::pin!(repo.read_meta_blobs(&some));
    let mut at = wanted.iter();
    let mut index = 0u64;
    while let Some(blob) = blobs.next().await {
        let blob = blob.map_err(|source| repo_err(sid, source))?;
        if pending.is_some() {
            index = at.next().map(|i| starts[*i as usize]).unwrap_or_default();
        }
        for line in lines(&blob) {
            index += 1;
            if let Some(p) = pending.as_deref_mut()
                && !p.take(side, line_hash(line))
            {
                continue;
            }
            let record = parse(index, line)?;
            let row = match side {
                Side::New => (spec.row)(record),
                Side::Old => (spec.key)(record).map(Row::Drop),
            }
            .map_err(|e| bad(index, e))?;
            if tx.send(row).await.is_err() {
                return Ok(Sent::Stopped);
            }
        }
    }
    Ok(Sent::Delta)
}

/// About how many lines the blobs `some` of the stream `all` hold: their bytes (from the
/// index) at the stream's average bytes per line; exact when `some` is the whole stream.
fn expected_lines(repo: &Repository<Indexed>, all: &MetaRef, some: &MetaRef) -> u64 {
    if some.blobs.len() == all.blobs.len() || all.bytes == 0 {
        return all.records;
    }
    let index = repo.index();
    let bytes: u64 = some
        .blobs
        .iter()
        .filter_map(|b| index.get(b))
        .map(|loc| u64::from(loc.raw_len))
        .sum();
    (u128::from(bytes) * u128::from(all.records) / u128::from(all.bytes)) as u64
}

/// How a stream was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// As the parent's rows carried over and the differences.
    Delta,
    /// Every record: there is no parent to compare with.
    Full,
    /// Every record: the stream is too far out of step with the parent's.
    OutOfStep,
    /// The loader stopped listening.
    Stopped,
}

/// Sends every record of `meta` as a row (a load in full).
async fn send_all<T: DeserializeOwned>(
    repo: &Repository<Indexed>,
    sid: &SnapshotId,
    spec: &Spec<T>,
    meta: &MetaRef,
    tx: &mpsc::Sender<Row>,
    parse: &impl Fn(u64, &[u8]) -> Result<T, SyncError>,
    bad: &impl Fn(u64, String) -> SyncError,
) -> Result<Sent, SyncError> {
    let mut index = 0u64;
    let mut blobs = std::pin::pin!(repo.read_meta_blobs(meta));
    while let Some(blob) = blobs.next().await {
        let blob = blob.map_err(|source| repo_err(sid, source))?;
        for line in lines(&blob) {
            index += 1;
            let row = (spec.row)(parse(index, line)?).map_err(|e| bad(index, e))?;
            if tx.send(row).await.is_err() {
                return Ok(Sent::Stopped);
            }
        }
    }
    Ok(Sent::Full)
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
