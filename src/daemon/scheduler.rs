//! When backups are due: the `[schedule]` cron expressions, read in the configured time zone.
//!
//! The decision is a pure function of the schedule, the last moment the scheduler already
//! accounted for (persisted per library) and the current time, so it is tested with a fixed
//! clock. Rules:
//! - a library never seen before is not run at once: "now" becomes its baseline;
//! - one or more slots passed since the last accounted moment (the host was down, or the daemon
//!   was busy) give exactly one run, not one per missed slot;
//! - whoever acts on a due run records "now" as accounted, whether it enqueued a backup or
//!   skipped it because the library's backup is still running.

use chrono::{DateTime, Utc};

pub use crate::config::schedule::{CronSchedule, Schedules};

/// What the scheduler should do for one library now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Run a backup now; the value is the first slot that was missed or reached.
    pub run: Option<DateTime<Utc>>,
    /// How many slots passed since the last accounted moment (capped), for the log.
    pub missed_slots: u32,
    /// What to persist as the last accounted moment.
    pub accounted: DateTime<Utc>,
    /// The next slot after now.
    pub next: Option<DateTime<Utc>>,
}

/// Never count more than this many missed slots (a seconds-level cron over a long outage).
const MAX_COUNTED_SLOTS: u32 = 10_000;

/// Decides for one library (see the module rules).
pub fn plan(schedule: &CronSchedule, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Plan {
    let next = schedule.next_after(now);
    let Some(last) = last else {
        return Plan {
            run: None,
            missed_slots: 0,
            accounted: now,
            next,
        };
    };
    match schedule.next_after(last) {
        Some(first) if first <= now => {
            let mut missed = 1;
            let mut t = first;
            while missed < MAX_COUNTED_SLOTS {
                match schedule.next_after(t) {
                    Some(n) if n <= now => {
                        missed += 1;
                        t = n;
                    }
                    _ => break,
                }
            }
            Plan {
                run: Some(first),
                missed_slots: missed,
                accounted: now,
                next,
            }
        }
        upcoming => Plan {
            run: None,
            missed_slots: 0,
            accounted: last,
            next: upcoming,
        },
    }
}

/// The persisted "last accounted moment" of the maintenance schedule (library keys are
/// `schedule.last.<library>`).
const MAINTENANCE_KEY: &str = "schedule.maintenance.last";

/// The persisted "last accounted moment" of a library's schedule.
fn state_key(library: &str) -> String {
    format!("schedule.last.{}", library.to_ascii_lowercase())
}

/// The scheduler task: every due library gets a backup queued (one job for all libraries due
/// at once), unless a backup of it is still queued or running. Runs until shutdown.
pub async fn run(state: std::sync::Arc<super::DaemonState>) {
    let mut settings_rx = state.settings.subscribe();
    loop {
        let wait = match tick(&state).await {
            Ok(Some(next)) => (next - Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(std::time::Duration::from_secs(30)),
            // Not signed in yet (no library list) or no schedule: look again soon.
            Ok(None) => std::time::Duration::from_secs(1),
            Err(e) => {
                tracing::error!(error = %crate::repo::error_chain(&e), "scheduler: cannot read or write the job queue");
                std::time::Duration::from_secs(5)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = settings_rx.changed() => tracing::info!("scheduler: configuration reloaded"),
            _ = state.shutdown.cancelled() => return,
        }
    }
}

/// One pass over every library; returns the earliest next slot.
async fn tick(
    state: &super::DaemonState,
) -> Result<Option<DateTime<Utc>>, super::queue::QueueError> {
    use super::spec::{BackupJobRequest, JobSpec, Trigger};
    let settings = state.settings();
    let schedules = match Schedules::from_config(&settings.schedule) {
        Ok(s) => s,
        Err((key, message)) => {
            tracing::error!(
                key,
                message,
                "scheduler: invalid schedule; no backup is scheduled"
            );
            return Ok(None);
        }
    };
    let now = Utc::now();
    // Maintenance needs no iManage sign-in.
    let maintenance_next = maintenance_tick(state, &schedules, now).await?;
    let libraries = state.libraries();
    if libraries.is_empty() {
        return Ok(None);
    }
    let catalog = state.queue.catalog().clone();
    let mut due = Vec::new();
    let mut first_slot = None;
    let mut accounted = Vec::new();
    let mut earliest: Option<DateTime<Utc>> = maintenance_next;
    for lib in &libraries {
        let Some(schedule) = schedules.for_library(lib) else {
            state.set_next_run(lib, None);
            continue;
        };
        let key = state_key(lib);
        let last = catalog
            .run("reading the scheduler state", move |c| c.daemon_value(&key))
            .await?
            .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
            .map(|d| d.with_timezone(&Utc));
        let p = plan(schedule, last, now);
        if let Some(slot) = p.run {
            match state.queue.active_backup(lib).await? {
                Some(job) => {
                    tracing::warn!(library = %lib, job = %job, slot = %slot, "scheduled backup skipped: the previous backup of this library is still queued or running")
                }
                None => {
                    if p.missed_slots > 1 {
                        tracing::warn!(library = %lib, first_missed = %slot, missed = p.missed_slots, "missed scheduled backups (daemon down or busy): running once now");
                    }
                    due.push(lib.clone());
                    first_slot = first_slot.or(Some(slot));
                }
            }
        }
        if Some(p.accounted) != last {
            accounted.push((lib.clone(), p.accounted));
        }
        state.set_next_run(lib, p.next);
        earliest = match (earliest, p.next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    if !due.is_empty() {
        let spec = JobSpec::Backup(BackupJobRequest {
            libraries: due.clone(),
            full: false,
            trigger: Trigger::Schedule,
            slot: first_slot,
        });
        match state.queue.enqueue(&spec).await {
            Ok(job) => tracing::info!(job = %job.id, libraries = ?due, "scheduled backup queued"),
            Err(super::queue::QueueError::Busy { library, job }) => {
                tracing::warn!(library = %library, job = %job, "scheduled backup skipped: a backup of this library was queued meanwhile")
            }
            Err(e) => return Err(e),
        }
    }
    // Recorded after queueing: a crash in between queues the run again at the next start,
    // where the "still queued" check keeps it from running twice.
    for (lib, at) in accounted {
        let key = state_key(&lib);
        catalog
            .run("recording the scheduler state", move |c| {
                c.set_daemon_value(&key, &at.to_rfc3339())
            })
            .await?;
    }
    Ok(earliest)
}

/// Queues the maintenance job when `[schedule] maintenance` says it is due (and none is queued
/// or running); returns its next slot.
async fn maintenance_tick(
    state: &super::DaemonState,
    schedules: &Schedules,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, super::queue::QueueError> {
    use super::spec::{JobSpec, MaintenanceJobRequest, Trigger};
    let Some(schedule) = schedules.maintenance() else {
        return Ok(None);
    };
    let catalog = state.queue.catalog().clone();
    let last = catalog
        .run("reading the scheduler state", |c| {
            c.daemon_value(MAINTENANCE_KEY)
        })
        .await?
        .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
        .map(|d| d.with_timezone(&Utc));
    let p = plan(schedule, last, now);
    if let Some(slot) = p.run {
        match state
            .queue
            .active_of_kind(crate::catalog::JobKind::Maintenance)
            .await?
        {
            Some(job) => {
                tracing::warn!(job = %job, slot = %slot, "scheduled maintenance skipped: the previous one is still queued or running")
            }
            None => {
                let spec = JobSpec::Maintenance(MaintenanceJobRequest {
                    dry_run: false,
                    trigger: Trigger::Schedule,
                    slot: Some(slot),
                });
                let job = state.queue.enqueue(&spec).await?;
                tracing::info!(job = %job.id, "scheduled maintenance queued");
            }
        }
    }
    if Some(p.accounted) != last {
        let at = p.accounted.to_rfc3339();
        catalog
            .run("recording the scheduler state", move |c| {
                c.set_daemon_value(MAINTENANCE_KEY, &at)
            })
            .await?;
    }
    Ok(p.next)
}

#[cfg(test)]
mod tests {
    use chrono_tz::Tz;

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn nightly() -> CronSchedule {
        CronSchedule::parse("0 0 1 * * *", Tz::UTC).unwrap()
    }

    #[test]
    fn first_start_sets_a_baseline_and_does_not_run() {
        let now = t("2026-11-03T12:00:00Z");
        let p = plan(&nightly(), None, now);
        assert_eq!(p.run, None);
        assert_eq!(p.accounted, now);
        assert_eq!(p.next, Some(t("2026-11-04T01:00:00Z")));
    }

    #[test]
    fn before_the_slot_nothing_runs_and_the_baseline_stays() {
        let last = t("2026-11-03T00:30:00Z");
        let p = plan(&nightly(), Some(last), t("2026-11-03T00:59:59Z"));
        assert_eq!(p.run, None);
        assert_eq!(p.accounted, last);
        assert_eq!(p.next, Some(t("2026-11-03T01:00:00Z")));
    }

    #[test]
    fn reaching_the_slot_runs_once() {
        let p = plan(
            &nightly(),
            Some(t("2026-11-03T00:30:00Z")),
            t("2026-11-03T01:00:00Z"),
        );
        assert_eq!(p.run, Some(t("2026-11-03T01:00:00Z")));
        assert_eq!(p.missed_slots, 1);
        // Acting on it accounts for now: the same slot is not run again.
        let again = plan(&nightly(), Some(p.accounted), t("2026-11-03T01:00:30Z"));
        assert_eq!(again.run, None);
    }

    #[test]
    fn three_missed_nights_run_once_at_boot() {
        let last = t("2026-11-01T00:30:00Z");
        let boot = t("2026-11-04T09:00:00Z");
        let p = plan(&nightly(), Some(last), boot);
        assert_eq!(p.run, Some(t("2026-11-01T01:00:00Z")));
        assert_eq!(p.missed_slots, 4);
        assert_eq!(p.accounted, boot);
        assert_eq!(p.next, Some(t("2026-11-05T01:00:00Z")));
        let after = plan(&nightly(), Some(p.accounted), t("2026-11-04T09:00:05Z"));
        assert_eq!(after.run, None, "not once per missed slot");
    }

    #[test]
    fn seconds_level_cron_over_a_long_outage_is_counted_with_a_cap() {
        let every_second = CronSchedule::parse("* * * * * *", Tz::UTC).unwrap();
        let p = plan(
            &every_second,
            Some(t("2026-11-01T00:00:00Z")),
            t("2026-11-02T00:00:00Z"),
        );
        assert!(p.run.is_some());
        assert_eq!(p.missed_slots, MAX_COUNTED_SLOTS);
    }
}
