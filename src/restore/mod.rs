//! Restore: point-in-time restore of a version, a document, a folder, a workspace or a whole
//! library, to a directory (export), back into its original place in iManage, or into another
//! folder.
//!
//! The flow: [`plan`] resolves the request against the catalog (which snapshot, which
//! containers and documents, in parents-first order) into [`plan::Unit`]s; [`source`] reads
//! every version's bytes from the repository, each blob verified against its BLAKE3 id; a
//! [`target::Target`] (the directory export in [`export`], iManage in [`into_imanage`]) puts
//! them in place; [`report`] sums up. A version that cannot be read (a corrupt or missing
//! blob) fails that item with an error naming the document and version, and the restore goes
//! on with the rest.
//!
//! Entry point for the CLI and the daemon: [`run`] with a [`RestoreRequest`] (plain serde,
//! `deny_unknown_fields`, mirroring the `imvault restore` flags), returning a
//! [`RestoreReport`]. Both are stable: fields may be added, never renamed or removed.

pub mod export;
mod files;
pub mod into_imanage;
pub mod names;
mod open_files;
pub mod plan;
pub mod report;
pub mod request;
pub mod source;
pub mod target;
pub mod when;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

pub use report::{ItemFailure, RestoreReport};
pub use request::{AclMode, Destination, IntoPlace, RestoreRequest, Selection, ValidRequest};

use crate::catalog::{CatalogError, PlannedDocument};
use crate::imanage::{Client, ImanageError};
use crate::jobs::catalog_sync::SyncError;
use crate::jobs::progress::{self, Counters, Progress, Silent};
use crate::repo::{Indexed, Repository};

/// Documents restored at the same time.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Windows of batches (see [`RestoreEnv::window_bytes`]) creating and writing their files at
/// the same time (fewer when the process may open fewer files, see `window_shape`); as many
/// again may sync, place their files and write sidecars meanwhile (the export's writers
/// semaphore), so both cores stay busy. Restoring the medium ACTIVE library into a journaled
/// ext4, 8 alternating pairs: 3.12 s median with 2, 2.91 s with 4 (every pair faster), peak
/// RSS 87 -> 99 MiB locally and 91 -> 107 MiB from moto (restic 0.14: ~105 and ~142). From
/// moto, with the sync counted in the 4, the windows ran in waves (4 read together, then all 4
/// synced and placed with ~25 % of both cores idle): not any more since 2026-12-07. Memory at
/// most: the rows of 8 x 512 versions (profiles as text, ~2 KB each: ~8 MiB) and 4 x
/// [`source::WINDOW_READS_IN_FLIGHT`] ranges (8 MiB each from local pack files or local copies
/// of packs, 16 MiB from a store read by ranged requests: 64 or 128 MiB).
pub const WINDOWS_IN_FLIGHT: usize = 4;
/// Content of one window (default): its blobs are read once, in pack order.
pub const WINDOW_BYTES: u64 = 128 * 1024 * 1024;
/// Versions of one window at most (each holds an open temporary file while it is written, and
/// its rows, ~2 KB each as text); fewer when the process may open fewer files. As many as a
/// batch holds ([`source::BATCH_VERSIONS`]): the medium ACTIVE library (11,124 versions), peak
/// RSS 125-131 MiB with 2048, 89-102 MiB with 512, neither faster locally nor from moto.
pub const WINDOW_VERSIONS: usize = source::BATCH_VERSIONS;

/// How messages name the options of a restore: `--merge` to someone at the command line,
/// `"merge"` (the JSON field) to an API client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OptionNames {
    #[default]
    Cli,
    Api,
}

impl OptionNames {
    /// The option `field` (a [`RestoreRequest`] field name) as this caller spells it.
    pub fn name(self, field: &str) -> String {
        match self {
            Self::Cli => format!("--{}", field.replace('_', "-")),
            Self::Api => format!("\"{field}\""),
        }
    }

    /// A boolean option switched on: `--merge`, or `"merge": true`.
    pub fn switch(self, field: &str) -> String {
        match self {
            Self::Cli => self.name(field),
            Self::Api => format!("\"{field}\": true"),
        }
    }
}

/// What a restore needs around it.
pub struct RestoreEnv {
    pub repo: Repository<Indexed>,
    /// The local catalog (a cache of the repository) used to plan.
    pub catalog_path: PathBuf,
    /// The signed-in client; required for `--into original` and `--into-folder`.
    pub client: Option<Client>,
    /// Whoever watches the restore's progress (nothing by default).
    pub progress: Arc<dyn Progress>,
    /// Load snapshots the catalog lacks before planning.
    pub sync_catalog: bool,
    /// Documents restored at the same time.
    pub concurrency: usize,
    /// How often a progress line is logged.
    pub log_every: Duration,
    /// Documents are restored in batches of about this many bytes of content (iManage: one
    /// batch after the other; the export gathers batches into windows).
    pub batch_bytes: u64,
    /// Batches that read ahead (the export) are gathered into windows of about this many
    /// bytes of content (and at most [`WINDOW_VERSIONS`] versions): each window's blobs are read
    /// once, pack by pack, and written straight into their files.
    pub window_bytes: u64,
    /// Bytes of content from which a restore reads whole packs ([`source::Source::for_restore`]).
    pub whole_packs_from: u64,
    /// How messages name the request's options (the daemon: the API's JSON fields).
    pub option_names: OptionNames,
}

impl RestoreEnv {
    pub fn new(repo: Repository<Indexed>, catalog_path: PathBuf, client: Option<Client>) -> Self {
        Self {
            repo,
            catalog_path,
            client,
            progress: Arc::new(Silent),
            sync_catalog: true,
            concurrency: DEFAULT_CONCURRENCY,
            log_every: Duration::from_secs(30),
            batch_bytes: source::BATCH_BYTES,
            window_bytes: WINDOW_BYTES,
            whole_packs_from: source::WHOLE_PACKS_FROM,
            option_names: OptionNames::Cli,
        }
    }
}

/// Why a restore could not run at all (single items failing are in the report instead).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("invalid restore request: {0}")]
    InvalidRequest(String),
    /// A request that contradicts itself; `field` names the request field to fix.
    #[error("invalid restore request: {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    #[error("{action}")]
    Catalog {
        action: String,
        #[source]
        source: Box<CatalogError>,
    },
    #[error("bringing the catalog up to date before the restore")]
    Sync(#[source] Box<SyncError>),
    #[error("library {library} has no snapshot{}", at.map(|t| format!(" taken at or before {t}")).unwrap_or_default())]
    NoSnapshot {
        library: String,
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
    #[error("no snapshot {id} in the catalog{}", .library.as_ref().map(|l| format!(" for library {l}")).unwrap_or_default())]
    UnknownSnapshot { id: String, library: Option<String> },
    #[error("snapshot prefix {prefix} is ambiguous: {count} snapshots start with it")]
    AmbiguousSnapshot { prefix: String, count: usize },
    #[error("{what} is not in snapshot {snapshot} (taken {time}){hint}")]
    NotInSnapshot {
        what: String,
        snapshot: crate::repo::SnapshotId,
        time: chrono::DateTime<chrono::Utc>,
        /// Where it can be found instead: `; the newest snapshot holding it is …` (or empty).
        hint: String,
    },
    #[error("restoring into iManage needs a signed-in client")]
    NeedsClient,
    #[error("export target {path}: {problem}")]
    TargetDir { path: PathBuf, problem: String },
    #[error("{action} at {path}")]
    Io {
        action: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{action}")]
    Imanage {
        action: String,
        #[source]
        source: Box<ImanageError>,
    },
    #[error("the restore was cancelled")]
    Cancelled,
    #[error("a restore worker stopped: {0}")]
    Task(String),
}

impl RestoreError {
    /// The request field to fix, for a request that contradicts itself.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Runs one restore: plan from the catalog, then restore unit after unit (a subtree with its
/// documents; a library has one per workspace: memory follows the largest workspace). `progress`
/// counts items as they finish (failures in `skipped`); the daemon reads it while the job runs.
#[tracing::instrument(name = "restore", skip_all, fields(what = %req.describe()))]
pub async fn run(
    ctx: &RestoreEnv,
    req: &RestoreRequest,
    progress: Arc<Counters>,
    cancel: CancellationToken,
) -> Result<RestoreReport, RestoreError> {
    let started = Instant::now();
    let valid = req.validate()?;
    if ctx.sync_catalog {
        crate::jobs::catalog_sync::sync_all(&ctx.repo, &ctx.catalog_path)
            .await
            .map_err(|e| RestoreError::Sync(Box::new(e)))?;
    }
    // An export prints each version's profile into its document's sidecar, nothing more: the
    // rows carry them as text, not parsed (~5 % of a library export's CPU).
    let profiles = match valid.destination {
        Destination::Directory { .. } => crate::catalog::Profiles::Text,
        Destination::Original | Destination::Folder(_) => crate::catalog::Profiles::Parsed,
    };
    let planner = plan::Planner::open(&ctx.catalog_path)
        .await?
        .naming_options(ctx.option_names)
        .with_profiles(profiles);
    let snapshot = planner.resolve_snapshot(&valid).await?;
    tracing::info!(snapshot = %snapshot.row.id, time = %snapshot.row.time, "restoring as of snapshot");
    // Planning errors (a document not in the snapshot, a wrong kind) come before the target is
    // touched: a failed restore leaves no item list behind in an empty export directory.
    let mut units = planner.units(&valid, &snapshot).await?;
    let first = match units.is_empty() {
        true => None,
        false => Some(
            planner
                .load_unit(&valid, &snapshot, units.remove(0))
                .await?,
        ),
    };
    let whole = planner.reads_at_least(&snapshot, first.as_ref(), &units, ctx.whole_packs_from);
    let src = source::Source::for_restore(ctx.repo.clone(), whole.await?, &valid.destination);
    let target: Arc<dyn target::Target> = match &valid.destination {
        Destination::Directory { path, merge } => Arc::new(
            export::ExportTarget::prepare(
                path.clone(),
                *merge,
                valid.dry_run,
                &snapshot,
                ctx.option_names,
            )
            .await?,
        ),
        Destination::Original | Destination::Folder(_) => {
            let client = ctx.client.clone().ok_or(RestoreError::NeedsClient)?;
            Arc::new(into_imanage::ImanageTarget::prepare(client, &valid, &snapshot).await?)
        }
    };
    let mut report = RestoreReport::new(&valid, &snapshot, target.describe());
    let stop = CancellationToken::new();
    let unit = progress::Unit {
        name: "restore".to_string(),
        library: None,
        kind: progress::UnitKind::Restore {
            counters: progress.clone(),
        },
        log_every: ctx.log_every,
    };
    // In the caller's span (the daemon's job span gives every progress line its `job`).
    let reporter = tokio::spawn(
        progress::watch_restore(ctx.progress.clone(), unit, progress.clone(), stop.clone())
            .in_current_span(),
    );
    let result = restore_units(
        ctx,
        &planner,
        &valid,
        &snapshot,
        first,
        units,
        target.as_ref(),
        &src,
        &progress,
        &mut report,
        &cancel,
    )
    .await;
    stop.cancel();
    let _ = reporter.await;
    if result.is_err() {
        target.abandon().await;
    }
    result?;
    report.finish(started.elapsed());
    target.finish(&report).await?;
    tracing::info!(
        state = %report.state,
        versions = report.versions,
        bytes = report.bytes,
        failed = report.failed,
        seconds = report.seconds,
        "restore finished"
    );
    Ok(report)
}

/// A batch of documents (see [`source::batches`]) with where each goes (`None`: the folder it
/// is filed in could not be restored).
type Batch = Vec<(PlannedDocument, Option<target::Place>)>;

/// Restores the units one after the other, their batches flowing through one pipeline.
///
/// A target that reads ahead (the export): a producer loads each unit, puts its containers in
/// place and hands its batches on through a bounded channel; the consumer gathers them into
/// windows (across units: a library restore has one unit per workspace, often a single batch
/// each) and has twice [`WINDOWS_IN_FLIGHT`] windows in flight, at most [`WINDOWS_IN_FLIGHT`]
/// of them reading and writing their files, so windows syncing and placing their files overlap
/// others' reading and writing. Each window's blobs are read once, pack by pack, straight
/// into the versions' files (a few reads per pack whatever the order of documents).
/// Memory: the unit being planned, the rows of the windows, and the ranges in flight; never a
/// version's content. A target that does not read ahead (iManage) restores unit after unit,
/// batch after batch.
#[allow(clippy::too_many_arguments)]
async fn restore_units(
    ctx: &RestoreEnv,
    planner: &plan::Planner,
    valid: &ValidRequest,
    snapshot: &crate::catalog::SnapshotInfo,
    mut first: Option<plan::Unit>,
    units: Vec<plan::UnitRef>,
    target: &dyn target::Target,
    src: &source::Source,
    progress: &Arc<Counters>,
    report: &mut RestoreReport,
    cancel: &CancellationToken,
) -> Result<(), RestoreError> {
    let shared = std::sync::Mutex::new(report);
    let report = &shared;
    let add = |o: report::DocumentOutcome| {
        report
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add_document(o)
    };
    // The first unit comes planned; the others are loaded as they come.
    let units = std::iter::once(None).chain(units.into_iter().map(Some));
    if !target.reads_ahead() {
        for unit_ref in units {
            let Some(unit) =
                next_unit(planner, valid, snapshot, &mut first, unit_ref, cancel).await?
            else {
                continue;
            };
            for batch in prepare_unit(ctx, target, src, unit, progress, report).await? {
                for o in run_batch(ctx, target, src, batch, progress, cancel).await? {
                    add(o);
                }
            }
        }
        return Ok(());
    }
    let (mut tx, rx) = futures::channel::mpsc::channel::<Batch>(0);
    let producer = async move {
        use futures::SinkExt as _;
        for unit_ref in units {
            let Some(unit) =
                next_unit(planner, valid, snapshot, &mut first, unit_ref, cancel).await?
            else {
                continue;
            };
            for batch in prepare_unit(ctx, target, src, unit, progress, report).await? {
                if tx.send(batch).await.is_err() {
                    return Ok(()); // the consumer stopped (it returns why)
                }
            }
        }
        Ok(())
    };
    let consumer = async {
        let (in_flight, max_versions) = window_shape();
        let mut windows = std::pin::pin!(
            windows(rx, ctx.window_bytes, max_versions)
                .map(|window| run_batch(ctx, target, src, window, progress, cancel))
                .buffered(2 * in_flight)
        );
        while let Some(outcomes) = windows.next().await {
            for o in outcomes? {
                add(o);
            }
        }
        Ok(())
    };
    // A planning error lets the batches already handed on finish (the producer drops its
    // sender, the consumer drains); a write-side error (cancel, a worker lost) stops both.
    let (planned, written) = futures::future::join(producer, consumer).await;
    written.and(planned)
}

/// The next unit to restore: the one planned `first` if still there, else the one `unit_ref`
/// names, loaded (`None`: nothing to do for this step). Refused once cancelled.
async fn next_unit(
    planner: &plan::Planner,
    valid: &ValidRequest,
    snapshot: &crate::catalog::SnapshotInfo,
    first: &mut Option<plan::Unit>,
    unit_ref: Option<plan::UnitRef>,
    cancel: &CancellationToken,
) -> Result<Option<plan::Unit>, RestoreError> {
    if cancel.is_cancelled() {
        return Err(RestoreError::Cancelled);
    }
    Ok(match (unit_ref, first.take()) {
        (_, Some(u)) => Some(u),
        (Some(r), None) => Some(planner.load_unit(valid, snapshot, r).await?),
        (None, None) => None,
    })
}

/// Puts the containers of `unit` in place (parents first) and cuts its documents, in pack
/// order, into batches with where each document goes.
async fn prepare_unit(
    ctx: &RestoreEnv,
    target: &dyn target::Target,
    src: &source::Source,
    unit: plan::Unit,
    progress: &Arc<Counters>,
    report: &std::sync::Mutex<&mut RestoreReport>,
) -> Result<Vec<Batch>, RestoreError> {
    let report =
        |f: &dyn Fn(&mut RestoreReport)| f(&mut report.lock().unwrap_or_else(|p| p.into_inner()));
    let mut places = std::collections::HashMap::new();
    let mut failed = std::collections::HashSet::new();
    let root = target.root_place(&unit.ancestors).await?;
    for c in &unit.containers {
        let parent = match &c.parent_id {
            Some(p) if failed.contains(p) => {
                // Its parent could not be put in place: it cannot be either.
                failed.insert(c.id.clone());
                Counters::add(&progress.skipped, 1);
                let f = report::ItemFailure {
                    object: c.id.to_string(),
                    action: "restoring it".into(),
                    error: format!("its parent {p} could not be restored"),
                };
                report(&|r| r.add_failure(f.clone()));
                continue;
            }
            Some(p) => places.get(p).unwrap_or(&root),
            None => &root,
        };
        match target.container(c, parent).await {
            Ok(out) => {
                Counters::add(&progress.containers, 1);
                report(&|r| {
                    r.containers += 1;
                    if out.created {
                        r.containers_created += 1;
                    }
                });
                places.insert(c.id.clone(), out.place);
            }
            Err(f) => {
                Counters::add(&progress.skipped, 1);
                report(&|r| r.add_failure(f.clone()));
                failed.insert(c.id.clone());
            }
        }
    }
    let mut docs = unit.documents;
    src.order_by_pack(&mut docs);
    let placed: Vec<(PlannedDocument, Option<target::Place>)> = docs
        .into_iter()
        .map(|doc| {
            let place = match doc.filings.iter().find_map(|f| places.get(f)) {
                Some(p) => Some(p.clone()),
                // Filed only in folders that could not be restored: it fails with them.
                None if doc.filings.iter().any(|f| failed.contains(f)) => None,
                None => Some(root.clone()),
            };
            (doc, place)
        })
        .collect();
    Ok(source::batches(placed, ctx.batch_bytes, |(d, _)| d))
}

/// Restores one batch (or window of batches): the target writes it.
async fn run_batch(
    ctx: &RestoreEnv,
    target: &dyn target::Target,
    src: &source::Source,
    batch: Batch,
    progress: &Arc<Counters>,
    cancel: &CancellationToken,
) -> Result<Vec<report::DocumentOutcome>, RestoreError> {
    if cancel.is_cancelled() {
        return Err(RestoreError::Cancelled);
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut ready = Vec::with_capacity(batch.len());
    for (doc, place) in batch {
        match place {
            Some(p) => ready.push((doc, p)),
            None => {
                Counters::add(&progress.skipped, 1);
                outcomes.push(report::DocumentOutcome {
                    failures: vec![report::ItemFailure {
                        object: doc.id.to_string(),
                        action: "restoring it".into(),
                        error: "the folder it is filed in could not be restored".into(),
                    }],
                    ..Default::default()
                });
            }
        }
    }
    outcomes.extend(
        target
            .documents(ready, src, progress, ctx.concurrency)
            .await,
    );
    Ok(outcomes)
}

/// Windows written at once and versions in each at most, from the files this process may open:
/// the soft open files limit is first raised towards twice the files of [`WINDOWS_IN_FLIGHT`]
/// full windows besides the export's kept directory handles, as far as the hard limit allows.
/// Half of what is left besides those handles is for the windows' files, the other half for
/// everything else (packs, sockets, the catalog, other jobs of the daemon). A window holds
/// whole batches (up to [`source::BATCH_VERSIONS`] versions each), so a window is only in
/// flight for every such batch that fits. A version whose file cannot be created for want of
/// descriptors anyway is streamed on its own after its window (see `export::window`).
/// Worked out once per process, so the windows and the export's writers always agree.
pub(crate) fn window_shape() -> (usize, usize) {
    static SHAPE: std::sync::OnceLock<(usize, usize)> = std::sync::OnceLock::new();
    *SHAPE.get_or_init(|| {
        let dirs = files::DIRS_KEPT as u64;
        let want = 2 * (WINDOWS_IN_FLIGHT * WINDOW_VERSIONS) as u64 + dirs;
        let limit = open_files::open_files_limit_at_least(want).unwrap_or(1024);
        window_shape_for(limit)
    })
}

/// [`window_shape`] for a limit of `limit` open files.
fn window_shape_for(limit: u64) -> (usize, usize) {
    let for_windows = limit.saturating_sub(files::DIRS_KEPT as u64) / 2;
    let in_flight =
        (for_windows / source::BATCH_VERSIONS as u64).clamp(1, WINDOWS_IN_FLIGHT as u64);
    let versions = (for_windows / in_flight).clamp(16, WINDOW_VERSIONS as u64);
    (in_flight as usize, versions as usize)
}

/// Gathers consecutive batches into windows of about `max_bytes` of content and at most
/// `max_versions` versions (a batch is never split; a window holds at least one).
fn windows(
    batches: impl futures::Stream<Item = Batch> + Unpin,
    max_bytes: u64,
    max_versions: usize,
) -> impl futures::Stream<Item = Batch> {
    let size = |b: &Batch| -> (u64, usize) {
        b.iter().fold((0, 0), |(bytes, n), (d, _)| {
            (
                bytes + d.versions.iter().map(|v| v.size).sum::<u64>(),
                n + d.versions.len(),
            )
        })
    };
    futures::stream::unfold(
        (batches, None::<Batch>),
        move |(mut batches, carried)| async move {
            let mut window: Batch = Vec::new();
            let (mut bytes, mut versions) = (0u64, 0usize);
            let mut next = carried;
            loop {
                let batch = match next.take() {
                    Some(b) => b,
                    None => match batches.next().await {
                        Some(b) => b,
                        None => break,
                    },
                };
                let (b, n) = size(&batch);
                if !window.is_empty() && (bytes + b > max_bytes || versions + n > max_versions) {
                    return Some((window, (batches, Some(batch))));
                }
                bytes += b;
                versions += n;
                window.extend(batch);
            }
            match window.is_empty() {
                true => None,
                false => Some((window, (batches, None))),
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::VersionRow;
    use crate::imanage::model::DocumentKind;

    /// A batch of one document per entry, each with one version of that many bytes.
    fn batch(first: u64, sizes: &[u64]) -> Batch {
        sizes
            .iter()
            .enumerate()
            .map(|(i, size)| {
                let n = first + i as u64;
                let doc = PlannedDocument {
                    id: format!("ACTIVE!{n}").parse().unwrap(),
                    versions: vec![VersionRow {
                        id: format!("ACTIVE!{n}.1").parse().unwrap(),
                        kind: DocumentKind::Document,
                        name: format!("d{n}"),
                        extension: None,
                        size: *size,
                        edit_date: None,
                        edit_profile_date: None,
                        profile: Default::default(),
                        content: serde_json::Value::Null,
                        profile_text: None,
                    }],
                    filings: vec![],
                    acl: None,
                };
                (doc, None)
            })
            .collect()
    }

    /// The windows' shape follows the open files limit: 4 windows of 512 versions with the
    /// limit the restore asks for (4,160), fewer windows before smaller ones, never less than
    /// one window of 16 versions.
    #[test]
    fn windows_in_flight_and_their_size_follow_the_open_files_limit() {
        assert_eq!(window_shape_for(4_160), (4, 512));
        assert_eq!(window_shape_for(65_536), (4, 512));
        assert_eq!(window_shape_for(3_136), (3, 512));
        assert_eq!(window_shape_for(1_024), (1, 480));
        assert_eq!(window_shape_for(96), (1, 16));
        assert_eq!(window_shape_for(0), (1, 16));
    }

    /// Batches are cut at a number of versions too (each version is an open file while its
    /// window is written), never inside a document.
    #[test]
    fn batches_are_cut_at_a_number_of_versions() {
        let mut docs = batch(1, &[1; 300]);
        for (d, _) in docs.iter_mut() {
            let v = d.versions[0].clone();
            d.versions.push(v); // two versions each: 600 in all
        }
        let cut = source::batches(docs, u64::MAX, |(d, _)| d);
        let versions: Vec<usize> = cut
            .iter()
            .map(|b| b.iter().map(|(d, _)| d.versions.len()).sum())
            .collect();
        assert_eq!(
            versions,
            vec![source::BATCH_VERSIONS, 600 - source::BATCH_VERSIONS]
        );
    }

    fn numbers(w: &Batch) -> Vec<u64> {
        w.iter().map(|(d, _)| d.id.number).collect()
    }

    /// Windows gather whole batches in order up to the byte and version limits; a batch larger
    /// than a window is a window of its own; nothing is lost or repeated.
    #[tokio::test]
    async fn windows_gather_whole_batches_within_their_limits() {
        let batches = vec![
            batch(1, &[10, 10]),  // 20 bytes, 2 versions
            batch(3, &[30]),      // 30
            batch(4, &[100, 5]),  // larger than a window alone
            batch(6, &[1, 1, 1]), // 3 versions
            batch(9, &[1, 1]),    // would make 5 versions
            batch(11, &[40]),
        ];
        let got: Vec<Batch> = windows(futures::stream::iter(batches), 50, 4)
            .collect()
            .await;
        let got: Vec<Vec<u64>> = got.iter().map(numbers).collect();
        assert_eq!(
            got,
            vec![vec![1, 2, 3], vec![4, 5], vec![6, 7, 8], vec![9, 10, 11],]
        );
        let none: Vec<Batch> = windows(futures::stream::iter(Vec::<Batch>::new()), 50, 4)
            .collect()
            .await;
        assert!(none.is_empty());
    }
}
