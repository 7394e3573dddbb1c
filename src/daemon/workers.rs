//! The bounded pool of workers: each takes the oldest queued job, runs it, records how it
//! ended. While a job runs, its live counters are readable through [`RunningJob`] and written
//! to its job record every `[daemon] progress_secs`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::DaemonState;
use super::exec::{self, ExecOutcome};
use super::spec::JobSpec;
use crate::catalog::{JobId, JobRecord, JobState};
use crate::imanage::model::LibraryId;
use crate::jobs::progress::LiveCounters;

/// Why a running job was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// An operator cancelled it: it ends `cancelled`.
    Cancelled,
    /// The daemon is stopping: it goes back to `queued` and resumes at the next start.
    Shutdown,
}

/// A job a worker is running.
#[derive(Debug)]
pub struct RunningJob {
    pub id: JobId,
    pub cancel: CancellationToken,
    stop: Mutex<Option<StopReason>>,
    pub live: LiveCounters,
    pub started: Instant,
    /// Versions each library is expected to hold (its newest snapshot's), for progress bars.
    expected: Mutex<BTreeMap<String, u64>>,
}

impl RunningJob {
    fn new(id: JobId) -> Self {
        Self {
            id,
            cancel: CancellationToken::new(),
            stop: Mutex::new(None),
            live: LiveCounters::default(),
            started: Instant::now(),
            expected: Mutex::new(BTreeMap::new()),
        }
    }

    /// Sets the versions each library is expected to hold.
    pub fn set_expected(&self, expected: BTreeMap<String, u64>) {
        *self.expected.lock().unwrap_or_else(|p| p.into_inner()) = expected;
    }

    /// Asks the job to stop at its next safe point; the first reason given wins.
    pub fn stop(&self, reason: StopReason) {
        let mut r = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        if r.is_none() {
            *r = Some(reason);
        }
        drop(r);
        self.cancel.cancel();
    }

    pub fn stop_reason(&self) -> Option<StopReason> {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live progress, as shown by the API and stored in the job record.
    pub fn progress(&self) -> Value {
        let mut p = json!({
            "elapsed_seconds": self.started.elapsed().as_secs_f64(),
            "libraries": self.live.figures(),
            // Seconds the repository has been unreachable (0: it answers), outages ridden out.
            "storage": crate::repo::outage::status(),
        });
        let expected = self.expected.lock().unwrap_or_else(|p| p.into_inner());
        if !expected.is_empty() {
            p["expected_versions"] = json!(*expected);
        }
        p
    }
}

/// Runs `n` workers until shutdown; returns when every worker has finished its job.
pub async fn run_pool(state: Arc<DaemonState>, n: usize) {
    let mut set = tokio::task::JoinSet::new();
    for w in 0..n.max(1) {
        let state = state.clone();
        set.spawn(
            async move { worker(state).await }
                .instrument(tracing::info_span!("worker", worker = w)),
        );
    }
    while set.join_next().await.is_some() {}
}

async fn worker(state: Arc<DaemonState>) {
    loop {
        if state.shutdown.is_cancelled() {
            return;
        }
        // Jobs need the tenant (backups, restores into iManage): they stay queued until the
        // daemon is signed in (sign-in wakes the workers).
        if state.client().is_none() {
            tokio::select! {
                _ = state.queue.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = state.shutdown.cancelled() => return,
            }
            continue;
        }
        match state.queue.claim().await {
            Ok(Some(job)) => run_job(&state, job).await,
            Ok(None) => {
                tokio::select! {
                    _ = state.queue.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = state.shutdown.cancelled() => return,
                }
            }
            Err(e) => {
                tracing::error!(error = %crate::repo::error_chain(&e), "cannot take a job from the queue");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = state.shutdown.cancelled() => return,
                }
            }
        }
    }
}

async fn run_job(state: &Arc<DaemonState>, job: JobRecord) {
    let span = tracing::info_span!("job", job = %job.id, kind = %job.kind);
    async {
        let spec = match JobSpec::from_record(&job) {
            Ok(s) => s,
            Err(e) => {
                finish(state, job.id, JobState::Failed, Some(crate::repo::error_chain(&e)), None).await;
                return;
            }
        };
        let running = Arc::new(RunningJob::new(job.id));
        state
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.id, running.clone());
        if state.shutdown.is_cancelled() {
            running.stop(StopReason::Shutdown);
        }
        if let JobSpec::Backup(p) = &spec {
            running.set_expected(expected_versions(state, &p.libraries).await);
        }
        tracing::info!(params = %job.params, "job started");

        // Persist progress periodically while the job runs.
        let every = Duration::from_secs_f64(state.settings().daemon.progress_secs);
        let ticker_stop = CancellationToken::new();
        let ticker = {
            let (state, running, stop) = (state.clone(), running.clone(), ticker_stop.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.cancelled() => return,
                    }
                    if let Err(e) = state.queue.set_progress(running.id, running.progress()).await {
                        tracing::warn!(error = %crate::repo::error_chain(&e), "cannot record job progress");
                    }
                }
            })
        };

        let ctx = exec::ExecEnv {
            settings: state.settings(),
            client: state.client(),
            state: state.clone(),
            requested_by: crate::daemon::spec::requested_by(&job),
        };
        let outcome: ExecOutcome = exec::execute(&ctx, &spec, &running).await;
        // The tenant refused the account while the job ran: no more sign-ins for a while.
        if let Some(client) = &ctx.client
            && let Some(refusal) = client.sign_in_refusal()
        {
            super::sign_in::on_refused_later(state, client, &refusal);
        }
        ticker_stop.cancel();
        let _ = ticker.await;

        let mut progress = running.progress();
        progress["result"] = outcome.result.clone();
        // A job resumed after the daemon's stop says so in its progress: the note is not its
        // error once it ends (a completed job keeps none).
        if let Some(note) = &job.last_error {
            progress["resumed_after"] = serde_json::Value::String(note.clone());
        }
        let (to, error) = match (outcome.state, running.stop_reason()) {
            (JobState::Cancelled, Some(StopReason::Shutdown)) => (
                JobState::Queued,
                Some("daemon stopping: interrupted at a checkpoint; resumes when the daemon starts again".to_string()),
            ),
            (JobState::Cancelled, _) => (
                JobState::Cancelled,
                Some(outcome.error.unwrap_or_else(|| "cancelled by the operator".into())),
            ),
            (s, _) => (s, outcome.error),
        };
        state.metrics.job_finished(
            job.kind,
            running.started.elapsed().as_secs_f64(),
            outcome.bytes_read,
            outcome.bytes_stored,
        );
        finish(state, job.id, to, error, Some(progress)).await;
        let idle = {
            let mut running = state.running.lock().unwrap_or_else(|p| p.into_inner());
            running.remove(&job.id);
            running.is_empty()
        };
        if idle {
            // The job's peak (rows, buffers) is free but still held by the allocator: give it
            // back while the daemon waits for the next job.
            let released = tokio::task::spawn_blocking(crate::allocator::release_free_memory).await;
            tracing::debug!(released = released.unwrap_or(false), "freed memory given back after the last running job");
        }
    }
    .instrument(span)
    .await
}

/// The versions of each library's newest snapshot: what a backup will about list again.
async fn expected_versions(state: &DaemonState, libraries: &[String]) -> BTreeMap<String, u64> {
    let libraries = libraries.to_vec();
    let found = state
        .queue
        .reader()
        .run("reading the libraries' newest snapshots", move |c| {
            let mut out = BTreeMap::new();
            for l in libraries {
                if let Ok(id) = l.parse::<LibraryId>()
                    && let Some(s) = c.latest_snapshot(&id)?
                {
                    out.insert(l, s.counts.versions);
                }
            }
            Ok(out)
        })
        .await;
    found.unwrap_or_else(|e| {
        tracing::warn!(error = %crate::repo::error_chain(&e), "cannot read the libraries' newest snapshots");
        BTreeMap::new()
    })
}

async fn finish(
    state: &DaemonState,
    id: JobId,
    to: JobState,
    error: Option<String>,
    progress: Option<Value>,
) {
    if let Some(p) = progress
        && let Err(e) = state.queue.set_progress(id, p).await
    {
        tracing::warn!(error = %crate::repo::error_chain(&e), "cannot record job progress");
    }
    match state.queue.set_state(id, to, error.clone()).await {
        Ok(_) if to == JobState::Failed => {
            tracing::error!(state = %to, error = error.as_deref().unwrap_or(""), "job ended")
        }
        Ok(_) => tracing::info!(state = %to, "job ended"),
        Err(e) => {
            tracing::error!(state = %to, error = %crate::repo::error_chain(&e), "cannot record how a job ended")
        }
    }
    if to.is_terminal() {
        purge_old_jobs(state).await;
    }
}

/// Forgets the jobs that finished more than `[daemon] keep_jobs_days` ago.
pub async fn purge_old_jobs(state: &DaemonState) {
    let keep = state.settings().daemon.keep_jobs_days;
    match state.queue.purge_finished(keep, chrono::Utc::now()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, keep_jobs_days = keep, "forgot old finished jobs"),
        Err(e) => {
            tracing::warn!(error = %crate::repo::error_chain(&e), "cannot forget old finished jobs")
        }
    }
}
