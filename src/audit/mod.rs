//! The audit trail (docs/FORMAT.md, "Audit records"): who restored, exported, forgot, pruned,
//! recovered, held, keyed or reconfigured what, when, from where, and how it ended — recorded
//! in the repository, sealed like every other object, as one hash chain per writer.
//!
//! To audit an action (the command line builds its [`Auditor`] with
//! `crate::app::audit::auditor`, the daemon keeps one):
//!
//! ```ignore
//! use crate::audit::{Action, Figures};
//! let pending = auditor.start(Action::HoldAdd { hold: None, scope, reason }).await?; // fails → do nothing
//! let r = place_the_hold().await;
//! pending.finish_with(&r, Figures::default()).await?;
//! ```
//!
//! or in one call: `auditor.run(action, work_future, |ok| figures).await?`.
//!
//! - [`record`]: what a record says (actor, host, action with typed parameters, outcome);
//! - [`chain`]: records in the repository (`audit/<writer>/<seq>`), create-only, chained;
//! - [`auditor`]: writing them, `started` before the action and `finished` after;
//! - [`query`]: listing actions with filters, CSV;
//! - [`verify`]: checking every chain.

pub mod auditor;
pub mod chain;
pub mod query;
pub mod record;
pub mod verify;

use std::path::PathBuf;

pub use auditor::{Auditor, Pending};
pub use query::{Entry, EntryOutcome, Filter};
pub use record::{Action, ActionKind, Actor, Figures, Outcome, RestoreTarget};

use crate::repo::RepoError;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("writing audit record `{key}` failed: the action is not done unrecorded")]
    Write {
        key: String,
        #[source]
        source: Box<RepoError>,
    },
    #[error("{what} failed")]
    Read {
        what: String,
        #[source]
        source: Box<RepoError>,
    },
    #[error("encoding an audit record failed")]
    Encode {
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "writing an audit record of writer {writer}: other processes of the same writer keep taking the next place in the chain"
    )]
    Contended { writer: String },
    #[error("the {action} was done, but its outcome could not be recorded in the audit trail")]
    Unrecorded {
        action: ActionKind,
        #[source]
        source: Box<AuditError>,
    },
    #[error("the audit writer id file {} is unusable", path.display())]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the audit writer file {} does not hold a writer id (32 hex characters); it is not replaced: move it away to start a new chain",
        path.display()
    )]
    BadWriterFile { path: PathBuf },
}
