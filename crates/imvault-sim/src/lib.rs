//! A faithful, seeded simulator of the iManage Work API subset imvault is built against (the
//! contract: `imanage-api.md`), for tests, benchmarks and the demo. It has its own wire types
//! ([`wire`]) and never uses the imvault client's: a simulator that shared the client's reading of
//! the contract could not catch the client misreading it.
//!
//! - [`corpus`]: the lazy, seeded base corpus (nothing materialised; memory flat at any scale).
//! - [`content`]: deterministic file bytes from (seed, version id), streamed in chunks.
//! - [`state`]: the overlay of writes and mutations; [`view`] merges it with the corpus.
//! - [`auth`], [`limits`], [`cursor`], [`stats`]: sign-in, 429s/faults/latency, paging, counters.
//! - [`routes`]: the axum handlers, one module per area of the contract; [`render`] the JSON.
//!
//! In-process use: `let (addr, sim) = imvault_sim::Server::start(SimOptions::default())?;`.
//! Nothing here prints: [`SimHandle::banner`] returns what `imvault sim` shows, and the server
//! logs through `tracing`. See docs/SIMULATOR.md for the corpus shape, scales, faults and test
//! hooks.

pub mod auth;
pub mod content;
pub mod corpus;
pub mod cursor;
pub mod delete;
pub mod error;
pub mod hash;
pub mod limits;
pub mod mutate;
pub mod names;
pub mod render;
pub mod routes;
pub mod state;
pub mod stats;
pub mod summary;
pub mod view;
pub mod wire;
pub mod writes;

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use error::{ApiError, SimError};
pub use mutate::{MutateReport, MutateRequest};
pub use stats::SimStats;
pub use summary::LibrarySummary;
pub use wire::{UserType, VersionId};

use corpus::{Corpus, LibLayout};
use state::{LibOverlay, Overlay};
use view::Ctx;

/// The credentials the simulator accepts.
pub mod credentials {
    pub const CLIENT_ID: &str = "imvault-sim";
    pub const CLIENT_SECRET: &str = "sim-client-secret";
    pub const USERNAME: &str = "svc-backup@sim.example";
    pub const AUTH_KEY: &str = "sim-auth-key";
    pub const CUSTOMER_ID: u64 = 1234;
    /// The `user.id` discovery reports for the service account.
    pub const USER_ID: &str = "SVC_BACKUP";
}

/// How big the corpus is, in document versions (over all libraries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// ≈100 versions.
    Tiny,
    /// ≈2,000 versions.
    Small,
    /// ≈20,000 versions (~1–2 GB of content).
    Medium,
    /// ≥1,000,000 versions, generated lazily.
    Large,
    /// About this many versions.
    Versions(u64),
}

impl Scale {
    pub fn target_versions(self) -> u64 {
        match self {
            Self::Tiny => 100,
            Self::Small => 2_000,
            Self::Medium => 20_000,
            Self::Large => 1_100_000,
            Self::Versions(n) => n.max(1),
        }
    }
}

impl FromStr for Scale {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "tiny" => Self::Tiny,
            "small" => Self::Small,
            "medium" => Self::Medium,
            "large" => Self::Large,
            n => Self::Versions(n.parse().map_err(|_| {
                format!("scale {n:?} is not tiny, small, medium, large or a number of versions")
            })?),
        })
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tiny => f.write_str("tiny"),
            Self::Small => f.write_str("small"),
            Self::Medium => f.write_str("medium"),
            Self::Large => f.write_str("large"),
            Self::Versions(n) => write!(f, "{n}"),
        }
    }
}

/// How a simulator is set up: the options of [`Server::start`], onto which `imvault sim` maps its
/// command-line flags (`--listen`, `--seed`, …, one per field). `Default` equals the CLI defaults.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Seed of the corpus and of the fault plan.
    pub seed: u64,
    /// tiny | small | medium | large | a number of versions.
    pub scale: Scale,
    /// Number of libraries (the last one is hidden when there are several).
    pub libraries: u32,
    /// Requests per second before 429 (off when absent).
    pub rate_limit: Option<f64>,
    /// Concurrent requests before 429 (off when absent).
    pub max_concurrent: Option<usize>,
    /// Probability of a 502/503/504 or a truncated download per API call.
    pub fault_rate: f64,
    /// Added latency per API call, in milliseconds.
    pub latency_ms: u64,
    /// Access token lifetime, in seconds.
    pub token_ttl: u64,
    /// Refresh token lifetime, in seconds.
    pub refresh_ttl: u64,
    /// How long 5 failed sign-ins lock the account, in seconds (10 lock it for good).
    pub lockout_secs: u64,
    /// Paging cursor lifetime, in seconds.
    pub cursor_ttl: u64,
    /// `user_type` of the service account; `regular` also closes the §8 crawl endpoints (403).
    pub user_type: UserType,
    /// Divide every document's size by this (at least 1 byte each): the same corpus, ids and
    /// versions with less content, to measure a large library on a small disk.
    pub size_divisor: NonZeroU64,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 1,
            scale: Scale::Small,
            libraries: 3,
            rate_limit: None,
            max_concurrent: None,
            fault_rate: 0.0,
            latency_ms: 0,
            token_ttl: 1800,
            refresh_ttl: 7 * 24 * 3600,
            lockout_secs: 900,
            cursor_ttl: 3600,
            user_type: UserType::System,
            size_divisor: NonZeroU64::MIN,
        }
    }
}

/// The simulator's whole state, shared by every handler.
#[derive(Debug)]
pub struct Sim {
    pub opts: SimOptions,
    pub corpus: Corpus,
    pub overlay: Overlay,
    pub auth: auth::Auth,
    pub cursors: cursor::Cursors,
    pub limits: limits::Limits,
    pub stats: Arc<stats::Stats>,
    /// Test hook: the versions of a document in the trash bin are still answered (some
    /// tenants do; a 404 is then not the sign of a delete, the trash bin is).
    pub trashed_versions_answer: std::sync::atomic::AtomicBool,
    /// Test hook: while `true`, content downloads wait (after admission, before any byte) until
    /// it turns `false` again, so a job that downloads is reliably still running.
    pub downloads_held: tokio::sync::watch::Sender<bool>,
    /// Test hook: downloads of these versions (`LIB!N.V`) answer 403 `NRC_ACCESS_DENIED`, every
    /// time (a backup skips them, with the reason).
    pub denied_downloads: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Sim {
    pub fn new(opts: SimOptions) -> Result<Self, SimError> {
        if !(0.0..=1.0).contains(&opts.fault_rate) {
            return Err(SimError::InvalidOption {
                option: "fault-rate",
                problem: format!("{} is not a probability between 0 and 1", opts.fault_rate),
            });
        }
        if opts.libraries == 0 || opts.libraries > 64 {
            return Err(SimError::InvalidOption {
                option: "libraries",
                problem: format!("{} is not between 1 and 64", opts.libraries),
            });
        }
        if opts.token_ttl == 0 {
            return Err(SimError::InvalidOption {
                option: "token-ttl",
                problem: "must be at least 1 second".into(),
            });
        }
        let corpus = Corpus::new(
            content::ContentParams::new(opts.seed, opts.size_divisor),
            opts.scale,
            opts.libraries,
        );
        let stats = Arc::new(stats::Stats::default());
        Ok(Self {
            overlay: Overlay::new(&corpus),
            corpus,
            auth: auth::Auth::new(
                Duration::from_secs(opts.token_ttl),
                Duration::from_secs(opts.refresh_ttl.max(1)),
                Duration::from_secs(opts.lockout_secs),
            ),
            cursors: cursor::Cursors::new(Duration::from_secs(opts.cursor_ttl)),
            limits: limits::Limits::new(
                opts.rate_limit,
                opts.max_concurrent,
                opts.fault_rate,
                Duration::from_millis(opts.latency_ms),
                opts.seed,
                stats.clone(),
            ),
            stats,
            opts,
            trashed_versions_answer: Default::default(),
            denied_downloads: Default::default(),
            downloads_held: tokio::sync::watch::Sender::new(false),
        })
    }

    pub fn seed(&self) -> u64 {
        self.opts.seed
    }

    pub fn lib_index(&self, alias: &str) -> Option<usize> {
        self.corpus.libs.iter().position(|l| l.alias == alias)
    }

    /// Run `f` over a read view of one library.
    pub fn read<R>(&self, lib: usize, f: impl FnOnce(&Ctx<'_>) -> R) -> R {
        let layout = &self.corpus.libs[lib];
        let guard = self.overlay.libs[lib]
            .read()
            .unwrap_or_else(|p| p.into_inner());
        f(&Ctx {
            seed: self.seed(),
            lib: layout,
            ov: &guard,
        })
    }

    /// Run `f` with the write lock of one library's overlay.
    pub fn write<R>(&self, lib: usize, f: impl FnOnce(&LibLayout, &mut LibOverlay) -> R) -> R {
        let layout = &self.corpus.libs[lib];
        let mut guard = self.overlay.libs[lib]
            .write()
            .unwrap_or_else(|p| p.into_inner());
        f(layout, &mut guard)
    }

    /// The bytes of any version the simulator serves (generated or uploaded), or `None` if it
    /// does not exist.
    pub fn version_bytes(&self, v: &VersionId) -> Option<Vec<u8>> {
        let lib = self.lib_index(&v.library)?;
        self.read(lib, |ctx| {
            let d = ctx.doc(v.number)?;
            if !d.has_version(v.version) {
                return None;
            }
            match d.ov.and_then(|o| o.added.get(&v.version)) {
                Some(state::AddedVersion {
                    content: state::VersionContent::Stored(b),
                    ..
                }) => Some(b.to_vec()),
                _ => Some(content::ContentSpec::for_version(ctx.lib.content, v).to_vec()),
            }
        })
    }
}

/// Starts simulators.
pub struct Server;

impl Server {
    /// Bind `opts.listen` and serve on the current tokio runtime. Must be called from inside a
    /// tokio runtime.
    pub fn start(opts: SimOptions) -> Result<(SocketAddr, SimHandle), SimError> {
        let listen = opts.listen;
        let sim = Arc::new(Sim::new(opts)?);
        let std_listener =
            std::net::TcpListener::bind(listen).map_err(|source| SimError::Bind {
                addr: listen,
                source,
            })?;
        std_listener
            .set_nonblocking(true)
            .map_err(|source| SimError::Bind {
                addr: listen,
                source,
            })?;
        let listener =
            tokio::net::TcpListener::from_std(std_listener).map_err(|source| SimError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(SimError::LocalAddr)?;
        let stop = CancellationToken::new();
        let app = routes::router(sim.clone());
        let shutdown = stop.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
                .map_err(SimError::Serve)
        });
        tracing::info!(
            %addr,
            seed = sim.seed(),
            scale = %sim.opts.scale,
            size_divisor = sim.opts.size_divisor.get(),
            "simulator listening"
        );
        Ok((
            addr,
            SimHandle {
                sim,
                addr,
                stop,
                task: Some(task),
            },
        ))
    }
}

/// Control of a running simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct SimHandle {
    sim: Arc<Sim>,
    addr: SocketAddr,
    stop: CancellationToken,
    task: Option<JoinHandle<Result<(), SimError>>>,
}

impl SimHandle {
    /// Apply a batch of changes (as `POST /sim/mutate`).
    pub fn mutate(&self, req: &MutateRequest) -> MutateReport {
        mutate::apply(&self.sim, req)
    }
    /// Delete a folder or tab (`LIB!N`) and everything under it (test hook; see
    /// [`delete`]). `None` when it is not a live folder or tab.
    pub fn delete_folder(&self, folder: &str) -> Option<delete::DeleteFolderReport> {
        delete::delete_folder(&self.sim, folder)
    }
    /// Purge a document (`LIB!N`) from the trash bin (test hook; see [`delete`]): gone for
    /// good. `false` when it is not in the trash bin.
    pub fn purge_from_trash(&self, doc: &str) -> bool {
        delete::purge_from_trash(&self.sim, doc)
    }
    pub fn stats(&self) -> SimStats {
        self.sim.stats.snapshot()
    }
    /// Every paging cursor issued so far answers `NRC_INVALID_CURSOR` from now on.
    pub fn expire_cursors(&self) {
        self.sim.cursors.expire_all();
    }
    /// Every access token issued so far answers 401 from now on, as if its TTL had passed;
    /// refresh tokens keep working.
    pub fn expire_tokens(&self) {
        self.sim.auth.expire_all();
    }
    /// Every token issued so far, refresh tokens too, answers 401 / `invalid_grant` from now on.
    pub fn end_sessions(&self) {
        self.sim.auth.end_sessions();
    }
    /// Clear the sign-in lockout (what an administrator does).
    pub fn unlock_account(&self) {
        self.sim.auth.unlock();
    }
    pub fn set_fault_rate(&self, p: f64) {
        self.sim.limits.set_fault_rate(p);
    }
    /// Content downloads wait from now on until [`SimHandle::release_downloads`] (test hook:
    /// keeps a backup running for as long as a test needs, without timing).
    pub fn hold_downloads(&self) {
        self.sim.downloads_held.send_replace(true);
    }
    /// From now on every download of `version` (`LIB!N.V`) is refused with 403.
    pub fn deny_download(&self, version: &str) {
        self.sim
            .denied_downloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(version.to_string());
    }
    /// Lets held and later downloads through.
    pub fn release_downloads(&self) {
        self.sim.downloads_held.send_replace(false);
    }
    /// How many downloads are waiting at the gate of [`SimHandle::hold_downloads`].
    pub fn held_downloads(&self) -> usize {
        self.sim.downloads_held.receiver_count()
    }
    /// The bytes of a version (generated or uploaded), as a download would return them; `None`
    /// when no such version exists or `version` is not a version id. `version` is anything that
    /// prints as a version id in its wire form (`LIB!453.2`): this crate's [`VersionId`], a
    /// string, or the id type of a client under test.
    pub fn version_bytes(&self, version: impl fmt::Display) -> Option<Vec<u8>> {
        let v: VersionId = version.to_string().parse().ok()?;
        self.sim.version_bytes(&v)
    }
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// Every library alias, in discovery order (the hidden one last).
    pub fn libraries(&self) -> Vec<String> {
        self.sim
            .corpus
            .libs
            .iter()
            .map(|l| l.alias.clone())
            .collect()
    }
    /// What a library holds now (walks it: O(library); fine up to `medium`).
    pub fn library_summary(&self, alias: &str) -> Option<LibrarySummary> {
        Some(summary::summarize(&self.sim, self.sim.lib_index(alias)?))
    }
    /// What `imvault sim` shows when it starts: the address, the credentials to sign in with,
    /// the libraries and the test hooks, one item a line (no trailing newline).
    pub fn banner(&self) -> String {
        let libs: Vec<String> = self
            .sim
            .corpus
            .libs
            .iter()
            .map(|l| {
                format!(
                    "{}{} ({} workspaces)",
                    l.alias,
                    if l.hidden { " [hidden]" } else { "" },
                    l.n_ws
                )
            })
            .collect();
        let mut lines = vec![
            format!("imvault simulator listening on http://{}", self.addr),
            format!("  customer id:   {}", credentials::CUSTOMER_ID),
            format!("  client id:     {}", credentials::CLIENT_ID),
            format!("  client secret: {}", credentials::CLIENT_SECRET),
            format!("  username:      {}", credentials::USERNAME),
            format!("  auth key:      {}", credentials::AUTH_KEY),
            format!("  libraries:     {}", libs.join(", ")),
        ];
        if self.sim.opts.size_divisor.get() > 1 {
            lines.push(format!(
                "  size divisor:  {} (every document's content is that many times smaller)",
                self.sim.opts.size_divisor
            ));
        }
        lines.push(
            "  test hooks:    POST /sim/mutate, GET /sim/stats, GET /sim/summary, POST /sim/expire-cursors, POST /sim/expire-tokens, POST /sim/unlock".into(),
        );
        lines.join("\n")
    }
    /// The shared state, for tests that inspect the corpus directly.
    pub fn sim(&self) -> &Arc<Sim> {
        &self.sim
    }
    /// Stop accepting connections; in-flight requests finish.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }
    /// Stop and wait until the server task has ended.
    pub async fn stopped(mut self) -> Result<(), SimError> {
        self.stop.cancel();
        match self.task.take() {
            Some(t) => t.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_parse_and_print() {
        for s in ["tiny", "small", "medium", "large"] {
            assert_eq!(s.parse::<Scale>().unwrap().to_string(), s);
        }
        assert_eq!("12345".parse::<Scale>(), Ok(Scale::Versions(12345)));
        assert!("huge".parse::<Scale>().unwrap_err().contains("\"huge\""));
        assert!(Scale::Large.target_versions() >= 1_000_000);
        assert_eq!(SimOptions::default().size_divisor.get(), 1);
    }

    #[test]
    fn bad_options_are_refused() {
        let bad = SimOptions {
            fault_rate: 1.5,
            ..SimOptions::default()
        };
        assert!(matches!(
            Sim::new(bad),
            Err(SimError::InvalidOption {
                option: "fault-rate",
                ..
            })
        ));
    }

    #[tokio::test]
    async fn the_banner_names_the_address_the_credentials_and_the_libraries() {
        let (addr, sim) = Server::start(SimOptions {
            scale: Scale::Tiny,
            size_divisor: NonZeroU64::new(3).unwrap(),
            ..SimOptions::default()
        })
        .unwrap();
        assert_eq!(sim.addr(), addr);
        let banner = sim.banner();
        assert!(banner.starts_with(&format!("imvault simulator listening on http://{addr}\n")));
        for c in [
            credentials::CLIENT_ID,
            credentials::CLIENT_SECRET,
            credentials::USERNAME,
            credentials::AUTH_KEY,
        ] {
            assert!(banner.contains(c), "{banner}");
        }
        assert!(
            banner.contains(
                "ACTIVE (1 workspaces), ARCHIVE (1 workspaces), RESTRICTED [hidden] (1 workspaces)"
            ),
            "{banner}"
        );
        assert!(banner.contains("size divisor:  3"), "{banner}");
        assert!(!banner.ends_with('\n'));
        let v = "ACTIVE!1.1";
        assert_eq!(sim.version_bytes(v), None, "no such document");
        assert_eq!(sim.version_bytes("not an id"), None);
        sim.stopped().await.unwrap();
    }
}
