//! `check`: the short form of [`Repository::verify`] used by tests and older callers: every
//! problem as one line naming its object. Nothing is modified.

use serde::Serialize;

use crate::repo::error::Result;
use crate::repo::repository::{Indexed, Repository};
use crate::repo::verify::{ReadData, VerifyOptions, VerifyProgress};

/// What [`Repository::check`] looked at and what it found (the short form of a verify report).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepositoryCheck {
    pub snapshots: u64,
    pub index_objects: u64,
    pub packs: u64,
    pub packs_read: u64,
    pub blobs_referenced: u64,
    pub problems: Vec<String>,
}

impl RepositoryCheck {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Repository<Indexed> {
    /// Checks that every index names existing packs of the right size, every snapshot's
    /// metadata and content blobs are indexed, and (with `read_data`) that every indexed pack
    /// matches its name, its header the index, and every blob its id.
    #[tracing::instrument(skip(self))]
    pub async fn check(&self, read_data: bool) -> Result<RepositoryCheck> {
        let opts = VerifyOptions {
            read_data: if read_data {
                ReadData::All
            } else {
                ReadData::None
            },
            ..VerifyOptions::default()
        };
        let r = self.verify(&opts, &VerifyProgress::default()).await?;
        Ok(RepositoryCheck {
            snapshots: r.snapshots,
            index_objects: r.index_objects,
            packs: r.packs,
            packs_read: r.packs_read,
            blobs_referenced: r.blobs_referenced,
            problems: r.problems.iter().map(|p| p.to_string()).collect(),
        })
    }
}
