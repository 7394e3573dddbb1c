//! A library's backup history for the dashboard: its runs (snapshots written, and backup jobs
//! that ended without one), its last run, and the last N nights with the worst state of each.
//! Pure functions over catalog rows, so the rules are tested without a daemon.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::catalog::{JobId, JobRecord, JobState, SnapshotId, SnapshotInfo};

/// How one backup run of a library ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Completed,
    CompletedWithWarnings,
    Cancelled,
    Failed,
}

impl RunState {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "completed" => Self::Completed,
            "completed_with_warnings" => Self::CompletedWithWarnings,
            "cancelled" => Self::Cancelled,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// One backup run of one library.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Run {
    pub state: RunState,
    /// When it started (a snapshot's time is its run's start).
    pub started_at: DateTime<Utc>,
    pub seconds: Option<f64>,
    /// Content read from iManage: the new and changed versions.
    pub bytes_read: u64,
    pub skipped: u64,
    pub snapshot: Option<SnapshotId>,
    pub job: Option<JobId>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

fn u64_at(v: &Value, path: &[&str]) -> u64 {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_u64()
        .unwrap_or_default()
}

/// The run a snapshot records.
pub fn snapshot_run(s: &SnapshotInfo) -> Run {
    let summary = &s.row.summary;
    Run {
        state: summary["state"]
            .as_str()
            .and_then(RunState::parse)
            .unwrap_or(RunState::Completed),
        started_at: s.row.time,
        seconds: summary["seconds"].as_f64(),
        bytes_read: u64_at(summary, &["counts", "bytes_read"]),
        skipped: u64_at(summary, &["counts", "skipped"]),
        snapshot: Some(s.row.id),
        job: None,
        error: None,
    }
}

/// The run of `library` in a finished backup job, when it wrote no snapshot (failed or
/// cancelled there): a run that wrote one is told by its snapshot.
pub fn failed_job_run(job: &JobRecord, library: &str) -> Option<Run> {
    if !job.state.is_terminal() {
        return None;
    }
    let started_at = job.started_at.unwrap_or(job.created_at);
    let outcome = job
        .progress
        .as_ref()
        .and_then(|p| p["result"]["libraries"].as_array())
        .and_then(|libs| {
            libs.iter().find(|o| {
                o["library"]
                    .as_str()
                    .is_some_and(|l| l.eq_ignore_ascii_case(library))
            })
        });
    match outcome {
        Some(o) => {
            if !o["snapshot"].is_null() {
                return None;
            }
            Some(Run {
                state: o["state"]
                    .as_str()
                    .and_then(RunState::parse)
                    .unwrap_or(RunState::Failed),
                started_at,
                seconds: o["seconds"].as_f64(),
                bytes_read: u64_at(o, &["counters", "bytes_read"]),
                skipped: u64_at(o, &["counters", "skipped"]),
                snapshot: None,
                job: Some(job.id),
                error: o["error"]
                    .as_str()
                    .map(str::to_string)
                    .or(job.last_error.clone()),
            })
        }
        // Ended before the engine ran this library (not signed in, a bad parameter...).
        None => {
            let state = match job.state {
                JobState::Failed => RunState::Failed,
                JobState::Cancelled => RunState::Cancelled,
                // Completed without a word about this library: nothing to tell.
                _ => return None,
            };
            Some(Run {
                state,
                started_at,
                seconds: job
                    .finished_at
                    .map(|f| (f - started_at).num_milliseconds() as f64 / 1000.0),
                bytes_read: 0,
                skipped: 0,
                snapshot: None,
                job: Some(job.id),
                error: job.last_error.clone(),
            })
        }
    }
}

/// Every run told by these snapshots and jobs, oldest first.
pub fn runs(snapshots: &[SnapshotInfo], jobs: &[JobRecord], library: &str) -> Vec<Run> {
    let mut out: Vec<Run> = snapshots
        .iter()
        .filter(|s| s.row.library.as_str().eq_ignore_ascii_case(library))
        .map(snapshot_run)
        .chain(jobs.iter().filter_map(|j| failed_job_run(j, library)))
        .collect();
    out.sort_by_key(|r| r.started_at);
    out
}

/// One night (calendar day in the schedule's time zone) of a library.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Night {
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// The worst state of the night's runs; `None`: no backup ran that day.
    pub state: Option<RunState>,
    pub runs: u32,
    pub seconds: f64,
    pub bytes_read: u64,
    pub skipped: u64,
    /// The last error of a failed run that night.
    pub error: Option<String>,
}

/// The `days` nights up to and including `today` (oldest first), from runs.
pub fn nights(runs: &[Run], tz: Tz, today: NaiveDate, days: u32) -> Vec<Night> {
    let first = today - Duration::days(i64::from(days.max(1)) - 1);
    let mut out: Vec<Night> = first
        .iter_days()
        .take(days.max(1) as usize)
        .map(|date| Night {
            date,
            state: None,
            runs: 0,
            seconds: 0.0,
            bytes_read: 0,
            skipped: 0,
            error: None,
        })
        .collect();
    for r in runs {
        let date = r.started_at.with_timezone(&tz).date_naive();
        let Some(n) = out.iter_mut().find(|n| n.date == date) else {
            continue;
        };
        n.runs += 1;
        n.seconds += r.seconds.unwrap_or(0.0);
        n.bytes_read += r.bytes_read;
        n.skipped += r.skipped;
        n.state = n.state.max(Some(r.state));
        if r.error.is_some() {
            n.error = r.error.clone();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ItemCounts, SnapshotRow};
    use serde_json::json;

    fn snap(id: &str, time: &str, summary: Value) -> SnapshotInfo {
        SnapshotInfo {
            row: SnapshotRow {
                id: SnapshotId::of(id.as_bytes()),
                library: "ACTIVE".parse().unwrap(),
                time: time.parse().unwrap(),
                parent: None,
                host: "h".into(),
                tool_version: "0".into(),
                summary,
            },
            seq: 1,
            counts: ItemCounts::default(),
        }
    }

    fn job(
        state: JobState,
        started: &str,
        progress: Option<Value>,
        err: Option<&str>,
    ) -> JobRecord {
        let t: DateTime<Utc> = started.parse().unwrap();
        JobRecord {
            id: JobId::new_random(),
            kind: crate::catalog::JobKind::Backup,
            params: json!({"libraries": ["ACTIVE"]}),
            state,
            created_at: t,
            started_at: Some(t),
            finished_at: Some(t + Duration::seconds(90)),
            updated_at: t,
            progress,
            last_error: err.map(str::to_string),
        }
    }

    #[test]
    fn a_failed_night_is_the_worst_of_its_runs_and_an_empty_night_shows() {
        let snaps = [
            snap(
                "aa01",
                "2026-11-01T01:00:00Z",
                json!({"state": "completed", "seconds": 60.0, "counts": {"bytes_read": 100, "skipped": 0}}),
            ),
            snap(
                "aa02",
                "2026-11-03T01:00:00Z",
                json!({"state": "completed_with_warnings", "seconds": 30.0, "counts": {"bytes_read": 5, "skipped": 2}}),
            ),
        ];
        let jobs = [
            // Night of the 3rd: a second run failed for ACTIVE, with no snapshot.
            job(
                JobState::Failed,
                "2026-11-03T05:00:00Z",
                Some(json!({"result": {"libraries": [
                    {"library": "active", "state": "failed", "snapshot": null, "seconds": 4.0,
                     "counters": {"bytes_read": 7, "skipped": 0}, "error": "the tenant answered 500"},
                    {"library": "OTHER", "state": "completed", "snapshot": "bb"}
                ]}})),
                Some("ACTIVE: the tenant answered 500"),
            ),
            // The job that wrote aa01: told by its snapshot, not twice.
            job(
                JobState::Completed,
                "2026-11-01T01:00:00Z",
                Some(
                    json!({"result": {"libraries": [{"library": "ACTIVE", "state": "completed", "snapshot": "aa01"}]}}),
                ),
                None,
            ),
            // Failed before the engine ran: no result at all.
            job(
                JobState::Failed,
                "2026-10-20T01:00:00Z",
                None,
                Some("not signed in to iManage"),
            ),
        ];
        let runs = runs(&snaps, &jobs, "ACTIVE");
        assert_eq!(runs.len(), 4, "{runs:#?}");
        assert_eq!(runs[0].state, RunState::Failed);
        assert_eq!(runs[0].error.as_deref(), Some("not signed in to iManage"));
        assert_eq!(runs[0].seconds, Some(90.0));
        let last = runs.last().unwrap();
        assert_eq!(last.state, RunState::Failed);
        assert_eq!(last.error.as_deref(), Some("the tenant answered 500"));
        assert_eq!(last.bytes_read, 7);

        let n = nights(&runs, Tz::UTC, "2026-11-04".parse().unwrap(), 5);
        assert_eq!(n.len(), 5);
        assert_eq!(n[0].date.to_string(), "2026-10-31");
        assert_eq!(n[0].state, None);
        assert_eq!(n[1].state, Some(RunState::Completed));
        assert_eq!(n[1].bytes_read, 100);
        assert_eq!(n[2].state, None, "no backup on the 2nd");
        assert_eq!(
            n[3].state,
            Some(RunState::Failed),
            "the worst run of the 3rd"
        );
        assert_eq!(n[3].runs, 2);
        assert_eq!(n[3].skipped, 2);
        assert_eq!(n[3].seconds, 34.0);
        assert_eq!(n[4].runs, 0);
    }

    #[test]
    fn nights_are_days_of_the_schedule_time_zone() {
        let snaps = [snap(
            "aa01",
            "2026-11-01T23:30:00Z",
            json!({"state": "completed", "seconds": 1.0}),
        )];
        let runs = runs(&snaps, &[], "ACTIVE");
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        let n = nights(&runs, tokyo, "2026-11-02".parse().unwrap(), 2);
        assert_eq!(n[0].state, None);
        assert_eq!(
            n[1].state,
            Some(RunState::Completed),
            "08:30 on the 2nd in Tokyo"
        );
    }
}
