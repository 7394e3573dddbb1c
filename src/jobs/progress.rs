//! Progress of long jobs, as the engines report it: lock-free counters updated by the workers,
//! and the [`Progress`] trait through which whoever watches a job sees them. The engines only
//! report; the ways of showing progress live outside them: bars on a terminal
//! (`commands::progress`), log lines (`app::progress`, JSON lines under the daemon), and the
//! daemon's per-job counters ([`LiveCounters`], read on demand by its API).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// Counters of one library's backup or restore. Cheap to bump from many tasks.
#[derive(Debug, Default)]
pub struct Counters {
    pub containers: AtomicU64,
    pub versions: AtomicU64,
    pub versions_downloaded: AtomicU64,
    pub versions_unchanged: AtomicU64,
    /// Versions whose stored content was lost (a missing pack) and were downloaded again.
    pub versions_healed: AtomicU64,
    pub bytes_read: AtomicU64,
    pub skipped: AtomicU64,
    pub retried: AtomicU64,
}

/// A point-in-time copy of [`Counters`], for summaries and the job record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CountersSnapshot {
    pub containers: u64,
    pub versions: u64,
    pub versions_downloaded: u64,
    pub versions_unchanged: u64,
    pub versions_healed: u64,
    pub bytes_read: u64,
    pub skipped: u64,
    pub retried: u64,
}

/// A restore's figures, from its [`Counters`] as the restore engine bumps them: versions
/// restored (files written, or versions uploaded), their bytes, containers put in place, items
/// failed. What a restore's bar, log lines and daemon job counters show (not a backup's
/// downloaded/unchanged counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RestoreFigures {
    pub versions: u64,
    pub bytes: u64,
    pub containers: u64,
    pub failed: u64,
}

impl From<CountersSnapshot> for RestoreFigures {
    fn from(c: CountersSnapshot) -> Self {
        Self {
            versions: c.versions,
            bytes: c.bytes_read,
            containers: c.containers,
            failed: c.skipped,
        }
    }
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
    pub fn snapshot(&self) -> CountersSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CountersSnapshot {
            containers: g(&self.containers),
            versions: g(&self.versions),
            versions_downloaded: g(&self.versions_downloaded),
            versions_unchanged: g(&self.versions_unchanged),
            versions_healed: g(&self.versions_healed),
            bytes_read: g(&self.bytes_read),
            skipped: g(&self.skipped),
            retried: g(&self.retried),
        }
    }
}

/// Where a running job's per-library [`Counters`] can be read while it runs (the daemon's
/// `GET /v1/jobs/{id}`): the engine registers each library's counters when it starts it.
#[derive(Debug, Clone, Default)]
pub struct LiveCounters(Arc<std::sync::Mutex<LiveMap>>);

/// Per library, its counters and what they count.
type LiveMap = std::collections::BTreeMap<String, (Arc<Counters>, Counting)>;

/// What a job's counters count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counting {
    Backup,
    Restore,
}

impl LiveCounters {
    /// A library's backup counters.
    pub fn register(&self, library: &str, counters: Arc<Counters>) {
        self.insert(library, counters, Counting::Backup);
    }

    /// A restore's counters (shown as [`RestoreFigures`]).
    pub fn register_restore(&self, library: &str, counters: Arc<Counters>) {
        self.insert(library, counters, Counting::Restore);
    }

    fn insert(&self, library: &str, counters: Arc<Counters>, counting: Counting) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(library.to_string(), (counters, counting));
    }

    /// The counters of every library started so far.
    pub fn snapshot(&self) -> std::collections::BTreeMap<String, CountersSnapshot> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.snapshot()))
            .collect()
    }

    /// Per library, the figures a job shows: a backup's counters, or a restore's
    /// [`RestoreFigures`].
    pub fn figures(&self) -> std::collections::BTreeMap<String, serde_json::Value> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, (v, counting))| {
                let s = v.snapshot();
                let value = match counting {
                    Counting::Backup => serde_json::to_value(s),
                    Counting::Restore => serde_json::to_value(RestoreFigures::from(s)),
                };
                (k.clone(), value.unwrap_or_default())
            })
            .collect()
    }
}

/// Requests made and 429s received so far, read from the API client.
pub type RequestStats = Arc<dyn Fn() -> (u64, u64) + Send + Sync>;

/// One unit of work whose progress is shown: a library's backup or a restore (counted in
/// versions), or a maintenance pass (counted in packs).
#[derive(Clone)]
pub struct Unit {
    /// What a bar or log line calls it (`ACTIVE`, `restore`, `verify`).
    pub name: String,
    /// The library the unit works on, if one.
    pub library: Option<String>,
    pub kind: UnitKind,
    /// How often a progress line is logged.
    pub log_every: Duration,
}

#[derive(Clone)]
pub enum UnitKind {
    /// Versions, with the unit's counters and, if known, how many to expect (the last
    /// snapshot's count).
    Versions {
        counters: Arc<Counters>,
        expected: Option<u64>,
    },
    /// Packs done of a total, with the bytes read.
    Packs,
    /// A restore: versions restored, their bytes, containers, failures.
    Restore { counters: Arc<Counters> },
}

/// A unit's figures at one tick.
#[derive(Debug, Clone, Copy)]
pub enum Figures {
    Versions {
        counters: CountersSnapshot,
        requests: u64,
        throttled: u64,
        /// How long the storage has been unreachable (a backup waiting out an outage), or 0.
        storage_waiting_secs: u64,
        seconds: f64,
    },
    Packs {
        done: u64,
        total: u64,
        bytes: u64,
        seconds: f64,
    },
    Restore {
        figures: RestoreFigures,
        seconds: f64,
    },
}

/// Whoever watches a job: told when a unit starts, then given its figures a few times a
/// second until it ends.
pub trait Progress: Send + Sync {
    fn start(&self, unit: &Unit) -> Box<dyn UnitProgress>;
}

/// The view of one running unit.
pub trait UnitProgress: Send {
    /// The unit's figures now; `done` the last time, when the unit ended.
    fn update(&mut self, figures: &Figures, done: bool);
}

/// Progress counted in packs (verify, prune): `read()` returns (done, total, bytes).
pub type PackStats = Arc<dyn Fn() -> (u64, u64, u64) + Send + Sync>;

/// [`watch`] for a unit counted in packs.
pub async fn watch_packs(
    progress: Arc<dyn Progress>,
    name: &str,
    read: PackStats,
    stop: CancellationToken,
) {
    let unit = Unit {
        name: name.to_string(),
        library: None,
        kind: UnitKind::Packs,
        log_every: Duration::from_secs(30),
    };
    let read = move |seconds| {
        let (done, total, bytes) = read();
        Figures::Packs {
            done,
            total,
            bytes,
            seconds,
        }
    };
    watch(progress, unit, read, stop).await
}

/// Shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _unit: &Unit) -> Box<dyn UnitProgress> {
        Box::new(Silent)
    }
}

impl UnitProgress for Silent {
    fn update(&mut self, _figures: &Figures, _done: bool) {}
}

/// Several ways of showing the same progress at once (bars and log lines).
pub struct Fanout(pub Vec<Arc<dyn Progress>>);

impl Progress for Fanout {
    fn start(&self, unit: &Unit) -> Box<dyn UnitProgress> {
        Box::new(FanoutUnit(self.0.iter().map(|p| p.start(unit)).collect()))
    }
}

struct FanoutUnit(Vec<Box<dyn UnitProgress>>);

impl UnitProgress for FanoutUnit {
    fn update(&mut self, figures: &Figures, done: bool) {
        for u in &mut self.0 {
            u.update(figures, done);
        }
    }
}

/// Starts `unit` on `progress` and gives it `read(seconds since start)` every 250 ms until
/// `stop` fires, then once more as done. Spawn it next to the work it reports on.
pub async fn watch(
    progress: Arc<dyn Progress>,
    unit: Unit,
    read: impl Fn(f64) -> Figures + Send,
    stop: CancellationToken,
) {
    let started = Instant::now();
    let mut view = progress.start(&unit);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        let done = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.cancelled() => true,
        };
        let seconds = started.elapsed().as_secs_f64().max(0.001);
        view.update(&read(seconds), done);
        if done {
            return;
        }
    }
}

/// [`watch`] for a restore: its [`RestoreFigures`].
pub async fn watch_restore(
    progress: Arc<dyn Progress>,
    unit: Unit,
    counters: Arc<Counters>,
    stop: CancellationToken,
) {
    let read = move |seconds| Figures::Restore {
        figures: counters.snapshot().into(),
        seconds,
    };
    watch(progress, unit, read, stop).await
}

/// [`watch`] for a unit counted in versions: its counters and the client's request figures.
pub async fn watch_versions(
    progress: Arc<dyn Progress>,
    unit: Unit,
    requests: RequestStats,
    stop: CancellationToken,
) {
    let counters = match &unit.kind {
        UnitKind::Versions { counters, .. } | UnitKind::Restore { counters } => counters.clone(),
        UnitKind::Packs => Arc::new(Counters::default()),
    };
    let read = move |seconds| {
        let (requests, throttled) = requests();
        Figures::Versions {
            counters: counters.snapshot(),
            requests,
            throttled,
            storage_waiting_secs: crate::repo::outage::status().waiting_secs,
            seconds,
        }
    };
    watch(progress, unit, read, stop).await
}
