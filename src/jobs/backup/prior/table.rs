//! The last snapshot's versions, sorted by (document number, version) in an unnamed temporary
//! file (never visible in the directory, gone with the process, crash or not), so that a
//! backup's memory does not grow with the library: records of variable length (a version's
//! blob list) in blocks of about [`BLOCK`] bytes, the first key, offset and ordinal of each block
//! kept in memory (~24 bytes per ~250 versions), one `pread` of a block per look-up. The
//! operating system's page cache keeps hot blocks; they do not count in the process's memory.
//!
//! Built by an external sort ([`Builder`]): records are buffered up to [`RUN_BYTES`], sorted and
//! spilled as runs, then merged into the table. Of two records with one key, the one pushed
//! last is kept (as a map insert would). Each record has an ordinal (its rank in key order):
//! a caller can keep one bit per version instead of a set of keys.
//!
//! Record: `len` (u32, of what follows) || document number (u64) || version (u32) || payload.

use std::cmp::Ordering;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// (document number, version).
pub type Key = (u64, u32);

/// A block is closed once it holds this many bytes (at a record boundary).
pub const BLOCK: usize = 16 * 1024;
/// Record bytes sorted in memory at a time while building.
pub const RUN_BYTES: usize = 32 << 20;
const HEAD: usize = 4 + 8 + 4;

#[derive(Debug, Clone, Copy)]
struct Fence {
    first: Key,
    offset: u64,
    ordinal: u64,
}

/// Sorted records on disk (see the module docs). Clones share the file.
#[derive(Debug, Clone, Default)]
pub struct Table {
    file: Option<Arc<File>>,
    len: u64,
    bytes: u64,
    fence: Vec<Fence>,
}

/// One record found: its ordinal and payload.
pub struct Found {
    pub ordinal: u64,
    pub payload: Vec<u8>,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("prior table: {what}"))
}

/// Splits `buf` into its records: (key, payload) in order.
fn records(buf: &[u8]) -> impl Iterator<Item = io::Result<(Key, &[u8])>> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at >= buf.len() {
            return None;
        }
        let Some(head) = buf.get(at..at + HEAD) else {
            at = buf.len();
            return Some(Err(bad("a record head is cut")));
        };
        let len = u32::from_le_bytes(head[..4].try_into().expect("4")) as usize;
        let n = u64::from_le_bytes(head[4..12].try_into().expect("8"));
        let v = u32::from_le_bytes(head[12..16].try_into().expect("4"));
        let end = at + 4 + len;
        let Some(payload) = buf.get(at + HEAD..end).filter(|_| len >= 12) else {
            at = buf.len();
            return Some(Err(bad("a record is cut")));
        };
        at = end;
        Some(Ok(((n, v), payload)))
    })
}

impl Table {
    /// Number of records.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes held (the fence).
    pub fn memory_bytes(&self) -> usize {
        self.fence.capacity() * std::mem::size_of::<Fence>()
    }

    fn block(&self, b: usize) -> io::Result<Vec<u8>> {
        let Some(file) = &self.file else {
            return Ok(Vec::new());
        };
        let start = self.fence[b].offset;
        let end = self.fence.get(b + 1).map_or(self.bytes, |f| f.offset);
        let mut buf = vec![0u8; (end - start) as usize];
        file.read_exact_at(&mut buf, start)?;
        Ok(buf)
    }

    /// The record of `key`, if the table has one.
    pub fn get(&self, key: Key) -> io::Result<Option<Found>> {
        let b = self.fence.partition_point(|f| f.first <= key);
        if b == 0 {
            return Ok(None);
        }
        let b = b - 1;
        let buf = self.block(b)?;
        for (i, r) in records(&buf).enumerate() {
            let (k, payload) = r?;
            match k.cmp(&key) {
                Ordering::Less => continue,
                Ordering::Equal => {
                    return Ok(Some(Found {
                        ordinal: self.fence[b].ordinal + i as u64,
                        payload: payload.to_vec(),
                    }));
                }
                Ordering::Greater => break,
            }
        }
        Ok(None)
    }

    /// Every record in key order (one block in memory at a time).
    pub fn iter(&self) -> impl Iterator<Item = io::Result<(Key, Vec<u8>)>> + '_ {
        (0..self.fence.len()).flat_map(move |b| match self.block(b) {
            Ok(buf) => records(&buf)
                .map(|r| r.map(|(k, p)| (k, p.to_vec())))
                .collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
    }
}

/// Writes sorted records into blocks; of adjacent records with one key, the last one is kept.
struct TableWriter {
    out: BufWriter<File>,
    bytes: u64,
    len: u64,
    block_bytes: usize,
    fence: Vec<Fence>,
    pending: Option<(Key, Vec<u8>)>,
}

impl TableWriter {
    fn new(dir: &Path) -> io::Result<Self> {
        Ok(Self {
            out: BufWriter::with_capacity(1 << 20, tempfile::tempfile_in(dir)?),
            bytes: 0,
            len: 0,
            block_bytes: 0,
            fence: Vec::new(),
            pending: None,
        })
    }

    fn push(&mut self, key: Key, payload: &[u8]) -> io::Result<()> {
        match &mut self.pending {
            Some((k, p)) if *k == key => {
                p.clear();
                p.extend_from_slice(payload);
                Ok(())
            }
            _ => {
                if let Some((k, p)) = self.pending.replace((key, payload.to_vec())) {
                    self.write(k, &p)?;
                }
                Ok(())
            }
        }
    }

    fn write(&mut self, key: Key, payload: &[u8]) -> io::Result<()> {
        if self.fence.is_empty() || self.block_bytes >= BLOCK {
            self.fence.push(Fence {
                first: key,
                offset: self.bytes,
                ordinal: self.len,
            });
            self.block_bytes = 0;
        }
        let n = write_record(&mut self.out, key, payload)?;
        self.bytes += n as u64;
        self.block_bytes += n;
        self.len += 1;
        Ok(())
    }

    fn finish(mut self) -> io::Result<Table> {
        if let Some((k, p)) = self.pending.take() {
            self.write(k, &p)?;
        }
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        let mut fence = self.fence;
        fence.shrink_to_fit();
        Ok(Table {
            file: Some(Arc::new(file)),
            len: self.len,
            bytes: self.bytes,
            fence,
        })
    }
}

fn write_record(w: &mut impl Write, (n, v): Key, payload: &[u8]) -> io::Result<usize> {
    let len = u32::try_from(12 + payload.len()).map_err(|_| bad("a record over 4 GiB"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(&n.to_le_bytes())?;
    w.write_all(&v.to_le_bytes())?;
    w.write_all(payload)?;
    Ok(HEAD + payload.len())
}

/// Builds a [`Table`] from records in any order (see the module docs).
pub struct Builder {
    dir: PathBuf,
    arena: Vec<u8>,
    /// (key, push number, start, end in `arena`).
    items: Vec<(Key, u64, usize, usize)>,
    pushed: u64,
    runs: Vec<File>,
    run_bytes: usize,
}

impl Builder {
    /// A builder whose temporary files go to `dir`.
    pub fn new(dir: &Path) -> Self {
        Self::with_run_bytes(dir, RUN_BYTES)
    }

    /// A builder that sorts about `run_bytes` of records in memory at a time.
    pub fn with_run_bytes(dir: &Path, run_bytes: usize) -> Self {
        Self {
            dir: dir.to_path_buf(),
            arena: Vec::new(),
            items: Vec::new(),
            pushed: 0,
            runs: Vec::new(),
            run_bytes: run_bytes.max(1),
        }
    }

    pub fn push(&mut self, key: Key, payload: &[u8]) -> io::Result<()> {
        let start = self.arena.len();
        self.arena.extend_from_slice(payload);
        self.items.push((key, self.pushed, start, self.arena.len()));
        self.pushed += 1;
        if self.arena.len() + self.items.len() * 32 >= self.run_bytes {
            self.spill()?;
        }
        Ok(())
    }

    fn sorted_items(&mut self) -> Vec<(Key, u64, usize, usize)> {
        let mut items = std::mem::take(&mut self.items);
        items.sort_unstable_by_key(|i| (i.0, i.1));
        items
    }

    fn spill(&mut self) -> io::Result<()> {
        let items = self.sorted_items();
        let mut out = BufWriter::with_capacity(1 << 20, tempfile::tempfile_in(&self.dir)?);
        for (k, _, s, e) in items {
            write_record(&mut out, k, &self.arena[s..e])?;
        }
        let mut f = out.into_inner().map_err(|e| e.into_error())?;
        std::io::Seek::rewind(&mut f)?;
        self.runs.push(f);
        self.arena.clear();
        Ok(())
    }

    /// The table: every run merged in key order (of one key, the record pushed last).
    pub fn finish(mut self) -> io::Result<Table> {
        let mut w = TableWriter::new(&self.dir)?;
        if self.runs.is_empty() {
            for (k, _, s, e) in self.sorted_items() {
                w.push(k, &self.arena[s..e])?;
            }
            return w.finish();
        }
        if !self.items.is_empty() {
            self.spill()?;
        }
        self.arena = Vec::new();
        // Runs are in push order: of equal keys, the later run's record comes later.
        crate::sorted_runs::merge::<RunItem>(std::mem::take(&mut self.runs), |RunItem(k, p)| {
            w.push(k, &p)
        })?;
        w.finish()
    }
}

/// A record read back from a run.
struct RunItem(Key, Vec<u8>);

impl crate::sorted_runs::RunRecord for RunItem {
    type Key = Key;
    fn key(&self) -> Key {
        self.0
    }
    fn read_from(r: &mut impl Read) -> io::Result<Option<Self>> {
        let mut head = [0u8; HEAD];
        if !crate::sorted_runs::read_record(r, &mut head)? {
            return Ok(None);
        }
        let len = u32::from_le_bytes(head[..4].try_into().expect("4")) as usize;
        let n = u64::from_le_bytes(head[4..12].try_into().expect("8"));
        let v = u32::from_le_bytes(head[12..16].try_into().expect("4"));
        let mut payload = vec![0u8; len.checked_sub(12).ok_or_else(|| bad("short record"))?];
        r.read_exact(&mut payload)?;
        Ok(Some(RunItem((n, v), payload)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(n: u64, v: u32, tag: u8) -> Vec<u8> {
        // Variable lengths, some larger than a block.
        let len =
            ((n * 7 + v as u64) % 97) as usize + if n.is_multiple_of(500) { BLOCK + 3 } else { 0 };
        let mut p = vec![tag; len];
        p.extend_from_slice(&n.to_le_bytes());
        p
    }

    /// Records in any order, spilled in many runs, come back sorted with dense ordinals, each
    /// found by its key; absent keys are not found; of two records with one key the later wins.
    #[test]
    fn an_external_sort_finds_every_record_and_keeps_the_last_push() {
        let dir = tempfile::tempdir().unwrap();
        for run_bytes in [300, 50_000, RUN_BYTES] {
            let mut b = Builder::with_run_bytes(dir.path(), run_bytes);
            let mut keys = Vec::new();
            for n in (1..=3000u64).rev() {
                for v in 1..=(n % 3 + 1) as u32 {
                    keys.push((n, v));
                    b.push((n, v), &payload(n, v, 1)).unwrap();
                }
            }
            // A second record for every 7th document's first version, pushed later: it wins.
            for n in (7..=3000u64).step_by(7) {
                b.push((n, 1), &payload(n, 1, 2)).unwrap();
            }
            let t = b.finish().unwrap();
            keys.sort();
            assert_eq!(t.len(), keys.len() as u64, "run {run_bytes}");
            let all: Vec<(Key, Vec<u8>)> = t.iter().collect::<io::Result<_>>().unwrap();
            assert_eq!(all.iter().map(|r| r.0).collect::<Vec<_>>(), keys);
            for (ordinal, &(n, v)) in keys.iter().enumerate() {
                let f = t.get((n, v)).unwrap().expect("found");
                assert_eq!(f.ordinal, ordinal as u64);
                let tag = if v == 1 && n.is_multiple_of(7) { 2 } else { 1 };
                assert_eq!(f.payload, payload(n, v, tag), "{n}.{v}");
            }
            for absent in [(0, 1), (1, 9), (3001, 1), (u64::MAX, u32::MAX)] {
                assert!(t.get(absent).unwrap().is_none(), "{absent:?}");
            }
        }
        // The files are unnamed: nothing is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let empty = Table::default();
        assert!(empty.get((1, 1)).unwrap().is_none());
        assert_eq!(empty.iter().count(), 0);
        let empty = Builder::new(dir.path()).finish().unwrap();
        assert_eq!((empty.len(), empty.iter().count()), (0, 0));
    }
}
