//! Written objects leave the page cache: [`UncachedWrites`] wraps the local directory store
//! and, once a large object is durable (the store fsyncs it before answering), tells the kernel
//! its pages are not needed again ([`crate::page_cache`]).
//!
//! Why: a backup writes its packs once and does not read them back, so caching them only pushes
//! the host's own files out of memory (a nightly of 100 GB would evict everything else). Each
//! written page also had to be taken from free memory first; dropped pages are handed to the
//! next pack instead. On a virtual machine whose fresh memory is costly to touch this is most
//! of the backup's system time: 1 GiB written in 16 MiB files with fsync took 3.7-4.2 s of
//! system time here, 0.25-0.29 s with the pages dropped after each file (see
//! `benches/backup_cpu_vs_restic.sh`).
//!
//! Only the page cache is affected: what was written is on disk already, a later read (verify,
//! a restore) reads it from there. Objects under [`DROP_AT_LEAST`] (most index objects,
//! snapshots, markers) are left alone. Single puts only: imvault writes no multipart objects
//! to a local directory (they pass through untouched).

use async_trait::async_trait;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, PutOptions, PutPayload, PutResult, Result};

/// Objects at least this large are dropped from the page cache once written.
pub const DROP_AT_LEAST: usize = 1 << 20;

/// A local directory store whose large writes do not stay in the page cache.
#[derive(Debug)]
pub struct UncachedWrites {
    inner: LocalFileSystem,
}

impl UncachedWrites {
    /// `inner` should fsync its writes (`with_fsync(true)`): only clean pages are dropped (dirty
    /// ones are only queued for writing back), so without it the drop does little.
    pub fn new(inner: LocalFileSystem) -> Self {
        Self { inner }
    }

    /// Drops the cached pages of the object at `location` (best effort: a failure only leaves
    /// them cached).
    async fn drop_cached(&self, location: &Path) {
        let Ok(file) = self.inner.path_to_filesystem(location) else {
            return;
        };
        let _ =
            tokio::task::spawn_blocking(move || crate::page_cache::drop_file_pages(&file)).await;
    }
}

impl std::fmt::Display for UncachedWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UncachedWrites({})", self.inner)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for UncachedWrites {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let large = payload.content_length() >= DROP_AT_LEAST;
        let r = self.inner.put_opts(location, payload, opts).await;
        // An `AlreadyExists` create found an object there (for packs, named by their hash: the
        // same bytes, read or written before): its pages are not needed either.
        if large && matches!(r, Ok(_) | Err(object_store::Error::AlreadyExists { .. })) {
            self.drop_cached(location).await;
        }
        r
    }

    crate::repo::store_forward::forward_store_methods!(inner =>
        put_multipart_opts, get_opts, get_ranges, delete_stream, list, list_with_offset,
        list_with_delimiter, copy_opts, rename_opts);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use object_store::{ObjectStoreExt, PutMode};

    #[tokio::test]
    async fn large_writes_leave_the_page_cache_and_read_back_whole() {
        use crate::page_cache::{cached_pages, page_size};
        let dir = tempfile::tempdir().unwrap();
        let store = UncachedWrites::new(
            LocalFileSystem::new_with_prefix(dir.path())
                .unwrap()
                .with_fsync(true),
        );
        let big: Vec<u8> = (0..4 * DROP_AT_LEAST)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let below: Vec<u8> = vec![5u8; DROP_AT_LEAST - 1];
        let (bk, sk) = (Path::from("packs/aa/big"), Path::from("index/below"));
        store
            .put_opts(&bk, big.clone().into(), PutMode::Create.into())
            .await
            .unwrap();
        store.put(&sk, below.clone().into()).await.unwrap();
        let file = |k: &str| dir.path().join(k);
        let (big_pages, below_pages) = (big.len() / page_size(), below.len() / page_size());
        // Whether written files are cached here at all (not on tmpfs, not on ZFS): a control
        // file written beside them, not through the store.
        let control = file("control");
        std::fs::write(&control, &below).unwrap();
        std::fs::File::open(&control).unwrap().sync_all().unwrap();
        let cached = cached_pages(&control).filter(|c| *c > below_pages / 2);
        if cached.is_some() {
            let c = cached_pages(&file("index/below")).unwrap();
            assert!(
                c > below_pages / 2,
                "an object under the threshold stays cached: {c} of {below_pages}"
            );
            let c = cached_pages(&file("packs/aa/big")).unwrap();
            assert!(
                c < big_pages / 4,
                "the large object's pages left the cache: {c} of {big_pages} still cached"
            );
        }
        // Read back whole (this caches its pages again) ...
        let got = store.get(&bk).await.unwrap().bytes().await.unwrap();
        assert_eq!(got.as_ref(), big.as_slice());
        let got = store.get(&sk).await.unwrap().bytes().await.unwrap();
        assert_eq!(got.as_ref(), below.as_slice());
        // ... then created again under its content-addressed name: AlreadyExists, the bytes
        // untouched, the pages dropped again.
        let again = store
            .put_opts(&bk, big.clone().into(), PutMode::Create.into())
            .await;
        assert!(matches!(
            again,
            Err(object_store::Error::AlreadyExists { .. })
        ));
        if cached.is_some() {
            let c = cached_pages(&file("packs/aa/big")).unwrap();
            assert!(
                c < big_pages / 4,
                "dropped again: {c} of {big_pages} still cached"
            );
        }
        assert_eq!(std::fs::read(file("packs/aa/big")).unwrap(), big);
    }
}
