//! What a set of roots (snapshots, checkpoint records) references: every metadata blob and the
//! content blobs its records name, each metadata blob read once however many snapshots share
//! it, and which references are not backed by an index entry in an existing pack. Shared by
//! `verify` (report) and `prune` (what must be kept).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;

use crate::repo::backend::keys;
use crate::repo::id::{BlobId, PackId};
use crate::repo::index::Index;
use crate::repo::repository::{Indexed, Repository};
use crate::repo::snapshot::Snapshot;
use crate::repo::verify::{Problem, ProblemKind};

/// Finds content references (`{"size": n, "blobs": [hex, …]}`) and metadata references
/// (`{"records": n, "bytes": n, "blobs": [hex, …]}`) anywhere in a JSON value.
pub(crate) fn find_refs(v: &serde_json::Value, content: &mut Vec<BlobId>, meta: &mut Vec<BlobId>) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(a)) = m.get("blobs") {
                let ids = a.iter().filter_map(|b| b.as_str()?.parse::<BlobId>().ok());
                if matches!(m.get("records"), Some(Value::Number(_))) {
                    meta.extend(ids);
                } else if matches!(m.get("size"), Some(Value::Number(_))) {
                    content.extend(ids);
                }
            }
            for x in m.values() {
                find_refs(x, content, meta);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| find_refs(x, content, meta)),
        _ => {}
    }
}

/// The content blobs referenced by the records of one metadata blob (JSON lines).
fn content_refs_of_meta_blob(raw: &[u8]) -> std::result::Result<Vec<BlobId>, String> {
    let mut out = Vec::new();
    let mut meta = Vec::new();
    for (n, line) in raw.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_slice(line).map_err(|e| format!("record {n}: {e}"))?;
        find_refs(&v, &mut out, &mut meta);
    }
    // Metadata streams nested in records (resume deltas) are not followed here.
    Ok(out)
}

/// What one metadata blob references, computed once however many snapshots share it.
#[derive(Debug, Clone, Default)]
struct MetaBlobRefs {
    content: Vec<BlobId>,
    error: Option<String>,
}

/// The blobs a set of snapshots (or other roots) reference, and what is wrong with them.
#[derive(Debug, Default)]
pub struct References {
    /// Every referenced blob: metadata and content.
    pub blobs: HashSet<BlobId>,
    pub problems: Vec<Problem>,
    scanned: HashMap<BlobId, Arc<MetaBlobRefs>>,
}

/// Where a referenced blob is bad, for [`References`].
enum Missing {
    NotIndexed,
    InMissingPack(PackId),
}

fn locate_problem(index: &Index, packs: &HashSet<PackId>, b: &BlobId) -> Option<Missing> {
    match index.get(b) {
        None => Some(Missing::NotIndexed),
        Some(loc) if !packs.contains(&loc.pack) => Some(Missing::InMissingPack(loc.pack)),
        Some(_) => None,
    }
}

impl References {
    /// Adds one stream (or any list of metadata blobs) of the object `owner`, reading each
    /// metadata blob not seen before, and records problems under `owner`.
    pub(crate) async fn add_meta_stream(
        &mut self,
        repo: &Repository<Indexed>,
        packs: &HashSet<PackId>,
        owner: &str,
        stream: &str,
        meta_blobs: &[BlobId],
    ) {
        let index = repo.index();
        let mut not_indexed = 0u64;
        let mut in_missing = 0u64;
        let mut first: Option<String> = None;
        let mut readable = Vec::new();
        for b in meta_blobs {
            self.blobs.insert(*b);
            match locate_problem(index, packs, b) {
                Some(Missing::NotIndexed) => {
                    not_indexed += 1;
                    first.get_or_insert_with(|| format!("blob {b}"));
                }
                Some(Missing::InMissingPack(p)) => {
                    in_missing += 1;
                    first.get_or_insert_with(|| format!("blob {b} in {}", keys::pack(&p)));
                }
                None => readable.push(*b),
            }
        }
        let unseen: Vec<BlobId> = {
            let mut s = HashSet::new();
            readable
                .iter()
                .filter(|b| !self.scanned.contains_key(b) && s.insert(**b))
                .copied()
                .collect()
        };
        let mut reads = std::pin::pin!(
            futures::stream::iter(unseen.into_iter().map(|id| {
                let repo = repo.clone();
                async move {
                    let refs = match repo.read_blob(&id).await {
                        Ok(raw) => tokio::task::spawn_blocking(move || {
                            match content_refs_of_meta_blob(&raw) {
                                Ok(content) => MetaBlobRefs {
                                    content,
                                    error: None,
                                },
                                Err(e) => MetaBlobRefs {
                                    content: Vec::new(),
                                    error: Some(e),
                                },
                            }
                        })
                        .await
                        .unwrap_or_else(|e| MetaBlobRefs {
                            content: Vec::new(),
                            error: Some(format!("parsing task failed: {e}")),
                        }),
                        Err(e) => MetaBlobRefs {
                            content: Vec::new(),
                            error: Some(crate::repo::error_chain(&e)),
                        },
                    };
                    (id, refs)
                }
            }))
            .buffered(4)
        );
        while let Some((id, refs)) = reads.next().await {
            self.scanned.insert(id, Arc::new(refs));
        }
        let mut c_not_indexed = 0u64;
        let mut c_missing = 0u64;
        let mut c_first: Option<String> = None;
        for b in &readable {
            let Some(refs) = self.scanned.get(b).cloned() else {
                continue;
            };
            if let Some(e) = &refs.error {
                self.problems.push(Problem {
                    kind: ProblemKind::UnreadableMetadata,
                    object: owner.to_string(),
                    detail: format!("stream `{stream}`, metadata blob {b}: {e}"),
                });
            }
            for c in &refs.content {
                self.blobs.insert(*c);
                match locate_problem(index, packs, c) {
                    Some(Missing::NotIndexed) => {
                        c_not_indexed += 1;
                        c_first.get_or_insert_with(|| format!("blob {c}"));
                    }
                    Some(Missing::InMissingPack(p)) => {
                        c_missing += 1;
                        c_first.get_or_insert_with(|| format!("blob {c} in {}", keys::pack(&p)));
                    }
                    None => {}
                }
            }
        }
        let mut report = |kind, n: u64, what: &str, first: &Option<String>| {
            if n > 0 {
                self.problems.push(Problem {
                    kind,
                    object: owner.to_string(),
                    detail: format!(
                        "stream `{stream}`: {n} {what} (first: {})",
                        first.as_deref().unwrap_or("?")
                    ),
                });
            }
        };
        if not_indexed > 0 || in_missing > 0 {
            report(
                ProblemKind::NotIndexed,
                not_indexed,
                "metadata blobs not indexed",
                &first,
            );
            report(
                ProblemKind::BlobInMissingPack,
                in_missing,
                "metadata blobs in missing packs",
                &first,
            );
        }
        report(
            ProblemKind::NotIndexed,
            c_not_indexed,
            "content blobs not indexed",
            &c_first,
        );
        report(
            ProblemKind::BlobInMissingPack,
            c_missing,
            "content blobs in missing packs",
            &c_first,
        );
    }

    /// Adds every stream of a snapshot.
    pub(crate) async fn add_snapshot(
        &mut self,
        repo: &Repository<Indexed>,
        packs: &HashSet<PackId>,
        snap: &Snapshot,
    ) {
        let owner = keys::snapshot(&snap.id).to_string();
        for (name, meta) in &snap.manifest.streams {
            self.add_meta_stream(repo, packs, &owner, name, &meta.blobs)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_are_found_in_records() {
        let a = BlobId::of(b"a");
        let m = BlobId::of(b"m");
        let v = serde_json::json!({
            "profile": {"id": "X!1.1"},
            "content": {"size": 3, "blobs": [a.to_string()]},
            "deltas": [{"records": 1, "bytes": 10, "blobs": [m.to_string()]}],
        });
        let (mut c, mut mm) = (Vec::new(), Vec::new());
        find_refs(&v, &mut c, &mut mm);
        assert_eq!(c, vec![a]);
        assert_eq!(mm, vec![m]);
    }
}
