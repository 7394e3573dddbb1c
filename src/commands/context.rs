//! Turning settings into live objects: the iManage client and the repository.

use anyhow::Context as _;

use crate::config::RepositorySettings;
use crate::repo::{
    BackendConfig, Indexed, InitOptions, Opened, Repository, SessionOptions, open_backend,
};

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
    }
}

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

pub fn session_options(r: &RepositorySettings) -> SessionOptions {
    SessionOptions {
        zstd_level: r.compression_level,
        pack_size: r.pack_size_mib.map(|m| u64::from(m.get()) * 1024 * 1024),
        ..SessionOptions::default()
    }
}

pub async fn open_repo(r: &RepositorySettings) -> anyhow::Result<Repository<Opened>> {
    let store = open_backend(&backend_config(r))
        .with_context(|| format!("opening repository {}", r.url))?;
    Repository::open(store)
        .await
        .with_context(|| format!("opening repository {}", r.url))
}

pub async fn open_indexed(r: &RepositorySettings) -> anyhow::Result<Repository<Indexed>> {
    open_repo(r)
        .await?
        .load_index()
        .await
        .with_context(|| format!("loading the index of repository {}", r.url))
}

/// A multi-threaded tokio runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
