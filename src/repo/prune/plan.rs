//! Planning a prune: what exists, what is needed, and so which packs are marked, repacked,
//! recovered and deleted. Planning only reads; [`super::execute`] carries the plan out.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use object_store::path::Path;

use super::{PruneError, PruneOptions, PruneReport, UNINDEXED_MIN_AGE_HOURS};
use crate::repo::id::{BlobId, IndexId, PackId};
use crate::repo::marks::{self, MarkSet};
use crate::repo::objects::{ObjectKind, Objects};
use crate::repo::pack::PackEntry;
use crate::repo::references::{References, find_refs};
use crate::repo::repository::{Indexed, Repository};
use crate::repo::snapshot::Snapshot;
use crate::repo::verify::{self, PacksAndIndexes};

/// One partly used pack chosen for repacking.
pub(super) struct Repack {
    pub pack: PackId,
    pub size: u64,
    /// The blobs still needed from it.
    pub used: Vec<PackEntry>,
}

/// What a prune is going to do, and the facts it decided on.
pub(super) struct PrunePlan {
    /// The figures of the plan (the execution corrects them where it has to).
    pub report: PruneReport,
    /// The pack and index objects as listed.
    pub listing: PacksAndIndexes,
    pub exists: HashSet<PackId>,
    /// The marks as they were read.
    pub marks: MarkSet,
    /// The index objects naming each pack.
    pub named_by: HashMap<PackId, Vec<IndexId>>,
    /// Index objects naming packs that are gone.
    pub orphan_indexes: BTreeSet<IndexId>,
    pub repacks: Vec<Repack>,
    /// The marks once the plan is carried out, deleted packs not yet taken off.
    pub new_marks: BTreeMap<PackId, DateTime<Utc>>,
    /// Marked packs a snapshot needs after all: their mark is dropped.
    pub recovered: Vec<PackId>,
    /// Marked packs past their grace period, deleted now.
    pub expired: Vec<PackId>,
    /// Resume records of backups that have written a snapshot since.
    pub stale_checkpoints: Vec<Path>,
}

/// What exists: snapshots first, then index objects and packs, then the index loaded afresh
/// (a snapshot is written after everything it needs, so a backup finishing meanwhile is
/// either fully seen or not at all).
struct Survey {
    snapshots: Vec<Snapshot>,
    listing: PacksAndIndexes,
    exists: HashSet<PackId>,
    /// The repository with the index as listed.
    fresh: Repository<Indexed>,
}

/// What is needed: every snapshot's blobs and those of the resume records of unfinished
/// backups.
struct Needed {
    refs: References,
    /// Unfinished backups whose resume record is recent: (library, record time).
    active: Vec<(String, DateTime<Utc>)>,
    stale_checkpoints: Vec<Path>,
}

/// Where the needed blobs live.
struct Located {
    /// Every existing indexed pack and its entries (from the first index naming it).
    indexed: BTreeMap<PackId, Vec<PackEntry>>,
    named_by: HashMap<PackId, Vec<IndexId>>,
    orphan_indexes: BTreeSet<IndexId>,
    /// Each needed blob's first copy in an unmarked pack.
    home: HashMap<BlobId, PackId>,
}

/// Phase 1's choice: packs to mark, packs to repack and the bytes they hold.
struct Chosen {
    to_mark: Vec<PackId>,
    repacks: Vec<Repack>,
    repack_bytes: u64,
}

/// The marks after this run: which marked packs stay marked, are recovered or are deleted.
struct Settled {
    new_marks: BTreeMap<PackId, DateTime<Utc>>,
    recovered: Vec<PackId>,
    expired: Vec<PackId>,
}

impl Repository<Indexed> {
    /// Plans a prune at time `now` (see the module docs of [`super`]), with the marks in force
    /// when the caller has already read them (read here otherwise).
    pub(super) async fn prune_plan(
        &self,
        opts: &PruneOptions,
        now: DateTime<Utc>,
        marks: Option<marks::MarkSet>,
    ) -> Result<PrunePlan, PruneError> {
        let objects = self.objects();
        let grace = chrono::Duration::seconds(opts.grace_secs.min(i64::MAX as u64 / 2) as i64);
        let mut survey = self.survey().await?;
        survey
            .snapshots
            .retain(|s| !opts.counted_gone.contains(&s.id));
        let mut needed = needed(objects, &survey, opts, now).await?;
        let mut report = PruneReport {
            dry_run: opts.dry_run,
            snapshots: survey.snapshots.len() as u64,
            packs: survey.listing.packs.len() as u64,
            pack_bytes: survey.listing.packs.values().sum(),
            warnings: std::mem::take(&mut needed.refs.problems),
            blobs_referenced: needed.refs.blobs.len() as u64,
            ..PruneReport::default()
        };
        let marks = match marks {
            Some(m) => m,
            None => marks::load(objects).await?,
        };
        let located = locate(&survey, &marks, &needed.refs.blobs);

        // Phase 1: unmarked packs that nothing needs are marked; partly used ones repacked.
        let (to_mark, candidates) =
            unused_and_sparse(self.crypto(), &survey.listing, &located, &marks, opts);
        let to_mark = with_old_unindexed(to_mark, &survey.listing, &located, &marks, grace, now);
        let budget =
            (report.pack_bytes as f64 * opts.max_repack_percent.clamp(0.0, 100.0) / 100.0) as u64;
        let (repacks, repack_bytes) = within_budget(candidates, budget);
        let chosen = Chosen {
            to_mark,
            repacks,
            repack_bytes,
        };
        report.packs_marked = chosen.to_mark.len() as u64;
        report.bytes_marked = chosen.to_mark.iter().map(|p| survey.listing.packs[p]).sum();
        report.packs_repacked = chosen.repacks.len() as u64;
        report.bytes_repacked = chosen.repack_bytes;

        // Phase 2: marked packs: recover the needed, delete the expired.
        let mut settled = settle_marks(
            &marks,
            &chosen,
            &survey.exists,
            &located,
            &needed.refs.blobs,
            grace,
            now,
        );
        report.packs_recovered = settled.recovered.len() as u64;
        if let Some((lib, t)) = needed.active.iter().max_by_key(|(_, t)| *t) {
            if !settled.expired.is_empty() {
                report.deferred = Some(format!(
                    "a backup of library {lib} has not finished (resume record at {t}); marked packs are deleted only when no backup is running"
                ));
            }
            settled.expired.clear();
        }
        if let Some(control) = self.retention() {
            report.retention_wait = super::locked::hold_back_retained(
                control,
                &mut settled.expired,
                &survey.listing.packs,
                now,
            )
            .await?;
        }
        report.packs_waiting = (settled.new_marks.len() - settled.expired.len()) as u64;
        report.packs_deleted = settled.expired.len() as u64;
        report.bytes_deleted = settled
            .expired
            .iter()
            .map(|p| survey.listing.packs[p])
            .sum();
        Ok(PrunePlan {
            report,
            listing: survey.listing,
            exists: survey.exists,
            marks,
            named_by: located.named_by,
            orphan_indexes: located.orphan_indexes,
            repacks: chosen.repacks,
            new_marks: settled.new_marks,
            recovered: settled.recovered,
            expired: settled.expired,
            stale_checkpoints: needed.stale_checkpoints,
        })
    }

    /// Lists what exists; a repository with problems is not pruned.
    async fn survey(&self) -> Result<Survey, PruneError> {
        let snapshots = self.list_snapshots(None).await?;
        let listing = verify::list_packs_and_indexes(self.objects()).await?;
        let fresh = self.reopened().load_index().await?;
        if !listing.problems.is_empty() {
            return Err(PruneError::Unsafe {
                problems: listing.problems,
            });
        }
        Ok(Survey {
            snapshots,
            exists: listing.pack_set(),
            listing,
            fresh,
        })
    }
}

/// The blobs every snapshot and every unfinished backup's resume record reference. A snapshot
/// with a problem stops the prune; a resume record's problems are warnings.
async fn needed(
    objects: &Objects,
    survey: &Survey,
    opts: &PruneOptions,
    now: DateTime<Utc>,
) -> Result<Needed, PruneError> {
    let mut refs = References::default();
    for s in &survey.snapshots {
        refs.add_snapshot(&survey.fresh, &survey.exists, s).await;
    }
    if !refs.problems.is_empty() {
        return Err(PruneError::Unsafe {
            problems: std::mem::take(&mut refs.problems),
        });
    }
    let mut latest: HashMap<&str, DateTime<Utc>> = HashMap::new();
    // A run's snapshot carries the run's start as its time: the resume records of that
    // run are finished, however much later than that start they were written.
    let mut finished_runs: HashSet<(&str, DateTime<Utc>)> = HashSet::new();
    for s in &survey.snapshots {
        let t = latest
            .entry(s.manifest.library.as_str())
            .or_insert(s.manifest.time);
        *t = (*t).max(s.manifest.time);
        finished_runs.insert((s.manifest.library.as_str(), s.manifest.time));
    }
    let mut stale_checkpoints = Vec::new();
    let mut active = Vec::new();
    let active_since = now - chrono::Duration::seconds(opts.active_run_secs as i64);
    for m in objects.list(ObjectKind::Checkpoint, None).await? {
        let bytes = objects.get(ObjectKind::Checkpoint, &m.location).await?;
        let rec = crate::repo::snapshot::decode_checkpoint(&m.location, &bytes)?;
        if latest
            .get(rec.library.as_str())
            .is_some_and(|t| rec.time <= *t)
            || rec
                .run_started()
                .is_some_and(|t| finished_runs.contains(&(rec.library.as_str(), t)))
        {
            stale_checkpoints.push(m.location);
            continue;
        }
        if rec.time > active_since {
            active.push((rec.library.clone(), rec.time));
        }
        let (mut content, mut meta) = (Vec::new(), Vec::new());
        find_refs(&rec.record, &mut content, &mut meta);
        let owner = m.location.to_string();
        refs.add_meta_stream(&survey.fresh, &survey.exists, &owner, "resume", &meta)
            .await;
        refs.blobs.extend(content);
    }
    Ok(Needed {
        refs,
        active,
        stale_checkpoints,
    })
}

/// Where each needed blob lives: its first copy in an unmarked pack.
fn locate(survey: &Survey, marks: &MarkSet, needed: &HashSet<BlobId>) -> Located {
    let mut l = Located {
        indexed: BTreeMap::new(),
        named_by: HashMap::new(),
        orphan_indexes: BTreeSet::new(),
        home: HashMap::new(),
    };
    for (iid, file) in &survey.listing.indexes {
        for (p, entries) in file {
            if !survey.exists.contains(p) {
                // Entries of a pack that is gone (a crash mid-prune, or lost data that
                // nothing needs: the reference check passed).
                l.orphan_indexes.insert(*iid);
                continue;
            }
            l.named_by.entry(*p).or_default().push(*iid);
            l.indexed.entry(*p).or_insert_with(|| entries.clone());
            if !marks.is_marked(p) {
                for e in entries {
                    if needed.contains(&e.id) {
                        l.home.entry(e.id).or_insert(*p);
                    }
                }
            }
        }
    }
    l
}

/// Unmarked indexed packs none of whose blobs is needed (to mark), and partly used ones with
/// enough unused bytes to be worth repacking, each with its unused bytes.
fn unused_and_sparse(
    crypto: &crate::repo::crypto::Crypto,
    listing: &PacksAndIndexes,
    located: &Located,
    marks: &MarkSet,
    opts: &PruneOptions,
) -> (Vec<PackId>, Vec<(Repack, u64)>) {
    let mut to_mark = Vec::new();
    let mut candidates = Vec::new();
    for (p, entries) in &located.indexed {
        if marks.is_marked(p) {
            continue;
        }
        let size = listing.packs[p];
        let used: Vec<PackEntry> = entries
            .iter()
            .filter(|e| located.home.get(&e.id) == Some(p))
            .copied()
            .collect();
        if used.is_empty() {
            to_mark.push(*p);
            continue;
        }
        let unused = size.saturating_sub(crate::repo::pack::expected_size(&used, crypto));
        if used.len() < entries.len()
            && unused as f64 * 100.0 >= opts.min_unused_percent * size as f64
        {
            candidates.push((
                Repack {
                    pack: *p,
                    size,
                    used,
                },
                unused,
            ));
        }
    }
    (to_mark, candidates)
}

/// Adds the unindexed packs (left by crashed backups) older than the grace period and than
/// [`UNINDEXED_MIN_AGE_HOURS`]: a running backup's newest packs are not indexed yet.
fn with_old_unindexed(
    mut to_mark: Vec<PackId>,
    listing: &PacksAndIndexes,
    located: &Located,
    marks: &MarkSet,
    grace: chrono::Duration,
    now: DateTime<Utc>,
) -> Vec<PackId> {
    let unindexed_age = grace.max(chrono::Duration::hours(UNINDEXED_MIN_AGE_HOURS));
    for (p, t) in &listing.modified {
        if !located.indexed.contains_key(p) && !marks.is_marked(p) && *t <= now - unindexed_age {
            to_mark.push(*p);
        }
    }
    to_mark
}

/// The sparsest candidates first, as many as `budget` bytes allow; returns them and the
/// bytes they hold.
fn within_budget(mut candidates: Vec<(Repack, u64)>, budget: u64) -> (Vec<Repack>, u64) {
    candidates.sort_by(|a, b| {
        let fa = a.1 as f64 / a.0.size.max(1) as f64;
        let fb = b.1 as f64 / b.0.size.max(1) as f64;
        fb.total_cmp(&fa).then(a.0.pack.cmp(&b.0.pack))
    });
    let mut repacks = Vec::new();
    let mut spent = 0u64;
    for (c, _) in candidates {
        if spent + c.size > budget {
            continue;
        }
        spent += c.size;
        repacks.push(c);
    }
    (repacks, spent)
}

/// Every mark, old and new (packs to mark and packs to repack, marked `now`): a pack a needed
/// blob has no other home for is recovered, one marked longer than `grace` ago expires, the
/// rest wait.
fn settle_marks(
    marks: &MarkSet,
    chosen: &Chosen,
    exists: &HashSet<PackId>,
    located: &Located,
    needed: &HashSet<BlobId>,
    grace: chrono::Duration,
    now: DateTime<Utc>,
) -> Settled {
    let mut s = Settled {
        new_marks: BTreeMap::new(),
        recovered: Vec::new(),
        expired: Vec::new(),
    };
    let all_marks = marks
        .marks
        .iter()
        .map(|(p, t)| (*p, *t))
        .chain(chosen.to_mark.iter().map(|p| (*p, now)))
        .chain(chosen.repacks.iter().map(|c| (c.pack, now)));
    let repacked: HashSet<PackId> = chosen.repacks.iter().map(|c| c.pack).collect();
    for (p, t) in all_marks {
        if !exists.contains(&p) {
            continue; // deleted by an earlier (interrupted) prune
        }
        let is_needed = !repacked.contains(&p)
            && located.indexed.get(&p).is_some_and(|entries| {
                entries
                    .iter()
                    .any(|e| needed.contains(&e.id) && !located.home.contains_key(&e.id))
            });
        if is_needed {
            s.recovered.push(p);
        } else if t <= now - grace {
            s.expired.push(p);
            s.new_marks.insert(p, t);
        } else {
            s.new_marks.insert(p, t);
        }
    }
    s
}
