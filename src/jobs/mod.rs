//! The engines that join the iManage side (`imanage/`) and the storage side (`repo/`,
//! `catalog/`): backup and restore, with their locks and progress reporting.

pub mod backup;
pub mod catalog_sync;
pub mod forget;
pub mod holds;
pub mod lock;
pub mod maintenance;
pub mod progress;
pub mod prune;
pub mod records;
pub mod verify;

use serde::{Deserialize, Serialize};

/// How a job ended (or where it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Completed,
    /// Finished, but some items were skipped; the snapshot lists them with reasons.
    CompletedWithWarnings,
    Failed,
    Cancelled,
}

impl JobState {
    /// The state as the JSON, the API, job records and the CLI spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::CompletedWithWarnings => "completed_with_warnings",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::CompletedWithWarnings | Self::Failed | Self::Cancelled
        )
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
