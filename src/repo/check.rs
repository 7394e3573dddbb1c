//! `check`: is every reference in the repository backed by durable, intact data?
//!
//! Problems are collected (each naming the object), not returned as the first error, so an
//! operator sees the whole damage at once. Nothing is modified.

use std::collections::{HashMap, HashSet};

use futures::TryStreamExt;
use object_store::path::Path;
use serde::Serialize;

use crate::repo::backend::{self, keys};
use crate::repo::error::Result;
use crate::repo::id::{BlobId, PackId, SnapshotId};
use crate::repo::repository::{Indexed, Repository};

/// What `check` looked at and what it found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    pub snapshots: u64,
    pub index_objects: u64,
    pub packs: u64,
    pub packs_read: u64,
    pub blobs_referenced: u64,
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Finds content references (`{"size": n, "blobs": [hex, …]}`) anywhere in a record.
fn content_blobs(v: &serde_json::Value, out: &mut Vec<BlobId>) {
    match v {
        serde_json::Value::Object(m) => {
            if let (Some(serde_json::Value::Number(_)), Some(serde_json::Value::Array(a))) =
                (m.get("size"), m.get("blobs"))
            {
                out.extend(a.iter().filter_map(|b| b.as_str()?.parse::<BlobId>().ok()));
            }
            for x in m.values() {
                content_blobs(x, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| content_blobs(x, out)),
        _ => {}
    }
}

impl Repository<Indexed> {
    /// Checks that every index names existing packs, every snapshot's metadata and content
    /// blobs are indexed, and (with `read_data`) that every pack matches its name and the
    /// index entries for it.
    #[tracing::instrument(skip(self))]
    pub async fn check(&self, read_data: bool) -> Result<CheckReport> {
        let mut r = CheckReport::default();
        let pack_metas = backend::list(self.store().as_ref(), &Path::from(keys::PACKS)).await?;
        let packs: HashSet<PackId> = pack_metas
            .iter()
            .filter_map(|m| m.location.filename()?.parse().ok())
            .collect();
        r.packs = packs.len() as u64;
        let mut indexed: HashMap<PackId, Vec<crate::repo::pack::PackEntry>> = HashMap::new();
        for id in self.list_index_ids().await? {
            r.index_objects += 1;
            match self.cat_index(&id).await {
                Ok(file) => {
                    for (p, entries) in file.packs {
                        if !packs.contains(&p) {
                            r.problems
                                .push(format!("index/{id} names missing pack {}", keys::pack(&p)));
                        }
                        indexed.entry(p).or_insert(entries);
                    }
                }
                Err(e) => r.problems.push(crate::repo::error_chain(&e)),
            }
        }
        let snap_metas = backend::list(self.store().as_ref(), &Path::from(keys::SNAPSHOTS)).await?;
        for m in snap_metas {
            r.snapshots += 1;
            let Some(id) = m
                .location
                .filename()
                .and_then(|n| n.parse::<SnapshotId>().ok())
            else {
                r.problems
                    .push(format!("{} is not named by a snapshot id", m.location));
                continue;
            };
            let snap = match self.load_snapshot(&id).await {
                Ok(s) => s,
                Err(e) => {
                    r.problems.push(crate::repo::error_chain(&e));
                    continue;
                }
            };
            for (name, meta) in &snap.manifest.streams {
                let missing: Vec<&BlobId> = meta
                    .blobs
                    .iter()
                    .filter(|b| !self.index().contains(b))
                    .collect();
                if !missing.is_empty() {
                    r.problems.push(format!(
                        "snapshots/{id} stream `{name}`: {} blobs not indexed (first {})",
                        missing.len(),
                        missing[0]
                    ));
                    continue;
                }
                let mut records =
                    std::pin::pin!(self.read_meta_stream::<serde_json::Value>(name, meta));
                let mut bad = 0u64;
                let mut first_bad = None;
                loop {
                    match records.try_next().await {
                        Ok(Some(v)) => {
                            let mut ids = Vec::new();
                            content_blobs(&v, &mut ids);
                            r.blobs_referenced += ids.len() as u64;
                            for b in ids.iter().filter(|b| !self.index().contains(b)) {
                                bad += 1;
                                first_bad.get_or_insert(*b);
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            r.problems.push(format!(
                                "snapshots/{id} stream `{name}`: {}",
                                crate::repo::error_chain(&e)
                            ));
                            break;
                        }
                    }
                }
                if let Some(b) = first_bad {
                    r.problems.push(format!(
                        "snapshots/{id} stream `{name}`: {bad} content blobs not indexed (first {b})"
                    ));
                }
            }
        }
        if read_data {
            for (p, entries) in &indexed {
                if !packs.contains(p) {
                    continue;
                }
                r.packs_read += 1;
                match self.verify_pack(p).await {
                    Ok(dump) if dump.blobs != *entries => r.problems.push(format!(
                        "{}: header differs from the index entries",
                        keys::pack(p)
                    )),
                    Ok(_) => {}
                    Err(e) => r.problems.push(crate::repo::error_chain(&e)),
                }
            }
        }
        Ok(r)
    }
}
