//! Deterministic file content, computed from (seed, version id) and streamed in chunks.
//!
//! A document's versions share most bytes: version 1 is a *base stream* (text-like or
//! binary-like, seeded by the document, or by a shared template so identical files appear in
//! many places), and every later version `v` is that base with the insertions of versions
//! `2..=v` applied, each a short block at a seeded position. Nothing is materialised: any byte
//! range of any version can be produced on demand, so a 25 MB file costs no 25 MB buffer.

use std::num::NonZeroU64;

use bytes::Bytes;

use super::hash::{self, below, h, tag, unit};
use super::names;
use crate::wire::VersionId;

/// Text-like content compresses well; binary-like content (pdf, zip, images) does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    Text,
    Binary,
}

const TEXT_BLOCK: u64 = 4096;
const TEMPLATES: u64 = 12;

/// What generated content depends on besides the version: the corpus seed, and the factor every
/// document's size is divided by (`--size-divisor`; 1 = full size, the documented corpus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentParams {
    pub seed: u64,
    pub size_divisor: NonZeroU64,
}

impl ContentParams {
    pub fn new(seed: u64, size_divisor: NonZeroU64) -> Self {
        Self { seed, size_divisor }
    }

    /// Full-size content of `seed` (divisor 1).
    pub fn full_size(seed: u64) -> Self {
        Self::new(seed, NonZeroU64::MIN)
    }
}

/// A bare seed means full-size content, as before the divisor existed.
impl From<u64> for ContentParams {
    fn from(seed: u64) -> Self {
        Self::full_size(seed)
    }
}

/// Properties of a document's file that the content depends on: extension, kind, base size
/// and shared template. A pure function of (seed, library, document number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTraits {
    pub email: bool,
    pub extension: &'static str,
    pub kind: ContentKind,
    pub base_len: u64,
    pub template: Option<u64>,
}

const DOC_EXTS: &[(&str, u32)] = &[
    ("docx", 35),
    ("pdf", 25),
    ("xlsx", 8),
    ("pptx", 5),
    ("txt", 7),
    ("rtf", 5),
    ("html", 3),
    ("zip", 4),
    ("jpg", 3),
    ("csv", 5),
];

pub fn kind_of(ext: &str) -> ContentKind {
    match ext {
        "txt" | "rtf" | "html" | "csv" | "eml" | "msg" => ContentKind::Text,
        _ => ContentKind::Binary,
    }
}

pub fn mime_of(ext: &str) -> &'static str {
    match ext {
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "rtf" => "application/rtf",
        "html" => "text/html",
        "csv" => "text/csv",
        "zip" => "application/zip",
        "jpg" => "image/jpeg",
        "eml" => "message/rfc822",
        "msg" => "application/vnd.ms-outlook",
        _ => "application/octet-stream",
    }
}

/// Heavy-tailed size: most files under 200 KB, a few over 20 MB.
fn heavy_tailed_size(x: u64, y: u64) -> u64 {
    let u = unit(x);
    let (lo, hi): (f64, f64) = if u < 0.80 {
        (500.0, 48_000.0)
    } else if u < 0.97 {
        (48_000.0, 400_000.0)
    } else if u < 0.999 {
        (400_000.0, 2_000_000.0)
    } else {
        (20_000_000.0, 30_000_000.0)
    };
    (lo * (hi / lo).powf(unit(y))) as u64
}

impl FileTraits {
    /// The traits of document (`library`, `number`). The size divisor is applied here and only
    /// here: every version's length (reported `size`, downloaded bytes, summaries) derives from
    /// `base_len`, so they all agree. A divided size is at least 1 byte.
    pub fn of(content: ContentParams, library: &str, number: u64) -> Self {
        let mut t = Self::full_size(content.seed, library, number);
        t.base_len = (t.base_len / content.size_divisor.get()).max(1);
        t
    }

    fn full_size(seed: u64, library: &str, number: u64) -> Self {
        let lib = hash::str64(library);
        let x = |k: u64| h(seed, &[tag::DOC, lib, number, k]);
        let email = unit(x(1)) < 0.25;
        if email {
            let extension = if below(x(2), 10) < 6 { "eml" } else { "msg" };
            return Self {
                email,
                extension,
                kind: ContentKind::Text,
                base_len: heavy_tailed_size(x(3), x(4)).min(2_000_000),
                template: None,
            };
        }
        if unit(x(5)) < 0.06 {
            let t = below(x(6), TEMPLATES);
            let tx = |k: u64| h(seed, &[tag::CONTENT, u64::MAX, t, k]);
            let extension = if t.is_multiple_of(3) { "pdf" } else { "docx" };
            return Self {
                email,
                extension,
                kind: kind_of(extension),
                base_len: 20_000 + below(tx(1), 280_000),
                template: Some(t),
            };
        }
        let total: u32 = DOC_EXTS.iter().map(|e| e.1).sum();
        let mut r = below(x(2), total as u64) as u32;
        let mut extension = "bin";
        for (e, w) in DOC_EXTS {
            if r < *w {
                extension = e;
                break;
            }
            r -= w;
        }
        Self {
            email,
            extension,
            kind: kind_of(extension),
            base_len: heavy_tailed_size(x(3), x(4)),
            template: None,
        }
    }
}

/// One source stream: text-like words or blake3 output, seeded by `key`.
#[derive(Debug, Clone, Copy)]
struct Source {
    kind: ContentKind,
    key: u64,
}

impl Source {
    fn fill(&self, offset: u64, out: &mut [u8]) {
        match self.kind {
            ContentKind::Binary => {
                let mut key = [0u8; 32];
                key[..8].copy_from_slice(&self.key.to_le_bytes());
                key[8..16].copy_from_slice(&hash::mix(self.key).to_le_bytes());
                let mut xof = blake3::Hasher::new_keyed(&key).finalize_xof();
                xof.set_position(offset);
                xof.fill(out);
            }
            ContentKind::Text => {
                let mut block = [0u8; TEXT_BLOCK as usize];
                let mut done = 0usize;
                while done < out.len() {
                    let pos = offset + done as u64;
                    let b = pos / TEXT_BLOCK;
                    let within = (pos % TEXT_BLOCK) as usize;
                    names::fill_text(hash::mix(self.key ^ hash::mix(b)), &mut block);
                    let n = (TEXT_BLOCK as usize - within).min(out.len() - done);
                    out[done..done + n].copy_from_slice(&block[within..within + n]);
                    done += n;
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    /// Offset of this segment in the version's bytes.
    out_start: u64,
    len: u64,
    source: Source,
    src_offset: u64,
}

/// The recipe for one version's bytes: a list of segments of seeded streams.
#[derive(Debug, Clone)]
pub struct ContentSpec {
    pub kind: ContentKind,
    pub extension: &'static str,
    segments: Vec<Segment>,
    len: u64,
}

impl ContentSpec {
    /// The bytes of `version` of document (`library`, `number`), for any version number.
    /// Later versions insert short blocks of up to `base_len / 40` bytes (at least 16 to 80).
    pub fn of(content: ContentParams, library: &str, number: u64, version: u32) -> Self {
        let seed = content.seed;
        let t = FileTraits::of(content, library, number);
        let lib = hash::str64(library);
        let base_key = match t.template {
            Some(tpl) => h(seed, &[tag::CONTENT, u64::MAX, tpl, 0]),
            None => h(seed, &[tag::CONTENT, lib, number]),
        };
        let base = Source {
            kind: t.kind,
            key: base_key,
        };
        // Insertions of versions 2..=version, in base coordinates.
        let mut edits: Vec<(u64, u64, Source)> = (2..=version as u64)
            .map(|v| {
                let e = |k: u64| h(seed, &[tag::EDIT, lib, number, v, k]);
                let pos = below(e(1), t.base_len + 1);
                let len = 16 + below(e(2), (t.base_len / 40).max(64));
                (
                    pos,
                    len,
                    Source {
                        kind: t.kind,
                        key: e(3),
                    },
                )
            })
            .collect();
        edits.sort_by_key(|e| e.0);
        let mut segments = Vec::with_capacity(edits.len() * 2 + 1);
        let mut out = 0u64;
        let mut base_at = 0u64;
        for (pos, len, src) in edits {
            if pos > base_at {
                segments.push(Segment {
                    out_start: out,
                    len: pos - base_at,
                    source: base,
                    src_offset: base_at,
                });
                out += pos - base_at;
                base_at = pos;
            }
            segments.push(Segment {
                out_start: out,
                len,
                source: src,
                src_offset: 0,
            });
            out += len;
        }
        if t.base_len > base_at {
            segments.push(Segment {
                out_start: out,
                len: t.base_len - base_at,
                source: base,
                src_offset: base_at,
            });
            out += t.base_len - base_at;
        }
        Self {
            kind: t.kind,
            extension: t.extension,
            segments,
            len: out,
        }
    }

    pub fn for_version(content: ContentParams, v: &VersionId) -> Self {
        Self::of(content, &v.library, v.number, v.version)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fill `out` with the bytes at `offset..offset+out.len()` (clipped to the length).
    /// Returns how many bytes were written.
    pub fn read_at(&self, offset: u64, out: &mut [u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let want = (out.len() as u64).min(self.len - offset) as usize;
        let mut i = self
            .segments
            .partition_point(|s| s.out_start + s.len <= offset);
        let mut done = 0usize;
        while done < want && i < self.segments.len() {
            let s = &self.segments[i];
            let pos = offset + done as u64;
            let within = pos - s.out_start;
            let n = ((s.len - within) as usize).min(want - done);
            s.source
                .fill(s.src_offset + within, &mut out[done..done + n]);
            done += n;
            i += 1;
        }
        done
    }

    /// Chunk `index` of `chunk` bytes, or `None` past the end.
    pub fn chunk(&self, index: u64, chunk: usize) -> Option<Bytes> {
        let offset = index * chunk as u64;
        if offset >= self.len {
            return None;
        }
        let n = (chunk as u64).min(self.len - offset) as usize;
        let mut buf = vec![0u8; n];
        self.read_at(offset, &mut buf);
        Some(Bytes::from(buf))
    }

    /// All bytes at once (tests and small files only).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut buf = vec![0u8; self.len as usize];
        self.read_at(0, &mut buf);
        buf
    }
}

/// The expected bytes of any generated version (base corpus and `mutate`-made versions), without
/// the HTTP path. Versions uploaded through the write endpoints are kept by the simulator
/// instead: read them with `SimHandle::version_bytes`. A bare seed means full-size content; pass
/// [`ContentParams`] for a simulator started with a size divisor.
pub fn version_bytes(content: impl Into<ContentParams>, v: &VersionId) -> Vec<u8> {
    ContentSpec::for_version(content.into(), v).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_share_bytes_and_reads_agree() {
        let mut checked = 0;
        for n in 1000..1080u64 {
            let a = ContentSpec::of(7.into(), "ACTIVE", n, 1);
            if a.len() > 300_000 {
                continue;
            }
            let b = ContentSpec::of(7.into(), "ACTIVE", n, 3);
            assert!(b.len() > a.len());
            let (va, vb) = (a.to_vec(), b.to_vec());
            // Most 64-byte blocks of version 1 reappear (shifted) in version 3.
            if va.len() >= 4096 {
                let blocks: std::collections::HashSet<&[u8]> = va.chunks_exact(64).collect();
                let mut found = std::collections::HashSet::new();
                for w in vb.windows(64) {
                    if blocks.contains(w) {
                        found.insert(w);
                    }
                }
                assert!(
                    found.len() * 10 >= blocks.len() * 9,
                    "doc {n}: {} of {}",
                    found.len(),
                    blocks.len()
                );
            }
            // Chunked reads equal one read.
            let mut joined = Vec::new();
            let mut i = 0;
            while let Some(c) = b.chunk(i, 1000) {
                joined.extend_from_slice(&c);
                i += 1;
            }
            assert_eq!(joined, vb);
            assert_eq!(vb, ContentSpec::of(7.into(), "ACTIVE", n, 3).to_vec());
            checked += 1;
        }
        assert!(checked > 40);
    }

    #[test]
    fn size_divisor_shrinks_every_size_and_keeps_the_rest() {
        let full = ContentParams::full_size(3);
        let tenth = ContentParams::new(3, NonZeroU64::new(10).unwrap());
        let huge = ContentParams::new(3, NonZeroU64::new(u64::MAX).unwrap());
        let (mut sum_full, mut sum_tenth) = (0u64, 0u64);
        for n in 1000..1400u64 {
            let (a, b) = (
                FileTraits::of(full, "ACTIVE", n),
                FileTraits::of(tenth, "ACTIVE", n),
            );
            assert_eq!(b.base_len, (a.base_len / 10).max(1), "doc {n}");
            assert_eq!(FileTraits::of(huge, "ACTIVE", n).base_len, 1, "doc {n}");
            assert_eq!(
                (a.email, a.extension, a.kind, a.template),
                (b.email, b.extension, b.kind, b.template)
            );
            for v in 1..=3 {
                let (sa, sb) = (
                    ContentSpec::of(full, "ACTIVE", n, v),
                    ContentSpec::of(tenth, "ACTIVE", n, v),
                );
                assert!(sb.len() <= sa.len(), "doc {n} v{v}");
                // The length the API reports is the length of the bytes served.
                if sb.len() < 200_000 {
                    assert_eq!(sb.to_vec().len() as u64, sb.len(), "doc {n} v{v}");
                }
                sum_full += sa.len();
                sum_tenth += sb.len();
            }
        }
        // Later versions' insertions are small, so the total shrinks about tenfold.
        assert!(
            sum_tenth * 8 < sum_full && sum_tenth * 12 > sum_full,
            "{sum_tenth} of {sum_full}"
        );
        // A bare seed is full-size content.
        let v: VersionId = "ACTIVE!1042.2".parse().unwrap();
        assert_eq!(version_bytes(3, &v), version_bytes(full, &v));
        assert_ne!(version_bytes(3, &v), version_bytes(tenth, &v));
    }

    #[test]
    fn text_compresses_binary_does_not() {
        let text = Source {
            kind: ContentKind::Text,
            key: 5,
        };
        let bin = Source {
            kind: ContentKind::Binary,
            key: 5,
        };
        let mut t = vec![0u8; 200_000];
        let mut b = vec![0u8; 200_000];
        text.fill(0, &mut t);
        bin.fill(0, &mut b);
        let ct = zstd::encode_all(&t[..], 3).unwrap().len();
        let cb = zstd::encode_all(&b[..], 3).unwrap().len();
        assert!(ct * 2 < t.len(), "text compressed to {ct}");
        assert!(cb * 100 > b.len() * 99, "binary compressed to {cb}");
        // Random access agrees with sequential reads.
        let mut part = vec![0u8; 5000];
        text.fill(12_345, &mut part);
        assert_eq!(&part[..], &t[12_345..17_345]);
        bin.fill(99_999, &mut part);
        assert_eq!(&part[..], &b[99_999..104_999]);
    }
}
