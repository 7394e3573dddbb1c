//! What a library holds right now (base corpus plus overlay), counted by walking it: for tests
//! and benchmarks that check a backup found everything. O(library), so meant for tiny to medium.

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use super::Sim;
use super::content::ContentSpec;
use super::state::VersionContent;

/// Counts of the live (not trashed) objects of one library.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibrarySummary {
    pub library: String,
    pub hidden: bool,
    pub workspaces: u64,
    /// Tabs, folders and search folders.
    pub containers: u64,
    pub search_folders: u64,
    pub documents: u64,
    pub versions: u64,
    /// Sum of the sizes of every version.
    pub bytes: u64,
    /// (document, folder) filings; more than `documents` because some are filed twice.
    pub filings: u64,
}

pub fn summarize(sim: &Sim, li: usize) -> LibrarySummary {
    sim.read(li, |ctx| {
        let mut s = LibrarySummary {
            library: ctx.lib.alias.clone(),
            hidden: ctx.lib.hidden,
            ..Default::default()
        };
        ctx.for_each_container_from(0, true, false, |_| {
            s.workspaces += 1;
            ControlFlow::Continue(())
        });
        ctx.for_each_container_from(0, false, false, |c| {
            s.containers += 1;
            if c.kind == crate::wire::ContainerKind::SearchFolder {
                s.search_folders += 1;
            }
            ControlFlow::Continue(())
        });
        ctx.for_each_doc_from(0, false, |d| {
            s.documents += 1;
            s.filings += d.parents.len() as u64;
            for v in d.versions() {
                s.versions += 1;
                s.bytes += match d.ov.and_then(|o| o.added.get(&v)).map(|a| &a.content) {
                    Some(VersionContent::Stored(b)) => b.len() as u64,
                    _ => ContentSpec::of(ctx.lib.content, &ctx.lib.alias, d.number, v).len(),
                };
            }
            ControlFlow::Continue(())
        });
        s
    })
}
