//! Merging sorted runs of an external sort: records spilled, each run in key order, to
//! temporary files, read back through small buffers and merged in key order with a min-heap.
//! Of records with equal keys, those of an earlier run come first (runs are spilled in push
//! order, so a caller can keep the first or the last pushed). Used by the loaded index's table
//! (`repo::index`) and the backup's table of the last snapshot's versions.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, Read};

/// A record of a run: its sort key, and how it is read back.
pub trait RunRecord: Sized {
    type Key: Ord + Copy;
    fn key(&self) -> Self::Key;
    /// The next record of `r`, `None` at the end of the run.
    fn read_from(r: &mut impl Read) -> io::Result<Option<Self>>;
}

/// A run's next record, ordered for a min-heap by (key, run).
struct Head<R: RunRecord>(R::Key, usize, R);
impl<R: RunRecord> PartialEq for Head<R> {
    fn eq(&self, o: &Self) -> bool {
        (self.0, self.1) == (o.0, o.1)
    }
}
impl<R: RunRecord> Eq for Head<R> {}
impl<R: RunRecord> PartialOrd for Head<R> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<R: RunRecord> Ord for Head<R> {
    fn cmp(&self, o: &Self) -> Ordering {
        (o.0, o.1).cmp(&(self.0, self.1))
    }
}

/// Reads `runs` (each rewound, in key order) and hands every record to `out` in key order
/// (equal keys: earlier runs first). Memory: one 256 KiB buffer and one record per run.
pub fn merge<R: RunRecord>(
    runs: Vec<File>,
    mut out: impl FnMut(R) -> io::Result<()>,
) -> io::Result<()> {
    let mut readers: Vec<BufReader<File>> = runs
        .into_iter()
        .map(|f| BufReader::with_capacity(256 << 10, f))
        .collect();
    let mut heap = BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some(rec) = R::read_from(r)? {
            heap.push(Head(rec.key(), i, rec));
        }
    }
    while let Some(Head(_, i, rec)) = heap.pop() {
        out(rec)?;
        if let Some(next) = R::read_from(&mut readers[i])? {
            heap.push(Head(next.key(), i, next));
        }
    }
    Ok(())
}

/// Reads exactly `buf.len()` bytes, or nothing at the end of the input (`false`); a record cut
/// short is an error.
pub fn read_record(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "a run ends inside a record",
                ));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, Write};

    #[derive(Debug, PartialEq)]
    struct Rec(u32, u8);
    impl RunRecord for Rec {
        type Key = u32;
        fn key(&self) -> u32 {
            self.0
        }
        fn read_from(r: &mut impl Read) -> io::Result<Option<Self>> {
            let mut b = [0u8; 5];
            Ok(read_record(r, &mut b)?
                .then(|| Rec(u32::from_le_bytes(b[..4].try_into().unwrap()), b[4])))
        }
    }

    fn run(recs: &[(u32, u8)]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        for (k, t) in recs {
            f.write_all(&k.to_le_bytes()).unwrap();
            f.write_all(&[*t]).unwrap();
        }
        f.rewind().unwrap();
        f
    }

    #[test]
    fn runs_merge_in_key_order_earlier_runs_first() {
        let runs = vec![
            run(&[(1, 0), (4, 0), (9, 0)]),
            run(&[]),
            run(&[(4, 2), (5, 2)]),
        ];
        let mut got = Vec::new();
        merge::<Rec>(runs, |r| {
            got.push((r.0, r.1));
            Ok(())
        })
        .unwrap();
        assert_eq!(got, vec![(1, 0), (4, 0), (4, 2), (5, 2), (9, 0)]);
        // A run cut inside a record is an error, not a shorter run.
        let cut = run(&[(1, 0)]);
        cut.set_len(3).unwrap();
        assert!(merge::<Rec>(vec![cut], |_| Ok(())).is_err());
    }
}
