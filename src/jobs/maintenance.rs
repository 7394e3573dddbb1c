//! What the repository maintenance jobs (`verify`, `forget`, `prune`, `repair`) need around
//! them, and their progress display. Each job's entry point is `jobs::<job>::run(env, request)`
//! with a serde request struct, callable from the CLI and the daemon alike.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::jobs::progress::Display;
use crate::repo::{Indexed, Repository};

/// The repository and local state a maintenance job works on.
pub struct MaintenanceEnv {
    pub repo: Repository<Indexed>,
    /// Directory for local state (the rotating verify cursor, the prune lock): the catalog's
    /// directory.
    pub state_dir: PathBuf,
    /// The catalog to keep in step with the repository (a cache: failures there only warn).
    pub catalog: Option<PathBuf>,
    pub display: Display,
}

/// A progress line or bar: `read()` returns (done, total, bytes) and is polled until `stop`.
pub async fn report(
    what: &'static str,
    read: Arc<dyn Fn() -> (u64, u64, u64) + Send + Sync>,
    display: Display,
    stop: CancellationToken,
) {
    let started = Instant::now();
    let bar = match &display {
        Display::Bars(mp) => {
            let bar = mp.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>8} [{bar:30}] {pos}/{len} packs {msg} ({elapsed}, eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(what);
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
        let (n, total, bytes) = read();
        let secs = started.elapsed().as_secs_f64().max(0.001);
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_position(n);
            bar.set_message(format!(
                "{:.1} MB at {:.1} MB/s",
                bytes as f64 / 1e6,
                bytes as f64 / 1e6 / secs
            ));
        }
        if done || last_log.elapsed() >= Duration::from_secs(30) {
            last_log = Instant::now();
            tracing::info!(
                job = what,
                packs = n,
                of = total,
                bytes,
                mb_per_s = format!("{:.2}", bytes as f64 / 1e6 / secs),
                "progress"
            );
        }
        if done {
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            return;
        }
    }
}
