//! A local cache of the last snapshot's versions as change detection needs them (the
//! [`PriorVersions`] of a snapshot: ids, change-key fingerprints, `default_security`, content
//! references), one file per library next to the catalog.
//!
//! Reading a snapshot's versions stream means decompressing and parsing every profile, about
//! 1.4 KB of JSON per version: most of a no-change nightly's work once only changes are listed.
//! The prior cache holds ~70 bytes per version in binary and is read in a few milliseconds.
//!
//! It is only a cache: written after a snapshot is stored (temporary file, fsync, rename),
//! used only for the snapshot it names and only when its checksum holds; anything else (no
//! file, another snapshot, a torn or corrupt file, another host) falls back to the stream.

use std::path::{Path, PathBuf};

use super::{PriorVersions, encoding};
use crate::repo::SnapshotId;

/// The cache file of `library` under `dir`.
pub fn path(dir: &Path, library: &str) -> PathBuf {
    dir.join(format!("{library}.prior"))
}

/// The prior versions of `snapshot` from its cache file, if there is a good one.
pub async fn load(dir: &Path, library: &str, snapshot: &SnapshotId) -> Option<PriorVersions> {
    let file = path(dir, library);
    let id = *snapshot.as_bytes();
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&file).ok()?;
        let len = f.metadata().ok()?.len();
        let p = encoding::decode_reader(&id, std::io::BufReader::with_capacity(256 * 1024, f), len, &dir);
        if p.is_none() {
            tracing::debug!(file = %file.display(), "prior cache is for another snapshot or damaged; reading the snapshot instead");
        }
        p
    })
    .await
    .ok()
    .flatten()
}

/// A changes-only run's prior and which of its versions the run listed again (not carried).
pub type CarriedPrior = (PriorVersions, Box<dyn Fn(u64, u32) -> bool + Send>);

/// The prior cache of the snapshot a run is writing, streamed to a temporary file as versions are
/// stored (memory stays flat); it replaces the library's prior cache only once the snapshot exists.
/// Dropped unfinished (a cancelled or failed run), the temporary file goes away.
pub struct NextPriorCache {
    w: encoding::Writer<std::io::BufWriter<tempfile::NamedTempFile>>,
    dir: PathBuf,
}

impl NextPriorCache {
    pub fn start(dir: &Path) -> std::io::Result<Self> {
        crate::private_fs::create_dir_all(dir)?;
        let tmp = tempfile::NamedTempFile::new_in(dir)?;
        Ok(Self {
            w: encoding::Writer::new(std::io::BufWriter::with_capacity(256 * 1024, tmp)),
            dir: dir.to_path_buf(),
        })
    }

    /// One version this run stored.
    pub fn add_version(
        &mut self,
        v: &crate::imanage::model::DocumentVersion,
        content: &crate::repo::ContentRef,
    ) -> std::io::Result<()> {
        self.w.add_version(v, content)
    }

    /// Adds the versions of `prior` a changes-only run carried (those not `covered`), ends the
    /// prior cache as the one of `snapshot` and puts it in place (fsync, rename).
    pub async fn finish(
        self,
        library: &str,
        snapshot: &SnapshotId,
        carried: Option<CarriedPrior>,
    ) -> std::io::Result<()> {
        let file = path(&self.dir, library);
        let id = *snapshot.as_bytes();
        let mut w = self.w;
        tokio::task::spawn_blocking(move || {
            if let Some((prior, covered)) = carried {
                w.add_prior(&prior, covered)?;
            }
            let tmp = w.finish(&id)?.into_inner().map_err(|e| e.into_error())?;
            tmp.as_file().sync_all()?;
            tmp.persist(&file).map_err(|e| e.error)?;
            Ok(())
        })
        .await
        .map_err(std::io::Error::other)?
    }
}
