//! `POST /sim/mutate` and [`SimHandle::mutate`](super::SimHandle::mutate): seeded changes for
//! incremental-backup tests: new versions, profile edits, ACL edits, deletes, new documents.
//! Every change is stamped with the current time, so `edit_date_from` finds it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use crate::wire::{AccessLevel, TrusteeType};

use super::Sim;
use super::content::{ContentSpec, FileTraits};
use super::corpus::{LibLayout, SLOTS, base_acl};
use super::hash::{Rng, h, pick, tag};
use super::names;
use super::state::{AddedVersion, LibOverlay, NewDoc, Patch, VersionContent};
use super::view::Ctx;
use super::writes::now;

/// How many changes of each kind to make. All in one library: `library`, or the first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct MutateRequest {
    pub new_versions: u32,
    pub profile_edits: u32,
    pub acl_edits: u32,
    pub deletes: u32,
    pub new_documents: u32,
    pub library: Option<String>,
}

/// What changed: the ids touched by each kind of change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MutateReport {
    /// Version ids created (`LIB!n.v`).
    pub new_versions: Vec<String>,
    /// Version ids whose profile changed.
    pub profile_edits: Vec<String>,
    /// Document or container ids whose ACL changed.
    pub acl_edits: Vec<String>,
    /// Document ids moved to the trash bin.
    pub deletes: Vec<String>,
    /// Version ids of new documents (version 1).
    pub new_documents: Vec<String>,
}

/// A random document-holding base container: (workspace, slot).
fn pick_holder(seed: u64, lib: &LibLayout, rng: &mut Rng) -> Option<(u64, u64)> {
    for _ in 0..64 {
        let w = rng.below(lib.n_ws);
        let tree = super::corpus::ws_tree(seed, lib, w);
        let holders: Vec<u64> = tree
            .nodes
            .iter()
            .filter(|n| n.holds_documents())
            .map(|n| n.slot)
            .collect();
        if !holders.is_empty() {
            return Some((w, pick(rng.next_u64(), &holders)));
        }
    }
    None
}

/// A random live base document.
fn pick_doc(seed: u64, lib: &LibLayout, ov: &LibOverlay, rng: &mut Rng) -> Option<u64> {
    for _ in 0..256 {
        let (w, j) = pick_holder(seed, lib, rng)?;
        let fill = super::corpus::Corpus::fill_of(seed, lib, w, j);
        if fill == 0 {
            continue;
        }
        let n = lib.doc_number(w * SLOTS + j, rng.below(fill));
        if ov.docs.get(&n).is_some_and(|d| d.trashed.is_some()) {
            continue;
        }
        return Some(n);
    }
    None
}

pub fn apply(sim: &Sim, req: &MutateRequest) -> MutateReport {
    let li = req
        .library
        .as_deref()
        .and_then(|l| sim.lib_index(l))
        .unwrap_or(0);
    let seed = sim.seed();
    let mut report = MutateReport::default();
    sim.write(li, |lib, ov| {
        let alias = lib.alias.clone();
        let mut rng = Rng::new(h(seed, &[tag::MUTATE, lib.lib_hash, ov.mutations]));
        ov.mutations += 1;
        let t = now();
        for _ in 0..req.new_versions {
            let Some(n) = pick_doc(seed, lib, ov, &mut rng) else {
                break;
            };
            let latest = Ctx { seed, lib, ov }
                .doc(n)
                .and_then(|d| d.latest())
                .unwrap_or(0);
            let v = latest + 1;
            let size = ContentSpec::of(lib.content, &alias, n, v).len();
            let mut profile = Map::new();
            profile.insert("comment".into(), json!(format!("Revision {v}")));
            ov.docs.entry(n).or_default().added.insert(
                v,
                AddedVersion {
                    content: VersionContent::Generated,
                    size,
                    created: t,
                    profile,
                },
            );
            report.new_versions.push(format!("{alias}!{n}.{v}"));
        }
        for i in 0..req.profile_edits {
            let Some(n) = pick_doc(seed, lib, ov, &mut rng) else {
                break;
            };
            let Some(v) = Ctx { seed, lib, ov }.doc(n).and_then(|d| d.latest()) else {
                continue;
            };
            let patch = ov
                .docs
                .entry(n)
                .or_default()
                .patches
                .entry(v)
                .or_insert_with(Patch::default);
            patch
                .fields
                .insert("comment".into(), json!(format!("Profile edited ({i})")));
            patch.fields.insert(
                "custom3".into(),
                json!(pick(rng.next_u64(), &["EN", "DE", "FR", "JA", "NL"])),
            );
            patch.at = t;
            report.profile_edits.push(format!("{alias}!{n}.{v}"));
        }
        for _ in 0..req.acl_edits {
            let (id, user) = if rng.below(4) == 0 {
                let Some((w, j)) = pick_holder(seed, lib, &mut rng) else {
                    break;
                };
                (lib.container_number(w, j), false)
            } else {
                let Some(n) = pick_doc(seed, lib, ov, &mut rng) else {
                    break;
                };
                (n, true)
            };
            let ctx = Ctx { seed, lib, ov };
            let mut acl = if user {
                ctx.doc_acl(id)
            } else {
                ctx.container_acl(id)
            };
            let (tid, tt) = if rng.chance(0.5) {
                (pick(rng.next_u64(), names::USERS).0, TrusteeType::User)
            } else {
                (pick(rng.next_u64(), names::GROUPS).0, TrusteeType::Group)
            };
            let level = AccessLevel::from_code(rng.below(4) as u8).unwrap_or(AccessLevel::Read);
            match acl.entries.iter_mut().find(|e| e.0 == tid && e.1 == tt) {
                Some(e) if e.2 != level => e.2 = level,
                Some(_) => acl.entries.retain(|e| !(e.0 == tid && e.1 == tt)),
                None => acl.entries.push((tid.to_string(), tt, level)),
            }
            if user {
                ov.docs.entry(id).or_default().acl = Some(acl);
            } else {
                let c = ov.containers.entry(id).or_default();
                c.acl = Some(acl);
                c.acl_changed = Some(t);
            }
            report.acl_edits.push(format!("{alias}!{id}"));
        }
        for _ in 0..req.deletes {
            let Some(n) = pick_doc(seed, lib, ov, &mut rng) else {
                break;
            };
            ov.docs.entry(n).or_default().trashed = Some(t);
            report.deletes.push(format!("{alias}!{n}"));
        }
        for _ in 0..req.new_documents {
            let Some((w, j)) = pick_holder(seed, lib, &mut rng) else {
                break;
            };
            let folder = lib.container_number(w, j);
            let n = ov.take_number();
            let traits = FileTraits::of(lib.content, &alias, n);
            let title = pick(rng.next_u64(), names::DOC_TITLES);
            let doc = ov.docs.entry(n).or_default();
            doc.new = Some(NewDoc {
                folder,
                workspace: lib.ws_number(w),
                email: traits.email,
                extension: traits.extension.to_string(),
                name: format!("{title} (new {n})"),
                author: pick(rng.next_u64(), names::USERS).0.to_string(),
                class: "DOC".into(),
                subclass: String::new(),
                created: t,
            });
            doc.acl = Some(base_acl(seed, lib, 0, n).into());
            doc.added.insert(
                1,
                AddedVersion {
                    content: VersionContent::Generated,
                    size: ContentSpec::of(lib.content, &alias, n, 1).len(),
                    created: t,
                    profile: Map::new(),
                },
            );
            ov.new_children.entry(folder).or_default().push(n);
            report.new_documents.push(format!("{alias}!{n}.1"));
        }
    });
    tracing::info!(
        new_versions = report.new_versions.len(),
        profile_edits = report.profile_edits.len(),
        acl_edits = report.acl_edits.len(),
        deletes = report.deletes.len(),
        new_documents = report.new_documents.len(),
        "simulator mutated"
    );
    report
}
