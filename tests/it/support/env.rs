//! A whole imvault environment for a test: a seeded simulator on 127.0.0.1, a local repository
//! and catalog in a temp dir, and the settings/config file that point at them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use imvault::config::{Env, Settings};
use imvault::imanage::Client;
use imvault::imanage::model::VersionId;
use imvault::jobs::backup::{self, BackupEnv, BackupRequest, LibraryOutcome};
use imvault::jobs::records::{STREAM_VERSIONS, VersionRecord};
use imvault::repo::{BackendConfig, Indexed, Repository, SessionOptions, Snapshot, open_backend};
use imvault_sim::{self as sim, Scale, SimHandle, SimOptions};
use object_store::ObjectStore;
use tokio_util::sync::CancellationToken;

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    #[allow(dead_code)]
    pub addr: std::net::SocketAddr,
    pub sim: SimHandle,
    pub settings: Settings,
    pub config_path: PathBuf,
    pub store: Arc<dyn ObjectStore>,
    /// Whether the repository was created with `--insecure-no-encryption` (no password).
    pub insecure: bool,
}

/// A port of 127.0.0.1 nothing listens on (one the system just handed out, closed again).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

pub fn config_text(dir: &Path, addr: std::net::SocketAddr) -> String {
    format!(
        "[imanage]\nurl = \"http://{addr}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\nusername = \"{}\"\nauth_key = \"{}\"\nrequests_per_second = 500\nconcurrency = 8\n\n[repository]\nurl = \"file://{}\"\npassword = \"{}\"\n\n[catalog]\npath = \"{}\"\n",
        sim::credentials::CLIENT_ID,
        sim::credentials::CLIENT_SECRET,
        sim::credentials::USERNAME,
        sim::credentials::AUTH_KEY,
        dir.join("repo").display(),
        crate::support::repo::TEST_PASSWORD,
        dir.join("state/catalog.db").display(),
    )
}

impl TestEnv {
    pub async fn new(opts: SimOptions) -> Self {
        Self::with_repository(opts, false).await
    }

    /// A test environment whose repository is encrypted with the test password or, with
    /// `insecure`, created without encryption (and opened without a password).
    pub async fn with_repository(opts: SimOptions, insecure: bool) -> Self {
        Self::with_repository_level(opts, insecure, imvault::repo::config::DEFAULT_ZSTD_LEVEL).await
    }

    /// As [`TestEnv::with_repository`], new blobs compressed at `zstd_level` (0: stored as
    /// they are).
    pub async fn with_repository_level(opts: SimOptions, insecure: bool, zstd_level: i32) -> Self {
        Self::build(opts, None, insecure, zstd_level).await
    }

    /// A test environment backing up into `store` (encrypted with the test password).
    #[allow(dead_code)]
    pub async fn with_store(
        opts: SimOptions,
        store: Arc<dyn ObjectStore>,
        zstd_level: i32,
    ) -> Self {
        Self::build(opts, Some(store), false, zstd_level).await
    }

    async fn build(
        opts: SimOptions,
        store: Option<Arc<dyn ObjectStore>>,
        insecure: bool,
        zstd_level: i32,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (addr, sim) = sim::Server::start(opts).expect("simulator starts");
        // The CLI asks the daemon at [api] listen first (jobs, status): a port nothing listens
        // on, so that a daemon running on this machine (the default 127.0.0.1:7300) is never
        // the one that answers a test.
        let text = format!(
            "{}\n[api]\nlisten = \"127.0.0.1:{}\"\n",
            config_text(dir.path(), addr),
            closed_port()
        );
        let config_path = dir.path().join("imvault.toml");
        // Private: it holds secrets inline (a shared one gets a warning on every command).
        imvault::private_fs::write(&config_path, &text).expect("write config");
        let settings =
            Settings::from_toml(&text, &config_path, &Env::default()).expect("config parses");
        let store = match store {
            Some(s) => s,
            None => {
                open_backend(&BackendConfig::local(dir.path().join("repo"))).expect("local store")
            }
        };
        let init = imvault::repo::InitOptions {
            insecure_no_encryption: insecure,
            zstd_level,
            ..crate::support::repo::init_options()
        };
        let key = if insecure {
            None
        } else {
            crate::support::repo::key()
        };
        Repository::init(store.clone(), init, key)
            .await
            .expect("init repo");
        Self {
            dir,
            addr,
            sim,
            settings,
            config_path,
            store,
            insecure,
        }
    }

    pub async fn tiny(seed: u64) -> Self {
        Self::new(SimOptions {
            seed,
            scale: Scale::Tiny,
            ..SimOptions::default()
        })
        .await
    }

    pub async fn client(&self) -> Client {
        let im = self.settings.imanage.as_ref().expect("imanage settings");
        Client::connect(imvault::app::client::client_settings(im))
            .await
            .expect("sign in to the simulator")
    }

    pub async fn repo(&self) -> Repository<Indexed> {
        let key = if self.insecure {
            None
        } else {
            crate::support::repo::key()
        };
        Repository::open(self.store.clone(), key)
            .await
            .expect("open repo")
            .load_index()
            .await
            .expect("load index")
    }

    pub async fn backup(&self, opts: &BackupRequest) -> Vec<LibraryOutcome> {
        self.backup_with(opts, SessionOptions::default()).await
    }

    /// As [`TestEnv::backup`], writing with the session options `session` (e.g. small packs).
    pub async fn backup_with(
        &self,
        opts: &BackupRequest,
        session: SessionOptions,
    ) -> Vec<LibraryOutcome> {
        let client = self.client().await;
        let libraries: Vec<_> = client.libraries().iter().map(|l| l.id.clone()).collect();
        let env = BackupEnv {
            client,
            repo: self.repo().await,
            lock_dir: self.dir.path().join("state/locks"),
            progress: imvault::app::progress::log_lines(),
            session,
            catalog: Some(self.dir.path().join("state/catalog.db")),
        };
        backup::run(&env, &libraries, opts, CancellationToken::new()).await
    }
}

/// Every version record of a snapshot (profile and content reference), content not read.
#[allow(dead_code)]
pub async fn version_records(
    repo: &Repository<Indexed>,
    snap: &Snapshot,
) -> BTreeMap<VersionId, VersionRecord> {
    let meta = &snap.manifest.streams[STREAM_VERSIONS];
    let mut records = std::pin::pin!(repo.read_meta_stream::<VersionRecord>(STREAM_VERSIONS, meta));
    let mut out = BTreeMap::new();
    while let Some(r) = records.next().await {
        let r = r.expect("record");
        out.insert(r.version().expect("profile parses").id, r);
    }
    out
}

/// Every version of a snapshot, with its content read back (verified by the repository).
pub async fn versions_of(
    repo: &Repository<Indexed>,
    snap: &Snapshot,
) -> BTreeMap<VersionId, Vec<u8>> {
    let meta = snap
        .manifest
        .streams
        .get(STREAM_VERSIONS)
        .expect("versions stream");
    let mut records = std::pin::pin!(repo.read_meta_stream::<VersionRecord>(STREAM_VERSIONS, meta));
    let mut out = BTreeMap::new();
    while let Some(r) = records.next().await {
        let r = r.expect("record");
        let v = r.version().expect("profile parses");
        let mut bytes = Vec::with_capacity(v.size as usize);
        let mut content = repo.read_content(&r.content);
        while let Some(chunk) = content.next().await {
            bytes.extend_from_slice(&chunk.expect("verified chunk"));
        }
        assert_eq!(bytes.len() as u64, v.size, "{} size", v.id);
        assert!(
            out.insert(v.id.clone(), bytes).is_none(),
            "{} stored twice",
            v.id
        );
    }
    out
}
