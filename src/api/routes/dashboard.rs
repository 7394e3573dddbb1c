//! `GET /v1/dashboard`: every library's protection at a glance (last backup, what is protected,
//! the next run, the last nights), the repository's totals and the last verify.

use std::hash::{Hash, Hasher};

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::info::{Activity, SnapshotBrief};
use crate::api::history::{self, Night, Run};
use crate::api::repo_stats::RepoStatus;
use crate::api::{ApiError, ApiQuery, AppState, ErrorBody};
use crate::catalog::{JobFilter, JobId, JobKind, JobRecord, JobState, SnapshotId, SnapshotInfo};
use crate::daemon::queue::QueueError;

/// Nights shown by default, and at most.
pub const DEFAULT_NIGHTS: u32 = 30;
pub const MAX_NIGHTS: u32 = 366;
/// Backup jobs looked at per library for its history.
const JOBS_PER_LIBRARY: usize = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DashboardQuery {
    /// How many nights of history per library (default 30).
    #[param(minimum = 1, maximum = 366)]
    pub nights: Option<u32>,
}

/// What a library's snapshots protect: its newest snapshot's contents.
#[derive(Debug, Serialize, ToSchema)]
pub struct Protected {
    pub snapshot: SnapshotBrief,
    /// Versions in the newest snapshot.
    pub versions: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Snapshots of the library.
    pub snapshots: u64,
}

/// One library on the dashboard.
#[derive(Debug, Serialize, ToSchema)]
pub struct LibraryHealth {
    pub id: String,
    /// Whether a backup is queued or running now.
    pub activity: Activity,
    /// The queued or running backup job.
    pub active_job: Option<JobId>,
    /// The last backup run that ended; none: never backed up.
    pub last_backup: Option<Run>,
    pub protected: Option<Protected>,
    pub next_scheduled_run: Option<DateTime<Utc>>,
    /// The last nights, oldest first, in the schedule's time zone.
    pub nights: Vec<Night>,
}

/// The last verify job that ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyBrief {
    pub job: JobId,
    pub state: JobState,
    pub finished_at: Option<DateTime<Utc>>,
    /// Share of the packs read and checked; none: structure only.
    pub read_data_percent: Option<f64>,
    /// Problems found (listed in the job's result).
    pub problems: u64,
    pub packs: Option<u64>,
    pub packs_read: Option<u64>,
    pub error: Option<String>,
}

/// The dashboard.
#[derive(Debug, Serialize, ToSchema)]
pub struct Dashboard {
    pub generated_at: DateTime<Utc>,
    /// The time zone nights are counted in (`[schedule] timezone`).
    pub timezone: String,
    pub libraries: Vec<LibraryHealth>,
    pub repository: RepoStatus,
    pub last_verify: Option<VerifyBrief>,
    /// Jobs queued and running now.
    pub jobs_queued: u64,
    pub jobs_running: u64,
}

fn verify_brief(job: JobRecord) -> VerifyBrief {
    let result = job.progress.as_ref().map(|p| &p["result"]);
    VerifyBrief {
        job: job.id,
        state: job.state,
        finished_at: job.finished_at,
        read_data_percent: job.params["read_data_percent"].as_f64(),
        problems: result
            .and_then(|r| r["problems"].as_array())
            .map_or(0, |p| p.len() as u64),
        packs: result.and_then(|r| r["packs"].as_u64()),
        packs_read: result.and_then(|r| r["packs_read"].as_u64()),
        error: job.last_error,
    }
}

/// Changes whenever the set of snapshots does.
fn snapshots_key(snaps: &[SnapshotInfo]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    snaps.len().hash(&mut h);
    for s in snaps {
        s.row.id.to_hex().hash(&mut h);
    }
    h.finish()
}

/// Every library's protection at a glance.
#[utoipa::path(
    get,
    path = "/dashboard",
    operation_id = "dashboard",
    tag = "dashboard",
    params(DashboardQuery),
    responses(
        (status = 200, description = "The dashboard", body = Dashboard),
        (status = 400, description = "A bad query parameter (named in the message)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody)
    )
)]
pub async fn dashboard(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DashboardQuery>,
) -> Result<Json<Dashboard>, ApiError> {
    let days = q.nights.unwrap_or(DEFAULT_NIGHTS);
    if days == 0 || days > MAX_NIGHTS {
        return Err(ApiError::bad_request(format!(
            "nights: must be 1 to {MAX_NIGHTS}, got {days}"
        ))
        .with_field(Some("nights")));
    }
    let settings = state.settings();
    let tz: Tz = settings.schedule.timezone.parse().unwrap_or(Tz::UTC);
    let now = Utc::now();
    let today = now.with_timezone(&tz).date_naive();
    let since = now - Duration::days(i64::from(days) + 1);

    let snaps = state
        .queue
        .reader()
        .run("listing snapshots", |c| c.snapshots(None))
        .await
        .map_err(QueueError::Catalog)?;
    let mut names = state.libraries();
    for s in &snaps {
        if !names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(s.row.library.as_str()))
        {
            names.push(s.row.library.as_str().to_string());
        }
    }

    let mut libraries = Vec::new();
    for lib in names {
        let jobs = state
            .queue
            .list(JobFilter {
                kind: Some(JobKind::Backup),
                library: Some(lib.clone()),
                limit: Some(JOBS_PER_LIBRARY),
                ..JobFilter::default()
            })
            .await?;
        let active = jobs.iter().find(|j| !j.state.is_terminal());
        let activity = match active.map(|j| j.state) {
            Some(JobState::Running) => Activity::Running,
            Some(_) => Activity::Queued,
            None => Activity::Idle,
        };
        let own: Vec<SnapshotInfo> = snaps
            .iter()
            .filter(|s| s.row.library.as_str().eq_ignore_ascii_case(&lib))
            .cloned()
            .collect();
        let newest = own.last();
        // The last run: the newest snapshot, unless a later job ended without one.
        let mut all_runs = history::runs(
            newest.map(std::slice::from_ref).unwrap_or_default(),
            &jobs,
            &lib,
        );
        let last_backup = all_runs.pop().map(|mut r| {
            if r.job.is_none() {
                // Name the job that wrote the snapshot, when the daemon ran it.
                r.job = jobs
                    .iter()
                    .find(|j| wrote(j, r.snapshot.as_ref()))
                    .map(|j| j.id);
            }
            r
        });
        let recent_snaps: Vec<SnapshotInfo> = own
            .iter()
            .filter(|s| s.row.time >= since)
            .cloned()
            .collect();
        let recent_jobs: Vec<JobRecord> = jobs
            .iter()
            .filter(|j| j.created_at >= since)
            .cloned()
            .collect();
        let runs = history::runs(&recent_snaps, &recent_jobs, &lib);
        libraries.push(LibraryHealth {
            activity,
            active_job: active.map(|j| j.id),
            last_backup,
            protected: newest.map(|s| Protected {
                snapshot: SnapshotBrief {
                    id: s.row.id,
                    time: s.row.time,
                    seq: s.seq,
                },
                versions: s.counts.versions,
                bytes: s.row.summary["counts"]["bytes"].as_u64().unwrap_or(0),
                snapshots: own.len() as u64,
            }),
            next_scheduled_run: state.next_run(&lib),
            nights: history::nights(&runs, tz, today, days),
            id: lib,
        });
    }

    let verifies = state
        .queue
        .list(JobFilter {
            kind: Some(JobKind::Verify),
            limit: Some(50),
            ..JobFilter::default()
        })
        .await?;
    let last_verify = verifies
        .into_iter()
        .find(|j| j.state.is_terminal())
        .map(verify_brief);
    let counts = state.queue.counts().await?;
    let count = |st: JobState| -> u64 {
        counts
            .iter()
            .filter(|(_, s, _)| *s == st)
            .map(|(_, _, n)| n)
            .sum()
    };
    let repository = state
        .repo_stats
        .get(&settings.repository, snapshots_key(&snaps))
        .await;
    Ok(Json(Dashboard {
        generated_at: now,
        timezone: tz.name().to_string(),
        libraries,
        repository,
        last_verify,
        jobs_queued: count(JobState::Queued),
        jobs_running: count(JobState::Running),
    }))
}

/// Whether the job's result names `snapshot` as written.
fn wrote(job: &JobRecord, snapshot: Option<&SnapshotId>) -> bool {
    let Some(snapshot) = snapshot.map(SnapshotId::to_hex) else {
        return false;
    };
    job.progress
        .as_ref()
        .and_then(|p| p["result"]["libraries"].as_array())
        .is_some_and(|libs| {
            libs.iter().any(|o| {
                o["snapshot"].as_str() == Some(snapshot.as_str()) && o["snapshot"] != Value::Null
            })
        })
}
