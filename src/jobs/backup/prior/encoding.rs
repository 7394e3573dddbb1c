//! A compact binary form of a snapshot's [`PriorVersions`], kept on the local disk next to the
//! catalog (a cache: [`super::cache`]).

use super::*;
use crate::repo::BlobId;

/// `3`: the fingerprint is of the content key (`2` held the whole change key: such a
/// prior cache is not read, the snapshot is).
const MAGIC: &[u8; 8] = b"IMVPRIO3";

pub(super) fn ds_code(d: Option<DefaultSecurity>) -> u8 {
    match d {
        None => 0,
        Some(DefaultSecurity::Inherit) => 1,
        Some(DefaultSecurity::Public) => 2,
        Some(DefaultSecurity::View) => 3,
        Some(DefaultSecurity::Private) => 4,
    }
}

pub(super) fn ds_of(c: u8) -> Option<Option<DefaultSecurity>> {
    Some(match c {
        0 => None,
        1 => Some(DefaultSecurity::Inherit),
        2 => Some(DefaultSecurity::Public),
        3 => Some(DefaultSecurity::View),
        4 => Some(DefaultSecurity::Private),
        _ => return None,
    })
}

/// Writes a prior cache as its versions come: `MAGIC`, the entries, then the entry count, the
/// snapshot id it describes (known only at the end) and the BLAKE3 hash of everything
/// before it. Memory: one buffer, whatever the number of versions.
pub struct Writer<W: std::io::Write> {
    w: W,
    hasher: blake3::Hasher,
    buf: Vec<u8>,
    count: u64,
}

impl<W: std::io::Write> Writer<W> {
    pub fn new(w: W) -> Self {
        let mut buf = Vec::with_capacity(64 * 1024);
        buf.extend_from_slice(MAGIC);
        Self {
            w,
            hasher: blake3::Hasher::new(),
            buf,
            count: 0,
        }
    }

    fn spill(&mut self) -> std::io::Result<()> {
        self.hasher.update(&self.buf);
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    fn add(&mut self, (n, v): (u64, u32), e: &Entry) -> std::io::Result<()> {
        let b = &mut self.buf;
        b.extend_from_slice(&n.to_le_bytes());
        b.extend_from_slice(&v.to_le_bytes());
        e.encode(b);
        self.count += 1;
        if self.buf.len() >= 60 * 1024 {
            self.spill()?;
        }
        Ok(())
    }

    /// One version as this run stored it.
    pub fn add_version(
        &mut self,
        v: &DocumentVersion,
        content: &ContentRef,
    ) -> std::io::Result<()> {
        let e = Entry {
            fingerprint: fingerprint(&v.change_key()),
            default_security: v.default_security,
            content: content.clone(),
        };
        self.add(key_of(v), &e)
    }

    /// The versions of a prior snapshot not `covered` (interrupted runs' are left out).
    pub fn add_prior(
        &mut self,
        p: &PriorVersions,
        covered: impl Fn(u64, u32) -> bool,
    ) -> std::io::Result<()> {
        for r in p.entries() {
            let (k, e) = r?;
            if !covered(k.0, k.1) {
                self.add(k, &e)?;
            }
        }
        Ok(())
    }

    /// Ends the prior cache as the one of `snapshot`.
    pub fn finish(mut self, snapshot: &[u8; 32]) -> std::io::Result<W> {
        let count = self.count;
        self.buf.extend_from_slice(&count.to_le_bytes());
        self.buf.extend_from_slice(snapshot);
        self.spill()?;
        let sum = self.hasher.finalize();
        self.w.write_all(sum.as_bytes())?;
        Ok(self.w)
    }
}

/// The whole prior cache of `p` as the one of `snapshot`, in memory.
pub fn encode(snapshot: &[u8; 32], p: &PriorVersions) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    w.add_prior(p, |_, _| false).expect("writing to memory");
    w.finish(snapshot).expect("writing to memory")
}

/// Reads through to a BLAKE3 hasher, counting bytes.
struct Hashing<R> {
    r: R,
    hasher: blake3::Hasher,
    at: u64,
}

impl<R: std::io::Read> Hashing<R> {
    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b).ok()?;
        self.hasher.update(&b);
        self.at += N as u64;
        Some(b)
    }
}

/// [`decode`] from a reader of `len` bytes, without holding the encoding in memory: the
/// versions are sorted into temporary files of `dir`.
pub fn decode_reader(
    snapshot: &[u8; 32],
    r: impl std::io::Read,
    len: u64,
    dir: &Path,
) -> Option<PriorVersions> {
    let entries_end = len.checked_sub(32 + 40)?;
    let mut h = Hashing {
        r,
        hasher: blake3::Hasher::new(),
        at: 0,
    };
    if &h.bytes::<8>()? != MAGIC {
        return None;
    }
    let mut prior = PriorBuilder::new(dir).ok()?;
    let mut count = 0u64;
    while h.at < entries_end {
        let number = u64::from_le_bytes(h.bytes::<8>()?);
        let version = u32::from_le_bytes(h.bytes::<4>()?);
        let fingerprint = u64::from_le_bytes(h.bytes::<8>()?);
        let default_security = ds_of(h.bytes::<1>()?[0])?;
        let size = u64::from_le_bytes(h.bytes::<8>()?);
        let nblobs = u32::from_le_bytes(h.bytes::<4>()?) as u64;
        if nblobs * 32 > entries_end.saturating_sub(h.at) {
            return None;
        }
        let mut blobs = Vec::with_capacity(nblobs as usize);
        for _ in 0..nblobs {
            blobs.push(BlobId(h.bytes::<32>()?));
        }
        let e = Entry {
            fingerprint,
            default_security,
            content: ContentRef { size, blobs },
        };
        prior.add((number, version), &e).ok()?;
        count += 1;
    }
    if h.at != entries_end {
        return None;
    }
    if u64::from_le_bytes(h.bytes::<8>()?) != count || &h.bytes::<32>()? != snapshot {
        return None;
    }
    let sum = h.hasher.finalize();
    let mut stored = [0u8; 32];
    h.r.read_exact(&mut stored).ok()?;
    let mut rest = [0u8; 1];
    if sum.as_bytes() != &stored || h.r.read(&mut rest).ok()? != 0 {
        return None;
    }
    let prior = prior.finish().ok()?;
    // Two entries of one version are not an encoding this program writes.
    (prior.len() as u64 == count).then_some(prior)
}

/// The prior versions of `snapshot`, or `None` when `bytes` is not a whole, intact encoding
/// of it (sorted in the system's temporary directory).
pub fn decode(snapshot: &[u8; 32], bytes: &[u8]) -> Option<PriorVersions> {
    decode_reader(snapshot, bytes, bytes.len() as u64, &std::env::temp_dir())
}
