//! Writing one batch of an export: every version to a temporary file, one sync of the file
//! system, then each file under its final name (never over an existing one).

use std::path::{Path, PathBuf};

use crate::catalog::VersionRow;
use crate::restore::files::{place, place_pending, sync_fs, write_temp};
use crate::restore::report::ItemFailure;

/// Writes the versions of a batch read ahead to their temporary files, syncs the file system
/// once, then places every written file (and the queued `pending` ones) under its final name.
pub(super) fn write_batch(
    base: &Path,
    mut jobs: Vec<VersionJob>,
    pending: Vec<(PathBuf, PathBuf)>,
) -> Vec<VersionJob> {
    let failed = |j: &VersionJob, error: String| {
        let _ = std::fs::remove_file(&j.tmp);
        VersionData::Failed(ItemFailure {
            object: j.version.id.to_string(),
            action: format!("writing {}", j.path.display()),
            error,
        })
    };
    for j in &mut jobs {
        match &j.data {
            VersionData::Memory(parts) => {
                j.data = match write_temp(&j.tmp, parts, j.mtime) {
                    Ok(()) => VersionData::Streamed,
                    Err(e) => failed(j, e.to_string()),
                };
            }
            VersionData::Streamed => {
                if let Some(m) = j.mtime
                    && let Ok(f) = std::fs::File::options().write(true).open(&j.tmp)
                {
                    let _ = f.set_modified(m);
                }
            }
            _ => {}
        }
    }
    let synced = sync_fs(base);
    for j in &mut jobs {
        if !matches!(j.data, VersionData::Streamed) {
            continue;
        }
        j.data = match &synced {
            Ok(()) => match place(&j.tmp, &j.path) {
                Ok(b) => VersionData::Placed(b),
                Err(e) => failed(j, e.to_string()),
            },
            Err(e) => failed(j, format!("syncing the file system: {e}")),
        };
    }
    match synced {
        Ok(()) => place_pending(pending),
        Err(e) => {
            for (tmp, path) in pending {
                let _ = std::fs::remove_file(&tmp);
                tracing::warn!(path = %path.display(), error = %e, "could not sync a sidecar; not placed");
            }
        }
    }
    jobs
}

/// One version of a batch on its way to its final name.
pub(super) struct VersionJob {
    pub(super) doc: usize,
    pub(super) version: VersionRow,
    pub(super) file: String,
    pub(super) path: PathBuf,
    pub(super) tmp: PathBuf,
    pub(super) mtime: Option<std::time::SystemTime>,
    pub(super) data: VersionData,
}

pub(super) enum VersionData {
    /// Verified blobs in order, read ahead.
    Memory(Vec<bytes::Bytes>),
    /// Already streamed (verified) into the temporary file.
    Streamed,
    /// Placed under its final name (`false`: the name existed, nothing written).
    Placed(bool),
    Failed(ItemFailure),
}
