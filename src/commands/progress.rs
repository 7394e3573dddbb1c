//! Progress on a terminal: an indicatif bar per unit (a library's backup or restore, a
//! maintenance pass), next to the log lines.

use std::io::IsTerminal as _;
use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::app::progress::LogLines;
use crate::jobs::progress::{Fanout, Figures, Progress, Unit, UnitKind, UnitProgress};

/// Bars on stderr when it is a terminal and `quiet` is off (log lines as well); log lines
/// only otherwise.
pub fn shown(quiet: bool) -> Arc<dyn Progress> {
    if !quiet && std::io::stderr().is_terminal() {
        Arc::new(Fanout(vec![Arc::new(Bars::new()), Arc::new(LogLines)]))
    } else {
        Arc::new(LogLines)
    }
}

/// A bar per unit on stderr.
pub struct Bars {
    bars: MultiProgress,
}

impl Bars {
    pub fn new() -> Self {
        Self {
            bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4)),
        }
    }
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for Bars {
    fn start(&self, unit: &Unit) -> Box<dyn UnitProgress> {
        let (bar, template) = match &unit.kind {
            UnitKind::Versions { expected, .. } => (
                match expected {
                    Some(n) if *n > 0 => ProgressBar::new(*n),
                    _ => ProgressBar::no_length(),
                },
                "{prefix:>10} [{bar:30}] {pos}/{len} versions {msg} ({elapsed}, eta {eta})",
            ),
            UnitKind::Restore { .. } => (
                ProgressBar::no_length(),
                "{prefix:>10} {pos} versions restored {msg} ({elapsed})",
            ),
            UnitKind::Packs => (
                ProgressBar::new(0),
                "{prefix:>8} [{bar:30}] {pos}/{len} packs {msg} ({elapsed}, eta {eta})",
            ),
        };
        let bar = self.bars.add(bar);
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(unit.name.clone());
        Box::new(Bar(bar))
    }
}

struct Bar(ProgressBar);

impl UnitProgress for Bar {
    fn update(&mut self, figures: &Figures, done: bool) {
        let bar = &self.0;
        match *figures {
            Figures::Versions {
                counters: c,
                requests,
                throttled,
                storage_waiting_secs,
                seconds,
            } => {
                if let Some(len) = bar.length()
                    && c.versions > len
                {
                    bar.set_length(c.versions);
                }
                bar.set_position(c.versions);
                let waiting = if storage_waiting_secs > 0 {
                    format!(", storage unreachable for {storage_waiting_secs} s: waiting")
                } else {
                    String::new()
                };
                bar.set_message(format!(
                    "{} new, {:.1} MB at {:.1} MB/s, {} req, {} x429, {} skipped{waiting}",
                    c.versions_downloaded,
                    c.bytes_read as f64 / 1e6,
                    c.bytes_read as f64 / 1e6 / seconds,
                    requests,
                    throttled,
                    c.skipped
                ));
                if done {
                    bar.finish();
                }
            }
            Figures::Restore {
                figures: f,
                seconds,
            } => {
                bar.set_position(f.versions);
                bar.set_message(format!(
                    "{:.1} MB at {:.1} MB/s, {} containers, {} failed",
                    f.bytes as f64 / 1e6,
                    f.bytes as f64 / 1e6 / seconds,
                    f.containers,
                    f.failed
                ));
                if done {
                    bar.finish();
                }
            }
            Figures::Packs {
                done: n,
                total,
                bytes,
                seconds,
            } => {
                bar.set_length(total);
                bar.set_position(n);
                bar.set_message(format!(
                    "{:.1} MB at {:.1} MB/s",
                    bytes as f64 / 1e6,
                    bytes as f64 / 1e6 / seconds
                ));
                if done {
                    bar.finish_and_clear();
                }
            }
        }
    }
}
