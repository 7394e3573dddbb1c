//! The parent snapshot's versions that a changes-only run did not list again, carried into the
//! new snapshot's versions stream exactly as they were stored: the same JSON lines in the same
//! order, so the unchanged stretches of the stream give the same blobs (nothing new stored).
//! When nothing at all was listed again, the parent's stream is referenced as it is.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;

use crate::imanage::model::{VersionId, size_field};
use crate::repo::{MetaRef, Repository};

/// What a changes-only walk listed again: those versions (and every version of those
/// documents) are not taken from the parent.
#[derive(Debug, Default)]
pub struct Relisted {
    /// (document number, version) of every version the walk yielded.
    pub versions: HashSet<(u64, u32)>,
    /// Documents listed one by one (or found deleted): only what the walk yielded counts.
    pub documents: HashSet<u64>,
}

impl Relisted {
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty() && self.documents.is_empty()
    }

    fn covers(&self, id: &VersionId) -> bool {
        self.covers_key(id.document.number, id.version)
    }

    /// Whether the parent's version (document number, version) was listed again.
    pub fn covers_key(&self, number: u64, version: u32) -> bool {
        self.documents.contains(&number) || self.versions.contains(&(number, version))
    }
}

/// What the carried versions count for the snapshot.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Carried {
    pub versions: u64,
    pub document_versions: u64,
    pub email_versions: u64,
    pub bytes: u64,
}

impl Carried {
    fn add(&mut self, o: Carried) {
        self.versions += o.versions;
        self.document_versions += o.document_versions;
        self.email_versions += o.email_versions;
        self.bytes += o.bytes;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CarryError {
    #[error("reading the last snapshot's versions stream")]
    Repo(#[source] crate::repo::RepoError),
    #[error("record {index} of the last snapshot's versions stream is unreadable: {problem}")]
    Record { index: u64, problem: String },
    #[error("the metadata writer stopped")]
    WriterGone,
}

/// A stored version record, read for its id, size and kind only.
#[derive(Deserialize)]
struct Line {
    profile: LineProfile,
}

#[derive(Deserialize)]
struct LineProfile {
    id: String,
    #[serde(default)]
    size: Option<Value>,
    #[serde(default)]
    wstype: Option<String>,
}

/// Lines of one metadata blob: those to carry, and those whose content is lost.
#[derive(Debug, Default)]
struct Kept {
    carry: Vec<Bytes>,
    lost: Vec<Bytes>,
}

/// The lines of one metadata blob to carry, and what they count; lines of versions in `lost`
/// (content no longer in the repository) are set aside to be downloaded again. `first` is the
/// index of the blob's first record in the stream (for errors).
fn keep_lines(
    blob: &Bytes,
    relisted: &Relisted,
    lost: &HashSet<(u64, u32)>,
    first: u64,
) -> Result<(Kept, Carried, u64), CarryError> {
    let mut kept = Kept::default();
    let mut counted = Carried::default();
    let mut index = first;
    let mut at = 0usize;
    for line in blob.split(|b| *b == b'\n') {
        let start = at;
        at += line.len() + 1;
        if line.is_empty() {
            continue;
        }
        let bad = |problem: String| CarryError::Record { index, problem };
        let rec: Line = serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
        let id: VersionId = rec.profile.id.parse().map_err(|e| bad(format!("{e}")))?;
        index += 1;
        if relisted.covers(&id) {
            continue;
        }
        if lost.contains(&(id.document.number, id.version)) {
            kept.lost.push(blob.slice(start..start + line.len()));
            continue;
        }
        let size = size_field(rec.profile.size.as_ref()).map_err(|p| CarryError::Record {
            index: index - 1,
            problem: p.to_string(),
        })?;
        counted.versions += 1;
        counted.bytes += size;
        match rec.profile.wstype.as_deref() {
            Some("email") => counted.email_versions += 1,
            _ => counted.document_versions += 1,
        }
        kept.carry.push(blob.slice(start..start + line.len()));
    }
    Ok((kept, counted, index))
}

/// Sends every line of the parent's versions stream `meta` that `relisted` does not cover to
/// `send`, in order. Each blob is checked against its id when read; the lines are parsed for
/// their ids on a blocking thread. Lines of versions in `lost` are not carried but returned
/// (their content must be downloaded again).
pub async fn carry_versions<F, Fut>(
    repo: &Repository<crate::repo::Indexed>,
    meta: &MetaRef,
    relisted: Arc<Relisted>,
    lost: Arc<HashSet<(u64, u32)>>,
    send: F,
) -> Result<(Carried, Vec<Bytes>), CarryError>
where
    F: Fn(Bytes) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut total = Carried::default();
    let mut lost_lines = Vec::new();
    let mut index = 0u64;
    let mut blobs = std::pin::pin!(repo.read_meta_blobs(meta));
    while let Some(blob) = blobs.next().await {
        let blob = blob.map_err(CarryError::Repo)?;
        let (rel, lost) = (relisted.clone(), lost.clone());
        let first = index;
        let (kept, counted, next) =
            tokio::task::spawn_blocking(move || keep_lines(&blob, &rel, &lost, first))
                .await
                .map_err(|e| CarryError::Record {
                    index: first,
                    problem: format!("parser task failed: {e}"),
                })??;
        index = next;
        total.add(counted);
        lost_lines.extend(kept.lost);
        for line in kept.carry {
            if !send(line).await {
                return Err(CarryError::WriterGone);
            }
        }
    }
    Ok((total, lost_lines))
}

/// What the parent's whole versions stream counts, from its snapshot counts (when it is
/// carried as it is).
pub fn carried_whole(meta: &MetaRef, counts: &std::collections::BTreeMap<String, u64>) -> Carried {
    let get = |k: &str| counts.get(k).copied().unwrap_or(0);
    Carried {
        versions: meta.records,
        document_versions: get("document_versions"),
        email_versions: get("email_versions"),
        bytes: get("bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, size: u64, wstype: &str) -> String {
        serde_json::json!({"profile": {"id": id, "size": size, "wstype": wstype, "name": "x"},
                           "content": {"size": size, "blobs": []}})
        .to_string()
    }

    #[test]
    fn lines_of_relisted_versions_and_documents_are_left_out_byte_for_byte() {
        let lines = [
            line("A!1.1", 10, "document"),
            line("A!1.2", 20, "document"),
            line("A!2.1", 30, "email"),
            line("A!3.1", 40, "document"),
            line("A!3.2", 50, "document"),
        ];
        let blob = Bytes::from(lines.join("\n") + "\n");
        let relisted = Relisted {
            versions: [(1, 2)].into_iter().collect(),
            documents: [3].into_iter().collect(),
        };
        let none = HashSet::new();
        let (keep, counted, next) = keep_lines(&blob, &relisted, &none, 7).unwrap();
        let kept: Vec<&[u8]> = keep.carry.iter().map(|b| b.as_ref()).collect();
        assert_eq!(kept, vec![lines[0].as_bytes(), lines[2].as_bytes()]);
        assert!(keep.lost.is_empty());
        assert_eq!(
            counted,
            Carried {
                versions: 2,
                document_versions: 1,
                email_versions: 1,
                bytes: 40
            }
        );
        assert_eq!(next, 12);
        let (all, c, _) = keep_lines(&blob, &Relisted::default(), &none, 0).unwrap();
        assert_eq!(all.carry.len(), 5);
        assert_eq!(c.bytes, 150);
        // Versions whose content is lost are set aside, not carried nor counted.
        let lost: HashSet<(u64, u32)> = [(1, 1), (3, 2)].into_iter().collect();
        let (k, c, _) = keep_lines(&blob, &Relisted::default(), &lost, 0).unwrap();
        assert_eq!(k.carry.len(), 3);
        let set_aside: Vec<&[u8]> = k.lost.iter().map(|b| b.as_ref()).collect();
        assert_eq!(set_aside, vec![lines[0].as_bytes(), lines[4].as_bytes()]);
        assert_eq!((c.versions, c.bytes), (3, 90));
    }

    #[test]
    fn an_unreadable_line_is_an_error_naming_its_index() {
        let blob = Bytes::from(format!(
            "{}\n{{\"profile\":{{}}}}\n",
            line("A!1.1", 1, "document")
        ));
        let e = keep_lines(&blob, &Relisted::default(), &HashSet::new(), 40).unwrap_err();
        assert!(e.to_string().contains("record 41"), "{e}");
    }
}
