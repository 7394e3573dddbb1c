//! A maintenance job run from the command line (verify, prune, forget), recorded in the jobs
//! table like the daemon's: `imvault jobs`, the API and the console list it. Recording is
//! best effort: a catalog that cannot be written costs the record, never the job.

use serde_json::{Value, json};

use crate::catalog::{Catalog, JobId, JobKind, JobState, NewJob};
use crate::config::Settings;

/// A recorded running job; [`CliJob::finish`] records how it ended.
pub struct CliJob {
    catalog: Catalog,
    id: JobId,
}

impl CliJob {
    /// Records a `kind` job with `params` as running, when the catalog exists (a host that
    /// only runs repository commands has none, and gets none).
    pub fn start(settings: &Settings, kind: JobKind, params: Value) -> Option<Self> {
        if !settings.catalog_path.exists() {
            return None;
        }
        let recorded = Catalog::open(&settings.catalog_path).and_then(|mut catalog| {
            let job = catalog.insert_running_job(&NewJob { kind, params })?;
            Ok(Self {
                catalog,
                id: job.id,
            })
        });
        match recorded {
            Ok(job) => Some(job),
            Err(e) => {
                tracing::warn!(error = %e, "could not record the job in the catalog");
                None
            }
        }
    }

    /// Records the end: `result` (the command's JSON report) or `error`.
    pub fn finish(mut self, result: Result<(JobState, Value), String>) {
        let (state, error, result) = match result {
            Ok((state, value)) => (state, None, value),
            Err(e) => (JobState::Failed, Some(e), Value::Null),
        };
        let r = self
            .catalog
            .update_job_progress(self.id, &json!({ "result": result }))
            .and_then(|()| self.catalog.set_job_state(self.id, state, error.as_deref()));
        if let Err(e) = r {
            tracing::warn!(job = %self.id, error = %e, "could not record the job's end in the catalog");
        }
    }
}
