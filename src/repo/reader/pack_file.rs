//! Bytes of pack objects: a range, or a whole pack. From a local store a range is read from the
//! pack file directly (memory-mapped when long); from any other store, a ranged GET.

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{GetOptions, GetResultPayload, ObjectStore};

use crate::repo::backend::{self, keys};
use crate::repo::error::{RepoError, Result};
use crate::repo::id::PackId;

/// Ranges at least this long are memory-mapped from a local pack file (see [`read_range`]).
pub const MAP_MIN: u64 = 256 * 1024;

/// A whole pack object.
pub async fn read_pack(store: &Arc<dyn ObjectStore>, pack: &PackId) -> Result<Bytes> {
    backend::get(store.as_ref(), &keys::pack(pack)).await
}

/// Reads `len` bytes at `start` of the object `key`. From a local store the range is read from
/// the file directly: a read-only memory map when it is at least [`MAP_MIN`] long (the page
/// cache's own pages, no copy and no zeroed buffer), else one positioned read; from any other
/// store, a ranged GET. The length is checked; the caller checks every blob's BLAKE3.
///
/// A mapped pack file must not be truncated while it is read (pack files are written once
/// under their final name and only ever deleted, which leaves a mapping intact).
pub async fn read_range(
    store: &dyn ObjectStore,
    key: &Path,
    start: u64,
    len: u64,
) -> Result<Bytes> {
    if len == 0 {
        return Ok(Bytes::new());
    }
    let truncated = |got: String| RepoError::Corrupt {
        key: key.to_string(),
        reason: format!("range {start}+{len} returned {got} (object truncated?)"),
    };
    let opts = GetOptions {
        range: Some((start..start + len).into()),
        ..GetOptions::default()
    };
    let got = store
        .get_opts(key, opts)
        .await
        .map_err(|e| backend::get_error(key, e))?;
    if got.range != (start..start + len) {
        return Err(truncated(format!("{:?}", got.range)));
    }
    #[cfg(unix)]
    if let GetResultPayload::File(file, path) = got.payload {
        let key = key.to_string();
        return tokio::task::spawn_blocking(move || {
            local_range(&file, start, len).map_err(|source| RepoError::ReadFile {
                key,
                path,
                source,
            })
        })
        .await
        .map_err(|source| RepoError::Task {
            task: "read a pack file",
            source,
        })?;
    }
    let b = got.bytes().await.map_err(|e| backend::get_error(key, e))?;
    if b.len() as u64 != len {
        return Err(truncated(format!("{} bytes", b.len())));
    }
    Ok(b)
}

/// `len` bytes at `start` of a local file: mapped (read-only, populated) if long, else read.
#[cfg(unix)]
fn local_range(file: &std::fs::File, start: u64, len: u64) -> std::io::Result<Bytes> {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::fs::FileExt as _;
    if len < MAP_MIN {
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, start)?;
        return Ok(Bytes::from(buf));
    }
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    let offset = start - start % page;
    let delta = (start - offset) as usize;
    let map_len = delta + len as usize;
    // Linux reads the pages in at once (fewer faults); elsewhere they fault in as read.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let flags = libc::MAP_PRIVATE | libc::MAP_POPULATE;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let flags = libc::MAP_PRIVATE;
    // SAFETY: a new private read-only mapping of an open descriptor; nothing else aliases it.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            map_len,
            libc::PROT_READ,
            flags,
            file.as_raw_fd(),
            offset as libc::off_t,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let map = Mapped {
        ptr: ptr.cast(),
        len: map_len,
    };
    Ok(Bytes::from_owner(map).slice(delta..map_len))
}

/// A read-only memory map, unmapped when the last [`Bytes`] slice of it is dropped.
#[cfg(unix)]
struct Mapped {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value alone.
#[cfg(unix)]
unsafe impl Send for Mapped {}
// SAFETY: as above; shared access only reads.
#[cfg(unix)]
unsafe impl Sync for Mapped {}

#[cfg(unix)]
impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes until `drop`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

#[cfg(unix)]
impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `local_range`, once.
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt as _;

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 4093) as u8).collect()
    }

    /// Ranges read from a local store (mapped when long, read when short, at offsets that are
    /// not page-aligned) and from a non-local store give exactly the bytes asked for; a range
    /// past the end of the object is an error naming it, not a short read.
    #[tokio::test]
    async fn ranges_from_local_and_other_stores_are_exact() {
        let dir = tempfile::tempdir().unwrap();
        let data = Bytes::from(pattern(3 * 1024 * 1024 + 123));
        let local: Arc<dyn ObjectStore> =
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let memory: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let key = Path::from("packs/ab/abcd");
        for store in [&local, &memory] {
            store.put(&key, data.clone().into()).await.unwrap();
            for (start, len) in [
                (0u64, 10u64),
                (4095, MAP_MIN - 1),
                (4097, MAP_MIN),
                (12_345, 2 * 1024 * 1024 + 17),
                (data.len() as u64 - MAP_MIN - 3, MAP_MIN + 3),
            ] {
                let got = read_range(store.as_ref(), &key, start, len).await.unwrap();
                assert_eq!(got.len() as u64, len);
                assert!(
                    got == data.slice(start as usize..(start + len) as usize),
                    "{start}+{len} differs"
                );
            }
            let past = read_range(store.as_ref(), &key, data.len() as u64 - 100, MAP_MIN)
                .await
                .unwrap_err();
            let past = crate::repo::error_chain(&past);
            assert!(past.contains("abcd"), "{past}");
        }
    }
}
