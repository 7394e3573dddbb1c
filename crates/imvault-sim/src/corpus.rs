//! The lazy, seeded base corpus: libraries → workspaces → tabs/folders/search folders →
//! documents → versions. Every object is computed from (seed, library, index) on demand; the
//! only stored state is one small [`LibLayout`] per library, so memory does not grow with scale.
//!
//! Numbering inside a library (all `LIB!<number>`):
//! - workspace `w` is `CONT_BASE + w*SLOTS`; its containers take the `SLOTS-1` numbers after it
//!   (slot `j` = `CONT_BASE + w*SLOTS + j`; unused slots are gaps);
//! - the documents of container slot `g = w*SLOTS + j` are `doc_base + g*cap + k` for
//!   `k < fill(g)` (also with gaps);
//! - objects created later (writes, `mutate`) are numbered from `new_base` upward.

use super::Scale;
use super::content::{ContentParams, FileTraits};
use super::hash::{self, Rng, below, h, pick, tag, unit};
use super::names;
use crate::wire::{AccessLevel, ContainerKind, DefaultSecurity, TrusteeType};

pub const SLOTS: u64 = 32;
pub const CONT_BASE: u64 = 100;
/// 2015-01-01T00:00:00Z: the base corpus lies between this and the end of 2025.
pub const EPOCH_2015: i64 = 1_420_070_400;
/// Every base-corpus date is before this (2026-01-01T00:00:00Z).
pub const BASE_DATES_END: i64 = 1_767_225_600;

const LIB_NAMES: &[&str] = &[
    "ACTIVE",
    "ARCHIVE",
    "RESTRICTED",
    "KNOWLEDGE",
    "LEGACY",
    "HR",
];

/// Where one library's objects live in the number space, and how big it is.
#[derive(Debug, Clone)]
pub struct LibLayout {
    pub index: usize,
    pub alias: String,
    pub lib_hash: u64,
    pub hidden: bool,
    pub n_ws: u64,
    pub cap: u64,
    pub doc_base: u64,
    pub new_base: u64,
    /// Seed and size divisor of the library's file content.
    pub content: ContentParams,
}

impl LibLayout {
    pub fn ws_number(&self, w: u64) -> u64 {
        CONT_BASE + w * SLOTS
    }
    pub fn container_number(&self, w: u64, j: u64) -> u64 {
        CONT_BASE + w * SLOTS + j
    }
    /// (workspace index, slot) of a base container number.
    pub fn container_slot(&self, n: u64) -> Option<(u64, u64)> {
        if n < CONT_BASE || n >= CONT_BASE + self.n_ws * SLOTS {
            return None;
        }
        let off = n - CONT_BASE;
        Some((off / SLOTS, off % SLOTS))
    }
    pub fn doc_end(&self) -> u64 {
        self.doc_base + self.n_ws * SLOTS * self.cap
    }
    pub fn doc_number(&self, g: u64, k: u64) -> u64 {
        self.doc_base + g * self.cap + k
    }
    /// (global slot, index in slot) of a base document number.
    pub fn doc_slot(&self, n: u64) -> Option<(u64, u64)> {
        if n < self.doc_base || n >= self.doc_end() {
            return None;
        }
        let off = n - self.doc_base;
        Some((off / self.cap, off % self.cap))
    }
}

/// One tab, folder or search folder inside a workspace tree.
#[derive(Debug, Clone)]
pub struct Node {
    pub slot: u64,
    /// Parent slot; 0 is the workspace itself.
    pub parent: u64,
    pub kind: ContainerKind,
    pub name: &'static str,
    pub depth: u8,
}

impl Node {
    pub fn holds_documents(&self) -> bool {
        matches!(self.kind, ContainerKind::Folder | ContainerKind::Tab)
    }
}

/// The container tree of one workspace (at most `SLOTS-1` nodes), computed in microseconds.
#[derive(Debug, Clone)]
pub struct WsTree {
    pub w: u64,
    pub nodes: Vec<Node>,
}

impl WsTree {
    pub fn node(&self, slot: u64) -> Option<&Node> {
        self.nodes.iter().find(|n| n.slot == slot)
    }
    pub fn children(&self, parent: u64) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(move |n| n.parent == parent)
    }
    fn holders(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.holds_documents())
    }
    /// The document-holding slot after `slot` (cyclic): where its multi-filed documents also go.
    pub fn next_holder(&self, slot: u64) -> Option<u64> {
        let hs: Vec<u64> = self.holders().map(|n| n.slot).collect();
        if hs.len() < 2 {
            return None;
        }
        let i = hs.iter().position(|&s| s == slot)?;
        Some(hs[(i + 1) % hs.len()])
    }
    pub fn prev_holder(&self, slot: u64) -> Option<u64> {
        let hs: Vec<u64> = self.holders().map(|n| n.slot).collect();
        if hs.len() < 2 {
            return None;
        }
        let i = hs.iter().position(|&s| s == slot)?;
        Some(hs[(i + hs.len() - 1) % hs.len()])
    }
}

/// The whole base corpus: seed plus one layout per library.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub seed: u64,
    pub libs: Vec<LibLayout>,
}

fn cap_for(target: u64) -> u64 {
    match target {
        0..500 => 4,
        500..5_000 => 8,
        5_000..50_000 => 12,
        _ => 24,
    }
}

impl Corpus {
    /// The corpus of `content.seed`. The size divisor of `content` changes file sizes only: the
    /// objects, ids and version counts are those of the full-size corpus.
    pub fn new(content: ContentParams, scale: Scale, libraries: u32) -> Self {
        let seed = content.seed;
        let n = libraries.max(1) as usize;
        let weights: Vec<f64> = (0..n).map(|i| 1.0 / (i as f64 + 1.0)).collect();
        let total_w: f64 = weights.iter().sum();
        let target = scale.target_versions();
        let libs = (0..n)
            .map(|i| {
                let alias = LIB_NAMES
                    .get(i)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| format!("LIB{}", i + 1));
                let t = ((target as f64 * weights[i] / total_w).round() as u64).max(1);
                let mut lay = LibLayout {
                    index: i,
                    lib_hash: hash::str64(&alias),
                    alias,
                    hidden: n > 1 && i == n - 1,
                    n_ws: 1,
                    cap: cap_for(t),
                    doc_base: 0,
                    new_base: 0,
                    content,
                };
                // Measure a sample of workspaces, then size the library to its target.
                let sample = 64u64;
                lay.n_ws = sample;
                lay.doc_base = 1_000_000;
                let per_ws: u64 = (0..sample)
                    .map(|w| count_ws_versions(seed, &lay, w))
                    .sum::<u64>()
                    .max(1);
                lay.n_ws = ((t as f64 * sample as f64 / per_ws as f64).round() as u64).max(1);
                let cont_end = CONT_BASE + lay.n_ws * SLOTS;
                lay.doc_base = (cont_end / 1000 + 1) * 1000;
                lay.new_base = (lay.doc_end() / 1000 + 1) * 1000 + 1000;
                lay
            })
            .collect();
        Self { seed, libs }
    }

    pub fn lib(&self, alias: &str) -> Option<&LibLayout> {
        self.libs.iter().find(|l| l.alias == alias)
    }

    pub fn tree(&self, lib: &LibLayout, w: u64) -> WsTree {
        ws_tree(self.seed, lib, w)
    }

    /// How many base documents container slot `j` of workspace `w` holds.
    pub fn fill_of(seed: u64, lib: &LibLayout, w: u64, j: u64) -> u64 {
        fill(seed, lib, w, j)
    }
}

fn fill(seed: u64, lib: &LibLayout, w: u64, j: u64) -> u64 {
    below(h(seed, &[tag::FILL, lib.lib_hash, w, j]), lib.cap + 1)
}

fn count_ws_versions(seed: u64, lib: &LibLayout, w: u64) -> u64 {
    let tree = ws_tree(seed, lib, w);
    let mut n = 0;
    for node in tree.holders() {
        let g = w * SLOTS + node.slot;
        for k in 0..fill(seed, lib, w, node.slot) {
            let d = BaseDoc::new(seed, lib, lib.doc_number(g, k), w, node.slot);
            n += (1..=d.max_version).filter(|&v| d.has_version(v)).count() as u64;
        }
    }
    n
}

pub fn ws_tree(seed: u64, lib: &LibLayout, w: u64) -> WsTree {
    let mut rng = Rng::new(h(seed, &[tag::TREE, lib.lib_hash, w]));
    let mut nodes = Vec::with_capacity(SLOTS as usize);
    let max_slot = SLOTS - 3;
    let mut slot = 1u64;
    let tab0 = rng.below(names::TABS.len() as u64) as usize;
    let tabs = 2 + rng.below(3);
    let push = |nodes: &mut Vec<Node>, slot: &mut u64, parent, kind, name, depth| {
        if *slot > max_slot {
            return None;
        }
        let s = *slot;
        nodes.push(Node {
            slot: s,
            parent,
            kind,
            name,
            depth,
        });
        *slot += 1;
        Some(s)
    };
    for t in 0..tabs {
        let name = names::TABS[(tab0 + t as usize) % names::TABS.len()];
        let Some(tab) = push(&mut nodes, &mut slot, 0, ContainerKind::Tab, name, 1) else {
            break;
        };
        for _ in 0..rng.below(4) {
            let name = pick(rng.next_u64(), names::FOLDERS);
            let Some(f) = push(&mut nodes, &mut slot, tab, ContainerKind::Folder, name, 2) else {
                break;
            };
            for _ in 0..rng.below(3) {
                let name = pick(rng.next_u64(), names::FOLDERS);
                let Some(sf) = push(&mut nodes, &mut slot, f, ContainerKind::Folder, name, 3)
                else {
                    break;
                };
                if rng.chance(0.3) {
                    let name = pick(rng.next_u64(), names::FOLDERS);
                    push(&mut nodes, &mut slot, sf, ContainerKind::Folder, name, 4);
                }
            }
        }
    }
    let top_folder = rng.chance(0.3);
    let search = rng.chance(0.5);
    if top_folder {
        let name = pick(rng.next_u64(), names::FOLDERS);
        nodes.push(Node {
            slot: SLOTS - 2,
            parent: 0,
            kind: ContainerKind::Folder,
            name,
            depth: 1,
        });
    }
    if search {
        nodes.push(Node {
            slot: SLOTS - 1,
            parent: 0,
            kind: ContainerKind::SearchFolder,
            name: "Saved search: recent agreements",
            depth: 1,
        });
    }
    WsTree { w, nodes }
}

/// Base properties of one workspace.
#[derive(Debug, Clone)]
pub struct BaseWorkspace {
    pub client: &'static str,
    pub matter: &'static str,
    pub client_code: String,
    pub matter_code: String,
}

impl BaseWorkspace {
    pub fn new(seed: u64, lib: &LibLayout, w: u64) -> Self {
        let x = |k| h(seed, &[tag::WS, lib.lib_hash, w, k]);
        let ci = below(x(1), names::CLIENTS.len() as u64 * 4);
        Self {
            client: names::CLIENTS[(ci % names::CLIENTS.len() as u64) as usize],
            matter: pick(x(2), names::MATTERS),
            client_code: format!("C{:05}", ci + 1),
            matter_code: format!("M{:05}.{:03}", ci + 1, w % 1000),
        }
    }
}

/// Creation and edit time of a base container (Unix seconds).
pub fn container_dates(seed: u64, lib: &LibLayout, number: u64) -> (i64, i64) {
    let x = |k| h(seed, &[tag::CONTAINER, lib.lib_hash, number, k]);
    let create = EPOCH_2015 + below(x(1), 8 * 365 * 86_400) as i64;
    (create, create + below(x(2), 365 * 86_400) as i64)
}

pub fn container_owner(seed: u64, lib: &LibLayout, number: u64) -> &'static str {
    pick(
        h(seed, &[tag::CONTAINER, lib.lib_hash, number, 3]),
        names::USERS,
    )
    .0
}

/// Base properties of one document (every version).
#[derive(Debug, Clone)]
pub struct BaseDoc {
    pub number: u64,
    pub w: u64,
    pub slot: u64,
    pub traits: FileTraits,
    pub max_version: u32,
    pub title: &'static str,
    pub author: &'static str,
    pub operator: &'static str,
    pub class: (&'static str, &'static str),
    pub create: i64,
    pub declared: bool,
    pub multi_filed: bool,
    x: [u64; 4],
}

impl BaseDoc {
    pub fn new(seed: u64, lib: &LibLayout, number: u64, w: u64, slot: u64) -> Self {
        let x = |k: u64| h(seed, &[tag::VERSION, lib.lib_hash, number, k]);
        let traits = FileTraits::of(lib.content, &lib.alias, number);
        let u = unit(x(1));
        let max_version = if u < 0.55 {
            1
        } else if u < 0.75 {
            2
        } else if u < 0.87 {
            3
        } else if u < 0.94 {
            4
        } else if u < 0.98 {
            5 + below(x(2), 4) as u32
        } else {
            9 + below(x(2), 7) as u32
        };
        let title = if traits.email {
            pick(x(3), names::EMAIL_SUBJECTS)
        } else {
            pick(x(3), names::DOC_TITLES)
        };
        Self {
            number,
            w,
            slot,
            max_version,
            title,
            author: pick(x(4), names::USERS).0,
            operator: pick(x(5), names::USERS).0,
            class: pick(x(6), names::CLASSES),
            create: EPOCH_2015 + below(x(7), 9 * 365 * 86_400) as i64,
            declared: unit(x(8)) < 0.05,
            multi_filed: unit(x(9)) < 0.08,
            traits,
            x: [x(10), x(11), x(12), x(13)],
        }
    }

    /// Versions below the latest are missing now and then (a deleted version leaves a gap).
    pub fn has_version(&self, v: u32) -> bool {
        v >= 1
            && v <= self.max_version
            && (v == self.max_version || below(hash::mix(self.x[0] ^ v as u64), 10) != 0)
    }

    /// (edit_date, edit_profile_date) of base version `v`.
    pub fn version_dates(&self, v: u32) -> (i64, i64) {
        let mut t = self.create + below(self.x[1], 3600) as i64;
        for i in 2..=v as u64 {
            t += 3600 + below(hash::mix(self.x[1] ^ i), 30 * 86_400) as i64;
        }
        let pe = hash::mix(self.x[2] ^ v as u64);
        let profile = if unit(pe) < 0.3 {
            t + below(hash::mix(pe), 5 * 86_400) as i64
        } else {
            t
        };
        (t, profile)
    }

    pub fn hash(&self, k: u64) -> u64 {
        hash::mix(self.x[3] ^ k)
    }
}

/// The base ACL of one object: default security plus trustees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseAcl {
    pub default_security: DefaultSecurity,
    pub entries: Vec<(&'static str, TrusteeType, AccessLevel)>,
}

/// `object` is 0 for documents, 1 for workspaces, 2 for other containers.
pub fn base_acl(seed: u64, lib: &LibLayout, object: u64, number: u64) -> BaseAcl {
    let mut rng = Rng::new(h(seed, &[tag::ACL, lib.lib_hash, object, number]));
    let u = rng.below(100);
    let default_security = match object {
        2 if u < 40 => DefaultSecurity::Inherit,
        2 if u < 55 => DefaultSecurity::Public,
        2 if u < 75 => DefaultSecurity::View,
        2 => DefaultSecurity::Private,
        _ if u < 25 => DefaultSecurity::Public,
        _ if u < 55 => DefaultSecurity::View,
        _ => DefaultSecurity::Private,
    };
    let n = rng.below(4) + u64::from(default_security == DefaultSecurity::Private);
    let mut entries: Vec<(&'static str, TrusteeType, AccessLevel)> = Vec::new();
    for _ in 0..n {
        let (id, tt) = if rng.chance(0.5) {
            (pick(rng.next_u64(), names::USERS).0, TrusteeType::User)
        } else {
            (pick(rng.next_u64(), names::GROUPS).0, TrusteeType::Group)
        };
        if entries.iter().any(|e| e.0 == id) {
            continue;
        }
        let level = if rng.chance(0.05) {
            AccessLevel::NoAccess
        } else {
            AccessLevel::from_code(1 + rng.below(3) as u8).unwrap_or(AccessLevel::Read)
        };
        entries.push((id, tt, level));
    }
    BaseAcl {
        default_security,
        entries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slow in a debug build: `cargo test --lib large_has -- --ignored`.
    #[test]
    #[ignore = "slow in a debug build (generates 1M versions): run with --ignored"]
    fn large_has_a_million_versions() {
        for seed in [1, 2] {
            let c = Corpus::new(seed.into(), Scale::Large, 3);
            let n: u64 = c
                .libs
                .iter()
                .flat_map(|l| (0..l.n_ws).map(move |w| count_ws_versions(seed, l, w)))
                .sum();
            eprintln!("seed {seed}: {n} versions");
            assert!(n >= 1_000_000, "{n}");
        }
    }

    #[test]
    fn layout_hits_target_roughly() {
        let c = Corpus::new(1.into(), Scale::Small, 3);
        let mut total = 0;
        for lib in &c.libs {
            for w in 0..lib.n_ws {
                total += count_ws_versions(1, lib, w);
            }
        }
        assert!((1400..2800).contains(&total), "{total}");
        assert!(c.libs[2].hidden && !c.libs[0].hidden);
        let tiny = Corpus::new(1.into(), Scale::Tiny, 3);
        let n: u64 = tiny
            .libs
            .iter()
            .flat_map(|l| (0..l.n_ws).map(move |w| count_ws_versions(1, l, w)))
            .sum();
        assert!((50..200).contains(&n), "{n}");
        assert!(
            c.libs
                .iter()
                .all(|l| l.doc_base >= CONT_BASE + l.n_ws * SLOTS)
        );
    }
}
