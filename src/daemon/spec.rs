//! What a job does, as stored in the job queue (`jobs.kind` + `jobs.params`) and as asked for
//! over the HTTP API. Requests deny unknown fields, so a typo is a 400 that names the field.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{JobKind, JobRecord};

/// `POST /v1/backups` (named `BackupRequest` in the API document): the operator's part of a
/// backup request; the job adds the trigger ([`BackupJobRequest`]), the engine the settings
/// ([`crate::jobs::backup::BackupRequest`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = BackupRequest)]
pub struct BackupApiRequest {
    /// Library ids; empty means every library the configuration selects.
    #[serde(default)]
    pub libraries: Vec<String>,
    /// Download every version again instead of only new or changed ones.
    #[serde(default)]
    pub full: bool,
}

/// Who asked for a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The `[schedule]` (the slot it ran for).
    Schedule,
    /// An operator through the HTTP API or `imvault jobs`.
    Api,
}

/// A backup job's parameters: the libraries are resolved when the job is queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupJobRequest {
    pub libraries: Vec<String>,
    pub full: bool,
    pub trigger: Trigger,
    /// The scheduled slot, for scheduled runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<DateTime<Utc>>,
}

/// `POST /v1/maintenance`: forget by the configured `[retention]`, then prune (what
/// `imvault forget` and `imvault prune` do), with the `[repository.maintenance]` credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MaintenanceRequest)]
pub struct MaintenanceApiRequest {
    /// Report what would be forgotten and pruned, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// A maintenance job's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceJobRequest {
    #[serde(default)]
    pub dry_run: bool,
    pub trigger: Trigger,
    /// The scheduled slot, for scheduled runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<DateTime<Utc>>,
}

/// `POST /v1/restores` and restore jobs: the engine's own request (`imvault restore`'s flags),
/// e.g. `{"document": "ACTIVE!1042", "version": 1, "at": "2026-11-03T00:00:00Z", "to": "/srv/r1"}`.
pub use crate::restore::RestoreRequest;

/// `POST /v1/verifications` and verify jobs: the engine's own request (`imvault verify`'s flags).
pub use crate::jobs::verify::VerifyRequest;

/// The key of a queued job's parameters naming the API token that queued it (the actor of
/// what the job does, in the audit trail).
pub const REQUESTED_BY: &str = "requested_by";

/// The name of the API token that queued `job`, if one did.
pub fn requested_by(job: &JobRecord) -> Option<String> {
    job.params
        .get(REQUESTED_BY)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// A job the daemon can run.
#[derive(Debug, Clone, PartialEq)]
pub enum JobSpec {
    Backup(BackupJobRequest),
    Restore(RestoreRequest),
    Verify(VerifyRequest),
    Maintenance(MaintenanceJobRequest),
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("job {id} has kind {kind}, which this daemon does not run")]
    UnsupportedKind { id: String, kind: JobKind },
    #[error("the parameters of {kind} job {id} do not parse")]
    Params {
        id: String,
        kind: JobKind,
        #[source]
        source: serde_json::Error,
    },
}

impl JobSpec {
    pub fn kind(&self) -> JobKind {
        match self {
            Self::Backup(_) => JobKind::Backup,
            Self::Restore(_) => JobKind::Restore,
            Self::Verify(_) => JobKind::Verify,
            Self::Maintenance(_) => JobKind::Maintenance,
        }
    }

    /// The parameters as stored in the job record.
    pub fn params(&self) -> Value {
        let v = match self {
            Self::Backup(p) => serde_json::to_value(p),
            Self::Restore(r) => serde_json::to_value(r),
            Self::Verify(v) => serde_json::to_value(v),
            Self::Maintenance(m) => serde_json::to_value(m),
        };
        v.unwrap_or(Value::Null)
    }

    /// Reads a queued job back.
    pub fn from_record(job: &JobRecord) -> Result<Self, SpecError> {
        let err = |source| SpecError::Params {
            id: job.id.to_string(),
            kind: job.kind,
            source,
        };
        let mut p = job.params.clone();
        // Who queued it is the queue's, not the engine's (see [`REQUESTED_BY`]).
        if let Some(o) = p.as_object_mut() {
            o.remove(REQUESTED_BY);
        }
        Ok(match job.kind {
            JobKind::Backup => Self::Backup(serde_json::from_value(p).map_err(err)?),
            JobKind::Restore => Self::Restore(serde_json::from_value(p).map_err(err)?),
            JobKind::Verify => Self::Verify(serde_json::from_value(p).map_err(err)?),
            JobKind::Maintenance => Self::Maintenance(serde_json::from_value(p).map_err(err)?),
            kind => {
                return Err(SpecError::UnsupportedKind {
                    id: job.id.to_string(),
                    kind,
                });
            }
        })
    }

    /// The libraries a job touches (for "one backup per library" and the `library` filter).
    pub fn libraries(&self) -> Vec<String> {
        match self {
            Self::Backup(p) => p.libraries.clone(),
            Self::Restore(r) => validate_restore(r)
                .map(|v| vec![v.selection.library().to_string()])
                .unwrap_or_default(),
            Self::Verify(v) => v.library.iter().cloned().collect(),
            Self::Maintenance(_) => Vec::new(),
        }
    }
}

/// Checks a restore request the way the engine will, plus what only matters to a daemon: an
/// export directory must be an absolute path on the daemon's host.
pub fn validate_restore(r: &RestoreRequest) -> Result<crate::restore::ValidRequest, SpecError> {
    let valid = r.validate().map_err(|e| SpecError::Invalid {
        field: "request",
        message: e.to_string(),
    })?;
    if let Some(to) = &r.to
        && !to.is_absolute()
    {
        return Err(SpecError::Invalid {
            field: "to",
            message: format!(
                "{} must be an absolute path on the daemon's host",
                to.display()
            ),
        });
    }
    Ok(valid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_named() {
        let e = serde_json::from_value::<BackupApiRequest>(json!({"libraries": [], "ful": true}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `ful`"), "{e}");
        let e = serde_json::from_value::<RestoreRequest>(json!({
            "document": "ACTIVE!1", "to": "/tmp/x", "mode": 1
        }))
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown field `mode`"), "{e}");
    }

    #[test]
    fn restore_requests_are_checked() {
        let ok: RestoreRequest =
            serde_json::from_value(json!({"document": "ACTIVE!12", "version": 1, "to": "/srv/r"}))
                .unwrap();
        let v = validate_restore(&ok).unwrap();
        assert_eq!(v.selection.library().to_string(), "ACTIVE");
        assert_eq!(JobSpec::Restore(ok.clone()).libraries(), vec!["ACTIVE"]);
        let field = |r: RestoreRequest| match validate_restore(&r) {
            Err(SpecError::Invalid { field, message }) => format!("{field}: {message}"),
            other => panic!("{other:?}"),
        };
        let relative = RestoreRequest {
            to: Some("relative/dir".into()),
            ..ok.clone()
        };
        assert!(field(relative).starts_with("to: relative/dir"));
        let nothing = RestoreRequest {
            document: None,
            ..ok.clone()
        };
        assert!(field(nothing).starts_with("request: "));
    }

    #[test]
    fn specs_round_trip_through_job_params() {
        let spec = JobSpec::Backup(BackupJobRequest {
            libraries: vec!["ACTIVE".into()],
            full: true,
            trigger: Trigger::Schedule,
            slot: Some("2026-11-03T01:00:00Z".parse().unwrap()),
        });
        let rec = JobRecord {
            id: crate::catalog::JobId::new_random(),
            kind: spec.kind(),
            params: spec.params(),
            state: crate::catalog::JobState::Queued,
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
            updated_at: Utc::now(),
            progress: None,
            last_error: None,
        };
        assert_eq!(JobSpec::from_record(&rec).unwrap(), spec);
        let spec = JobSpec::Maintenance(MaintenanceJobRequest {
            dry_run: false,
            trigger: Trigger::Api,
            slot: None,
        });
        let rec = JobRecord {
            kind: spec.kind(),
            params: spec.params(),
            ..rec
        };
        assert_eq!(rec.kind, JobKind::Maintenance);
        assert_eq!(JobSpec::from_record(&rec).unwrap(), spec);
    }
}
