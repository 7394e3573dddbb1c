//! What this host knows of the Object Lock retention of the repository's objects
//! (docs/FORMAT.md §20, "Extending retention"): for each object version maintenance has seen
//! (its key, modification time and ETag), the retain-until date it read or set. With it, a prune
//! asks S3 only about objects it has not seen yet and those whose known retention is running
//! out, instead of one HEAD per object on every run.
//!
//! - It holds only what S3 answered or accepted: a retain-until date can only be made later
//!   (governance without bypass, compliance), so a date once true stays a lower bound. A date
//!   is recorded only when S3 answered about the very version listed (same ETag); an
//!   overwritten key is a new version (another modification time and ETag): asked about again.
//! - It is a local cache, one SQLite file per repository under the state directory, 0600 in a
//!   0700 directory: a missing, unreadable or damaged file costs HEADs, never a failure (it is
//!   removed and started again). Another host without it just asks S3.
//! - Rows whose date has passed are dropped at each run, so it does not grow with history.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

/// The layout of the file (`PRAGMA user_version`); another one is dropped and started again.
const LAYOUT: i64 = 1;

/// One object version as listed: its key and what tells its versions apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub key: String,
    /// Modification time (ns) and ETag of the listed version.
    pub stamp: String,
}

impl Seen {
    pub fn of(meta: &object_store::ObjectMeta) -> Self {
        Self {
            key: meta.location.to_string(),
            stamp: format!(
                "{}:{}",
                meta.last_modified.timestamp_nanos_opt().unwrap_or(i64::MAX),
                meta.e_tag.as_deref().unwrap_or("")
            ),
        }
    }
}

/// The ledger of one repository on this host.
#[derive(Debug)]
pub struct LockLedger {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl LockLedger {
    /// Opens (creating if need be) the ledger of repository `repo_id` under `state_dir`.
    /// `None`, after a warning, when it cannot be made: every object is then asked about.
    /// Blocking: call it off the async threads.
    pub fn open(state_dir: &Path, repo_id: &str) -> Option<Self> {
        let dir = state_dir.join("lock-ledger");
        let path = dir.join(format!("{}.sqlite", file_name(repo_id)));
        if let Err(e) = crate::private_fs::create_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot create the Object Lock ledger; maintenance asks S3 about every object");
            return None;
        }
        match Self::open_at(&path) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "the Object Lock ledger is unreadable; starting a new one");
                for p in [
                    path.clone(),
                    path.with_extension("sqlite-journal"),
                    path.with_extension("sqlite-wal"),
                    path.with_extension("sqlite-shm"),
                ] {
                    let _ = std::fs::remove_file(p);
                }
                match Self::open_at(&path) {
                    Ok(l) => Some(l),
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "cannot create the Object Lock ledger; maintenance asks S3 about every object");
                        None
                    }
                }
            }
        }
    }

    fn open_at(path: &Path) -> Result<Self, rusqlite::Error> {
        if !path.exists() {
            // Created 0600 before SQLite opens it, whatever the umask.
            crate::private_fs::options()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(|e| {
                    rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                        Some(e.to_string()),
                    )
                })?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        let ok: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if ok != "ok" {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(format!("quick_check: {ok}")),
            ));
        }
        let layout: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if layout != LAYOUT {
            conn.execute_batch(&format!(
                "DROP TABLE IF EXISTS retained;
                 CREATE TABLE retained (
                     key      TEXT PRIMARY KEY,
                     stamp    TEXT NOT NULL,
                     until_ns INTEGER NOT NULL
                 ) STRICT, WITHOUT ROWID;
                 PRAGMA user_version = {LAYOUT};"
            ))?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The known retain-until of each of `seen` (`None`: not seen in this version).
    /// Blocking. A failing read counts as unknown.
    pub fn known(&self, seen: &[Seen]) -> Vec<Option<DateTime<Utc>>> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt =
            match conn.prepare_cached("SELECT stamp, until_ns FROM retained WHERE key = ?1") {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the Object Lock ledger failed");
                    return vec![None; seen.len()];
                }
            };
        seen.iter()
            .map(|s| {
                let row: Option<(String, i64)> = stmt
                    .query_row(params![s.key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .ok()
                    .flatten();
                row.filter(|(stamp, _)| *stamp == s.stamp)
                    .map(|(_, ns)| DateTime::from_timestamp_nanos(ns))
            })
            .collect()
    }

    /// Records the retain-until dates read or set for these object versions. Blocking; a
    /// failure is logged (the next run asks again).
    pub fn record(&self, entries: &[(Seen, DateTime<Utc>)]) {
        if entries.is_empty() {
            return;
        }
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let r = (|| -> Result<(), rusqlite::Error> {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO retained (key, stamp, until_ns) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET stamp = excluded.stamp, until_ns = excluded.until_ns",
                )?;
                for (s, until) in entries {
                    stmt.execute(params![
                        s.key,
                        s.stamp,
                        until.timestamp_nanos_opt().unwrap_or(i64::MAX)
                    ])?;
                }
            }
            tx.commit()
        })();
        if let Err(e) = r {
            tracing::warn!(file = %self.path.display(), error = %e, "recording in the Object Lock ledger failed");
        }
    }

    /// Drops what no longer protects anything: rows whose date is before `now`.
    pub fn forget_before(&self, now: DateTime<Utc>) {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = conn.execute(
            "DELETE FROM retained WHERE until_ns < ?1",
            params![now.timestamp_nanos_opt().unwrap_or(i64::MAX)],
        ) {
            tracing::warn!(file = %self.path.display(), error = %e, "trimming the Object Lock ledger failed");
        }
    }
}

/// A file name from a repository id (hex in practice; anything else is hashed).
fn file_name(repo_id: &str) -> String {
    if !repo_id.is_empty() && repo_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        repo_id.to_string()
    } else {
        blake3::hash(repo_id.as_bytes()).to_hex()[..32].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(key: &str, stamp: &str) -> Seen {
        Seen {
            key: key.into(),
            stamp: stamp.into(),
        }
    }

    #[test]
    fn a_date_is_known_only_for_the_version_it_was_recorded_for() {
        let dir = tempfile::tempdir().unwrap();
        let l = LockLedger::open(dir.path(), "abc123").unwrap();
        let t = DateTime::from_timestamp(2_000_000_000, 0).unwrap();
        l.record(&[(seen("packs/a", "1:x"), t)]);
        assert_eq!(
            l.known(&[
                seen("packs/a", "1:x"),
                seen("packs/a", "2:y"),
                seen("packs/b", "1:x")
            ]),
            vec![Some(t), None, None]
        );
        l.forget_before(t + chrono::Duration::seconds(1));
        assert_eq!(l.known(&[seen("packs/a", "1:x")]), vec![None]);
    }

    #[test]
    fn a_damaged_ledger_is_started_again_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let t = DateTime::from_timestamp(2_000_000_000, 0).unwrap();
        let path = {
            let l = LockLedger::open(dir.path(), "abc123").unwrap();
            l.record(&[(seen("packs/a", "1:x"), t)]);
            l.path().to_path_buf()
        };
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        std::fs::write(
            &path,
            b"this is not a database, it is garbage of some length......",
        )
        .unwrap();
        let l = LockLedger::open(dir.path(), "abc123").expect("started again");
        assert_eq!(l.known(&[seen("packs/a", "1:x")]), vec![None]);
        l.record(&[(seen("packs/a", "1:x"), t)]);
        assert_eq!(l.known(&[seen("packs/a", "1:x")]), vec![Some(t)]);
    }
}
