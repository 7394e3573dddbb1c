//! Durable, never-overwriting file writes for the export target: temporary names next to the
//! final ones, one file-system sync for a whole batch, then a rename to the final name that
//! fails if the name exists (`RENAME_NOREPLACE`; a hard link where that is not supported). A
//! crash never leaves a partial file under a final name.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` only if nothing is there (create_new); `Ok(false)` if it exists.
pub(super) fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(mut f) => {
            f.write_all(bytes)?;
            f.sync_data()?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// A temporary name next to `path` (hidden, random suffix).
pub(super) fn temp_name(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(
        ".{}.imvault-tmp-{:08x}",
        file_name.chars().take(60).collect::<String>(),
        fastrand::u32(..)
    ))
}

/// Writes `parts` to a new file `tmp` (not synced: [`sync_fs`] does that for a whole batch).
pub(super) fn write_temp(
    tmp: &Path,
    parts: &[bytes::Bytes],
    mtime: Option<std::time::SystemTime>,
) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)?;
    write_parts(&mut f, parts)?;
    if let Some(m) = mtime {
        let _ = f.set_modified(m);
    }
    Ok(())
}

/// Writes every part, in order, with as few `writev` calls as the kernel allows.
fn write_parts(f: &mut std::fs::File, parts: &[bytes::Bytes]) -> std::io::Result<()> {
    if let [one] = parts {
        return f.write_all(one);
    }
    let mut slices: Vec<std::io::IoSlice<'_>> =
        parts.iter().map(|p| std::io::IoSlice::new(p)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        // At most IOV_MAX (1024 on Linux) slices a call.
        let n = rest.len().min(1024);
        match f.write_vectored(&rest[..n]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => std::io::IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Makes everything written so far to the file system holding `dir` durable: `syncfs(2)` on
/// Linux (one call for a whole batch instead of an fsync per file), `sync(2)` elsewhere.
pub(super) fn sync_fs(dir: &Path) -> std::io::Result<()> {
    let d = std::fs::File::open(dir)?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        // SAFETY: `d` is an open descriptor for the duration of the call.
        if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        d.sync_all()?;
        // SAFETY: sync(2) takes no arguments and cannot fail.
        unsafe { libc::sync() };
    }
    Ok(())
}

/// Gives the durable temporary file `tmp` its final name `path`, never overwriting: on Linux
/// one `renameat2(RENAME_NOREPLACE)` (fails if `path` exists); where the file system does not
/// support that, a hard link (which fails if `path` exists) and the removal of `tmp`.
/// `Ok(false)` if `path` exists; `tmp` is gone either way.
pub(super) fn place(tmp: &Path, path: &Path) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    match rename_noreplace(tmp, path) {
        Ok(()) => return Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(tmp);
            return Ok(false);
        }
        // EINVAL / ENOSYS: not supported here; fall back to a hard link.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) => {}
        Err(e) => {
            let _ = std::fs::remove_file(tmp);
            return Err(e);
        }
    }
    let r = match std::fs::hard_link(tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        // File systems without hard links: rename after checking (not atomic there).
        Err(_) if !path.exists() => std::fs::rename(tmp, path).map(|()| true),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(tmp);
    r
}

/// `renameat2(tmp, path, RENAME_NOREPLACE)`: one metadata operation, fails with
/// `AlreadyExists` if `path` exists.
#[cfg(target_os = "linux")]
fn rename_noreplace(tmp: &Path, path: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt as _;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let (from, to) = (c(tmp)?, c(path)?);
    // SAFETY: both are valid NUL-terminated paths for the duration of the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Places queued files (after a sync); a failure is logged, the name is left free.
pub(super) fn place_pending(pending: Vec<(PathBuf, PathBuf)>) {
    for (tmp, path) in pending {
        match place(&tmp, &path) {
            Ok(true) => {}
            Ok(false) => tracing::debug!(path = %path.display(), "exists, not overwritten"),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "could not place a sidecar")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file written from several parts (as many as a large version has blobs, some empty)
    /// holds exactly their concatenation; placing it never overwrites an existing name and
    /// leaves no temporary name behind.
    #[test]
    fn parts_written_in_order_and_placed_without_overwriting() {
        let dir = tempfile::tempdir().unwrap();
        let parts: Vec<bytes::Bytes> = (0..1500)
            .map(|i| bytes::Bytes::from(vec![(i % 251) as u8; (i * 37) % 5000]))
            .collect();
        let want: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        let path = dir.path().join("doc (doc 1 v 1).txt");
        let tmp = temp_name(&path);
        write_temp(&tmp, &parts, None).unwrap();
        sync_fs(dir.path()).unwrap();
        assert!(place(&tmp, &path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), want);
        assert!(!tmp.exists());

        let tmp2 = temp_name(&path);
        write_temp(&tmp2, &[bytes::Bytes::from_static(b"other")], None).unwrap();
        assert!(!place(&tmp2, &path).unwrap(), "an existing name is kept");
        assert_eq!(std::fs::read(&path).unwrap(), want);
        assert!(!tmp2.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
