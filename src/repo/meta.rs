//! Metadata streams: JSON records grouped into blobs, so a snapshot of a million versions is a
//! list of blob ids, never one giant JSON value in memory.
//!
//! Each blob holds whole records as JSON lines (one compact JSON value + `\n`). A blob is cut
//! after a record once it holds at least [`META_MIN`] bytes and the record's hash hits a
//! 1-in-[`META_CUT_MODULUS`] pattern, or once it reaches [`META_MAX`]: boundaries follow the
//! records, so an unchanged run of records between two backups yields the same blobs (dedup).

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::repo::error::{RepoError, Result};
use crate::repo::id::BlobId;
use crate::repo::snapshot::MetaRef;
use crate::repo::writer::BackupSession;

pub const META_MIN: usize = 768 * 1024;
pub const META_MAX: usize = 2 * 1024 * 1024;
pub const META_CUT_MODULUS: u32 = 128;

/// Writes one named metadata stream into a backup session.
pub struct MetaStreamWriter<'a> {
    session: &'a BackupSession,
    name: String,
    buf: Vec<u8>,
    out: MetaRef,
}

fn cut_hash(line: &[u8]) -> u32 {
    // FNV-1a: cheap and stable; only decides blob boundaries.
    let mut h: u32 = 0x811c_9dc5;
    for b in line {
        h ^= *b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

impl<'a> MetaStreamWriter<'a> {
    pub fn new(session: &'a BackupSession, name: impl Into<String>) -> Self {
        Self {
            session,
            name: name.into(),
            buf: Vec::new(),
            out: MetaRef::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Appends one record; stores a blob when a boundary is reached.
    pub async fn push<T: Serialize + ?Sized>(&mut self, record: &T) -> Result<()> {
        let start = self.buf.len();
        serde_json::to_writer(&mut self.buf, record).map_err(|source| RepoError::Record {
            stream: self.name.clone(),
            index: self.out.records,
            source,
        })?;
        self.end_record(start).await
    }

    /// Appends one record already serialized as a compact JSON line (without its `\n`), e.g.
    /// copied from an earlier snapshot's stream: the same lines give the same blobs.
    pub async fn push_raw(&mut self, line: &[u8]) -> Result<()> {
        let start = self.buf.len();
        self.buf.extend_from_slice(line);
        self.end_record(start).await
    }

    async fn end_record(&mut self, start: usize) -> Result<()> {
        self.buf.push(b'\n');
        self.out.records += 1;
        let len = self.buf.len();
        let cut = len >= META_MAX
            || (len >= META_MIN && cut_hash(&self.buf[start..]).is_multiple_of(META_CUT_MODULUS));
        if cut {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = Bytes::from(std::mem::take(&mut self.buf));
        self.out.bytes += data.len() as u64;
        let id = self.session.store_meta_blob(data).await?;
        self.out.blobs.push(id);
        Ok(())
    }

    /// Stores the last blob and returns the stream's reference (for the snapshot draft).
    pub async fn finish(mut self) -> Result<MetaRef> {
        self.flush().await?;
        Ok(self.out)
    }
}

/// Splits one metadata blob into records.
pub fn parse_records<T: DeserializeOwned>(
    stream: &str,
    first_index: u64,
    blob: &[u8],
) -> Result<Vec<T>> {
    blob.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_slice(line).map_err(|source| RepoError::Record {
                stream: stream.to_string(),
                index: first_index + i as u64,
                source,
            })
        })
        .collect()
}

/// Turns a stream of verified metadata blobs into a stream of records.
pub fn records_from_blobs<T, S>(stream: String, blobs: S) -> impl Stream<Item = Result<T>>
where
    T: DeserializeOwned,
    S: Stream<Item = Result<(BlobId, Bytes)>>,
{
    let mut seen = 0u64;
    blobs
        .map(move |r| {
            let (_, bytes) = r?;
            let recs: Vec<T> = parse_records(&stream, seen, &bytes)?;
            seen += recs.len() as u64;
            Ok::<_, RepoError>(futures::stream::iter(recs.into_iter().map(Ok)))
        })
        .try_flatten()
}
