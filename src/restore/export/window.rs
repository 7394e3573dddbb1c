//! Writing a window of versions in pack order (restic's restore plan): every version's
//! temporary file is created first, then every blob the window needs is read once, pack by
//! pack (a few ranged reads per pack the window touches, whatever the order of documents),
//! checked, and written at its offsets into each file that holds it. Only the ranges in flight
//! are in memory, never a version's content.
//!
//! A version whose blob failed its check fails naming it; a version with a blob in a range that
//! could not be read (a lost pack, a read error), a blob not in the index, content larger
//! than [`WINDOW_MAX_VERSION`], or a file that could not be created for want of descriptors
//! is left to the streaming path, which reads it alone and fails
//! naming the pack if it still cannot be read. Every other version ends in its temporary file,
//! complete, with its modification time: the batch writer syncs and places it.

use std::collections::HashMap;
use std::os::unix::fs::FileExt as _;
use std::sync::{Arc, Mutex};

use super::batch::{VersionData, VersionJob};
use crate::repo::BlobId;
use crate::restore::files::Tree;
use crate::restore::report::ItemFailure;
use crate::restore::source::{READ_ACTION, SizeCheck, Source, content_ref};

/// Versions larger than this are streamed on their own, not written in pack order.
pub const WINDOW_MAX_VERSION: u64 = 64 * 1024 * 1024;

/// Where one blob goes: a version (its job) at an offset.
struct Spot {
    job: usize,
    offset: u64,
    len: u32,
}

/// What the window's blob reads share: the open temporary files and where each blob goes.
struct Plan {
    files: Vec<Option<std::fs::File>>,
    spots: HashMap<BlobId, Vec<Spot>>,
    /// Versions failed while writing (the first reason each).
    failed: Mutex<HashMap<usize, ItemFailure>>,
}

impl Plan {
    fn fail(&self, job: usize, f: impl FnOnce() -> ItemFailure) {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(job)
            .or_insert_with(f);
    }
}

/// Creates the temporary file of every pending version the window can write (on the calling,
/// blocking thread) and plans where each blob goes; a version that cannot be planned (a bad
/// content reference, a size that does not add up, a file that cannot be created) fails here.
fn plan(tree: &Tree, source: &Source, jobs: &mut [VersionJob]) -> Plan {
    let mut files: Vec<Option<std::fs::File>> = Vec::with_capacity(jobs.len());
    let mut spots: HashMap<BlobId, Vec<Spot>> = HashMap::new();
    let mut no_descriptor = 0usize;
    for (i, j) in jobs.iter_mut().enumerate() {
        files.push(None);
        if !matches!(j.data, VersionData::Pending) || j.version.size > WINDOW_MAX_VERSION {
            continue;
        }
        let content = match content_ref(&j.version) {
            Ok(c) => c,
            Err(f) => {
                j.data = VersionData::Failed(f);
                continue;
            }
        };
        let Some(lens) = source.blob_lengths(&content) else {
            continue; // a blob not in the index: the streaming path names it
        };
        let mut check = SizeCheck::new(&j.version, &content);
        if let Err(f) = lens
            .iter()
            .try_for_each(|l| check.add(*l as usize))
            .and_then(|()| check.finish())
        {
            j.data = VersionData::Failed(f);
            continue;
        }
        match tree.create_new(&j.tmp) {
            Ok(f) => files[i] = Some(f),
            // Out of file descriptors (the process's or the system's): streamed on its own once
            // this window's files are closed, not failed.
            Err(e) if crate::restore::open_files::out_of_descriptors(&e) => {
                no_descriptor += 1;
                continue;
            }
            Err(e) => {
                j.data = VersionData::Failed(write_failure(j, e.to_string()));
                continue;
            }
        }
        let mut offset = 0u64;
        for (b, len) in content.blobs.iter().zip(lens) {
            spots.entry(*b).or_default().push(Spot {
                job: i,
                offset,
                len,
            });
            offset += u64::from(len);
        }
    }
    if no_descriptor > 0 {
        tracing::debug!(
            versions = no_descriptor,
            "out of file descriptors: versions streamed on their own after the window"
        );
    }
    Plan {
        files,
        spots,
        failed: Mutex::new(HashMap::new()),
    }
}

fn write_failure(j: &VersionJob, error: String) -> ItemFailure {
    ItemFailure {
        object: j.version.id.to_string(),
        action: format!("writing {}", j.path.display()),
        error,
    }
}

/// Writes every pending version of `jobs` that the window can write (see the module docs):
/// each ends `Streamed` (complete in its temporary file, not synced), `Failed`, or still
/// `Pending` for the streaming path.
pub(super) async fn write_in_pack_order(
    tree: Arc<Tree>,
    source: &Source,
    jobs: Vec<VersionJob>,
) -> Result<Vec<VersionJob>, tokio::task::JoinError> {
    let src = source.clone();
    let t = tree.clone();
    let (mut jobs, plan) = tokio::task::spawn_blocking(move || {
        let mut jobs = jobs;
        let plan = plan(&t, &src, &mut jobs);
        (jobs, plan)
    })
    .await?;
    if plan.spots.is_empty() && plan.files.iter().all(Option::is_none) {
        return Ok(jobs);
    }
    // What a failure names: each version and the file it was being written to.
    let labels: Arc<Vec<(String, String)>> = Arc::new(
        jobs.iter()
            .map(|j| {
                let w = format!("writing {}", j.path.display());
                (j.version.id.to_string(), w)
            })
            .collect(),
    );
    let plan = Arc::new(plan);
    let blobs: Vec<BlobId> = plan.spots.keys().copied().collect();
    let sink = {
        let plan = plan.clone();
        let labels = labels.clone();
        move |id: BlobId, got: Result<bytes::Bytes, String>| {
            let Some(spots) = plan.spots.get(&id) else {
                return;
            };
            for s in spots {
                let fail = |action: String, error: String| ItemFailure {
                    object: labels[s.job].0.clone(),
                    action,
                    error,
                };
                let bytes = match &got {
                    Ok(b) if b.len() == s.len as usize => b,
                    Ok(b) => {
                        plan.fail(s.job, || {
                            fail(
                                READ_ACTION.into(),
                                format!(
                                    "blob {id} holds {} bytes, the index says {}",
                                    b.len(),
                                    s.len
                                ),
                            )
                        });
                        continue;
                    }
                    Err(e) => {
                        plan.fail(s.job, || fail(READ_ACTION.into(), e.clone()));
                        continue;
                    }
                };
                if let Some(f) = &plan.files[s.job]
                    && let Err(e) = f.write_all_at(bytes, s.offset)
                {
                    plan.fail(s.job, || fail(labels[s.job].1.clone(), e.to_string()));
                }
            }
        }
    };
    let unread = source.read_each(blobs, Arc::new(sink)).await;
    // Versions with a blob that could not be read go to the streaming path (unless failed).
    let mut retry = vec![false; jobs.len()];
    for u in &unread {
        tracing::debug!(blobs = u.blobs.len(), error = %u.error, "a window read failed; its versions are read one by one");
        for b in &u.blobs {
            for s in plan.spots.get(b).into_iter().flatten() {
                retry[s.job] = true;
            }
        }
    }
    let plan = Arc::into_inner(plan).expect("the reads are over: the plan is ours alone");
    let mut failed = plan.failed.into_inner().unwrap_or_else(|p| p.into_inner());
    let files = plan.files;
    tokio::task::spawn_blocking(move || {
        for (i, (j, f)) in jobs.iter_mut().zip(files).enumerate() {
            let Some(f) = f else { continue };
            if let Some(fail) = failed.remove(&i) {
                drop(f);
                tree.remove(&j.tmp);
                j.data = VersionData::Failed(fail);
            } else if retry[i] {
                drop(f);
                tree.remove(&j.tmp);
            } else {
                if let Some(m) = j.mtime {
                    let _ = f.set_modified(m);
                }
                j.data = VersionData::Streamed;
            }
        }
        jobs
    })
    .await
}
