//! `imvault backup`: full and incremental backups of every configured library, each library its
//! own snapshot. Plan (`plan.rs`: the last snapshot, whether to list everything or only changes
//! (`listing.rs`), what is already stored (`prior/`, from the local `prior/cache.rs` or the
//! snapshot), resume records), then execute (`library.rs`: walk, download what is new or changed
//! (`fetch.rs`), carry the unchanged versions of a changes-only run (`carry.rs`), write packs →
//! index → snapshot (`records_writer.rs`)).

mod carry;
mod fetch;
mod library;
pub mod listing;
mod plan;
pub mod prior;
mod records_writer;
mod run;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub use library::backup_library;
pub use records_writer::ResumeRecord;

use crate::imanage::walk::WalkStrategy;
use crate::imanage::{Client, ImanageError};
use crate::jobs::JobState;
use crate::jobs::lock::LockError;
use crate::jobs::progress::{CountersSnapshot, LiveCounters, Progress};
use crate::repo::{Indexed, RepoError, Repository, SessionOptions, SessionStats, SnapshotId};

/// What to back up and how. Serves the CLI flags, the config file and the daemon's job requests.
#[derive(Debug, Clone)]
pub struct BackupRequest {
    /// Libraries to back up (ids); empty means every library the configuration selects.
    pub libraries: Vec<String>,
    /// Download every version again instead of only new or changed ones.
    pub full: bool,
    pub strategy: WalkStrategy,
    /// How often a running backup makes its progress durable (packs, index, resume record).
    pub checkpoint_every: Duration,
    /// A checkpoint also comes once this many bytes were downloaded since the last one, so a
    /// failure early in a large run (before `checkpoint_every` passed) keeps what was stored.
    pub checkpoint_bytes: u64,
    /// Downloads in flight per library.
    pub download_concurrency: usize,
    /// How often a progress line is logged.
    pub log_every: Duration,
    /// Libraries backed up at the same time.
    pub parallel_libraries: usize,
    /// Where each library's counters are published while it runs (the daemon's live view).
    pub live: Option<LiveCounters>,
    /// Incremental runs of a crawling (`system`) account list only what changed since the
    /// last snapshot, and everything at least this often; `None` or zero: every run lists
    /// everything. See [`listing`].
    pub full_listing_every: Option<Duration>,
    /// Taken off the last snapshot's start time for a changes-only listing (clock skew
    /// between this host and the iManage servers).
    pub change_margin: Duration,
}

/// Default of [`BackupRequest::full_listing_every`]: a week.
pub const DEFAULT_FULL_LISTING_EVERY: Duration = Duration::from_secs(7 * 86_400);
/// Default of [`BackupRequest::checkpoint_bytes`]: 256 MiB.
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 256 * 1024 * 1024;
/// Default of [`BackupRequest::change_margin`]: an hour.
pub const DEFAULT_CHANGE_MARGIN: Duration = Duration::from_secs(3_600);

impl Default for BackupRequest {
    fn default() -> Self {
        Self {
            libraries: Vec::new(),
            full: false,
            strategy: WalkStrategy::Auto,
            checkpoint_every: Duration::from_secs(60),
            checkpoint_bytes: DEFAULT_CHECKPOINT_BYTES,
            download_concurrency: 8,
            log_every: Duration::from_secs(30),
            parallel_libraries: 2,
            live: None,
            full_listing_every: Some(DEFAULT_FULL_LISTING_EVERY),
            change_margin: DEFAULT_CHANGE_MARGIN,
        }
    }
}

/// What a backup needs around it.
pub struct BackupEnv {
    pub client: Client,
    pub repo: Repository<Indexed>,
    /// Where per-library lock files live (next to the catalog).
    pub lock_dir: PathBuf,
    /// Whoever watches the run's progress.
    pub progress: Arc<dyn Progress>,
    pub session: SessionOptions,
    /// The catalog to update after each snapshot (a cache: failures there only warn).
    pub catalog: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error("repository failed while {action} for library {library}")]
    Repo {
        library: String,
        action: &'static str,
        #[source]
        source: RepoError,
    },
    #[error("walking library {library} failed")]
    Walk {
        library: String,
        #[source]
        source: ImanageError,
    },
    #[error("the metadata writer of library {library} stopped early")]
    WriterGone { library: String },
    #[error(
        "the changes-only walk of library {library} ended before it said it was done (see the warnings); no snapshot written"
    )]
    ChangesWalkEnded { library: String },
    #[error("carrying the last snapshot's unchanged versions of library {library} failed")]
    Carry {
        library: String,
        #[source]
        source: carry::CarryError,
    },
}

impl BackupError {
    /// For `map_err`: the repository failed while doing `action` for `library`.
    pub(crate) fn repo<'a>(
        library: &'a str,
        action: &'static str,
    ) -> impl Fn(RepoError) -> Self + 'a {
        move |source| Self::Repo {
            library: library.to_string(),
            action,
            source,
        }
    }
}

/// At most this many ids of versions gone are listed in an outcome (the counts are whole).
pub const GONE_IDS_MAX: usize = 1000;

/// Skipped items a snapshot's summary and a backup's outcome list (with their reasons); the
/// snapshot's `skipped` stream holds them all, `skipped` in its counts says how many.
pub const SKIPPED_SHOWN_MAX: usize = 20;

/// How one library's backup ended.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryOutcome {
    pub library: String,
    pub state: JobState,
    pub snapshot: Option<SnapshotId>,
    pub parent: Option<SnapshotId>,
    pub counters: CountersSnapshot,
    /// Versions in the parent snapshot that the library no longer has (deleted meanwhile).
    pub versions_gone: u64,
    /// Documents in the parent snapshot that the library no longer has (every version gone).
    pub documents_gone: u64,
    /// The ids of the versions gone (`LIB!n.v`, at most [`GONE_IDS_MAX`], oldest document
    /// first); empty when the run could not tell them (then only the count is known).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gone_versions: Vec<String>,
    /// Versions an interrupted earlier run had stored, not downloaded again.
    pub resumed_versions: u64,
    /// `full` (every version listed) or `changes` (only what changed since the parent).
    pub listing: &'static str,
    pub session: SessionStats,
    pub seconds: f64,
    /// Why the library failed, with the whole cause chain.
    pub error: Option<String>,
    /// The first [`SKIPPED_SHOWN_MAX`] items skipped, with what was being done and why
    /// (`counters.skipped` says how many there were; the snapshot's `skipped` stream has all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_items: Vec<crate::jobs::records::SkippedRecord>,
}

impl LibraryOutcome {
    fn failed(library: &str, error: &BackupError) -> Self {
        Self {
            library: library.to_string(),
            state: JobState::Failed,
            snapshot: None,
            parent: None,
            counters: CountersSnapshot::default(),
            versions_gone: 0,
            documents_gone: 0,
            gone_versions: Vec::new(),
            resumed_versions: 0,
            listing: "none",
            session: SessionStats::default(),
            seconds: 0.0,
            error: Some(crate::repo::error_chain(error)),
            skipped_items: Vec::new(),
        }
    }
}

/// Backs up `libraries` (already filtered by the caller), a few at a time. One library failing
/// does not stop the others; each outcome says how it ended.
pub async fn run(
    env: &BackupEnv,
    libraries: &[crate::imanage::model::LibraryId],
    opts: &BackupRequest,
    cancel: CancellationToken,
) -> Vec<LibraryOutcome> {
    // Owned ids (not `.iter()`): keeps the future provably `Send`, so the daemon can spawn it.
    futures::stream::iter(libraries.iter().cloned().map(|lib| {
        let cancel = cancel.clone();
        async move {
            let lib = &lib;
            match backup_library(env, lib, opts, cancel).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(library = %lib, error = %crate::repo::error_chain(&e), "backup failed");
                    LibraryOutcome::failed(lib.as_str(), &e)
                }
            }
        }
    }))
    .buffered(opts.parallel_libraries.max(1))
    .collect()
    .await
}

/// The overall state of a run over several libraries.
pub fn overall_state(outcomes: &[LibraryOutcome]) -> JobState {
    if outcomes.iter().any(|o| o.state == JobState::Failed) {
        JobState::Failed
    } else if outcomes.iter().any(|o| o.state == JobState::Cancelled) {
        JobState::Cancelled
    } else if outcomes
        .iter()
        .any(|o| o.state == JobState::CompletedWithWarnings)
    {
        JobState::CompletedWithWarnings
    } else {
        JobState::Completed
    }
}
