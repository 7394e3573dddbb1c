//! Carrying out a [`PrunePlan`]: every step writes before it deletes, so a crash at any point
//! leaves a valid repository (see the module docs of [`super`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::plan::PrunePlan;
use super::{PruneError, PruneProgress, PruneReport, Steps, delete};
use crate::repo::backend::keys;
use crate::repo::error::RepoError;
use crate::repo::id::{IndexId, PackId};
use crate::repo::index;
use crate::repo::marks::{self, MarkSet};
use crate::repo::pack::{PackEntry, PackReceipt};
use crate::repo::repository::{Indexed, Repository};

impl Repository<Indexed> {
    /// Repacks, then writes the marks, then sweeps expired packs, then removes stale resume
    /// records.
    pub(super) async fn execute_prune(
        &self,
        mut plan: PrunePlan,
        steps: &Steps,
        progress: &PruneProgress,
    ) -> Result<PruneReport, PruneError> {
        self.repack_and_index(&mut plan, steps, progress).await?;
        let marks_written = self.write_marks(&plan, steps).await?;
        self.sweep(&mut plan, marks_written, steps, progress)
            .await?;
        for k in &plan.stale_checkpoints {
            delete(self.store().as_ref(), k).await?;
            steps.step("stale checkpoint deleted");
        }
        plan.report.checkpoints_removed = plan.stale_checkpoints.len() as u64;
        Ok(plan.report)
    }

    /// Repack: new packs, then their index; only then are the old packs marked (by
    /// [`Self::write_marks`]).
    async fn repack_and_index(
        &self,
        plan: &mut PrunePlan,
        steps: &Steps,
        progress: &PruneProgress,
    ) -> Result<(), PruneError> {
        if plan.repacks.is_empty() {
            return Ok(());
        }
        let receipts = self.repack(&plan.repacks, steps, progress).await?;
        let r = &mut plan.report;
        r.new_packs = receipts.len() as u64;
        r.new_pack_bytes = receipts.iter().map(|x| x.size()).sum();
        let w = index::write_index(self.objects(), &receipts).await?;
        steps.step("index of repacked packs written");
        tracing::info!(packs = w.packs, blobs = w.blobs, "repacked blobs indexed");
        // A new pack can have the very bytes (and so the id) of a pack already stored, e.g.
        // one an interrupted prune wrote: it now holds needed blobs and must stay live.
        let produced: HashSet<PackId> = receipts.iter().map(|x| x.id()).collect();
        let before = plan.new_marks.len();
        plan.new_marks.retain(|p, _| !produced.contains(p));
        plan.expired.retain(|p| !produced.contains(p));
        if plan.new_marks.len() != before {
            r.packs_marked = r
                .packs_marked
                .saturating_sub((before - plan.new_marks.len()) as u64);
            r.packs_deleted = plan.expired.len() as u64;
            r.bytes_deleted = plan.expired.iter().map(|p| plan.listing.packs[p]).sum();
            r.packs_waiting = (plan.new_marks.len() - plan.expired.len()) as u64;
        }
        Ok(())
    }

    /// Marks before any deletion, so an interrupted prune leaves the packs marked (deletion
    /// needs marks). Returns whether a marks object was written.
    async fn write_marks(&self, plan: &PrunePlan, steps: &Steps) -> Result<bool, RepoError> {
        if plan.new_marks.keys().ne(plan.marks.marks.keys())
            || plan.marks.objects.len() > 1
            || !plan.recovered.is_empty()
        {
            self.replace_marks(&plan.marks, &plan.new_marks, steps)
                .await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Sweep: an index without the expired packs (and without the entries of packs already
    /// gone), then the packs, then their marks.
    async fn sweep(
        &self,
        plan: &mut PrunePlan,
        marks_written: bool,
        steps: &Steps,
        progress: &PruneProgress,
    ) -> Result<(), RepoError> {
        let doomed: HashSet<PackId> = plan.expired.iter().copied().collect();
        if doomed.is_empty() && plan.orphan_indexes.is_empty() {
            return Ok(());
        }
        let store = self.store();
        let affected = self.rewrite_index_without(plan, &doomed, steps).await?;
        plan.report.index_objects_rewritten = affected as u64;
        for p in &plan.expired {
            delete(store.as_ref(), &keys::pack(p)).await?;
            progress.packs_deleted.fetch_add(1, Ordering::Relaxed);
            steps.step("pack deleted");
        }
        if !plan.expired.is_empty() {
            let mut remaining: BTreeMap<PackId, DateTime<Utc>> = plan.new_marks.clone();
            for p in &plan.expired {
                remaining.remove(p);
            }
            let current = if marks_written {
                marks::load(self.objects()).await?
            } else {
                std::mem::take(&mut plan.marks)
            };
            self.replace_marks(&current, &remaining, steps).await?;
        }
        Ok(())
    }

    /// Writes one index object with what the index objects naming a `doomed` pack (or a pack
    /// that is gone) name besides, then deletes those objects; returns how many were replaced.
    async fn rewrite_index_without(
        &self,
        plan: &PrunePlan,
        doomed: &HashSet<PackId>,
        steps: &Steps,
    ) -> Result<usize, RepoError> {
        let store = self.store();
        let mut affected: BTreeSet<IndexId> = plan.orphan_indexes.clone();
        for p in doomed {
            affected.extend(plan.named_by.get(p).into_iter().flatten().copied());
        }
        let mut keep: BTreeMap<PackId, Vec<PackEntry>> = BTreeMap::new();
        for (iid, file) in &plan.listing.indexes {
            if !affected.contains(iid) {
                continue;
            }
            for (p, entries) in file {
                if plan.exists.contains(p) && !doomed.contains(p) {
                    keep.entry(*p).or_insert_with(|| entries.clone());
                }
            }
        }
        let receipts: Vec<PackReceipt> = keep
            .into_iter()
            .map(|(p, e)| PackReceipt::from_indexed(p, e, self.crypto()))
            .collect();
        index::write_index(self.objects(), &receipts).await?;
        steps.step("rewritten index written");
        for iid in &affected {
            delete(store.as_ref(), &keys::index(iid)).await?;
            steps.step("old index deleted");
        }
        Ok(affected.len())
    }

    /// Writes one marks object with `marks` and deletes the objects of `old` (write first).
    async fn replace_marks(
        &self,
        old: &MarkSet,
        marks: &BTreeMap<PackId, DateTime<Utc>>,
        steps: &Steps,
    ) -> Result<(), RepoError> {
        let store = self.store();
        let written = marks::write(self.objects(), marks).await?;
        if written.is_some() {
            steps.step("marks written");
        }
        for k in &old.objects {
            if Some(k) != written.as_ref() {
                delete(store.as_ref(), k).await?;
                steps.step("old marks deleted");
            }
        }
        Ok(())
    }
}
