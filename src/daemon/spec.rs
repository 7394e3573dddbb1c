//! What a job does, as stored in the job queue (`jobs.kind` + `jobs.params`) and as asked for
//! over the HTTP API. Requests deny unknown fields, so a typo is a 400 that names the field.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{JobKind, JobRecord};

/// `POST /v1/backups`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
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
pub struct BackupParams {
    pub libraries: Vec<String>,
    pub full: bool,
    pub trigger: Trigger,
    /// The scheduled slot, for scheduled runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<DateTime<Utc>>,
}

/// Where restored content goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RestoreTarget {
    /// Files under a local directory of the daemon's host.
    Local { path: std::path::PathBuf },
    /// Back into iManage: the original place, or the folder given.
    Imanage {
        #[serde(default)]
        folder: Option<String>,
    },
}

/// `POST /v1/restores`: the options of `imvault restore`.
///
/// Placeholder until the restore engine (issue 6) lands: the lead replaces this struct with the
/// engine's own request type; the queue stores it as JSON either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// The library to restore from.
    pub library: String,
    /// A snapshot id (or unique prefix); default: the newest at `at`, else the newest.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// Point in time: the newest snapshot taken at or before it.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    /// What to restore: document, version (`LIB!123.2`) or container ids; at least one.
    pub items: Vec<String>,
    pub target: RestoreTarget,
    /// Replace files or documents that already exist at the target.
    #[serde(default)]
    pub overwrite: bool,
}

/// `POST /v1/verifications` and verify jobs: the engine's own request (`imvault verify`'s flags).
pub use crate::jobs::verify::VerifyRequest;

/// A job the daemon can run.
#[derive(Debug, Clone, PartialEq)]
pub enum JobSpec {
    Backup(BackupParams),
    Restore(RestoreRequest),
    Verify(VerifyRequest),
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
        }
    }

    /// The parameters as stored in the job record.
    pub fn params(&self) -> Value {
        let v = match self {
            Self::Backup(p) => serde_json::to_value(p),
            Self::Restore(r) => serde_json::to_value(r),
            Self::Verify(v) => serde_json::to_value(v),
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
        let p = job.params.clone();
        Ok(match job.kind {
            JobKind::Backup => Self::Backup(serde_json::from_value(p).map_err(err)?),
            JobKind::Restore => Self::Restore(serde_json::from_value(p).map_err(err)?),
            JobKind::Verify => Self::Verify(serde_json::from_value(p).map_err(err)?),
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
            Self::Restore(r) => vec![r.library.clone()],
            Self::Verify(v) => v.library.iter().cloned().collect(),
        }
    }
}

impl RestoreRequest {
    /// Checks what serde cannot; the error names the field.
    pub fn validate(&self) -> Result<(), SpecError> {
        let invalid = |field, message: &str| {
            Err(SpecError::Invalid {
                field,
                message: message.to_string(),
            })
        };
        if self.library.trim().is_empty() {
            return invalid("library", "must not be empty");
        }
        if self.snapshot.is_some() && self.at.is_some() {
            return invalid("at", "give either snapshot or at, not both");
        }
        if let Some(s) = &self.snapshot
            && (s.len() < 4 || !s.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return invalid(
                "snapshot",
                "must be a snapshot id or a prefix of at least 4 hex digits",
            );
        }
        if self.items.is_empty() {
            return invalid("items", "name at least one document, version or folder");
        }
        if let Some(bad) = self.items.iter().find(|i| i.trim().is_empty()) {
            return Err(SpecError::Invalid {
                field: "items",
                message: format!("empty item id {bad:?}"),
            });
        }
        if let RestoreTarget::Local { path } = &self.target
            && !path.is_absolute()
        {
            return invalid(
                "target.path",
                "must be an absolute path on the daemon's host",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_named() {
        let e = serde_json::from_value::<BackupRequest>(json!({"libraries": [], "ful": true}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `ful`"), "{e}");
        let e = serde_json::from_value::<RestoreRequest>(json!({
            "library": "ACTIVE", "items": ["ACTIVE!1.1"],
            "target": {"kind": "local", "path": "/tmp/x", "mode": 1}
        }))
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown field `mode`"), "{e}");
    }

    #[test]
    fn restore_requests_are_checked() {
        let ok = RestoreRequest {
            library: "ACTIVE".into(),
            snapshot: None,
            at: None,
            items: vec!["ACTIVE!12.1".into()],
            target: RestoreTarget::Local {
                path: "/srv/restore".into(),
            },
            overwrite: false,
        };
        ok.validate().unwrap();
        let field = |r: RestoreRequest| match r.validate() {
            Err(SpecError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(RestoreRequest {
                items: vec![],
                ..ok.clone()
            }),
            "items"
        );
        assert_eq!(
            field(RestoreRequest {
                target: RestoreTarget::Local {
                    path: "relative".into()
                },
                ..ok.clone()
            }),
            "target.path"
        );
        assert_eq!(
            field(RestoreRequest {
                snapshot: Some("zz".into()),
                ..ok.clone()
            }),
            "snapshot"
        );
    }

    #[test]
    fn specs_round_trip_through_job_params() {
        let spec = JobSpec::Backup(BackupParams {
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
    }
}
