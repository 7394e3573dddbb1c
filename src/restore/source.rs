//! Reading what a restore writes: every version's bytes from the repository, each blob checked
//! against its BLAKE3 id by the repository reader, and the total checked against the size the
//! snapshot recorded. Nothing unverified leaves this module.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;
use tracing::Instrument;

use super::report::ItemFailure;
use crate::catalog::{PlannedDocument, VersionRow};
use crate::repo::reader::ReadAhead;
use crate::repo::{ContentRef, Indexed, Repository, error_chain};

/// The action named in failures of this module.
pub const READ_ACTION: &str = "reading the backed-up content from the repository";

#[derive(Clone)]
pub struct Source {
    repo: Repository<Indexed>,
    /// Blobs read ahead for the batch being restored.
    pre: Option<Arc<Prefetched>>,
}

fn failure(v: &VersionRow, error: String) -> ItemFailure {
    ItemFailure {
        object: v.id.to_string(),
        action: READ_ACTION.into(),
        error,
    }
}

/// A version's content reference, from the catalog row.
pub fn content_ref(v: &VersionRow) -> Result<ContentRef, ItemFailure> {
    serde_json::from_value(v.content.clone()).map_err(|e| {
        failure(
            v,
            format!("the catalog holds no valid content reference for it: {e}"),
        )
    })
}

/// Checks the running total of a version's bytes against the recorded size.
pub struct SizeCheck<'a> {
    v: &'a VersionRow,
    expected: u64,
    got: u64,
}

impl<'a> SizeCheck<'a> {
    pub fn new(v: &'a VersionRow, content: &ContentRef) -> Self {
        Self {
            v,
            expected: content.size,
            got: 0,
        }
    }
    pub fn add(&mut self, n: usize) -> Result<(), ItemFailure> {
        self.got += n as u64;
        if self.got > self.expected {
            return Err(self.mismatch());
        }
        Ok(())
    }
    pub fn finish(&self) -> Result<(), ItemFailure> {
        if self.got != self.expected || self.expected != self.v.size {
            return Err(self.mismatch());
        }
        Ok(())
    }
    fn mismatch(&self) -> ItemFailure {
        failure(
            self.v,
            format!(
                "content length mismatch: the snapshot records {} bytes (profile size {}), the repository gave {}",
                self.expected, self.v.size, self.got
            ),
        )
    }
}

impl Source {
    pub fn new(repo: Repository<Indexed>) -> Self {
        Self { repo, pre: None }
    }

    /// The verified chunks of one version, in order. A chunk that fails verification ends the
    /// stream with a failure naming the version (and, in the cause, the pack and blob).
    pub fn stream(
        &self,
        v: &VersionRow,
    ) -> Result<(ContentRef, BoxStream<'static, Result<Bytes, String>>), ItemFailure> {
        if let Some(r) = self.in_memory(v) {
            let (content, blobs) = r?;
            let s = futures::stream::iter(blobs.into_iter().map(Ok)).boxed();
            return Ok((content, s));
        }
        let content = content_ref(v)?;
        let s = self
            .repo
            .read_content(&content)
            .map(|r| r.map_err(|e| error_chain(&e)))
            .boxed();
        Ok((content, s))
    }

    /// The whole verified content of one version in memory (uploads to iManage: nothing is
    /// sent before every byte was checked).
    pub async fn read_all(&self, v: &VersionRow) -> Result<Bytes, ItemFailure> {
        let (content, mut s) = self.stream(v)?;
        let mut check = SizeCheck::new(v, &content);
        let mut buf = BytesMut::with_capacity(content.size.min(256 << 20) as usize);
        while let Some(chunk) = s.next().await {
            let chunk = chunk.map_err(|e| failure(v, e))?;
            check.add(chunk.len())?;
            buf.extend_from_slice(&chunk);
        }
        check.finish()?;
        Ok(buf.freeze())
    }

    /// Orders documents by where their first blob lives (pack, offset), so a large restore
    /// reads packs front to back and each pack about once.
    pub fn order_by_pack(&self, docs: &mut [PlannedDocument]) {
        let index = self.repo.index();
        let key = |d: &PlannedDocument| {
            d.versions
                .first()
                .and_then(|v| content_ref(v).ok())
                .and_then(|c| c.blobs.first().and_then(|b| index.get(b)))
                .map(|loc| (loc.pack, loc.offset))
        };
        docs.sort_by_cached_key(key);
    }
}

/// Batches of documents restored together are cut at this many bytes of content (default).
pub const BATCH_BYTES: u64 = 16 * 1024 * 1024;
/// ... or at this many documents.
pub const BATCH_DOCUMENTS: usize = 512;
/// Versions larger than this are not read ahead; they stream from the repository.
pub const PREFETCH_MAX_VERSION: u64 = 64 * 1024 * 1024;
/// Verified blobs read ahead for one batch of documents. A blob whose check failed holds the
/// reason, so only the versions using it fail; a blob whose range could not be read is left
/// out, and its versions are read (and fail, naming the pack) through the ordinary path.
#[derive(Default)]
pub struct Prefetched {
    blobs: ReadAhead,
}

impl Prefetched {
    /// Blobs held (verified or failed).
    pub fn len(&self) -> usize {
        self.blobs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }
}

/// Cuts documents (already in pack order) into batches of about `max_bytes` of content (see
/// [`BATCH_BYTES`]) and at most [`BATCH_DOCUMENTS`] documents; a document is never split.
pub fn batches<T>(
    items: Vec<T>,
    max_bytes: u64,
    doc: impl Fn(&T) -> &PlannedDocument,
) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut cur: Vec<T> = Vec::new();
    let mut bytes = 0u64;
    for it in items {
        let size: u64 = doc(&it).versions.iter().map(|v| v.size).sum();
        if !cur.is_empty() && (bytes + size > max_bytes || cur.len() >= BATCH_DOCUMENTS) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += size;
        cur.push(it);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

impl Source {
    /// The same source, serving the blobs of `pre` from memory.
    pub fn with_prefetched(&self, pre: Arc<Prefetched>) -> Source {
        Source {
            repo: self.repo.clone(),
            pre: Some(pre),
        }
    }

    /// Reads ahead every blob the versions of `docs` need (versions up to
    /// [`PREFETCH_MAX_VERSION`]) with the repository's read-ahead (each pack read about once,
    /// front to back, every blob checked). Runs as its own task so it proceeds while the
    /// previous batch is being written.
    pub fn prefetch(&self, docs: &[&PlannedDocument]) -> tokio::task::JoinHandle<Prefetched> {
        let wanted: Vec<_> = docs
            .iter()
            .flat_map(|d| d.versions.iter())
            .filter(|v| v.size <= PREFETCH_MAX_VERSION)
            .filter_map(|v| content_ref(v).ok())
            .flat_map(|c| c.blobs.into_iter())
            .collect();
        let span = tracing::debug_span!("prefetch", blobs = wanted.len());
        let read = self.repo.read_ahead(wanted);
        tokio::spawn(async move { Prefetched { blobs: read.await } }.instrument(span))
    }

    /// The verified content of `v` if every blob of it was read ahead: its reference and its
    /// blobs in order (size checked), or the failure naming the version. `None` if it was not
    /// read ahead (stream it instead).
    pub fn in_memory(
        &self,
        v: &VersionRow,
    ) -> Option<Result<(ContentRef, Vec<Bytes>), ItemFailure>> {
        let pre = self.pre.as_ref()?;
        let content = match content_ref(v) {
            Ok(c) => c,
            Err(f) => return Some(Err(f)),
        };
        if !content.blobs.iter().all(|b| pre.blobs.contains_key(b)) {
            return None;
        }
        let mut check = SizeCheck::new(v, &content);
        let mut out = Vec::with_capacity(content.blobs.len());
        for b in &content.blobs {
            match &pre.blobs[b] {
                Ok(bytes) => {
                    if let Err(f) = check.add(bytes.len()) {
                        return Some(Err(f));
                    }
                    out.push(bytes.clone());
                }
                Err(e) => return Some(Err(failure(v, e.clone()))),
            }
        }
        Some(check.finish().map(|()| (content, out)))
    }
}
