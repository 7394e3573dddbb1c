//! The local state directory: the catalog's directory. It holds the catalog (`catalog.db`),
//! one lock per library backup (`locks/`), each library's digest of its last snapshot
//! (`digests/`), copies of snapshot manifests (`cache/<repository id>/snapshots/`), the rotating
//! verify cursor, the prune lock and the daemon's lock.

use std::path::{Path, PathBuf};

use super::AppError;
use crate::catalog::Catalog;
use crate::config::Settings;

/// The directory of local state: the catalog's directory.
pub fn state_dir(settings: &Settings) -> PathBuf {
    settings
        .catalog_path
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// Where the per-library backup locks live.
pub fn lock_dir(settings: &Settings) -> PathBuf {
    state_dir(settings).join("locks")
}

/// Where copies of snapshot manifests are kept ([`crate::repo::snapshot_cache`]).
pub fn snapshot_cache_dir(settings: &Settings) -> PathBuf {
    state_dir(settings).join("cache")
}

/// [`open_catalog`] for answering from it alone (`ls`, `find`, `versions`): refuses a catalog
/// marked for a rebuild (an interrupted one, or one whose format this release changed), which
/// would answer as if the repository were empty.
pub fn open_catalog_to_browse(settings: &Settings) -> Result<Catalog, AppError> {
    let cat = open_catalog(settings)?;
    let incomplete = cat
        .needs_rebuild()
        .map_err(|source| AppError::OpenCatalog {
            path: settings.catalog_path.clone(),
            source: Box::new(source),
        })?;
    if incomplete {
        return Err(AppError::CatalogIncomplete {
            path: settings.catalog_path.clone(),
        });
    }
    Ok(cat)
}

/// Opens (creating if need be) the catalog of the settings. Blocking: call it off the async
/// threads.
pub fn open_catalog(settings: &Settings) -> Result<Catalog, AppError> {
    Catalog::open(&settings.catalog_path).map_err(|source| AppError::OpenCatalog {
        path: settings.catalog_path.clone(),
        source: Box::new(source),
    })
}
