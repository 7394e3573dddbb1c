//! Local files imvault creates are private to its user: files 0600, directories 0700,
//! whatever the umask (docs/SECURITY.md, "Local files").
//!
//! Two layers: the binary sets its umask to 0077 before anything else ([`restrict_umask`]), so
//! files created by libraries (SQLite's journal, object_store's staging files, temporary files)
//! are private too; and every file or directory imvault creates itself is created with an
//! explicit mode through this module, so the library is private even in a process that keeps a
//! wider umask (tests, embedders).

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::path::Path;

/// Mode of every file imvault creates.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every directory imvault creates.
pub const DIR_MODE: u32 = 0o700;

/// Sets the process umask to 0077, so that nothing this process creates (through any library)
/// is readable by other users. Call first thing in `main`, before threads are started.
pub fn restrict_umask() {
    #[cfg(unix)]
    // SAFETY: umask only changes the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// `create_dir_all` whose new directories are 0700. Existing directories are left as they are.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    let mut b = DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, DIR_MODE);
    b.create(path)
}

/// `create_dir` (one level, fails if it exists) with mode 0700.
pub fn create_dir(path: &Path) -> io::Result<()> {
    let mut b = DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, DIR_MODE);
    b.create(path)
}

/// `OpenOptions` whose newly created file is 0600 (set read/write/create flags on the result).
pub fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, FILE_MODE);
    o
}

/// `std::fs::write` whose file, when created, is 0600.
pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> io::Result<()> {
    use std::io::Write as _;
    let mut f = options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(bytes.as_ref())
}

/// Creates `path` (and missing parents) 0700, or, when it exists and belongs to this user,
/// takes away every permission of group and others. Used for directories that hold nothing
/// but imvault's own data (a `file://` repository).
pub fn make_private_dir(path: &Path) -> io::Result<()> {
    create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let m = std::fs::metadata(path)?;
        if m.uid() == current_uid() && m.mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(m.mode() & 0o700))?;
        }
    }
    Ok(())
}

/// The effective user id of this process.
#[cfg(unix)]
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Why an existing directory is not a safe place to write private files into: it is writable
/// by group or others (someone else could plant or swap files), or owned by another user.
/// `None` when it is safe.
pub fn unsafe_dir_reason(path: &Path) -> io::Result<Option<String>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        let me = current_uid();
        if m.uid() != me {
            return Ok(Some(format!(
                "is owned by another user (uid {}, this process runs as uid {me})",
                m.uid()
            )));
        }
        if m.mode() & 0o022 != 0 {
            return Ok(Some(format!(
                "is writable by {} (mode {:o})",
                if m.mode() & 0o002 != 0 {
                    "every user"
                } else {
                    "its group"
                },
                m.mode() & 0o7777
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(None)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn created_private_under_a_wide_umask() {
        // The test process keeps its own umask (often 022): the explicit modes still apply.
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("a/b/c");
        create_dir_all(&d).unwrap();
        for p in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&dir.path().join(p)), 0o700, "{p}");
        }
        let f = d.join("f");
        write(&f, b"x").unwrap();
        assert_eq!(mode(&f), 0o600);
        let g = d.join("g");
        options().write(true).create_new(true).open(&g).unwrap();
        assert_eq!(mode(&g), 0o600);
    }

    #[test]
    fn wide_own_directory_is_tightened_and_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("repo");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let why = unsafe_dir_reason(&d)
            .unwrap()
            .expect("world-writable is unsafe");
        assert!(why.contains("every user"), "{why}");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o770)).unwrap();
        let why = unsafe_dir_reason(&d)
            .unwrap()
            .expect("group-writable is unsafe");
        assert!(why.contains("group"), "{why}");
        make_private_dir(&d).unwrap();
        assert_eq!(mode(&d), 0o700);
        assert_eq!(unsafe_dir_reason(&d).unwrap(), None);
        // Owned by another user.
        if current_uid() == 0 {
            std::os::unix::fs::chown(&d, Some(65534), None).unwrap();
            let why = unsafe_dir_reason(&d)
                .unwrap()
                .expect("foreign-owned is unsafe");
            assert!(why.contains("another user"), "{why}");
        } else {
            assert!(unsafe_dir_reason(Path::new("/")).unwrap().is_some());
        }
    }
}
