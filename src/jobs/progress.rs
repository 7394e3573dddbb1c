//! Progress of long jobs: lock-free counters updated by the workers, shown as indicatif bars on
//! a terminal and as periodic structured log lines everywhere (journald, CI, files).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
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
pub struct LiveCounters(Arc<std::sync::Mutex<std::collections::BTreeMap<String, Arc<Counters>>>>);

impl LiveCounters {
    pub fn register(&self, library: &str, counters: Arc<Counters>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(library.to_string(), counters);
    }

    /// The counters of every library started so far.
    pub fn snapshot(&self) -> std::collections::BTreeMap<String, CountersSnapshot> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.snapshot()))
            .collect()
    }
}

/// Requests made and 429s received so far, read from the API client.
pub type RequestStats = Arc<dyn Fn() -> (u64, u64) + Send + Sync>;

/// Where progress is shown.
#[derive(Clone)]
pub enum Display {
    /// Bars on stderr (interactive terminal).
    Bars(MultiProgress),
    /// Log lines only.
    Logs,
}

impl Display {
    /// Bars when stderr is a terminal and `quiet` is off; log lines otherwise.
    pub fn auto(quiet: bool) -> Self {
        use std::io::IsTerminal;
        if !quiet && std::io::stderr().is_terminal() {
            Self::Bars(MultiProgress::with_draw_target(
                ProgressDrawTarget::stderr_with_hz(4),
            ))
        } else {
            Self::Logs
        }
    }
}

/// Runs until `stop` fires: refreshes the bar of `library` and logs a progress line every
/// `log_every`. `expected_versions` (e.g. the previous snapshot's count) gives the bar a length.
pub async fn report(
    library: String,
    counters: Arc<Counters>,
    expected_versions: Option<u64>,
    requests: RequestStats,
    display: Display,
    log_every: Duration,
    stop: CancellationToken,
) {
    let started = Instant::now();
    let bar = match &display {
        Display::Bars(mp) => {
            let bar = mp.add(match expected_versions {
                Some(n) if n > 0 => ProgressBar::new(n),
                _ => ProgressBar::no_length(),
            });
            let style = ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {pos}/{len} versions {msg} ({elapsed}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(library.clone());
            Some(bar)
        }
        Display::Logs => None,
    };
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last_log = Instant::now();
    loop {
        let done = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.cancelled() => true,
        };
        let c = counters.snapshot();
        let (reqs, throttled) = requests();
        let secs = started.elapsed().as_secs_f64().max(0.001);
        if let Some(bar) = &bar {
            if let Some(len) = bar.length()
                && c.versions > len
            {
                bar.set_length(c.versions);
            }
            bar.set_position(c.versions);
            let storage = crate::repo::outage::status();
            let waiting = if storage.waiting_secs > 0 {
                format!(
                    ", storage unreachable for {} s: waiting",
                    storage.waiting_secs
                )
            } else {
                String::new()
            };
            bar.set_message(format!(
                "{} new, {:.1} MB at {:.1} MB/s, {} req, {} x429, {} skipped{waiting}",
                c.versions_downloaded,
                c.bytes_read as f64 / 1e6,
                c.bytes_read as f64 / 1e6 / secs,
                reqs,
                throttled,
                c.skipped
            ));
        }
        if done || last_log.elapsed() >= log_every {
            last_log = Instant::now();
            tracing::info!(
                library = %library,
                containers = c.containers,
                versions = c.versions,
                downloaded = c.versions_downloaded,
                unchanged = c.versions_unchanged,
                bytes_read = c.bytes_read,
                mb_per_s = format!("{:.2}", c.bytes_read as f64 / 1e6 / secs),
                requests = reqs,
                throttled = throttled,
                skipped = c.skipped,
                storage_waiting_s = crate::repo::outage::status().waiting_secs,
                elapsed_s = format!("{secs:.1}"),
                "progress"
            );
        }
        if done {
            if let Some(bar) = &bar {
                bar.finish();
            }
            return;
        }
    }
}
