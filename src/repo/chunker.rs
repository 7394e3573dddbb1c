//! Content-defined chunking (FastCDC 2020) over a byte stream, with bounded buffering.
//!
//! A chunk's cut point depends only on the bytes from its start up to `max_size` further on,
//! so the chunker only cuts when it holds at least `max_size` bytes (or the input has ended):
//! the result is the same as chunking the whole input at once, and the buffer never holds
//! more than `max_size` plus one input piece.

use bytes::{Bytes, BytesMut};
use fastcdc::v2020::FastCDC;

use crate::repo::config::ChunkerParams;

pub struct Chunker {
    params: ChunkerParams,
    buf: BytesMut,
}

impl Chunker {
    pub fn new(params: ChunkerParams) -> Self {
        Self {
            params,
            buf: BytesMut::new(),
        }
    }

    /// Appends input bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered and not yet cut.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True when [`Chunker::next_chunk`] with `eof = false` can yield a chunk.
    pub fn ready(&self) -> bool {
        self.buf.len() >= self.params.max_size as usize
    }

    /// The next complete chunk: with `eof = false` only once `max_size` bytes are buffered;
    /// with `eof = true` whatever remains, cut as the whole-input chunker would.
    pub fn next_chunk(&mut self, eof: bool) -> Option<Bytes> {
        if self.buf.is_empty() || (!eof && !self.ready()) {
            return None;
        }
        let p = self.params;
        let cdc = FastCDC::new(&self.buf, p.min_size, p.avg_size, p.max_size);
        let (_, cut) = cdc.cut(0, self.buf.len());
        let cut = if cut == 0 { self.buf.len() } else { cut };
        Some(self.buf.split_to(cut).freeze())
    }

    /// Chunks a whole in-memory input (tests, benchmarks).
    pub fn chunk_all(params: ChunkerParams, data: &[u8]) -> Vec<Bytes> {
        let mut c = Chunker::new(params);
        c.push(data);
        let mut out = Vec::new();
        while let Some(ch) = c.next_chunk(true) {
            out.push(ch);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ChunkerParams {
        ChunkerParams {
            min_size: 1024,
            avg_size: 4096,
            max_size: 16384,
        }
    }

    fn data(n: usize, seed: u64) -> Vec<u8> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..n).map(|_| rng.u8(..)).collect()
    }

    #[test]
    fn streaming_equals_whole_input() {
        let d = data(300_000, 7);
        let whole: Vec<usize> = FastCDC::new(&d, 1024, 4096, 16384)
            .map(|c| c.length)
            .collect();
        for piece in [1usize, 100, 5000, 70_000] {
            let mut c = Chunker::new(params());
            let mut lens = Vec::new();
            for p in d.chunks(piece) {
                c.push(p);
                while let Some(ch) = c.next_chunk(false) {
                    lens.push(ch.len());
                }
                assert!(c.buffered() < 16384 + piece);
            }
            while let Some(ch) = c.next_chunk(true) {
                lens.push(ch.len());
            }
            assert_eq!(lens, whole, "piece size {piece}");
        }
    }

    #[test]
    fn small_input_is_one_chunk_and_empty_is_none() {
        assert_eq!(Chunker::chunk_all(params(), b"x").len(), 1);
        assert!(Chunker::chunk_all(params(), b"").is_empty());
        let d = data(900, 1);
        assert_eq!(Chunker::chunk_all(params(), &d).len(), 1);
    }

    #[test]
    fn insertion_only_changes_nearby_chunks() {
        let d = data(200_000, 3);
        let mut e = d.clone();
        e.splice(100_000..100_000, b"inserted text".iter().copied());
        let a: std::collections::HashSet<Bytes> =
            Chunker::chunk_all(params(), &d).into_iter().collect();
        let b = Chunker::chunk_all(params(), &e);
        let shared = b.iter().filter(|c| a.contains(*c)).count();
        assert!(shared + 3 >= b.len(), "shared {shared} of {}", b.len());
    }
}
