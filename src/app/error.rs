//! Errors of turning settings into live objects.

use std::path::PathBuf;

use crate::catalog::CatalogError;
use crate::imanage::ImanageError;
use crate::repo::RepoError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("the configuration{config} has no [imanage] table: it is needed to reach the tenant")]
    NoImanage {
        /// ` <path>` of the configuration file, or empty.
        config: String,
    },
    /// The `[imanage]` secrets could not be read (only commands that reach iManage need them).
    #[error(transparent)]
    ImanageSecrets(std::sync::Arc<crate::config::ConfigError>),
    #[error("reading the repository password")]
    RepositoryPassword(#[source] std::sync::Arc<crate::config::ConfigError>),
    #[error("signing in to {url} as {username}")]
    SignIn {
        url: url::Url,
        username: String,
        #[source]
        source: Box<ImanageError>,
    },
    #[error("library {wanted:?} is not among the libraries this account can see ({available})")]
    UnknownLibrary { wanted: String, available: String },
    #[error("opening repository {url}")]
    OpenRepository {
        url: url::Url,
        #[source]
        source: Box<RepoError>,
    },
    /// `[repository] object_lock` is on and the bucket is not set up for it.
    #[error("repository {url}")]
    BucketNotReady {
        url: url::Url,
        #[source]
        source: Box<crate::repo::object_lock::BucketNotReady>,
    },
    #[error("loading the index of repository {url}")]
    LoadIndex {
        url: url::Url,
        #[source]
        source: Box<RepoError>,
    },
    #[error(
        "the catalog {} is incomplete: a rebuild did not finish, or this release changed the \
         catalog's format; run `imvault catalog sync` (or `catalog rebuild`) to fill it from the \
         repository",
        path.display()
    )]
    CatalogIncomplete { path: PathBuf },
    #[error("opening the catalog {}", path.display())]
    OpenCatalog {
        path: PathBuf,
        #[source]
        source: Box<CatalogError>,
    },
}
