//! The persistent job queue: the catalog's `jobs` table seen through the daemon's rules —
//! one backup per library queued or running at a time, interrupted jobs requeued at start,
//! cancelling a queued job at once and a running one through its worker.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Notify;

use super::spec::{JobSpec, SpecError};
use crate::catalog::{
    CatalogError, JobFilter, JobId, JobKind, JobRecord, JobState, NewJob, SharedCatalog,
};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("library {library} already has a backup queued or running (job {job})")]
    Busy { library: String, job: JobId },
    #[error("no job {id}")]
    NotFound { id: JobId },
    #[error("job {id} already ended ({state})")]
    Finished { id: JobId, state: JobState },
    #[error(transparent)]
    Spec(#[from] SpecError),
}

/// What `cancel` did.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// The job was queued and is now cancelled.
    Cancelled(JobRecord),
    /// The job is running: its worker has to stop it.
    Running(JobRecord),
}

/// A handle on the queue; cheap to clone.
#[derive(Clone, Debug)]
pub struct Queue {
    catalog: SharedCatalog,
    /// A second connection for reads (API listings, metrics): with WAL, reads never wait for
    /// a write in progress (e.g. a backup loading its snapshot into the catalog).
    reader: SharedCatalog,
    wake: Arc<Notify>,
}

impl Queue {
    /// One connection for everything (in-memory catalogs, tests).
    pub fn new(catalog: SharedCatalog) -> Self {
        Self::with_reader(catalog.clone(), catalog)
    }

    pub fn with_reader(catalog: SharedCatalog, reader: SharedCatalog) -> Self {
        Self {
            catalog,
            reader,
            wake: Arc::new(Notify::new()),
        }
    }

    /// The connection that writes.
    pub fn catalog(&self) -> &SharedCatalog {
        &self.catalog
    }

    /// The connection for reads.
    pub fn reader(&self) -> &SharedCatalog {
        &self.reader
    }

    /// Wakes idle workers (a job was queued).
    pub fn notify(&self) {
        self.wake.notify_waiters();
    }

    /// Resolves when [`Queue::notify`] is called.
    pub async fn notified(&self) {
        self.wake.notified().await
    }

    /// Queues a job. A backup is refused with [`QueueError::Busy`] when one of its libraries
    /// already has a backup queued or running (checked and inserted under one lock).
    pub async fn enqueue(&self, spec: &JobSpec) -> Result<JobRecord, QueueError> {
        self.enqueue_by(spec, None).await
    }

    /// Queues `spec` as asked for by the API token named `requested_by` (kept in the job's
    /// parameters as `requested_by`: the actor of the job's audit records).
    pub async fn enqueue_by(
        &self,
        spec: &JobSpec,
        requested_by: Option<&str>,
    ) -> Result<JobRecord, QueueError> {
        let spec = spec.clone();
        let mut params = spec.params();
        if let (Some(name), Some(o)) = (requested_by, params.as_object_mut()) {
            o.insert(
                crate::daemon::spec::REQUESTED_BY.into(),
                serde_json::Value::from(name),
            );
        }
        let rec = self
            .catalog
            .run("enqueueing a job", move |cat| {
                if let JobSpec::Backup(p) = &spec {
                    for lib in &p.libraries {
                        if let Some(job) = active_backup(cat, lib)? {
                            return Ok(Err(QueueError::Busy {
                                library: lib.clone(),
                                job,
                            }));
                        }
                    }
                }
                cat.insert_job(&NewJob {
                    kind: spec.kind(),
                    params,
                })
                .map(Ok)
            })
            .await??;
        self.notify();
        Ok(rec)
    }

    /// The queued or running backup job of `library`, if any.
    pub async fn active_backup(&self, library: &str) -> Result<Option<JobId>, QueueError> {
        let lib = library.to_string();
        Ok(self
            .catalog
            .run("looking for a running backup", move |cat| {
                active_backup(cat, &lib)
            })
            .await?)
    }

    /// A queued or running job of `kind`, if any.
    pub async fn active_of_kind(&self, kind: JobKind) -> Result<Option<JobId>, QueueError> {
        Ok(self
            .catalog
            .run("looking for a queued or running job", move |cat| {
                for state in [JobState::Running, JobState::Queued] {
                    let jobs = cat.list_jobs(&JobFilter {
                        state: Some(state),
                        kind: Some(kind),
                        ..JobFilter::default()
                    })?;
                    if let Some(j) = jobs.first() {
                        return Ok(Some(j.id));
                    }
                }
                Ok(None)
            })
            .await?)
    }

    /// Takes the oldest queued job and marks it running.
    pub async fn claim(&self) -> Result<Option<JobRecord>, QueueError> {
        Ok(self
            .catalog
            .run("claiming a job", |cat| cat.claim_next_job())
            .await?)
    }

    pub async fn get(&self, id: JobId) -> Result<JobRecord, QueueError> {
        self.reader
            .run("reading a job", move |cat| cat.job(id))
            .await?
            .ok_or(QueueError::NotFound { id })
    }

    pub async fn list(&self, filter: JobFilter) -> Result<Vec<JobRecord>, QueueError> {
        Ok(self
            .reader
            .run("listing jobs", move |cat| cat.list_jobs(&filter))
            .await?)
    }

    pub async fn counts(&self) -> Result<Vec<(JobKind, JobState, u64)>, QueueError> {
        Ok(self
            .reader
            .run("counting jobs", |cat| cat.job_counts())
            .await?)
    }

    pub async fn set_state(
        &self,
        id: JobId,
        to: JobState,
        error: Option<String>,
    ) -> Result<JobRecord, QueueError> {
        Ok(self
            .catalog
            .run("changing a job's state", move |cat| {
                cat.set_job_state(id, to, error.as_deref())
            })
            .await?)
    }

    pub async fn set_progress(&self, id: JobId, progress: Value) -> Result<(), QueueError> {
        Ok(self
            .catalog
            .run("recording job progress", move |cat| {
                cat.update_job_progress(id, &progress)
            })
            .await?)
    }

    /// Cancels a queued job now; a running one is reported for its worker to stop.
    pub async fn cancel(&self, id: JobId) -> Result<CancelOutcome, QueueError> {
        self.catalog
            .run("cancelling a job", move |cat| {
                let job = cat.job(id)?;
                let Some(job) = job else {
                    return Ok(Err(QueueError::NotFound { id }));
                };
                Ok(match job.state {
                    JobState::Queued => Ok(CancelOutcome::Cancelled(cat.set_job_state(
                        id,
                        JobState::Cancelled,
                        Some("cancelled by the operator before it started"),
                    )?)),
                    JobState::Running => Ok(CancelOutcome::Running(job)),
                    state => Err(QueueError::Finished { id, state }),
                })
            })
            .await?
    }

    /// Forgets finished jobs that finished more than `keep_days` days before `now` (`[daemon]
    /// keep_jobs_days`). Returns how many.
    pub async fn purge_finished(
        &self,
        keep_days: u32,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, QueueError> {
        let before = now - chrono::Duration::days(i64::from(keep_days));
        Ok(self
            .catalog
            .run("purging old finished jobs", move |cat| {
                cat.purge_jobs(before)
            })
            .await?)
    }

    /// At daemon start: every job a previous daemon left `running` goes back to `queued`, with
    /// a note in its last error; a backup resumes from its last checkpoint. Returns their ids.
    pub async fn requeue_interrupted(&self) -> Result<Vec<JobId>, QueueError> {
        Ok(self
            .catalog
            .run("requeueing interrupted jobs", |cat| {
                let running = cat.list_jobs(&JobFilter {
                    state: Some(JobState::Running),
                    ..JobFilter::default()
                })?;
                let note = format!(
                    "interrupted: the daemon stopped while this job ran; requeued at {}",
                    chrono::Utc::now().to_rfc3339()
                );
                let mut ids = Vec::new();
                // A job the command line runs is its own process's (see insert_running_job).
                let cli = |j: &crate::catalog::JobRecord| {
                    j.params.get("trigger").and_then(|t| t.as_str())
                        == Some(crate::catalog::jobs::CLI_TRIGGER)
                };
                for job in running.into_iter().filter(|j| !cli(j)) {
                    cat.set_job_state(job.id, JobState::Queued, Some(&note))?;
                    tracing::warn!(job = %job.id, kind = %job.kind, "requeued a job interrupted by a daemon stop");
                    ids.push(job.id);
                }
                Ok(ids)
            })
            .await?)
    }
}

fn active_backup(
    cat: &crate::catalog::Catalog,
    library: &str,
) -> Result<Option<JobId>, CatalogError> {
    for state in [JobState::Running, JobState::Queued] {
        let jobs = cat.list_jobs(&JobFilter {
            state: Some(state),
            kind: Some(JobKind::Backup),
            library: Some(library.to_string()),
            ..JobFilter::default()
        })?;
        if let Some(j) = jobs.first() {
            return Ok(Some(j.id));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::daemon::spec::{BackupJobRequest, Trigger};

    fn backup(libs: &[&str]) -> JobSpec {
        JobSpec::Backup(BackupJobRequest {
            libraries: libs.iter().map(|s| s.to_string()).collect(),
            full: false,
            trigger: Trigger::Api,
            slot: None,
        })
    }

    fn queue() -> Queue {
        Queue::new(SharedCatalog::new(Catalog::open_in_memory().unwrap()))
    }

    /// Issue 18: finished jobs are forgotten `keep_jobs_days` after they finished, never a
    /// queued or running one; a job the command line runs is never requeued by the daemon.
    #[tokio::test]
    async fn old_finished_jobs_are_purged_and_cli_jobs_are_not_requeued() {
        let q = queue();
        let done = q.enqueue(&backup(&["A"])).await.unwrap();
        assert_eq!(q.claim().await.unwrap().unwrap().id, done.id);
        q.set_state(done.id, JobState::Completed, None)
            .await
            .unwrap();
        let waiting = q.enqueue(&backup(&["B"])).await.unwrap();
        let cli = q
            .catalog()
            .run("test", |c| {
                c.insert_running_job(&crate::catalog::NewJob {
                    kind: JobKind::Verify,
                    params: serde_json::json!({"library": null}),
                })
            })
            .await
            .unwrap();
        assert_eq!(cli.state, JobState::Running);
        assert_eq!(cli.params["trigger"], "cli");
        assert!(q.requeue_interrupted().await.unwrap().is_empty());
        assert_eq!(q.get(cli.id).await.unwrap().state, JobState::Running);

        let now = chrono::Utc::now();
        assert_eq!(
            q.purge_finished(90, now).await.unwrap(),
            0,
            "finished today"
        );
        let later = now + chrono::Duration::days(91);
        assert_eq!(q.purge_finished(90, later).await.unwrap(), 1);
        assert!(matches!(
            q.get(done.id).await,
            Err(QueueError::NotFound { .. })
        ));
        assert_eq!(q.get(waiting.id).await.unwrap().state, JobState::Queued);
        assert_eq!(q.get(cli.id).await.unwrap().state, JobState::Running);
    }

    #[tokio::test]
    async fn a_library_never_has_two_backups_queued_or_running() {
        let q = queue();
        let a = q.enqueue(&backup(&["ACTIVE"])).await.unwrap();
        match q.enqueue(&backup(&["OTHER", "active"])).await {
            Err(QueueError::Busy { library, job }) => {
                assert_eq!(library, "active");
                assert_eq!(job, a.id);
            }
            other => panic!("{other:?}"),
        }
        q.enqueue(&backup(&["OTHER"])).await.unwrap();
        let claimed = q.claim().await.unwrap().unwrap();
        assert_eq!(claimed.id, a.id);
        assert!(
            q.enqueue(&backup(&["ACTIVE"])).await.is_err(),
            "running counts too"
        );
        q.set_state(a.id, JobState::Completed, None).await.unwrap();
        q.enqueue(&backup(&["ACTIVE"])).await.unwrap();
    }

    #[tokio::test]
    async fn cancel_and_requeue() {
        let q = queue();
        let a = q.enqueue(&backup(&["A"])).await.unwrap();
        let b = q.enqueue(&backup(&["B"])).await.unwrap();
        assert_eq!(q.claim().await.unwrap().unwrap().id, a.id);
        assert!(matches!(
            q.cancel(a.id).await.unwrap(),
            CancelOutcome::Running(_)
        ));
        match q.cancel(b.id).await.unwrap() {
            CancelOutcome::Cancelled(j) => assert_eq!(j.state, JobState::Cancelled),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            q.cancel(b.id).await,
            Err(QueueError::Finished { .. })
        ));
        assert!(matches!(
            q.cancel(JobId::new_random()).await,
            Err(QueueError::NotFound { .. })
        ));
        assert_eq!(q.requeue_interrupted().await.unwrap(), vec![a.id]);
        let a = q.get(a.id).await.unwrap();
        assert_eq!(a.state, JobState::Queued);
        assert!(a.last_error.unwrap().contains("interrupted"));
        let by_lib = q
            .list(JobFilter {
                library: Some("b".into()),
                ..JobFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(by_lib.len(), 1);
        assert_eq!(by_lib[0].id, b.id);
    }
}
