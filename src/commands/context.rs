//! Turning settings into live objects: the iManage client and the repository.

use anyhow::Context as _;

use crate::config::{ImanageSettings, RepositorySettings, Settings};
use crate::imanage::{Client, ClientSettings};
use crate::repo::{
    BackendConfig, Indexed, InitOptions, Opened, Repository, SessionOptions, open_backend,
};

pub fn client_settings(im: &ImanageSettings) -> ClientSettings {
    let mut cs = ClientSettings::new(
        im.url.clone(),
        im.client_id.clone(),
        im.client_secret.clone(),
        im.username.clone(),
        im.auth_key.clone(),
    );
    cs.requests_per_second = im.requests_per_second.get();
    cs.concurrency = im.concurrency.get();
    cs
}

pub fn imanage(settings: &Settings) -> anyhow::Result<&ImanageSettings> {
    settings.imanage.as_ref().with_context(|| {
        format!(
            "the configuration{} has no [imanage] table: it is needed to reach the tenant",
            settings
                .source
                .as_ref()
                .map(|p| format!(" {}", p.display()))
                .unwrap_or_default()
        )
    })
}

/// Signs in and runs discovery; the error explains sign-in failures to the operator.
pub async fn connect(settings: &Settings) -> anyhow::Result<Client> {
    let im = imanage(settings)?;
    Client::connect(client_settings(im))
        .await
        .with_context(|| format!("signing in to {} as {}", im.url, im.username))
}

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
