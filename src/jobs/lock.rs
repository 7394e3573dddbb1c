//! One backup of a library at a time on this host: an exclusive lock file per library.
//!
//! The lock is an OS file lock (`flock`), so it dies with its process: a lock left by a killed
//! backup is stale by construction and the next run takes it. The file holds the owner's pid and
//! start time, only to tell the operator who holds a live lock.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "a backup of library {library} is already running on this host ({holder}); lock file {path}"
    )]
    Busy {
        library: String,
        holder: String,
        path: PathBuf,
    },
    #[error("cannot use lock file {path} for library {library}")]
    Io {
        library: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A lock file opened by [`try_lock_file`].
pub(crate) enum Locked {
    /// Locked by this process until the file is closed.
    Ours(File),
    /// Another process holds it (the file is open to read who).
    Busy(File),
}

/// Opens (creating it 0600, its directory 0700) and tries to `flock` the file at `path`.
pub(crate) fn try_lock_file(path: &Path) -> std::io::Result<Locked> {
    if let Some(dir) = path.parent() {
        crate::private_fs::create_dir_all(dir)?;
    }
    let file = crate::private_fs::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Locked::Ours(file)),
        Err(TryLockError::WouldBlock) => Ok(Locked::Busy(file)),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Held while a library is being backed up; released on drop (or when the process dies).
#[derive(Debug)]
pub struct LibraryLock {
    _file: File,
    path: PathBuf,
}

impl LibraryLock {
    /// Takes the lock of `library` under `dir`, or says who holds it.
    pub fn acquire(dir: &Path, library: &str) -> Result<Self, LockError> {
        let path = dir.join(format!("{}.lock", sanitize(library)));
        let mut file;
        let io = |source| LockError::Io {
            library: library.to_string(),
            path: path.clone(),
            source,
        };
        match try_lock_file(&path).map_err(io)? {
            Locked::Ours(f) => file = f,
            Locked::Busy(mut file) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = if holder.trim().is_empty() {
                    "holder unknown".to_string()
                } else {
                    holder.trim().to_string()
                };
                return Err(LockError::Busy {
                    library: library.to_string(),
                    holder,
                    path,
                });
            }
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(
            file,
            "pid {} since {}",
            std::process::id(),
            chrono::Utc::now().to_rfc3339()
        )
        .map_err(io)?;
        file.flush().map_err(io)?;
        Ok(Self { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// [`Self::acquire`], trying again for up to `patience` while the lock is busy. A `flock`
    /// belongs to the open file, and a process forked by this one (any subprocess, until it
    /// execs) shares it for a moment: a lock just released can still look held.
    pub async fn acquire_patiently(
        dir: &Path,
        library: &str,
        patience: std::time::Duration,
    ) -> Result<Self, LockError> {
        let until = std::time::Instant::now() + patience;
        loop {
            match Self::acquire(dir, library) {
                Err(LockError::Busy { .. }) if std::time::Instant::now() < until => {
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                }
                other => return other,
            }
        }
    }
}

fn sanitize(library: &str) -> String {
    library
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_patient_taker_gets_a_lock_released_meanwhile_and_is_refused_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let held = LibraryLock::acquire(dir.path(), "ACTIVE").unwrap();
        let err = LibraryLock::acquire_patiently(
            dir.path(),
            "ACTIVE",
            std::time::Duration::from_millis(100),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, LockError::Busy { .. }), "{err}");
        let path = dir.path().to_path_buf();
        let waiter = tokio::spawn(async move {
            LibraryLock::acquire_patiently(&path, "ACTIVE", std::time::Duration::from_secs(30))
                .await
        });
        tokio::task::yield_now().await;
        drop(held);
        waiter.await.unwrap().expect("taken once released");
    }

    #[test]
    fn second_holder_is_refused_then_admitted_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let first = LibraryLock::acquire(dir.path(), "ACTIVE").unwrap();
        let err = LibraryLock::acquire(dir.path(), "ACTIVE").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("already running") && msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        // Another library is independent.
        let _other = LibraryLock::acquire(dir.path(), "ARCHIVE").unwrap();
        drop(first);
        LibraryLock::acquire(dir.path(), "ACTIVE").expect("released lock can be taken again");
    }

    #[test]
    fn stale_lock_file_without_a_live_holder_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        // A file left behind by a killed process: present, but nobody holds the OS lock.
        std::fs::write(dir.path().join("ACTIVE.lock"), "pid 999999 since yesterday").unwrap();
        let lock = LibraryLock::acquire(dir.path(), "ACTIVE").unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert!(
            text.starts_with(&format!("pid {}", std::process::id())),
            "{text}"
        );
    }
}
