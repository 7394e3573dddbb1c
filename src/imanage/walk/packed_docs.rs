//! Documents in ascending number order, packed: the sorted part of
//! [`KnownDocuments`](super::KnownDocuments), about 2-3 bytes per document instead of 16, so
//! that a crawl of 5 million documents holds ~12 MB for them instead of ~78 MB.
//!
//! Entries are appended in ascending number order. The last [`BLOCK`] or fewer stay unpacked
//! (the tail: the only ones a crawl in order updates); older ones are packed in blocks of
//! exactly [`BLOCK`] entries, each entry two LEB128 varints: the number's distance from the
//! previous entry's (the block's first number is kept whole) and `version * 5 + security`
//! (0 for none, 1-4 for [`DefaultSecurity`]). An entry's ordinal (its rank) never changes, so
//! per-entry flags are bits in a vector beside the blocks.

use crate::imanage::security::DefaultSecurity;

/// Entries per packed block: a look-up decodes at most this many.
const BLOCK: usize = 128;

/// One document: its number, latest version and that version's `default_security`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Doc {
    pub number: u64,
    pub version: u32,
    pub security: Option<DefaultSecurity>,
}

#[derive(Debug, Clone)]
struct Block {
    first: u64,
    bytes: Box<[u8]>,
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub(super) struct PackedDocs {
    blocks: Vec<Block>,
    /// 1..=BLOCK entries once anything was pushed.
    tail: Vec<Doc>,
}

fn security_code(s: Option<DefaultSecurity>) -> u64 {
    match s {
        None => 0,
        Some(DefaultSecurity::Inherit) => 1,
        Some(DefaultSecurity::Public) => 2,
        Some(DefaultSecurity::View) => 3,
        Some(DefaultSecurity::Private) => 4,
    }
}

fn security_of(code: u64) -> Option<DefaultSecurity> {
    match code {
        1 => Some(DefaultSecurity::Inherit),
        2 => Some(DefaultSecurity::Public),
        3 => Some(DefaultSecurity::View),
        4 => Some(DefaultSecurity::Private),
        _ => None,
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The varint at `bytes[*at..]`; blocks are only ever written by [`pack`].
fn get_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = bytes[*at];
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

fn pack(docs: &[Doc]) -> Block {
    let mut bytes = Vec::with_capacity(docs.len() * 3);
    let first = docs[0].number;
    let mut prev = first;
    for d in docs {
        put_varint(&mut bytes, d.number - prev);
        put_varint(
            &mut bytes,
            u64::from(d.version) * 5 + security_code(d.security),
        );
        prev = d.number;
    }
    Block {
        first,
        bytes: bytes.into_boxed_slice(),
    }
}

/// A position in a block's bytes: decodes the next entry.
#[derive(Debug, Clone)]
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    prev: u64,
}

impl Cursor<'_> {
    fn new(b: &Block) -> Cursor<'_> {
        Cursor {
            bytes: &b.bytes,
            at: 0,
            prev: b.first,
        }
    }
}

impl Iterator for Cursor<'_> {
    type Item = Doc;
    fn next(&mut self) -> Option<Doc> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let number = self.prev + get_varint(self.bytes, &mut self.at);
        let code = get_varint(self.bytes, &mut self.at);
        self.prev = number;
        Some(Doc {
            number,
            version: (code / 5) as u32,
            security: security_of(code % 5),
        })
    }
}

impl PackedDocs {
    pub fn len(&self) -> usize {
        self.blocks.len() * BLOCK + self.tail.len()
    }

    pub fn last(&self) -> Option<&Doc> {
        self.tail.last()
    }

    /// Appends `d`, whose number must be above every other's.
    pub fn push(&mut self, d: Doc) {
        debug_assert!(self.last().is_none_or(|l| l.number < d.number));
        if self.tail.len() == BLOCK {
            self.blocks.push(pack(&self.tail));
            self.tail.clear();
        }
        self.tail.push(d);
    }

    /// The ordinal of `number`, if it is here.
    pub fn find(&self, number: u64) -> Option<usize> {
        self.find_entry(number).map(|(i, _)| i)
    }

    /// The ordinal and entry of `number`, if it is here (one block decoded at most).
    pub fn find_entry(&self, number: u64) -> Option<(usize, Doc)> {
        if self.tail.first().is_some_and(|t| t.number <= number) {
            let i = self.tail.binary_search_by_key(&number, |d| d.number).ok()?;
            return Some((self.blocks.len() * BLOCK + i, self.tail[i]));
        }
        let b = self
            .blocks
            .partition_point(|b| b.first <= number)
            .checked_sub(1)?;
        Cursor::new(&self.blocks[b])
            .take_while(|d| d.number <= number)
            .enumerate()
            .find(|(_, d)| d.number == number)
            .map(|(i, d)| (b * BLOCK + i, d))
    }

    /// The entry of ordinal `i` (below [`Self::len`]).
    #[cfg(test)]
    pub fn get(&self, i: usize) -> Doc {
        match self.blocks.get(i / BLOCK) {
            Some(b) => Cursor::new(b).nth(i % BLOCK).expect("a full block"),
            None => self.tail[i - self.blocks.len() * BLOCK],
        }
    }

    /// Sets the version and security of ordinal `i` (its number stays).
    pub fn set(&mut self, i: usize, version: u32, security: Option<DefaultSecurity>) {
        let b = i / BLOCK;
        if b == self.blocks.len() {
            let d = &mut self.tail[i % BLOCK];
            (d.version, d.security) = (version, security);
            return;
        }
        let mut docs: Vec<Doc> = Cursor::new(&self.blocks[b]).collect();
        (docs[i % BLOCK].version, docs[i % BLOCK].security) = (version, security);
        self.blocks[b] = pack(&docs);
    }

    /// Every entry in order, from ordinal `from`.
    pub fn iter_from(&self, from: usize) -> Iter<'_> {
        let packed = self.blocks.len() * BLOCK;
        if from >= packed {
            return Iter {
                docs: self,
                block: self.blocks.len() + 1 + (from - packed),
                cursor: None,
            };
        }
        let mut cursor = Cursor::new(&self.blocks[from / BLOCK]);
        for _ in 0..from % BLOCK {
            cursor.next();
        }
        Iter {
            docs: self,
            block: from / BLOCK,
            cursor: Some(cursor),
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0)
    }

    /// Every entry in order, unpacking one block at a time.
    pub fn into_docs(self) -> impl Iterator<Item = Doc> {
        let PackedDocs { blocks, tail } = self;
        blocks
            .into_iter()
            .flat_map(|b| Cursor::new(&b).collect::<Vec<_>>())
            .chain(tail)
    }

    /// Heap bytes held.
    #[cfg(test)]
    pub fn memory_bytes(&self) -> usize {
        self.blocks.capacity() * std::mem::size_of::<Block>()
            + self.blocks.iter().map(|b| b.bytes.len()).sum::<usize>()
            + self.tail.capacity() * std::mem::size_of::<Doc>()
    }
}

/// Entries in order: the packed blocks, then the tail.
///
/// `block` counts the blocks; once past them, `block - blocks.len() - 1` is the next tail index.
#[derive(Debug, Clone)]
pub(super) struct Iter<'a> {
    docs: &'a PackedDocs,
    block: usize,
    cursor: Option<Cursor<'a>>,
}

impl Iterator for Iter<'_> {
    type Item = Doc;
    fn next(&mut self) -> Option<Doc> {
        let blocks = self.docs.blocks.len();
        loop {
            if self.block > blocks {
                let i = self.block - blocks - 1;
                let d = self.docs.tail.get(i).copied();
                self.block += usize::from(d.is_some());
                return d;
            }
            if let Some(c) = &mut self.cursor {
                if let Some(d) = c.next() {
                    return Some(d);
                }
                self.cursor = None;
                self.block += 1;
            } else if self.block < blocks {
                self.cursor = Some(Cursor::new(&self.docs.blocks[self.block]));
            } else {
                // block == blocks: into the tail.
                self.block += 1;
            }
        }
    }
}

/// A set of ordinals: one bit each.
#[derive(Debug, Clone, Default)]
pub(super) struct Bits(Vec<u64>);

impl Bits {
    pub fn set(&mut self, i: usize, on: bool) {
        let w = i / 64;
        if w >= self.0.len() {
            if !on {
                return;
            }
            self.0.resize(w + 1, 0);
        }
        if on {
            self.0[w] |= 1 << (i % 64);
        } else {
            self.0[w] &= !(1 << (i % 64));
        }
    }

    pub fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(number: u64, version: u32, s: u8) -> Doc {
        Doc {
            number,
            version,
            security: security_of(u64::from(s % 5)),
        }
    }

    /// Several blocks and a tail, with gaps of every size between numbers: every entry is found
    /// at its ordinal, read back whole, set in place, and iterated in order from any ordinal.
    #[test]
    fn packed_entries_read_back_as_pushed() {
        let mut want = Vec::new();
        let mut n = 3u64;
        for i in 0..(BLOCK * 3 + 17) {
            n += match i % 7 {
                0 => 1,
                1 => 200,
                2 => 1 << 20,
                3 => 1 << 40,
                _ => 3,
            };
            want.push(doc(n, (i as u32 * 37) % 70_000, i as u8));
        }
        want.push(doc(u64::MAX, u32::MAX, 4));
        let mut p = PackedDocs::default();
        for d in &want {
            p.push(*d);
        }
        assert_eq!(p.len(), want.len());
        assert_eq!(p.iter().collect::<Vec<_>>(), want);
        for (i, d) in want.iter().enumerate() {
            assert_eq!(p.find(d.number), Some(i), "{d:?}");
            assert_eq!(p.get(i), *d);
            if i == 0 || want[i - 1].number + 1 < d.number {
                assert_eq!(p.find(d.number - 1), None, "{d:?}");
            }
        }
        assert_eq!(p.find(0), None);
        assert_eq!(p.find(want[5].number + 1), None);
        for from in [0, 1, BLOCK - 1, BLOCK, BLOCK * 3, BLOCK * 3 + 5, want.len()] {
            assert_eq!(
                p.iter_from(from).collect::<Vec<_>>(),
                want[from..],
                "from {from}"
            );
        }
        // Set in a packed block and in the tail: the neighbours do not move.
        for i in [0, BLOCK + 3, want.len() - 1] {
            p.set(i, 9, Some(DefaultSecurity::View));
            want[i].version = 9;
            want[i].security = Some(DefaultSecurity::View);
        }
        assert_eq!(p.iter().collect::<Vec<_>>(), want);
        // Extreme numbers and versions inside packed blocks (10-byte and 5-byte varints).
        let mut wide = PackedDocs::default();
        let mut extreme = vec![doc(1, u32::MAX, 4)];
        extreme.extend((0..(BLOCK as u64 * 2)).map(|k| doc(u64::MAX - 1000 + k, u32::MAX - 1, 3)));
        for d in &extreme {
            wide.push(*d);
        }
        assert_eq!(wide.iter().collect::<Vec<_>>(), extreme);
        for (i, d) in extreme.iter().enumerate() {
            assert_eq!(wide.find_entry(d.number), Some((i, *d)));
        }
        // About 2-3 bytes per entry when numbers are dense, not 16.
        let mut dense = PackedDocs::default();
        for n in 1..=100_000u64 {
            dense.push(doc(n, 2, 2));
        }
        assert!(dense.memory_bytes() < 300_000, "{}", dense.memory_bytes());
        assert_eq!(dense.find(77_777), Some(77_776));
    }

    #[test]
    fn bits_set_and_clear() {
        let mut b = Bits::default();
        b.set(1000, false);
        assert!(!b.get(1000));
        b.set(130, true);
        b.set(3, true);
        assert!(b.get(130) && b.get(3) && !b.get(131) && !b.get(1 << 30));
        b.set(130, false);
        assert!(!b.get(130) && b.get(3));
    }
}
