//! The daemon's persistent job queue (`jobs` table).
//!
//! States move only along: queued → running | cancelled; running → completed |
//! completed_with_warnings | failed | cancelled | queued (requeued after an interrupted
//! daemon). Terminal states never change. Transitions are checked inside one transaction.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Catalog;
use super::encode::{canonical_json, corrupt, ns_to_time, time_to_ns_clamped};
use super::error::{CatalogError, SqlContext};

/// The `trigger` of a job the command line ran (see [`Catalog::insert_running_job`]).
pub const CLI_TRIGGER: &str = "cli";

/// A job id (UUID v4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobId(pub uuid::Uuid);

impl JobId {
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4())
    }
}
impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl FromStr for JobId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, uuid::Error> {
        s.parse().map(Self)
    }
}

macro_rules! text_enum {
    ($(#[$m:meta])* $t:ident { $($v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $t { $($v),+ }
        impl $t {
            pub const ALL: &'static [$t] = &[$($t::$v),+];
            pub fn as_str(self) -> &'static str {
                match self { $($t::$v => $s),+ }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $t {
            type Err = CatalogError;
            fn from_str(s: &str) -> Result<Self, CatalogError> {
                match s {
                    $($s => Ok($t::$v),)+
                    other => Err(corrupt(concat!("a ", stringify!($t)), other)),
                }
            }
        }
    };
}

text_enum!(
    /// What a job does.
    JobKind {
        Backup = "backup",
        Restore = "restore",
        Verify = "verify",
        Prune = "prune",
        Forget = "forget",
        CatalogRebuild = "catalog_rebuild",
        Maintenance = "maintenance",
    }
);

text_enum!(
    /// Where a job is in its life.
    JobState {
        Queued = "queued",
        Running = "running",
        Completed = "completed",
        CompletedWithWarnings = "completed_with_warnings",
        Failed = "failed",
        Cancelled = "cancelled",
    }
);

impl JobState {
    /// Completed, completed with warnings, failed or cancelled: never changes again.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }

    pub fn can_become(self, to: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, to),
            (Queued, Running | Cancelled)
                | (
                    Running,
                    Completed | CompletedWithWarnings | Failed | Cancelled | Queued
                )
        )
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: JobKind,
    /// The job's options, as JSON (never secrets).
    pub params: Value,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: JobId,
    pub kind: JobKind,
    pub params: Value,
    pub state: JobState,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub progress: Option<Value>,
    pub last_error: Option<String>,
}

/// Which jobs `list_jobs` returns (newest first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub kind: Option<JobKind>,
    pub limit: Option<usize>,
    /// Jobs that name this library (case-insensitive) in their parameters (`libraries` or
    /// `library`) or in their progress (`libraries` keys).
    pub library: Option<String>,
    /// Skip this many jobs first (paging, with `limit`).
    pub offset: Option<usize>,
}

const JOB_COLS: &str = "id, kind, params, state, created_ns, started_ns, finished_ns, \
     updated_ns, progress, last_error";

type RawJob = (
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
    Option<String>,
    Option<String>,
);

fn raw_job(r: &Row<'_>) -> rusqlite::Result<RawJob> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

fn job(raw: RawJob) -> Result<JobRecord, CatalogError> {
    let (id, kind, params, state, created, started, finished, updated, progress, last_error) = raw;
    let id: JobId = id.parse().map_err(|e| corrupt("a job id", e))?;
    let json = |what: &str, s: &str| -> Result<Value, CatalogError> {
        serde_json::from_str(s).map_err(|e| corrupt(format!("the {what} of job {id}"), e))
    };
    Ok(JobRecord {
        kind: kind.parse()?,
        params: json("parameters", &params)?,
        state: state.parse()?,
        created_at: ns_to_time(created),
        started_at: started.map(ns_to_time),
        finished_at: finished.map(ns_to_time),
        updated_at: ns_to_time(updated),
        progress: progress.map(|p| json("progress", &p)).transpose()?,
        last_error,
        id,
    })
}

fn now_ns() -> i64 {
    time_to_ns_clamped(&Utc::now())
}

impl Catalog {
    /// Enqueue a job in state `queued`.
    pub fn insert_job(&mut self, new: &NewJob) -> Result<JobRecord, CatalogError> {
        let id = JobId::new_random();
        let now = now_ns();
        self.conn
            .execute(
                "INSERT INTO jobs (id, kind, params, state, created_ns, updated_ns) \
                 VALUES (?1, ?2, ?3, 'queued', ?4, ?4)",
                params![
                    id.to_string(),
                    new.kind.as_str(),
                    canonical_json(&new.params),
                    now
                ],
            )
            .ctx(|| format!("enqueueing {} job {id}", new.kind))?;
        self.job(id)?.ok_or(CatalogError::UnknownJob { id })
    }

    /// Record a job another process runs now (the command line's verify, prune, forget): it
    /// starts `running`, with `trigger: "cli"` in its parameters, and the daemon never
    /// requeues or runs it.
    pub fn insert_running_job(&mut self, new: &NewJob) -> Result<JobRecord, CatalogError> {
        let id = JobId::new_random();
        let now = now_ns();
        let mut params = new.params.clone();
        if let Value::Object(o) = &mut params {
            o.insert("trigger".into(), Value::from(CLI_TRIGGER));
        }
        self.conn
            .execute(
                "INSERT INTO jobs (id, kind, params, state, created_ns, started_ns, updated_ns) \
                 VALUES (?1, ?2, ?3, 'running', ?4, ?4, ?4)",
                params![
                    id.to_string(),
                    new.kind.as_str(),
                    canonical_json(&params),
                    now
                ],
            )
            .ctx(|| format!("recording {} job {id}", new.kind))?;
        self.job(id)?.ok_or(CatalogError::UnknownJob { id })
    }

    pub fn job(&self, id: JobId) -> Result<Option<JobRecord>, CatalogError> {
        let raw = self
            .conn
            .prepare_cached(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1"))
            .and_then(|mut s| s.query_row([id.to_string()], raw_job).optional())
            .ctx(|| format!("reading job {id}"))?;
        raw.map(job).transpose()
    }

    /// Jobs, newest first.
    pub fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobRecord>, CatalogError> {
        let limit = filter
            .limit
            .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let offset = filter
            .offset
            .map_or(0, |o| i64::try_from(o).unwrap_or(i64::MAX));
        let raws = self
            .conn
            .prepare_cached(&format!(
                "SELECT {JOB_COLS} FROM jobs WHERE (?1 IS NULL OR state = ?1) \
                 AND (?2 IS NULL OR kind = ?2) AND (?4 IS NULL \
                 OR EXISTS (SELECT 1 FROM json_each(params, '$.libraries') \
                     WHERE value = ?4 COLLATE NOCASE) \
                 OR json_extract(params, '$.library') = ?4 COLLATE NOCASE \
                 OR EXISTS (SELECT 1 FROM json_each(progress, '$.libraries') \
                     WHERE key = ?4 COLLATE NOCASE)) \
                 ORDER BY created_ns DESC, id LIMIT ?3 OFFSET ?5"
            ))
            .and_then(|mut s| {
                s.query_map(
                    params![
                        filter.state.map(JobState::as_str),
                        filter.kind.map(JobKind::as_str),
                        limit,
                        filter.library.as_deref(),
                        offset
                    ],
                    raw_job,
                )?
                .collect::<Result<Vec<_>, _>>()
            })
            .ctx(|| "listing jobs".to_string())?;
        raws.into_iter().map(job).collect()
    }

    /// Move a job to `to`, recording `error` as its last error when given (a job that
    /// completes without one keeps none: the note of an interruption it resumed from is not
    /// its outcome). Refuses
    /// transitions the state machine does not allow. Sets `started_at` on entering `running`
    /// and `finished_at` on entering a terminal state.
    pub fn set_job_state(
        &mut self,
        id: JobId,
        to: JobState,
        error: Option<&str>,
    ) -> Result<JobRecord, CatalogError> {
        let action = || format!("moving job {id} to {to}");
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(action)?;
        let from: Option<String> = tx
            .query_row(
                "SELECT state FROM jobs WHERE id = ?1",
                [id.to_string()],
                |r| r.get(0),
            )
            .optional()
            .ctx(action)?;
        let from: JobState = from.ok_or(CatalogError::UnknownJob { id })?.parse()?;
        if !from.can_become(to) {
            return Err(CatalogError::JobTransition { id, from, to });
        }
        let now = now_ns();
        tx.execute(
            "UPDATE jobs SET state = ?2, updated_ns = ?3, \
             started_ns = CASE WHEN ?2 = 'running' THEN ?3 ELSE started_ns END, \
             finished_ns = CASE WHEN ?4 THEN ?3 ELSE NULL END, \
             last_error = CASE WHEN ?2 = 'completed' THEN ?5 ELSE coalesce(?5, last_error) END \
             WHERE id = ?1",
            params![id.to_string(), to.as_str(), now, to.is_terminal(), error],
        )
        .ctx(action)?;
        tx.commit().ctx(action)?;
        tracing::info!(job = %id, from = %from, to = %to, "job state changed");
        self.job(id)?.ok_or(CatalogError::UnknownJob { id })
    }

    /// Replace a job's progress JSON (running jobs only make sense, any state is accepted).
    pub fn update_job_progress(&mut self, id: JobId, progress: &Value) -> Result<(), CatalogError> {
        let n = self
            .conn
            .prepare_cached("UPDATE jobs SET progress = ?2, updated_ns = ?3 WHERE id = ?1")
            .and_then(|mut s| {
                s.execute(params![id.to_string(), canonical_json(progress), now_ns()])
            })
            .ctx(|| format!("recording the progress of job {id}"))?;
        if n == 0 {
            return Err(CatalogError::UnknownJob { id });
        }
        Ok(())
    }

    /// Take the oldest queued job and mark it running, in one statement (safe against
    /// another connection claiming the same job).
    pub fn claim_next_job(&mut self) -> Result<Option<JobRecord>, CatalogError> {
        let now = now_ns();
        let claimed: Option<String> = self
            .conn
            .query_row(
                "UPDATE jobs SET state = 'running', started_ns = ?1, updated_ns = ?1 \
                 WHERE id = (SELECT id FROM jobs WHERE state = 'queued' \
                 ORDER BY created_ns, id LIMIT 1) RETURNING id",
                [now],
                |r| r.get(0),
            )
            .optional()
            .ctx(|| "claiming the next queued job".to_string())?;
        let Some(id) = claimed else { return Ok(None) };
        let id: JobId = id.parse().map_err(|e| corrupt("a job id", e))?;
        tracing::info!(job = %id, from = "queued", to = "running", "job state changed");
        self.job(id)
    }

    /// Forget finished jobs (terminal states) that finished before `before`. Returns how many.
    pub fn purge_jobs(&mut self, before: DateTime<Utc>) -> Result<usize, CatalogError> {
        self.conn
            .execute(
                "DELETE FROM jobs WHERE finished_ns IS NOT NULL AND finished_ns < ?1 \
                 AND state NOT IN ('queued', 'running')",
                [time_to_ns_clamped(&before)],
            )
            .ctx(|| format!("purging jobs finished before {before}"))
    }

    /// At daemon start: jobs left `running` by a previous process go back to `queued` (not
    /// those the command line runs). Returns how many.
    pub fn requeue_interrupted_jobs(&mut self) -> Result<usize, CatalogError> {
        self.conn
            .execute(
                "UPDATE jobs SET state = 'queued', updated_ns = ?1 WHERE state = 'running' \
                 AND json_extract(params, '$.trigger') IS NOT ?2",
                params![now_ns(), CLI_TRIGGER],
            )
            .ctx(|| "requeueing interrupted jobs".to_string())
    }

    /// How many jobs are in each (kind, state), for metrics.
    pub fn job_counts(&self) -> Result<Vec<(JobKind, JobState, u64)>, CatalogError> {
        let raws: Vec<(String, String, i64)> = self
            .conn
            .prepare_cached("SELECT kind, state, count(*) FROM jobs GROUP BY kind, state")
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .ctx(|| "counting jobs by state".to_string())?;
        raws.into_iter()
            .map(|(k, s, n)| Ok((k.parse()?, s.parse()?, u64::try_from(n).unwrap_or(0))))
            .collect()
    }

    /// A value the daemon keeps across restarts (e.g. the scheduler's last slot per library),
    /// in the catalog's `meta` table under `daemon.<key>`.
    pub fn daemon_value(&self, key: &str) -> Result<Option<String>, CatalogError> {
        self.conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [format!("daemon.{key}")],
                |r| r.get(0),
            )
            .optional()
            .ctx(|| format!("reading daemon state {key}"))
    }

    /// Set (or replace) a value read back by [`Catalog::daemon_value`].
    pub fn set_daemon_value(&mut self, key: &str, value: &str) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![format!("daemon.{key}"), value],
            )
            .ctx(|| format!("recording daemon state {key}"))
            .map(|_| ())
    }
}
