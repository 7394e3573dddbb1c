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

/// The repository's object store (nothing is read yet).
pub fn open_store(r: &RepositorySettings) -> Result<Arc<dyn ObjectStore>, AppError> {
    open_backend(&backend_config(r)).map_err(|source| AppError::OpenRepository {
        url: r.url.clone(),
        source: Box::new(source),
    })
}

/// Opens the repository (reads its config).
pub async fn open_repo(r: &RepositorySettings) -> Result<Repository<Opened>, AppError> {
    let store = open_store(r)?;
    let credential = credential(r)?;
    Repository::open(store, credential.as_ref())
        .await
        .map_err(|source| AppError::OpenRepository {
            url: r.url.clone(),
            source: Box::new(source),
        })
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
