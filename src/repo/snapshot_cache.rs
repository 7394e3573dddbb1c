//! A private local cache of snapshot manifests, so that planning a nightly reads a constant
//! number of repository objects however many snapshots exist.
//!
//! Finding a library's last snapshot needs every manifest (the library is inside it); without
//! this cache that is one GET per snapshot of the repository on every run. Manifests are
//! immutable and named by the hash of their stored bytes, so a copy is as good as the object:
//! the cache keeps the **stored bytes** exactly as read (whatever the repository format wraps
//! them in), one file per snapshot, `<base>/<repository id>/snapshots/<snapshot id>`.
//!
//! - Every read of a cached copy goes through the same decoding and checks as a GET (the hash
//!   against the name, the format version): a damaged or tampered copy is never used; it is
//!   removed and the manifest fetched again.
//! - A LIST of `snapshots/` stays the truth of which snapshots exist: the cache is only asked
//!   for ids that LIST returned, so a snapshot forgotten elsewhere is never used, and copies of
//!   snapshots no longer listed are removed.
//! - Files are 0600 in 0700 directories, written to a temporary file and renamed, so a crash
//!   leaves no torn copy under a snapshot's name. Several processes may share the cache: each
//!   writes the same bytes under the same name.
//! - It is only a cache: a missing, unwritable or deleted cache costs GETs, never a failure.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::repo::id::SnapshotId;

/// The manifests of one repository cached in one directory.
#[derive(Debug)]
pub struct SnapshotCache {
    dir: PathBuf,
}

impl SnapshotCache {
    /// The cache of repository `repo_id` under `base` (created 0700 if missing). `None`, after
    /// a warning, when the directory cannot be made: the repository then GETs every manifest.
    pub fn open(base: &Path, repo_id: &str) -> Option<Self> {
        let dir = base.join(dir_name(repo_id)).join("snapshots");
        match create_private_dirs(&dir) {
            Ok(()) => Some(Self { dir }),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot create the snapshot cache; every snapshot manifest will be read from the repository");
                None
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the copy of `id` lives.
    pub fn path(&self, id: &SnapshotId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// The cached stored bytes of `id`, if there is a copy (not checked here: decode them).
    pub async fn get(&self, id: &SnapshotId) -> Option<Vec<u8>> {
        match tokio::fs::read(self.path(id)).await {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                tracing::debug!(snapshot = %id.short(), error = %e, "cannot read the cached manifest; reading it from the repository");
                None
            }
        }
    }

    /// Keeps the stored bytes of `id`, which were just read and decoded successfully.
    pub async fn put(&self, id: &SnapshotId, stored: &[u8]) {
        let path = self.path(id);
        let dir = self.dir.clone();
        let bytes = stored.to_vec();
        let r = tokio::task::spawn_blocking(move || write_atomic(&dir, &path, &bytes)).await;
        if let Ok(Err(e)) | Err(e) = r.map_err(std::io::Error::other) {
            tracing::debug!(snapshot = %id.short(), error = %e, "cannot cache the manifest");
        }
    }

    /// Drops the copy of `id` (it failed its checks).
    pub async fn remove(&self, id: &SnapshotId) {
        let _ = tokio::fs::remove_file(self.path(id)).await;
    }

    /// Removes the copies of snapshots that are not in `listed` (forgotten snapshots) and
    /// leftover temporary files of interrupted writes.
    pub async fn retain(&self, listed: &HashSet<SnapshotId>) {
        let dir = self.dir.clone();
        let listed = listed.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                return;
            };
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                let keep = match name.parse::<SnapshotId>() {
                    Ok(id) => listed.contains(&id),
                    // A temporary file of a write still going on is young; older ones are left
                    // by a crash.
                    Err(_) => name.starts_with(".tmp-") && is_recent(&e),
                };
                if !keep {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        })
        .await;
    }
}

/// The repository id as a directory name; an id that is not a plain name (it is read from the
/// repository) is replaced by its hash, so it cannot point outside `base`.
fn dir_name(repo_id: &str) -> String {
    let plain = !repo_id.is_empty()
        && repo_id.len() <= 64
        && repo_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        repo_id.to_string()
    } else {
        blake3::hash(repo_id.as_bytes()).to_hex().to_string()
    }
}

fn is_recent(e: &std::fs::DirEntry) -> bool {
    e.metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() < 3600)
}

/// `create_dir_all` whose new directories are 0700 whatever the umask; the last one is made
/// private if it exists with wider permissions.
fn create_private_dirs(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(dir)?;
        if m.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Writes `bytes` to a fresh 0600 temporary file in `dir`, then renames it to `path`.
fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let result = (|| {
        let mut f = o.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[tokio::test]
    async fn copies_are_private_and_forgotten_ones_go() {
        let base = tempfile::tempdir().unwrap();
        let cache = SnapshotCache::open(base.path(), "repo1").unwrap();
        let (a, b) = (SnapshotId::of(b"a"), SnapshotId::of(b"b"));
        cache.put(&a, b"a").await;
        cache.put(&b, b"b").await;
        assert_eq!(cache.get(&a).await.as_deref(), Some(&b"a"[..]));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&cache.path(&a)), 0o600);
        assert_eq!(mode(cache.dir()), 0o700);
        assert_eq!(mode(&base.path().join("repo1")), 0o700);
        std::fs::write(cache.dir().join("stray"), b"x").unwrap();
        cache.retain(&HashSet::from([b])).await;
        assert_eq!(cache.get(&a).await, None);
        assert_eq!(cache.get(&b).await.as_deref(), Some(&b"b"[..]));
        let left: Vec<_> = std::fs::read_dir(cache.dir()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    #[test]
    fn a_repository_id_cannot_leave_the_base() {
        assert_eq!(dir_name("3f2a-b_C"), "3f2a-b_C");
        for bad in ["../x", "a/b", "", ".", ".."] {
            let d = dir_name(bad);
            assert_eq!(d.len(), 64, "{bad}");
            assert!(d.bytes().all(|b| b.is_ascii_hexdigit()), "{bad}");
        }
    }
}
