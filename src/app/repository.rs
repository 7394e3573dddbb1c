//! The repository of the settings: how to reach its store, how new data is written, opening it.

use std::sync::Arc;

use object_store::ObjectStore;

use super::AppError;
use crate::config::RepositorySettings;
use crate::repo::{
    BackendConfig, Credential, Indexed, InitOptions, Opened, Repository, SessionOptions,
    open_backend,
};

/// How to reach the repository's object store.
pub fn backend_config(r: &RepositorySettings) -> BackendConfig {
    BackendConfig {
        url: r.url.to_string(),
        endpoint: r
            .endpoint
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_string()),
        region: r.region.clone(),
        allow_http: r.allow_http,
        access_key_id: r.access_key_id.clone(),
        secret_access_key: r.secret_access_key.clone(),
        session_token: None,
        outage_wait_secs: r.outage_wait_secs,
        object_lock: r.object_lock,
        existing_only: true,
    }
}

/// What opens the repository: the configured password (`[repository] password`,
/// `password_file` or `IMVAULT_PASSWORD`), if any.
pub fn credential(r: &RepositorySettings) -> Result<Option<Credential>, AppError> {
    if let Some(e) = &r.password_unavailable {
        return Err(AppError::RepositoryPassword(e.clone()));
    }
    if let Some(k) = &r.key_file
        && r.password.is_none()
    {
        return Ok(Some(Credential::KeyFile(crate::secret::SecretBytes::new(
            k.expose().as_bytes().to_vec(),
        ))));
    }
    Ok(r.password.clone().map(Credential::Password))
}

/// The parameters of a new repository (`imvault init`).
pub fn init_options(r: &RepositorySettings) -> InitOptions {
    let mut o = InitOptions::default();
    if let Some(level) = r.compression_level {
        o.zstd_level = level;
    }
    if let Some(mib) = r.pack_size_mib {
        o.pack_size = u64::from(mib.get()) * 1024 * 1024;
    }
    o
}

/// How a writing session stores new data (the configured level and pack size override the
/// repository's).
pub fn session_options(r: &RepositorySettings) -> SessionOptions {
    SessionOptions {
        zstd_level: r.compression_level,
        pack_size: r.pack_size_mib.map(|m| u64::from(m.get()) * 1024 * 1024),
        ..SessionOptions::default()
    }
}

/// The repository's object store (nothing is read yet); a local directory must exist.
pub fn open_store(r: &RepositorySettings) -> Result<Arc<dyn ObjectStore>, AppError> {
    open_store_with(r, true)
}

/// As [`open_store`], creating a missing local directory (`init`, the demo).
pub fn open_store_creating(r: &RepositorySettings) -> Result<Arc<dyn ObjectStore>, AppError> {
    open_store_with(r, false)
}

fn open_store_with(
    r: &RepositorySettings,
    existing_only: bool,
) -> Result<Arc<dyn ObjectStore>, AppError> {
    let cfg = BackendConfig {
        existing_only,
        ..backend_config(r)
    };
    open_backend(&cfg).map_err(|source| AppError::OpenRepository {
        url: r.url.clone(),
        source: Box::new(source),
    })
}

/// With `[repository] object_lock` on, checks that the bucket has versioning and Object Lock
/// enabled: `init` and every backup (command line and daemon) refuse to write otherwise. Asked
/// each time (two small requests), nothing cached: a bucket fixed meanwhile is seen at once.
pub async fn check_object_lock(r: &RepositorySettings) -> Result<(), AppError> {
    if r.object_lock.is_none() {
        return Ok(());
    }
    let not_ready = |source| AppError::BucketNotReady {
        url: r.url.clone(),
        source: Box::new(source),
    };
    let native = crate::repo::s3_native::S3Native::from_config(&backend_config(r))
        .map_err(|e| not_ready(crate::repo::object_lock::BucketNotReady::Check(e)))?;
    match native {
        Some(s3) => crate::repo::object_lock::check_bucket(&s3)
            .await
            .map_err(not_ready),
        None => Ok(()),
    }
}

/// [`open_indexed`] for a backup: refuses a bucket not set up for the configured Object Lock
/// ([`check_object_lock`]) before anything is written.
pub async fn open_indexed_for_backup(
    r: &RepositorySettings,
) -> Result<Repository<Indexed>, AppError> {
    check_object_lock(r).await?;
    open_indexed(r).await
}

/// Opens the repository (reads its config).
pub async fn open_repo(r: &RepositorySettings) -> Result<Repository<Opened>, AppError> {
    let store = open_store(r)?;
    let credential = credential(r)?;
    let open_err = |source| AppError::OpenRepository {
        url: r.url.clone(),
        source: Box::new(source),
    };
    let mut repo = Repository::open(store, credential.as_ref())
        .await
        .map_err(open_err)?;
    if let Some(dir) = &r.scratch_dir {
        repo = repo.with_scratch_dir(dir);
    }
    match crate::repo::object_lock::RetentionControl::from_config(&backend_config(r))
        .map_err(|e| open_err(e.into()))?
    {
        Some(control) => Ok(repo.with_retention(control)),
        None => Ok(repo),
    }
}

/// Opens the repository and loads its index.
pub async fn open_indexed(r: &RepositorySettings) -> Result<Repository<Indexed>, AppError> {
    open_repo(r)
        .await?
        .load_index()
        .await
        .map_err(|source| AppError::LoadIndex {
            url: r.url.clone(),
            source: Box::new(source),
        })
}
