//! Prune marks (`marks/<h>`): packs a prune found unused and will delete once the grace
//! period has passed (docs/FORMAT.md, "Prune marks"). A marked pack stays readable and
//! indexed, but writers no longer deduplicate against it, so only a backup that loaded its
//! index before the mark can still reference it; a later prune re-checks every marked pack
//! and keeps ("recovers") one that a snapshot needs after all.
//!
//! The marks in force are the union of every `marks/` object; each pack carries the earliest
//! time it was marked. A prune replaces the set by writing one new object and then deleting
//! the objects it read, so a crash leaves at worst duplicates (harmless) or marks of packs
//! already deleted (ignored).

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::repo::error::{RepoError, Result};
use crate::repo::id::PackId;
use crate::repo::objects::{ObjectKind, Objects};

pub const MARKS: &str = "marks";
/// The version of the marks object layout.
pub const MARKS_VERSION: u32 = 1;

/// One marked pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub pack: PackId,
    /// When a prune first found it unused.
    pub marked: DateTime<Utc>,
}

/// A `marks/<h>` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarksObject {
    pub version: u32,
    pub written: DateTime<Utc>,
    pub marks: Vec<Mark>,
}

/// The marks in force, and the objects they were read from.
#[derive(Debug, Clone, Default)]
pub struct MarkSet {
    pub marks: BTreeMap<PackId, DateTime<Utc>>,
    pub objects: Vec<Path>,
}

impl MarkSet {
    pub fn is_marked(&self, p: &PackId) -> bool {
        self.marks.contains_key(p)
    }
}

/// Reads every `marks/` object. An unreadable or unknown-version object is an error naming
/// it: deleting data on marks we cannot read would be unsafe, and so would ignoring them.
pub async fn load(objects: &Objects) -> Result<MarkSet> {
    let mut set = MarkSet::default();
    for m in objects.list(ObjectKind::Marks, None).await? {
        let bytes = objects.get(ObjectKind::Marks, &m.location).await?;
        let obj: MarksObject =
            serde_json::from_slice(&bytes).map_err(|source| RepoError::Decode {
                key: m.location.to_string(),
                source,
            })?;
        if obj.version != MARKS_VERSION {
            return Err(RepoError::UnsupportedFormat {
                key: m.location.to_string(),
                found: obj.version,
                supported: format!("[{MARKS_VERSION}]"),
            });
        }
        for mk in obj.marks {
            set.marks
                .entry(mk.pack)
                .and_modify(|t| *t = (*t).min(mk.marked))
                .or_insert(mk.marked);
        }
        set.objects.push(m.location);
    }
    Ok(set)
}

/// Writes one marks object holding `marks` (named by the BLAKE3 of its bytes) and returns its
/// key; nothing is written for an empty set.
pub async fn write(
    objects: &Objects,
    marks: &BTreeMap<PackId, DateTime<Utc>>,
) -> Result<Option<Path>> {
    if marks.is_empty() {
        return Ok(None);
    }
    let obj = MarksObject {
        version: MARKS_VERSION,
        written: Utc::now(),
        marks: marks
            .iter()
            .map(|(p, t)| Mark {
                pack: *p,
                marked: *t,
            })
            .collect(),
    };
    let bytes = serde_json::to_vec(&obj).map_err(|source| RepoError::Encode {
        what: "prune marks".into(),
        source,
    })?;
    let (key, _) = objects
        .put(ObjectKind::Marks, None, Bytes::from(bytes))
        .await?;
    Ok(Some(key))
}
