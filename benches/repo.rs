//! Repository engine throughput (figures, not assertions):
//! - `chunk_hash`: FastCDC + BLAKE3 on one core,
//! - `compress`: zstd levels on document-like text and on PDF-like mixed data (one core;
//!   the compressed/raw ratio of each is printed once),
//! - `pack_write`: the whole writer pipeline (chunk, hash, compress, pack, store in memory),
//! - `read_verify`: read back with ranged GETs, decompress and BLAKE3 check.
//!
//! `cargo bench --bench repo` (add `-- --quick` for a short run).

use std::sync::Arc;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::TryStreamExt;
use imvault::repo::chunker::Chunker;
use imvault::repo::*;
use object_store::ObjectStore;
use object_store::memory::InMemory;

const MIB: usize = 1024 * 1024;

fn text(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "matter",
        "agreement",
        "party",
        "shall",
        "clause",
        "court",
        "hereby",
        "client",
        "counsel",
        "pursuant",
        "to",
        "section",
        "of",
        "and",
        "in",
        "witness",
        "whereof",
    ];
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut s = String::with_capacity(len + 16);
    while s.len() < len {
        s.push_str(WORDS[rng.usize(..WORDS.len())]);
        s.push(if rng.u8(..) < 16 { '\n' } else { ' ' });
    }
    s.truncate(len);
    s.into_bytes()
}

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fastrand::Rng::with_seed(seed).fill(&mut v);
    v
}

/// 3/4 incompressible, 1/4 text, interleaved in 256 KiB runs (a PDF with text and images).
fn pdf_like(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0u64;
    while out.len() < len {
        if i % 4 == 3 {
            out.extend(text(256 * 1024, i));
        } else {
            out.extend(random(256 * 1024, i));
        }
        i += 1;
    }
    out.truncate(len);
    out
}

fn chunk_hash(c: &mut Criterion) {
    let data = pdf_like(32 * MIB);
    let params = ChunkerParams::default();
    let mut g = c.benchmark_group("chunk_hash");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.bench_function("fastcdc_blake3_32MiB", |b| {
        b.iter(|| {
            let chunks = Chunker::chunk_all(params, &data);
            chunks
                .iter()
                .map(|c| BlobId::of(c).0[0])
                .fold(0u8, |a, b| a ^ b)
        })
    });
    g.bench_function("blake3_only_32MiB", |b| b.iter(|| BlobId::of(&data)));
    g.finish();
}

fn compress(c: &mut Criterion) {
    let inputs = [("text", text(4 * MIB, 1)), ("pdf_like", pdf_like(4 * MIB))];
    let mut g = c.benchmark_group("compress");
    g.sample_size(10);
    for (name, data) in &inputs {
        g.throughput(Throughput::Bytes(data.len() as u64));
        for level in [1, 3, 6, 9] {
            let z = zstd::bulk::compress(data, level).unwrap_or_default();
            eprintln!(
                "compress {name} level {level}: ratio stored/raw = {:.3}",
                z.len() as f64 / data.len() as f64
            );
            g.bench_with_input(BenchmarkId::new(*name, level), &level, |b, &level| {
                b.iter(|| {
                    zstd::bulk::compress(data, level)
                        .map(|v| v.len())
                        .unwrap_or(0)
                })
            });
        }
    }
    g.finish();
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn pack_write(c: &mut Criterion) {
    let rt = rt();
    let docs: Vec<Bytes> = (0..16)
        .map(|i| {
            Bytes::from(if i % 2 == 0 {
                text(2 * MIB, i)
            } else {
                pdf_like(2 * MIB)
            })
        })
        .collect();
    let total: u64 = docs.iter().map(|d| d.len() as u64).sum();
    let mut g = c.benchmark_group("pack_write");
    g.throughput(Throughput::Bytes(total));
    g.sample_size(10);
    g.bench_function("session_32MiB_to_memory", |b| {
        b.to_async(&rt).iter(|| async {
            // Fresh repository each iteration so nothing dedups against earlier runs.
            let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
            let repo = Repository::init(
                store,
                InitOptions::default(),
                Some(&imvault::repo::Credential::Password(
                    imvault::secret::Secret::new("bench password"),
                )),
            )
            .await
            .expect("init")
            .load_index()
            .await
            .expect("index");
            let s = repo.backup_session(SessionOptions::default());
            let refs: Vec<ContentRef> = futures::stream::iter(docs.iter().cloned())
                .map(|d| s.add_bytes(d))
                .buffered(2)
                .try_collect()
                .await
                .expect("add");
            s.finish(SnapshotDraft {
                library: "bench".into(),
                ..Default::default()
            })
            .await
            .expect("finish");
            refs.len()
        })
    });
    g.finish();
}

fn read_verify(c: &mut Criterion) {
    let rt = rt();
    let (repo, refs, total) = rt.block_on(async {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let repo = Repository::init(
            store,
            InitOptions::default(),
            Some(&imvault::repo::Credential::Password(
                imvault::secret::Secret::new("bench password"),
            )),
        )
        .await
        .expect("init")
        .load_index()
        .await
        .expect("index");
        let s = repo.backup_session(SessionOptions::default());
        let mut refs = Vec::new();
        let mut total = 0u64;
        for i in 0..8 {
            let d = if i % 2 == 0 {
                text(4 * MIB, i)
            } else {
                pdf_like(4 * MIB)
            };
            total += d.len() as u64;
            refs.push(s.add_bytes(Bytes::from(d)).await.expect("add"));
        }
        s.finish(SnapshotDraft {
            library: "bench".into(),
            ..Default::default()
        })
        .await
        .expect("finish");
        // No cache of verified blobs: every iteration reads, decompresses and verifies.
        (repo.with_blob_cache(0), refs, total)
    });
    let mut g = c.benchmark_group("read_verify");
    g.throughput(Throughput::Bytes(total));
    g.sample_size(10);
    g.bench_function("read_content_32MiB_from_memory", |b| {
        b.to_async(&rt).iter(|| async {
            let mut n = 0usize;
            for r in &refs {
                let parts: Vec<Bytes> = repo.read_content(r).try_collect().await.expect("read");
                n += parts.iter().map(Bytes::len).sum::<usize>();
            }
            n
        })
    });
    g.finish();
}

/// Loads an index of 1 M blobs (10 index objects written from the FORMAT.md layout) and
/// prints the resident bytes per blob.
fn index_load(c: &mut Criterion) {
    let rt = rt();
    let n_objects = 10u32;
    let packs_per_object = 400u32;
    let blobs_per_pack = 250u32;
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    rt.block_on(async {
        Repository::init(
            store.clone(),
            InitOptions::default(),
            Some(&imvault::repo::Credential::Password(
                imvault::secret::Secret::new("bench password"),
            )),
        )
        .await
        .expect("init");
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..n_objects {
            let mut body = Vec::new();
            body.extend_from_slice(&packs_per_object.to_le_bytes());
            for _ in 0..packs_per_object {
                let mut pid = [0u8; 32];
                rng.fill(&mut pid);
                body.extend_from_slice(&pid);
                body.extend_from_slice(&blobs_per_pack.to_le_bytes());
                for j in 0..blobs_per_pack {
                    let mut bid = [0u8; 32];
                    rng.fill(&mut bid);
                    body.extend_from_slice(&bid);
                    body.extend_from_slice(&[0, 1]);
                    body.extend_from_slice(&(j * 60_000).to_le_bytes());
                    body.extend_from_slice(&60_000u32.to_le_bytes());
                    body.extend_from_slice(&100_000u32.to_le_bytes());
                }
            }
            let mut obj = b"IMVIDX01".to_vec();
            obj.extend_from_slice(&zstd::bulk::compress(&body, 3).expect("zstd"));
            let id = IndexId::of(&obj);
            backend::put_content_addressed(
                store.as_ref(),
                &backend::keys::index(&id),
                Bytes::from(obj),
            )
            .await
            .expect("put");
        }
        let repo = Repository::open(
            store.clone(),
            Some(&imvault::repo::Credential::Password(
                imvault::secret::Secret::new("bench password"),
            )),
        )
        .await
        .expect("open")
        .load_index()
        .await
        .expect("load");
        let n = repo.index().len();
        eprintln!(
            "index of {n} blobs: {} bytes resident, {:.1} bytes per blob",
            repo.index().memory_bytes(),
            repo.index().memory_bytes() as f64 / n as f64
        );
    });
    let mut g = c.benchmark_group("index_load");
    g.sample_size(10);
    g.throughput(Throughput::Elements(
        (n_objects * packs_per_object * blobs_per_pack) as u64,
    ));
    g.bench_function("load_1M_blobs_from_memory", |b| {
        b.to_async(&rt).iter(|| async {
            Repository::open(
                store.clone(),
                Some(&imvault::repo::Credential::Password(
                    imvault::secret::Secret::new("bench password"),
                )),
            )
            .await
            .expect("open")
            .load_index()
            .await
            .expect("load")
            .index()
            .len()
        })
    });
    g.finish();
}

use futures::StreamExt;

criterion_group!(
    benches,
    chunk_hash,
    compress,
    pack_write,
    read_verify,
    index_load
);
criterion_main!(benches);
