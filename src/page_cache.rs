//! Files written once leave the page cache: a backup's packs are not read again soon, so
//! caching them only pushes the host's own files out of memory, and every page they fill has to
//! be taken from free memory first (where the dropped pages of the previous pack would do). Only clean pages are dropped: call this after the file is synced. What was
//! written stays on disk; a later read fetches it from there.
//!
//! Linux only (`posix_fadvise(POSIX_FADV_DONTNEED)`); elsewhere nothing happens. Best effort: a
//! failure only leaves the pages cached.

use std::fs::File;
use std::path::Path;

/// Tells the kernel the pages of the open file `f` are not needed.
#[cfg(target_os = "linux")]
fn drop_pages(f: &File) {
    if let Err(e) = rustix::fs::fadvise(f, 0, None, rustix::fs::Advice::DontNeed) {
        tracing::debug!(error = %e, "pages not dropped from the page cache");
    }
}

/// Tells the kernel the pages of `file` are not needed (a missing file is left alone).
pub fn drop_file_pages(file: &Path) {
    #[cfg(target_os = "linux")]
    match File::open(file) {
        Ok(f) => drop_pages(&f),
        Err(e) => {
            tracing::debug!(file = %file.display(), error = %e, "pages not dropped from the page cache")
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// The size of a memory page (tests).
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf only reads a system constant.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }) as usize
}

/// Pages of `file` in the page cache now (`mincore` over a mapping of it that is never
/// touched), or `None` on a file system whose pages are its data (tmpfs, ramfs: nothing
/// drops).
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn cached_pages(file: &Path) -> Option<usize> {
    use std::os::fd::AsRawFd;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    let fs = rustix::fs::statfs(file).unwrap().f_type as i64;
    if fs == TMPFS_MAGIC || fs == RAMFS_MAGIC {
        return None;
    }
    let f = File::open(file).unwrap();
    let len = f.metadata().unwrap().len() as usize;
    if len == 0 {
        return Some(0);
    }
    let mut v = vec![0u8; len.div_ceil(page_size())];
    // SAFETY: a private read-only mapping of `len` bytes of an open file, unmapped below; `v`
    // has one byte per page of it.
    unsafe {
        let map = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            f.as_raw_fd(),
            0,
        );
        assert_ne!(
            map,
            libc::MAP_FAILED,
            "mmap: {}",
            std::io::Error::last_os_error()
        );
        let r = libc::mincore(map, len, v.as_mut_ptr());
        let err = std::io::Error::last_os_error();
        libc::munmap(map, len);
        assert_eq!(r, 0, "mincore: {err}");
    }
    Some(v.iter().filter(|b| **b & 1 == 1).count())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_synced_file_leaves_the_cache_and_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..1 << 22).map(|i: u32| (i * 13 % 251) as u8).collect();
        let mut f = File::create(&path).unwrap();
        f.write_all(&data).unwrap();
        f.sync_all().unwrap();
        let pages = data.len() / page_size();
        // Where pages are the data (tmpfs) or written files are not cached (ZFS has a cache
        // of its own) there is nothing to drop: the call must still leave the bytes whole.
        let cached_first = cached_pages(&path).is_some_and(|before| before > pages / 2);
        drop_file_pages(&path);
        if cached_first {
            let after = cached_pages(&path).unwrap();
            assert!(
                after < pages / 4,
                "dropped: {after} of {pages} still cached"
            );
        }
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }
}
