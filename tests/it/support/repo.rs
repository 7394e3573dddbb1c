//! Test helpers for the repository: a failure-injecting, put-recording `ObjectStore` wrapper,
//! document-like corpora, and a consistency check of a whole repository.

#![allow(dead_code)]

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use imvault::repo::*;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

/// Wraps a store; records every successful PUT key in order and fails PUTs on a plan.
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    /// PUTs whose key starts with one of these prefixes fail.
    fail_prefixes: Mutex<Vec<String>>,
    /// PUTs of packs fail once this many packs have been stored.
    fail_packs_after: Mutex<Option<usize>>,
    fail_packs_after_checkpoint: std::sync::atomic::AtomicBool,
    packs_put: AtomicUsize,
    gets: AtomicUsize,
    lists: AtomicUsize,
    /// Keys of every GET served (whole or ranged), in order.
    get_log: Mutex<Vec<String>>,
    pub puts: Mutex<Vec<String>>,
    /// Keys of every request that removes or may replace an object: DELETEs, PUTs not in
    /// `PutMode::Create`, multipart uploads, copies and renames (`"<op> <key>"`).
    destructive: Arc<Mutex<Vec<String>>>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            fail_prefixes: Mutex::new(Vec::new()),
            fail_packs_after: Mutex::new(None),
            fail_packs_after_checkpoint: Default::default(),
            packs_put: AtomicUsize::new(0),
            gets: AtomicUsize::new(0),
            lists: AtomicUsize::new(0),
            get_log: Mutex::new(Vec::new()),
            puts: Mutex::new(Vec::new()),
            destructive: Arc::new(Mutex::new(Vec::new())),
        })
    }
    pub fn fail_puts_under(&self, prefix: &str) {
        self.fail_prefixes.lock().unwrap().push(prefix.to_string());
    }
    pub fn fail_packs_after(&self, n: usize) {
        *self.fail_packs_after.lock().unwrap() = Some(n);
    }
    /// Pack writes fail once a resume record (`checkpoints/`) has been written.
    pub fn fail_packs_after_checkpoint(&self) {
        self.fail_packs_after_checkpoint
            .store(true, Ordering::SeqCst);
    }
    pub fn heal(&self) {
        self.fail_packs_after_checkpoint
            .store(false, Ordering::SeqCst);
        self.fail_prefixes.lock().unwrap().clear();
        *self.fail_packs_after.lock().unwrap() = None;
    }
    pub fn put_log(&self) -> Vec<String> {
        self.puts.lock().unwrap().clone()
    }
    /// GET requests served (whole or ranged).
    pub fn gets(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }
    /// Keys of the GETs served since the last [`Self::reset_counts`].
    pub fn get_log(&self) -> Vec<String> {
        self.get_log.lock().unwrap().clone()
    }
    /// LIST requests (recursive or by delimiter) since the last [`Self::reset_counts`].
    pub fn lists(&self) -> usize {
        self.lists.load(Ordering::SeqCst)
    }
    /// Forgets the GETs, LISTs and PUTs counted so far.
    pub fn reset_counts(&self) {
        self.gets.store(0, Ordering::SeqCst);
        self.lists.store(0, Ordering::SeqCst);
        self.get_log.lock().unwrap().clear();
        self.puts.lock().unwrap().clear();
    }
    /// Every DELETE, overwriting PUT, multipart upload, copy or rename seen (never reset).
    pub fn destructive_log(&self) -> Vec<String> {
        self.destructive.lock().unwrap().clone()
    }
    fn record_destructive(&self, op: &str, key: &Path) {
        self.destructive.lock().unwrap().push(format!("{op} {key}"));
    }
    pub fn packs_put(&self) -> usize {
        self.packs_put.load(Ordering::SeqCst)
    }
    fn injected(location: &Path) -> object_store::Error {
        object_store::Error::Generic {
            store: "faulty",
            source: format!("injected failure writing {location}").into(),
        }
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Faulty({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let key = location.to_string();
        if self
            .fail_prefixes
            .lock()
            .unwrap()
            .iter()
            .any(|p| key.starts_with(p.as_str()))
        {
            return Err(Self::injected(location));
        }
        if key.starts_with("packs/")
            && self.fail_packs_after_checkpoint.load(Ordering::SeqCst)
            && self
                .puts
                .lock()
                .unwrap()
                .iter()
                .any(|k| k.starts_with("checkpoints/"))
        {
            return Err(Self::injected(location));
        }
        if key.starts_with("packs/")
            && let Some(n) = *self.fail_packs_after.lock().unwrap()
            && self.packs_put.load(Ordering::SeqCst) >= n
        {
            return Err(Self::injected(location));
        }
        if !matches!(opts.mode, object_store::PutMode::Create) {
            self.record_destructive("PUT (may overwrite)", location);
        }
        let r = self.inner.put_opts(location, payload, opts).await?;
        if key.starts_with("packs/") {
            self.packs_put.fetch_add(1, Ordering::SeqCst);
        }
        self.puts.lock().unwrap().push(key);
        Ok(r)
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.record_destructive("multipart PUT", location);
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.get_log.lock().unwrap().push(location.to_string());
        self.inner.get_opts(location, options).await
    }
    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.get_log.lock().unwrap().push(location.to_string());
        self.inner.get_ranges(location, ranges).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let log = Arc::clone(&self.destructive);
        let counted = locations
            .map_ok(move |p| {
                log.lock().unwrap().push(format!("DELETE {p}"));
                p
            })
            .boxed();
        self.inner.delete_stream(counted)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list(prefix)
    }
    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list_with_offset(prefix, offset)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.record_destructive("COPY to", to);
        self.inner.copy_opts(from, to, options).await
    }
    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.record_destructive("RENAME from", from);
        self.inner.rename_opts(from, to, options).await
    }
}

/// The password of every test repository (the configuration files of tests name it too).
pub const TEST_PASSWORD: &str = "test repository password";

/// What opens every test repository: [`TEST_PASSWORD`].
pub fn key() -> Option<&'static imvault::repo::Credential> {
    static KEY: std::sync::OnceLock<imvault::repo::Credential> = std::sync::OnceLock::new();
    Some(KEY.get_or_init(|| {
        imvault::repo::Credential::Password(imvault::secret::Secret::new(TEST_PASSWORD))
    }))
}

/// Argon2id costs for test repositories: the smallest the format allows, so that opening a
/// repository costs no test noticeable time (production slots use [`KdfParams::default`]).
pub fn fast_kdf() -> imvault::repo::KdfParams {
    imvault::repo::KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    }
}

/// The default parameters of a new repository, with [`fast_kdf`].
pub fn init_options() -> InitOptions {
    InitOptions {
        kdf: fast_kdf(),
        ..InitOptions::default()
    }
}

/// Small chunker and pack sizes so tests exercise many chunks and packs.
pub fn small_init() -> InitOptions {
    InitOptions {
        chunker: ChunkerParams {
            min_size: 4 * 1024,
            avg_size: 16 * 1024,
            max_size: 64 * 1024,
        },
        pack_size: 256 * 1024,
        zstd_level: 3,
        ..init_options()
    }
}

pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut v = vec![0u8; n];
    rng.fill(&mut v);
    v
}

/// Compressible, text-like bytes ("document-like").
pub fn text_bytes(n: usize, seed: u64) -> Vec<u8> {
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
        "notice",
        "lease",
        "term",
        "payment",
        "liability",
        "indemnify",
        "schedule",
    ];
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut s = String::with_capacity(n + 16);
    while s.len() < n {
        s.push_str(WORDS[rng.usize(..WORDS.len())]);
        s.push(if rng.u8(..) < 20 { '\n' } else { ' ' });
    }
    s.truncate(n);
    s.into_bytes()
}

/// Reads a content item back completely.
pub async fn read_all(repo: &Repository<Indexed>, c: &ContentRef) -> Result<Vec<u8>, RepoError> {
    let parts: Vec<Bytes> = repo.read_content(c).try_collect().await?;
    Ok(parts.concat())
}

/// Record type the tests store in a metadata stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TestVersion {
    pub doc: String,
    pub version: u32,
    pub content: ContentRef,
}

/// Every snapshot's streams and content blobs are indexed, and every indexed pack exists:
/// "no snapshot points to missing data". Opens the repository afresh from `store`.
pub async fn assert_consistent(store: Arc<dyn ObjectStore>) -> Repository<Indexed> {
    let opened = Repository::open(store, crate::support::repo::key())
        .await
        .expect("open");
    let snaps = opened.list_snapshots(None).await.expect("list snapshots");
    let repo = opened.load_index().await.expect("load index");
    let packs: std::collections::HashSet<PackId> =
        repo.list_pack_ids().await.unwrap().into_iter().collect();
    for idx in repo.list_index_ids().await.unwrap() {
        let file = repo.cat_index(&idx).await.unwrap();
        for (p, _) in &file.packs {
            assert!(packs.contains(p), "index {idx} names missing pack {p}");
        }
    }
    let report = repo.check(true).await.expect("check");
    assert!(
        report.is_ok(),
        "check found problems: {:?}",
        report.problems
    );
    assert_eq!(report.snapshots, snaps.len() as u64);
    for s in &snaps {
        for (name, m) in &s.manifest.streams {
            for b in &m.blobs {
                assert!(
                    repo.index().contains(b),
                    "snapshot {} stream {name} blob {b} missing",
                    s.id
                );
            }
            if name == "versions" {
                let recs: Vec<TestVersion> =
                    repo.read_meta_stream(name, m).try_collect().await.unwrap();
                for r in recs {
                    for b in &r.content.blobs {
                        assert!(
                            repo.index().contains(b),
                            "snapshot {} content blob {b} missing",
                            s.id
                        );
                    }
                }
            }
        }
    }
    repo
}

/// Opens the repository in `store` with the test key and loads its index.
pub async fn open_indexed(store: Arc<dyn ObjectStore>) -> Repository<Indexed> {
    Repository::open(store, key())
        .await
        .expect("the repository opens")
        .load_index()
        .await
        .expect("its index loads")
}

/// Creates a repository in `store` with `options` and the test key, its index loaded.
pub async fn init_indexed(
    store: Arc<dyn ObjectStore>,
    options: InitOptions,
) -> Repository<Indexed> {
    Repository::init(store, options, key())
        .await
        .expect("the repository is created")
        .load_index()
        .await
        .expect("its index loads")
}
