//! Test hook: delete a folder (or tab) with everything under it, as a user deleting a matter
//! folder by mistake would. The contract has no folder delete call (§7), so this exists only as
//! [`SimHandle::delete_folder`](super::SimHandle::delete_folder) and `POST /sim/delete-folder`.
//! The folder and every folder below it disappear from every read; each document filed in them
//! goes to the trash bin.
//!
//! And: purge a document from the trash bin ([`purge_from_trash`]), as an administrator or a
//! retention rule does (no call of the contract does it); the document is then gone for good.

use serde::{Deserialize, Serialize};

use crate::wire::ObjectId;

use super::Sim;
use super::view::Ctx;
use super::writes::now;

/// `POST /sim/delete-folder` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeleteFolderRequest {
    /// `LIB!N` of a folder or tab (not a workspace).
    pub folder: String,
}

/// What a folder delete removed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeleteFolderReport {
    /// Container ids removed (the folder first, then everything below it).
    pub containers: Vec<String>,
    /// Document ids moved to the trash bin.
    pub documents: Vec<String>,
}

/// Deletes `folder` (`LIB!N`) and its subtree. `None` when it is not a live folder or tab.
pub fn delete_folder(sim: &Sim, folder: &str) -> Option<DeleteFolderReport> {
    let ObjectId { library, number: n } = folder.parse().ok()?;
    let li = sim.lib_index(&library)?;
    let seed = sim.seed();
    sim.write(li, |layout, ov| {
        let (containers, documents) = {
            let ctx = Ctx {
                seed,
                lib: layout,
                ov,
            };
            let root = ctx.container(n)?;
            if !root.kind.holds_documents() {
                return None;
            }
            let mut containers = Vec::new();
            let mut documents = Vec::new();
            let mut stack = vec![root];
            while let Some(c) = stack.pop() {
                for d in ctx.child_documents(&c) {
                    if !documents.contains(&d.number) {
                        documents.push(d.number);
                    }
                }
                containers.push(c.number);
                stack.extend(ctx.child_containers(&c));
            }
            (containers, documents)
        };
        let t = now();
        for &c in &containers {
            ov.deleted_containers.insert(c);
        }
        for &d in &documents {
            ov.docs.entry(d).or_default().trashed = Some(t);
        }
        let alias = &layout.alias;
        Some(DeleteFolderReport {
            containers: containers.iter().map(|c| format!("{alias}!{c}")).collect(),
            documents: documents.iter().map(|d| format!("{alias}!{d}")).collect(),
        })
    })
}

/// Purges document `doc` (`LIB!N`) from the trash bin: from then on no read answers it (its
/// versions, profile, content and security are 404) and the trash bin no longer lists it.
/// `false` when it is not a document in the trash bin.
pub fn purge_from_trash(sim: &Sim, doc: &str) -> bool {
    let Ok(ObjectId { library, number: n }) = doc.parse() else {
        return false;
    };
    let Some(li) = sim.lib_index(&library) else {
        return false;
    };
    let seed = sim.seed();
    sim.write(li, |layout, ov| {
        let in_trash = Ctx {
            seed,
            lib: layout,
            ov,
        }
        .doc(n)
        .is_some_and(|d| d.trashed());
        if in_trash {
            ov.docs.entry(n).or_default().purged = true;
        }
        in_trash
    })
}
