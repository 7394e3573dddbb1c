//! The loaded index's blob records, sorted by blob id in an unnamed temporary file (never
//! visible in the directory, gone with the process, crash or not), so that memory does not
//! grow with the repository: 4 KiB blocks of [`PER_BLOCK`] records, the first id of each block
//! kept in memory (32 bytes per 81 blobs), one `pread` of a block per look-up. The operating
//! system's page cache keeps hot blocks; they do not count in the process's memory.
//!
//! Built by an external sort ([`Builder`]): records are buffered up to [`RUN_RECORDS`], sorted
//! and spilled as runs, then merged into the table; of several records of one blob, the one
//! the caller prefers is kept. [`Table::merged`] folds a sorted batch into a new table the
//! same way.

use std::cmp::Ordering;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One blob's record: id, pack number, offset, stored and raw length, kind, compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Slot {
    pub id: [u8; 32],
    pub pack: u32,
    pub offset: u32,
    pub stored_len: u32,
    pub raw_len: u32,
    pub kind: u8,
    pub compression: u8,
}

/// Bytes of a record on disk.
pub(super) const RECORD: usize = 50;
const BLOCK: usize = 4096;
/// Records per block (the rest of a block is padding).
pub(super) const PER_BLOCK: usize = BLOCK / RECORD;
/// Records sorted in memory at a time while building (~32 MiB).
pub(super) const RUN_RECORDS: usize = (32 << 20) / std::mem::size_of::<Slot>();

impl Slot {
    fn encode(&self, out: &mut [u8]) {
        out[..32].copy_from_slice(&self.id);
        out[32..36].copy_from_slice(&self.pack.to_le_bytes());
        out[36..40].copy_from_slice(&self.offset.to_le_bytes());
        out[40..44].copy_from_slice(&self.stored_len.to_le_bytes());
        out[44..48].copy_from_slice(&self.raw_len.to_le_bytes());
        out[48] = self.kind;
        out[49] = self.compression;
    }
    fn decode(b: &[u8]) -> Slot {
        let u = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut id = [0u8; 32];
        id.copy_from_slice(&b[..32]);
        Slot {
            id,
            pack: u(32),
            offset: u(36),
            stored_len: u(40),
            raw_len: u(44),
            kind: b[48],
            compression: b[49],
        }
    }
}

/// Sorted, deduplicated records on disk (see the module docs).
#[derive(Default)]
pub(super) struct Table {
    file: Option<File>,
    len: u64,
    /// The first id of each block.
    fence: Vec<[u8; 32]>,
}

impl Table {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes held (the fence).
    pub fn memory_bytes(&self) -> usize {
        self.fence.capacity() * 32
    }

    fn block(&self, b: usize) -> io::Result<Vec<Slot>> {
        let Some(file) = &self.file else {
            return Ok(Vec::new());
        };
        let n = (self.len as usize - b * PER_BLOCK).min(PER_BLOCK);
        let mut buf = vec![0u8; n * RECORD];
        file.read_exact_at(&mut buf, (b * BLOCK) as u64)?;
        Ok(buf.chunks_exact(RECORD).map(Slot::decode).collect())
    }

    /// The record of `id`, if the table has one.
    pub fn get(&self, id: &[u8; 32]) -> io::Result<Option<Slot>> {
        let b = self.fence.partition_point(|f| f <= id);
        if b == 0 {
            return Ok(None);
        }
        let Some(file) = &self.file else {
            return Ok(None);
        };
        let b = b - 1;
        let n = (self.len as usize - b * PER_BLOCK).min(PER_BLOCK);
        let mut buf = [0u8; PER_BLOCK * RECORD];
        let buf = &mut buf[..n * RECORD];
        file.read_exact_at(buf, (b * BLOCK) as u64)?;
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let r = &buf[mid * RECORD..(mid + 1) * RECORD];
            match r[..32].cmp(id) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(Some(Slot::decode(r))),
            }
        }
        Ok(None)
    }

    /// Every record in id order.
    pub fn iter(&self) -> impl Iterator<Item = io::Result<Slot>> + '_ {
        let blocks = (self.len as usize).div_ceil(PER_BLOCK);
        (0..blocks).map(|b| self.block(b)).flat_map(|r| match r {
            Ok(v) => v.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
    }

    /// This table with the records of `batch` (sorted by id) folded in, as a new table in `dir`:
    /// of two records of one blob, the one `rank` puts first is kept (the table's on a tie).
    pub fn merged(
        &self,
        dir: &Path,
        batch: impl Iterator<Item = io::Result<Slot>>,
        rank: &dyn Fn(&Slot) -> (bool, bool),
    ) -> io::Result<Table> {
        let mut w = TableWriter::new(dir)?;
        let mut old = self.iter().peekable();
        let mut new = batch.peekable();
        loop {
            let take_old = match (old.peek(), new.peek()) {
                (None, None) => break,
                (Some(Ok(a)), Some(Ok(b))) => a.id <= b.id,
                (Some(_), None) | (Some(Err(_)), _) => true,
                (None, Some(_)) | (_, Some(Err(_))) => false,
            };
            let next = if take_old { old.next() } else { new.next() };
            w.push_unique(next.expect("peeked")?, rank)?;
        }
        w.finish()
    }
}

/// Writes sorted records into blocks, keeping the better of adjacent records of one blob.
struct TableWriter {
    out: BufWriter<File>,
    block: Vec<u8>,
    in_block: usize,
    len: u64,
    fence: Vec<[u8; 32]>,
    last: Option<Slot>,
}

impl TableWriter {
    fn new(dir: &Path) -> io::Result<Self> {
        Ok(Self {
            out: BufWriter::with_capacity(1 << 20, tempfile::tempfile_in(dir)?),
            block: vec![0u8; BLOCK],
            in_block: 0,
            len: 0,
            fence: Vec::new(),
            last: None,
        })
    }

    /// Takes `s` (ids in ascending order): a second record of the last blob replaces it when
    /// `rank` prefers it.
    fn push_unique(&mut self, s: Slot, rank: &dyn Fn(&Slot) -> (bool, bool)) -> io::Result<()> {
        match self.last {
            Some(l) if l.id == s.id => {
                if rank(&s) < rank(&l) {
                    self.last = Some(s);
                }
                Ok(())
            }
            Some(l) => {
                self.last = Some(s);
                self.write(l)
            }
            None => {
                self.last = Some(s);
                Ok(())
            }
        }
    }

    fn write(&mut self, s: Slot) -> io::Result<()> {
        if self.in_block == 0 {
            self.fence.push(s.id);
        }
        s.encode(&mut self.block[self.in_block * RECORD..(self.in_block + 1) * RECORD]);
        self.in_block += 1;
        self.len += 1;
        if self.in_block == PER_BLOCK {
            self.out.write_all(&self.block)?;
            self.block.fill(0);
            self.in_block = 0;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<Table> {
        if let Some(l) = self.last.take() {
            self.write(l)?;
        }
        if self.in_block > 0 {
            self.out.write_all(&self.block)?;
        }
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        let mut fence = self.fence;
        fence.shrink_to_fit();
        Ok(Table {
            file: Some(file),
            len: self.len,
            fence,
        })
    }
}

/// Builds a [`Table`] from records in any order (see the module docs).
pub(super) struct Builder {
    dir: PathBuf,
    buf: Vec<Slot>,
    runs: Vec<File>,
    run_records: usize,
}

impl Builder {
    /// A builder whose temporary files go to `dir`.
    pub fn new(dir: &Path) -> Self {
        Self::with_run_records(dir, RUN_RECORDS)
    }

    /// A builder that sorts `run_records` records in memory at a time.
    pub fn with_run_records(dir: &Path, run_records: usize) -> Self {
        Self {
            dir: dir.to_path_buf(),
            buf: Vec::new(),
            runs: Vec::new(),
            run_records: run_records.max(1),
        }
    }

    pub fn push(&mut self, s: Slot) -> io::Result<()> {
        if self.buf.capacity() == 0 {
            // Exactly one run's worth, once: grown by doubling, the buffer would end at the
            // next power of two (~1.8x) and hold the old and the new array while it moves.
            self.buf.reserve_exact(self.run_records);
        }
        self.buf.push(s);
        if self.buf.len() >= self.run_records {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        self.buf.sort_unstable_by_key(|s| s.id);
        let mut out = BufWriter::with_capacity(1 << 20, tempfile::tempfile_in(&self.dir)?);
        let mut rec = [0u8; RECORD];
        for s in self.buf.drain(..) {
            s.encode(&mut rec);
            out.write_all(&rec)?;
        }
        let mut f = out.into_inner().map_err(|e| e.into_error())?;
        f.rewind()?;
        self.runs.push(f);
        Ok(())
    }

    /// The table: every run merged, one record per blob (the one `rank` puts first).
    pub fn finish(mut self, rank: &dyn Fn(&Slot) -> (bool, bool)) -> io::Result<Table> {
        if self.runs.is_empty() {
            // Everything fits in one run: no spill.
            self.buf.sort_unstable_by_key(|s| (s.id, rank(s)));
            let mut w = TableWriter::new(&self.dir)?;
            for s in std::mem::take(&mut self.buf) {
                w.push_unique(s, rank)?;
            }
            return w.finish();
        }
        if !self.buf.is_empty() {
            self.spill()?;
        }
        self.buf = Vec::new();
        let mut w = TableWriter::new(&self.dir)?;
        crate::sorted_runs::merge::<Slot>(std::mem::take(&mut self.runs), |s| {
            w.push_unique(s, rank)
        })?;
        w.finish()
    }
}

impl crate::sorted_runs::RunRecord for Slot {
    type Key = [u8; 32];
    fn key(&self) -> [u8; 32] {
        self.id
    }
    fn read_from(r: &mut impl Read) -> io::Result<Option<Self>> {
        let mut rec = [0u8; RECORD];
        Ok(crate::sorted_runs::read_record(r, &mut rec)?.then(|| Slot::decode(&rec)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(i: u32, pack: u32) -> Slot {
        Slot {
            id: *blake3::hash(&i.to_le_bytes()).as_bytes(),
            pack,
            offset: i,
            stored_len: i / 2,
            raw_len: i,
            kind: (i % 2) as u8,
            compression: 1,
        }
    }

    fn no_rank(_: &Slot) -> (bool, bool) {
        (false, false)
    }

    /// Records in any order, spilled in many runs, come back sorted, each found by its id;
    /// an id not there is not found; duplicates keep the copy the rank prefers.
    #[test]
    fn an_external_sort_finds_every_record_and_keeps_the_preferred_copy() {
        let dir = tempfile::tempdir().unwrap();
        for run in [7, 1000, RUN_RECORDS] {
            let mut b = Builder::with_run_records(dir.path(), run);
            for i in (0..5000u32).rev() {
                b.push(slot(i, 1)).unwrap();
            }
            // A second copy of every tenth blob, in pack 2 (preferred) or pack 3 (not).
            for i in (0..5000u32).step_by(10) {
                b.push(slot(i, if i % 20 == 0 { 2 } else { 3 })).unwrap();
            }
            let rank = |s: &Slot| (s.pack == 1 && s.offset.is_multiple_of(20), s.pack == 3);
            let t = b.finish(&rank).unwrap();
            assert_eq!(t.len(), 5000, "run {run}");
            let all: Vec<Slot> = t.iter().collect::<io::Result<_>>().unwrap();
            assert!(all.windows(2).all(|w| w[0].id < w[1].id), "sorted, unique");
            for i in 0..5000u32 {
                let got = t.get(&slot(i, 0).id).unwrap().expect("found");
                let want_pack = if i % 20 == 0 { 2 } else { 1 };
                assert_eq!(
                    (got.pack, got.offset, got.kind),
                    (want_pack, i, (i % 2) as u8),
                    "{i}"
                );
            }
            assert_eq!(t.get(&slot(5001, 0).id).unwrap(), None);
            assert_eq!(t.get(&[0u8; 32]).unwrap(), None);
            assert_eq!(t.get(&[0xffu8; 32]).unwrap(), None);
        }
        // Nothing is left in the directory: the files are unnamed.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_batch_folds_into_a_table() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Builder::new(dir.path());
        for i in (0..3000u32).step_by(2) {
            b.push(slot(i, 1)).unwrap();
        }
        let t = b.finish(&no_rank).unwrap();
        let mut batch: Vec<Slot> = (1..3000u32).step_by(2).map(|i| slot(i, 2)).collect();
        batch.push(slot(0, 9));
        batch.sort_by_key(|s| s.id);
        let rank = |s: &Slot| (s.pack == 1, false);
        let m = t
            .merged(dir.path(), batch.into_iter().map(Ok), &rank)
            .unwrap();
        assert_eq!(m.len(), 3000);
        for i in 0..3000u32 {
            let got = m.get(&slot(i, 0).id).unwrap().expect("found");
            let want = if i == 0 {
                9
            } else if i % 2 == 0 {
                1
            } else {
                2
            };
            assert_eq!(got.pack, want, "{i}");
        }
        assert_eq!(Table::default().get(&slot(1, 0).id).unwrap(), None);
        assert_eq!(Table::default().iter().count(), 0);
    }
}
