//! Durable, never-overwriting file writes for the export target: temporary names next to the
//! final ones, one file-system sync for a whole batch, then a rename to the final name that
//! fails if the name exists (`RENAME_NOREPLACE`; a hard link where that is not supported). A
//! crash never leaves a partial file under a final name.
//!
//! Every name below the export's top directory is reached from a handle of that directory, one
//! component at a time (`openat`/`mkdirat` with `O_NOFOLLOW`, files created `O_EXCL`): a
//! symbolic link planted anywhere in the target tree is refused, never followed out of it. On
//! Unix the handles of the last [`DIRS_KEPT`] directories walked are kept for the next files:
//! a kept handle names the directory it was opened on, wherever that directory is moved later
//! (the files still land in a directory the walk checked, never through a link).

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The export's top directory, opened once: the root of every write below it.
pub(super) struct Tree {
    base: PathBuf,
    root: Arc<sys::Dir>,
    /// Handles of directories walked lately, by their components below the top (at most
    /// [`DIRS_KEPT`]): a window writes, syncs and places thousands of files in a few
    /// directories, and walking from the top for each took ~11 `openat` calls per file. A
    /// handle keeps naming the directory it was opened on; the export never removes one.
    dirs: Mutex<HashMap<PathBuf, Arc<sys::Dir>>>,
}

/// Directory handles a [`Tree`] keeps open at most (Unix; they count against the open files
/// limit, see [`super::open_files`]; a handle still in use when the map is cleared stays open
/// until that use ends).
pub(super) const DIRS_KEPT: usize = 64;

impl Tree {
    /// Opens `base` (which must exist; the operator's own path to it may hold links).
    pub(super) fn open(base: &Path) -> std::io::Result<Self> {
        Ok(Self {
            base: base.to_path_buf(),
            root: Arc::new(sys::open_root(base)?),
            dirs: Mutex::new(HashMap::new()),
        })
    }

    /// The components of `path` below the top directory (each a plain name).
    fn components<'p>(&self, path: &'p Path) -> std::io::Result<Vec<&'p std::ffi::OsStr>> {
        let rel = path.strip_prefix(&self.base).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{} is outside the export target {}",
                    path.display(),
                    self.base.display()
                ),
            )
        })?;
        rel.components()
            .map(|c| match c {
                Component::Normal(n) => Ok(n),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "{} is not a plain path below the export target",
                        path.display()
                    ),
                )),
            })
            .collect()
    }

    /// Walks to directory `dir` from the top (or from the deepest of its directories whose
    /// handle is kept) without following links; creates what is missing when `create`.
    /// Returns its handle and whether its last component was created.
    fn walk(
        &self,
        dir: &[&std::ffi::OsStr],
        create: bool,
    ) -> std::io::Result<(Arc<sys::Dir>, bool)> {
        let key = |n: usize| -> PathBuf { dir[..n].iter().collect() };
        let (mut at, mut cur) = {
            let kept = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
            (1..=dir.len())
                .rev()
                .find_map(|n| kept.get(&key(n)).map(|d| (n, d.clone())))
                .unwrap_or_else(|| (0, self.root.clone()))
        };
        let mut created = false;
        while at < dir.len() {
            let shown = self.base.join(key(at + 1));
            let (next, made) = sys::child(&cur, dir[at], create).map_err(|e| refused(&shown, e))?;
            cur = Arc::new(next);
            created = made;
            at += 1;
            // Elsewhere a "handle" is a path looked up again at each use: nothing is kept.
            if cfg!(unix) {
                let mut kept = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
                if kept.len() >= DIRS_KEPT {
                    kept.clear();
                }
                kept.insert(key(at), cur.clone());
            }
        }
        Ok((cur, created))
    }

    /// The handle of `path`'s directory and its last component.
    fn locate(&self, path: &Path) -> std::io::Result<(Arc<sys::Dir>, OsString)> {
        let parts = self.components(path)?;
        let Some((name, dir)) = parts.split_last() else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the export target itself is not a file",
            ));
        };
        let (d, _) = self.walk(dir, false)?;
        Ok((d, name.to_os_string()))
    }

    /// Creates directory `dir` and its missing parents; `true` if `dir` itself was created.
    pub(super) fn create_dir_all(&self, dir: &Path) -> std::io::Result<bool> {
        let parts = self.components(dir)?;
        self.walk(&parts, true).map(|(_, created)| created)
    }

    /// Whether anything (a link too) has the name `path`.
    pub(super) fn exists(&self, path: &Path) -> bool {
        self.locate(path)
            .map(|(d, name)| sys::exists(&d, &name))
            .unwrap_or(false)
    }

    /// A new file `path` (it must not exist).
    pub(super) fn create_new(&self, path: &Path) -> std::io::Result<std::fs::File> {
        let (d, name) = self.locate(path)?;
        sys::create_new(&d, &name)
    }

    /// Writes `bytes` to `path` only if nothing is there; `Ok(false)` if it exists.
    pub(super) fn write_new(&self, path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
        match self.create_new(path) {
            Ok(mut f) => {
                f.write_all(bytes)?;
                f.sync_data()?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes `parts` to a new file `tmp` (not synced: [`Tree::sync`] does that for a whole
    /// batch).
    pub(super) fn write_temp(
        &self,
        tmp: &Path,
        parts: &[bytes::Bytes],
        mtime: Option<std::time::SystemTime>,
    ) -> std::io::Result<()> {
        let mut f = self.create_new(tmp)?;
        write_parts(&mut f, parts)?;
        if let Some(m) = mtime {
            let _ = f.set_modified(m);
        }
        Ok(())
    }

    /// Removes the file `path` (not a directory; a link itself, never its target).
    pub(super) fn remove(&self, path: &Path) {
        if let Ok((d, name)) = self.locate(path) {
            let _ = sys::unlink(&d, &name);
        }
    }

    /// Makes everything written so far to the file system of the export durable: `syncfs(2)`
    /// on Linux (one call for a whole batch instead of an fsync per file), `sync(2)` elsewhere.
    pub(super) fn sync(&self) -> std::io::Result<()> {
        sys::sync_fs(&self.root)
    }

    /// Gives the durable temporary file `tmp` its final name `path` (in the same directory),
    /// never overwriting: one `renameat2(RENAME_NOREPLACE)` where supported, else a hard link
    /// (which fails if `path` exists) and the removal of `tmp`. `Ok(false)` if `path` exists;
    /// `tmp` is gone either way.
    pub(super) fn place(&self, tmp: &Path, path: &Path) -> std::io::Result<bool> {
        let (d, to) = self.locate(path)?;
        let from = match tmp.file_name() {
            Some(f) if tmp.parent() == path.parent() => f.to_os_string(),
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "a temporary file is placed in its own directory",
                ));
            }
        };
        let r = sys::rename_noreplace(&d, &from, &to);
        if !matches!(r, Ok(true)) {
            let _ = sys::unlink(&d, &from);
        }
        r
    }

    /// Places queued files (after a sync); a failure is logged, the name is left free.
    pub(super) fn place_pending(&self, pending: Vec<(PathBuf, PathBuf)>) {
        for (tmp, path) in pending {
            match self.place(&tmp, &path) {
                Ok(true) => {}
                Ok(false) => tracing::debug!(path = %path.display(), "exists, not overwritten"),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not place a sidecar")
                }
            }
        }
    }
}

/// The error of a directory that could not be walked into, naming it (a link or a file where a
/// directory was expected is refused).
fn refused(dir: &Path, e: std::io::Error) -> std::io::Error {
    if sys::is_not_a_directory(&e) {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} is a symbolic link or not a directory; the export never follows links",
                dir.display()
            ),
        )
    } else {
        std::io::Error::new(e.kind(), format!("{}: {e}", dir.display()))
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

/// Directory handles and `*at` calls (Unix).
#[cfg(unix)]
mod sys {
    use std::ffi::OsStr;
    use std::os::fd::OwnedFd;
    use std::path::Path;

    use rustix::fs::{AtFlags, CWD, Mode, OFlags};
    use rustix::io::Errno;

    pub type Dir = OwnedFd;

    /// Mode of new directories and files: private to the owner (0700/0600) whatever the
    /// umask (restored documents are as confidential as the repository).
    const DIR_MODE: Mode = Mode::RWXU;
    const FILE_MODE: Mode = Mode::RUSR.union(Mode::WUSR);

    const DIR_FLAGS: OFlags = OFlags::RDONLY
        .union(OFlags::DIRECTORY)
        .union(OFlags::NOFOLLOW)
        .union(OFlags::CLOEXEC);

    pub fn open_root(base: &Path) -> std::io::Result<Dir> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Ok(rustix::fs::openat(CWD, base, flags, Mode::empty())?)
    }

    /// The directory `name` in `d` (never through a link); created first when missing and
    /// `create`. `true` if this call created it.
    pub fn child(d: &Dir, name: &OsStr, create: bool) -> std::io::Result<(Dir, bool)> {
        match rustix::fs::openat(d, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => Ok((fd, false)),
            Err(Errno::NOENT) if create => {
                let made = match rustix::fs::mkdirat(d, name, DIR_MODE) {
                    Ok(()) => true,
                    Err(Errno::EXIST) => false,
                    Err(e) => return Err(e.into()),
                };
                let fd = rustix::fs::openat(d, name, DIR_FLAGS, Mode::empty())?;
                Ok((fd, made))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn is_not_a_directory(e: &std::io::Error) -> bool {
        matches!(
            e.raw_os_error().map(Errno::from_raw_os_error),
            Some(Errno::LOOP | Errno::NOTDIR)
        )
    }

    pub fn exists(d: &Dir, name: &OsStr) -> bool {
        rustix::fs::statat(d, name, AtFlags::SYMLINK_NOFOLLOW).is_ok()
    }

    pub fn create_new(d: &Dir, name: &OsStr) -> std::io::Result<std::fs::File> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(d, name, flags, FILE_MODE)?;
        Ok(std::fs::File::from(fd))
    }

    pub fn unlink(d: &Dir, name: &OsStr) -> std::io::Result<()> {
        Ok(rustix::fs::unlinkat(d, name, AtFlags::empty())?)
    }

    /// `Ok(false)` if `to` exists (nothing replaced).
    pub fn rename_noreplace(d: &Dir, from: &OsStr, to: &OsStr) -> std::io::Result<bool> {
        #[cfg(target_os = "linux")]
        match rustix::fs::renameat_with(d, from, d, to, rustix::fs::RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(true),
            Err(Errno::EXIST) => return Ok(false),
            // Not supported by this file system: a hard link instead.
            Err(Errno::INVAL | Errno::NOSYS) => {}
            Err(e) => return Err(e.into()),
        }
        match rustix::fs::linkat(d, from, d, to, AtFlags::empty()) {
            Ok(()) => {
                let _ = rustix::fs::unlinkat(d, from, AtFlags::empty());
                Ok(true)
            }
            Err(Errno::EXIST) => Ok(false),
            // File systems without hard links: rename after checking (not atomic there).
            Err(_) if !exists(d, to) => {
                rustix::fs::renameat(d, from, d, to)?;
                Ok(true)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn sync_fs(d: &Dir) -> std::io::Result<()> {
        #[cfg(target_os = "linux")]
        rustix::fs::syncfs(d)?;
        #[cfg(not(target_os = "linux"))]
        {
            rustix::fs::fsync(d)?;
            rustix::fs::sync();
        }
        Ok(())
    }
}

/// Plain paths where there are no `*at` calls: links are refused by a check before each step
/// (not race-free).
#[cfg(not(unix))]
mod sys {
    use std::ffi::OsStr;
    use std::path::{Path, PathBuf};

    pub type Dir = PathBuf;

    pub fn open_root(base: &Path) -> std::io::Result<Dir> {
        if !std::fs::metadata(base)?.is_dir() {
            return Err(std::io::ErrorKind::NotADirectory.into());
        }
        Ok(base.to_path_buf())
    }

    pub fn child(d: &Dir, name: &OsStr, create: bool) -> std::io::Result<(Dir, bool)> {
        let p = d.join(name);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => Ok((p, false)),
            Ok(_) => Err(std::io::ErrorKind::NotADirectory.into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                match std::fs::create_dir(&p) {
                    Ok(()) => Ok((p, true)),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        child(d, name, false)
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    pub fn is_not_a_directory(e: &std::io::Error) -> bool {
        e.kind() == std::io::ErrorKind::NotADirectory
    }

    pub fn exists(d: &Dir, name: &OsStr) -> bool {
        std::fs::symlink_metadata(d.join(name)).is_ok()
    }

    pub fn create_new(d: &Dir, name: &OsStr) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(d.join(name))
    }

    pub fn unlink(d: &Dir, name: &OsStr) -> std::io::Result<()> {
        std::fs::remove_file(d.join(name))
    }

    pub fn rename_noreplace(d: &Dir, from: &OsStr, to: &OsStr) -> std::io::Result<bool> {
        match std::fs::hard_link(d.join(from), d.join(to)) {
            Ok(()) => {
                let _ = std::fs::remove_file(d.join(from));
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(_) if !exists(d, to) => std::fs::rename(d.join(from), d.join(to)).map(|()| true),
            Err(e) => Err(e),
        }
    }

    pub fn sync_fs(d: &Dir) -> std::io::Result<()> {
        std::fs::File::open(d)?.sync_all()
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
        let tree = Tree::open(dir.path()).unwrap();
        let parts: Vec<bytes::Bytes> = (0..1500)
            .map(|i| bytes::Bytes::from(vec![(i % 251) as u8; (i * 37) % 5000]))
            .collect();
        let want: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        let path = dir.path().join("doc (doc 1 v 1).txt");
        let tmp = temp_name(&path);
        tree.write_temp(&tmp, &parts, None).unwrap();
        tree.sync().unwrap();
        assert!(tree.place(&tmp, &path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), want);
        assert!(!tmp.exists());

        let tmp2 = temp_name(&path);
        tree.write_temp(&tmp2, &[bytes::Bytes::from_static(b"other")], None)
            .unwrap();
        assert!(
            !tree.place(&tmp2, &path).unwrap(),
            "an existing name is kept"
        );
        assert_eq!(std::fs::read(&path).unwrap(), want);
        assert!(!tmp2.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// Issue 18: a symbolic link planted in the export tree (as a directory on the way, or at a
    /// file's name) is never followed: nothing is created or written outside the tree, and the
    /// error names the link.
    #[cfg(unix)]
    #[test]
    fn links_planted_in_the_tree_are_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let (base, outside) = (dir.path().join("export"), dir.path().join("outside"));
        std::fs::create_dir_all(base.join("real")).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, base.join("Matter")).unwrap();
        std::os::unix::fs::symlink(&outside, base.join("real/Sub")).unwrap();
        std::os::unix::fs::symlink(outside.join("f"), base.join("real/x.txt")).unwrap();
        let tree = Tree::open(&base).unwrap();

        let err = tree
            .create_dir_all(&base.join("Matter/Folder"))
            .unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(err.to_string().contains("Matter"), "{err}");
        assert!(tree.create_dir_all(&base.join("real/Sub")).is_err());
        let bytes = [bytes::Bytes::from_static(b"secret")];
        assert!(
            tree.write_temp(&base.join("Matter/a.txt"), &bytes, None)
                .is_err()
        );
        assert!(
            tree.write_temp(&base.join("real/Sub/a.txt"), &bytes, None)
                .is_err()
        );
        assert!(!tree.write_new(&base.join("real/x.txt"), b"secret").unwrap());
        // A temporary file does not get a final name that is a link (nor replace it).
        let tmp = temp_name(&base.join("real/x.txt"));
        tree.write_temp(&tmp, &bytes, None).unwrap();
        assert!(!tree.place(&tmp, &base.join("real/x.txt")).unwrap());
        assert!(tree.exists(&base.join("real/x.txt")));
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "written outside"
        );
        // Ordinary directories are created and reported as created once.
        assert!(tree.create_dir_all(&base.join("real/New/Deeper")).unwrap());
        assert!(!tree.create_dir_all(&base.join("real/New/Deeper")).unwrap());
        assert!(base.join("real/New/Deeper").is_dir());
    }

    /// Directory handles kept across calls: files in more directories than [`DIRS_KEPT`],
    /// written in turns, each land in their own directory, and no more handles stay open.
    #[test]
    fn kept_directory_handles_are_bounded_and_name_the_right_directory() {
        let dir = tempfile::tempdir().unwrap();
        let tree = Tree::open(dir.path()).unwrap();
        let n = 3 * DIRS_KEPT;
        let dirs: Vec<PathBuf> = (0..n)
            .map(|i| {
                dir.path()
                    .join(format!("ws {}", i % 7))
                    .join(format!("f {}", i / 7)) // the same leaf names under different parents
            })
            .collect();
        for d in &dirs {
            tree.create_dir_all(d).unwrap();
        }
        for round in 0..2 {
            for (i, d) in dirs.iter().enumerate() {
                let path = d.join(format!("v{round}.txt"));
                let tmp = temp_name(&path);
                tree.write_temp(&tmp, &[bytes::Bytes::from(format!("{i} {round}"))], None)
                    .unwrap();
                assert!(tree.place(&tmp, &path).unwrap());
                assert!(tree.dirs.lock().unwrap().len() <= DIRS_KEPT);
            }
        }
        for (i, d) in dirs.iter().enumerate() {
            for round in 0..2 {
                let got = std::fs::read_to_string(d.join(format!("v{round}.txt"))).unwrap();
                assert_eq!(got, format!("{i} {round}"));
            }
            assert_eq!(std::fs::read_dir(d).unwrap().count(), 2, "{}", d.display());
        }
    }

    /// A directory swapped for a link to elsewhere after the export walked into it: what is
    /// written next never goes through the link (a kept handle names the directory it was
    /// opened on; a fresh walk refuses the link).
    #[cfg(unix)]
    #[test]
    fn a_directory_swapped_for_a_link_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let (base, outside) = (dir.path().join("export"), dir.path().join("outside"));
        std::fs::create_dir_all(base.join("Matter")).unwrap();
        std::fs::create_dir(&outside).unwrap();
        let tree = Tree::open(&base).unwrap();
        let bytes = [bytes::Bytes::from_static(b"privileged")];
        tree.write_temp(&base.join("Matter/a.tmp"), &bytes, None)
            .unwrap();
        std::fs::rename(base.join("Matter"), base.join("Moved")).unwrap();
        std::os::unix::fs::symlink(&outside, base.join("Matter")).unwrap();
        // Written into the directory the walk checked (where it is now), or refused.
        match tree.write_temp(&base.join("Matter/b.tmp"), &bytes, None) {
            Ok(()) => assert!(base.join("Moved/b.tmp").exists()),
            Err(e) => assert!(e.to_string().contains("symbolic link"), "{e}"),
        }
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "written through the link"
        );
        // A tree opened afresh refuses the link outright.
        let fresh = Tree::open(&base).unwrap();
        let err = fresh
            .write_temp(&base.join("Matter/c.tmp"), &bytes, None)
            .unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }
}
