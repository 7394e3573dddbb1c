//! A local cache of the last snapshot's versions as change detection needs them (the
//! [`PriorVersions`] of a snapshot: ids, change-key fingerprints, `default_security`, content
//! references), one file per library next to the catalog.
//!
//! Reading a snapshot's versions stream means decompressing and parsing every profile, about
//! 1.4 KB of JSON per version: most of a no-change nightly's work once only changes are listed.
//! The digest holds ~70 bytes per version in binary and is read in a few milliseconds.
//!
//! It is only a cache: written after a snapshot is stored (temporary file, fsync, rename),
//! used only for the snapshot it names and only when its checksum holds; anything else (no
//! file, another snapshot, a torn or corrupt file, another host) falls back to the stream.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::prior::{PriorVersions, encoding};
use crate::repo::SnapshotId;

/// The digest file of `library` under `dir`.
pub fn path(dir: &Path, library: &str) -> PathBuf {
    dir.join(format!("{library}.prior"))
}

/// The prior of `snapshot` from its digest file, if there is a good one.
pub async fn load(dir: &Path, library: &str, snapshot: &SnapshotId) -> Option<PriorVersions> {
    let file = path(dir, library);
    let id = *snapshot.as_bytes();
    tokio::task::spawn_blocking(move || {
        let bytes = std::fs::read(&file).ok()?;
        let p = encoding::decode(&id, &bytes);
        if p.is_none() {
            tracing::debug!(file = %file.display(), "prior digest is for another snapshot or damaged; reading the snapshot instead");
        }
        p
    })
    .await
    .ok()
    .flatten()
}

/// Writes the digest of `snapshot`, replacing the library's previous one atomically.
pub async fn save(
    dir: &Path,
    library: &str,
    snapshot: &SnapshotId,
    prior: PriorVersions,
) -> std::io::Result<()> {
    let dir = dir.to_path_buf();
    let file = path(&dir, library);
    let id = *snapshot.as_bytes();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        {
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, tmp.as_file_mut());
            encoding::write_to(&id, &prior, &mut w)?;
            w.flush()?;
        }
        drop(prior);
        tmp.as_file().sync_all()?;
        tmp.persist(&file).map_err(|e| e.error)?;
        Ok(())
    })
    .await
    .map_err(std::io::Error::other)?
}
