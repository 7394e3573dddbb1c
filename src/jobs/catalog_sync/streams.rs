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

fn line_hash(line: &[u8]) -> u128 {
    let h = blake3::hash(line);
    u128::from_le_bytes(h.as_bytes()[..16].try_into().expect("16 bytes"))
}

/// The two streams compared: the parent's and the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Old,
    New,
}

/// Lines of one side not matched (yet) by an equal line of the other side. A hash is never
/// waiting on both sides at once: a line first takes a waiting line of the other side, so what
/// is left at the end is the multiset difference, whatever the order of the lines.
#[derive(Default)]
struct Pending {
    lines: HashMap<u128, Waiting>,
    len: u64,
    /// A side had a line twice: its copies may be in any of its blobs.
    repeated: [bool; 2],
}

#[derive(Clone, Copy)]
struct Waiting {
    side: Side,
    count: u32,
    /// The blob of its first copy (index among the side's differing blobs).
    blob: u32,
}

impl Pending {
    /// A line of `side` in blob `blob`: takes a waiting equal line of the other side, or waits.
    fn offer(&mut self, side: Side, h: u128, blob: u32) {
        use std::collections::hash_map::Entry;
        match self.lines.entry(h) {
            Entry::Occupied(mut e) if e.get().side == side => {
                e.get_mut().count += 1;
                self.repeated[side as usize] = true;
                self.len += 1;
            }
            Entry::Occupied(mut e) => {
                self.len -= 1;
                if e.get().count == 1 {
                    e.remove();
                } else {
                    e.get_mut().count -= 1;
                }
            }
            Entry::Vacant(e) => {
                e.insert(Waiting {
                    side,
                    count: 1,
                    blob,
                });
                self.len += 1;
            }
        }
    }

    /// Takes one waiting line of `side` equal to `h`, if there is one.
    fn take(&mut self, side: Side, h: u128) -> bool {
        match self.lines.get_mut(&h) {
            Some(w) if w.side == side => {
                w.count -= 1;
                if w.count == 0 {
                    self.lines.remove(&h);
                }
                self.len -= 1;
                true
            }
            _ => false,
        }
    }

    /// The blobs of `side` (of `count`) holding a waiting line, in stream order.
    fn blobs(&self, side: Side, count: usize) -> Vec<u32> {
        if self.repeated[side as usize] {
            return (0..count as u32).collect();
        }
        let mut b: Vec<u32> = self
            .lines
            .values()
            .filter(|w| w.side == side)
            .map(|w| w.blob)
            .collect();
        b.sort_unstable();
        b.dedup();
        b
    }
}

/// The lines of a stream's blobs one by one, as hashes with the index of their blob; records
/// where each blob's lines start (for the record numbers of errors).
struct LineHashes<S> {
    blobs: std::pin::Pin<Box<S>>,
    blob: bytes::Bytes,
    at: usize,
    /// Index of the first record of each blob read so far.
    starts: Vec<u64>,
    records: u64,
}

impl<S: futures::Stream<Item = Result<bytes::Bytes, RepoError>>> LineHashes<S> {
    fn new(blobs: S) -> Self {
        Self {
            blobs: Box::pin(blobs),
            blob: bytes::Bytes::new(),
            at: 0,
            starts: Vec::new(),
            records: 0,
        }
    }

    /// The next line's hash and blob, `None` at the end of the stream.
    async fn next(&mut self) -> Result<Option<(u128, u32)>, RepoError> {
        loop {
            while self.at < self.blob.len() {
                let rest = &self.blob[self.at..];
                let len = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
                let line = &rest[..len];
                self.at += len + 1;
                if !line.is_empty() {
                    self.records += 1;
                    let blob = (self.starts.len() - 1) as u32;
                    return Ok(Some((line_hash(line), blob)));
                }
            }
            match self.blobs.next().await {
                Some(b) => {
                    self.blob = b?;
                    self.at = 0;
                    self.starts.push(self.records);
                }
                None => return Ok(None),
            }
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

    /// Lines are hashed one by one across blobs, each with the index of its blob, and each
    /// blob's first record is numbered (empty lines skipped, a last line without `\n` kept).
    #[tokio::test]
    async fn line_hashes_number_blobs_and_records() {
        let blobs = [&b"a\nb\n"[..], b"\nc", b"d\ne\nf\n"];
        let stream =
            futures::stream::iter(blobs.map(|b| Ok::<_, RepoError>(bytes::Bytes::from_static(b))));
        let mut l = LineHashes::new(stream);
        let mut got = Vec::new();
        while let Some((h, blob)) = l.next().await.unwrap() {
            got.push((h, blob));
        }
        let want: Vec<(u128, u32)> = [("a", 0), ("b", 0), ("c", 1), ("d", 2), ("e", 2), ("f", 2)]
            .iter()
            .map(|(t, b)| (line_hash(t.as_bytes()), *b))
            .collect();
        assert_eq!(got, want);
        assert_eq!(l.starts, vec![0, 2, 3]);
    }

    /// The blobs read again are those of the lines left waiting, in order and once each; a line
    /// matched and then waiting again (a later copy) names the later copy's blob; a side that
    /// had a line twice waiting at once is read again whole.
    #[test]
    fn waiting_lines_name_the_blobs_to_read_again() {
        let mut p = Pending::default();
        p.offer(Side::Old, 1, 4);
        p.offer(Side::Old, 2, 1);
        p.offer(Side::New, 3, 0);
        p.offer(Side::Old, 5, 4);
        p.offer(Side::New, 1, 2); // matches the old line 1 (blob 4)
        p.offer(Side::New, 1, 6); // waits again, in new blob 6
        assert_eq!(p.blobs(Side::Old, 8), vec![1, 4]);
        assert_eq!(p.blobs(Side::New, 8), vec![0, 6]);
        p.offer(Side::Old, 7, 3);
        p.offer(Side::Old, 7, 5); // twice at once on the old side
        assert_eq!(p.blobs(Side::Old, 8), (0..8).collect::<Vec<_>>());
        assert_eq!(p.blobs(Side::New, 8), vec![0, 6]);
    }

    /// Lines offered side by side in any order leave exactly the multiset difference waiting
    /// (new lines not in the old stream, and old lines not in the new one, with multiplicity),
    /// and a nightly-like pair (new = a few lines listed again, then the old lines in order
    /// minus a few) never has more waiting than about the lines listed again.
    #[test]
    fn waiting_lines_are_the_multiset_difference_and_few_when_in_step() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for round in 0..50 {
            let old: Vec<u128> = (0..200).map(|_| u128::from(rand(150))).collect();
            let mut new: Vec<u128> = old.iter().copied().filter(|_| rand(10) != 0).collect();
            for _ in 0..rand(30) {
                new.insert(rand(new.len() as u64 + 1) as usize, u128::from(rand(300)));
            }
            if round % 2 == 1 {
                new.reverse();
            }
            let mut p = Pending::default();
            for i in 0..old.len().max(new.len()) {
                if let Some(h) = new.get(i) {
                    p.offer(Side::New, *h, 0);
                }
                if let Some(h) = old.get(i) {
                    p.offer(Side::Old, *h, 0);
                }
            }
            let count = |v: &[u128]| {
                let mut m: HashMap<u128, i64> = HashMap::new();
                for h in v {
                    *m.entry(*h).or_default() += 1;
                }
                m
            };
            let (o, n) = (count(&old), count(&new));
            let mut expected = 0u64;
            for h in o
                .keys()
                .chain(n.keys())
                .collect::<std::collections::BTreeSet<_>>()
            {
                let d = n.get(h).copied().unwrap_or(0) - o.get(h).copied().unwrap_or(0);
                let (side, left) = if d > 0 {
                    (Side::New, d)
                } else {
                    (Side::Old, -d)
                };
                for _ in 0..left {
                    assert!(p.take(side, *h), "round {round}: {h} {side:?}");
                }
                assert!(!p.take(side, *h), "round {round}: {h} left over");
                expected += left as u64;
            }
            assert_eq!(p.len, 0, "round {round}: expected {expected} waiting");
        }
        // In step: 20 lines listed again at the head, 5 removed further on, 10,000 kept.
        let old: Vec<u128> = (0..10_000).collect();
        let mut new: Vec<u128> = (1_000_000..1_000_020).collect();
        new.extend(old.iter().copied().filter(|h| h % 2_000 != 7));
        let (mut p, mut most) = (Pending::default(), 0);
        for i in 0..new.len().max(old.len()) {
            if let Some(h) = new.get(i) {
                p.offer(Side::New, *h, 0);
            }
            if let Some(h) = old.get(i) {
                p.offer(Side::Old, *h, 0);
            }
            most = most.max(p.len);
        }
        assert!(most <= 50, "{most} waiting at most");
        assert_eq!(p.len, 25, "20 new and 5 removed lines are left");
    }

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
