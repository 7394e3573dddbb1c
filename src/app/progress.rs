//! Progress as log lines: one `progress` line per unit every `log_every` and when it ends, with
//! the unit's figures as fields (JSON lines under the daemon and journald). The command line
//! adds bars on a terminal (`commands::progress`); the daemon adds its per-job counters
//! (`daemon::progress`).

use std::sync::Arc;
use std::time::Instant;

use crate::jobs::progress::{Figures, Progress, Unit, UnitProgress};

/// Log lines, as an engine's environment takes them.
pub fn log_lines() -> Arc<dyn Progress> {
    Arc::new(LogLines)
}

/// Logs each unit's progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogLines;

impl Progress for LogLines {
    fn start(&self, unit: &Unit) -> Box<dyn UnitProgress> {
        Box::new(UnitLog {
            unit: unit.clone(),
            last: Instant::now(),
        })
    }
}

struct UnitLog {
    unit: Unit,
    last: Instant,
}

impl UnitProgress for UnitLog {
    fn update(&mut self, figures: &Figures, done: bool) {
        if !done && self.last.elapsed() < self.unit.log_every {
            return;
        }
        self.last = Instant::now();
        match *figures {
            Figures::Versions {
                counters: c,
                requests,
                throttled,
                storage_waiting_secs,
                seconds,
            } => tracing::info!(
                library = %self.unit.name,
                containers = c.containers,
                versions = c.versions,
                downloaded = c.versions_downloaded,
                unchanged = c.versions_unchanged,
                bytes_read = c.bytes_read,
                mb_per_s = format!("{:.2}", c.bytes_read as f64 / 1e6 / seconds),
                requests,
                throttled,
                skipped = c.skipped,
                storage_waiting_s = storage_waiting_secs,
                elapsed_s = format!("{seconds:.1}"),
                "progress"
            ),
            Figures::Restore {
                figures: f,
                seconds,
            } => tracing::info!(
                unit = %self.unit.name,
                versions = f.versions,
                bytes = f.bytes,
                mb_per_s = format!("{:.2}", f.bytes as f64 / 1e6 / seconds),
                containers = f.containers,
                failed = f.failed,
                elapsed_s = format!("{seconds:.1}"),
                "progress"
            ),
            Figures::Packs {
                done,
                total,
                bytes,
                seconds,
            } => tracing::info!(
                job = %self.unit.name,
                packs = done,
                of = total,
                bytes,
                mb_per_s = format!("{:.2}", bytes as f64 / 1e6 / seconds),
                "progress"
            ),
        }
    }
}
