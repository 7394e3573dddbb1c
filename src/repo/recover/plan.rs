//! What `recover --as-of TIME` removes, decided from a listing of every object version and
//! delete marker under the repository prefix: a pure function of the listing and TIME
//! (docs/FORMAT.md, "Recovery after an attack").
//!
//! Each key is classified by the repository layout ([`KeyKind::of`]); a key that is not one of
//! imvault's is left alone, whatever happened to it. For imvault's keys:
//!
//! - **as of TIME** (config, packs, index, snapshots, checkpoints, marks): every version and
//!   delete marker written after TIME is removed, so the key's current version is the one that
//!   was current at TIME; a key created after TIME disappears;
//! - **append-only records** (key slots, audit records, legal holds): imvault creates them once
//!   and never overwrites them, so one created after TIME (a hold placed, an action audited, a
//!   password added since) keeps its first version and loses only what came after it; one
//!   that existed at TIME is brought back as it was then;
//! - **the maintenance lock** is left alone: recover holds it while it works.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One version (or delete marker) of one key, as `ListObjectVersions` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    /// The key relative to the repository prefix (`packs/ab/ab…`).
    pub key: String,
    pub version_id: String,
    /// The storage's time of the write (S3 `LastModified`, often to the second).
    pub last_modified: DateTime<Utc>,
    pub delete_marker: bool,
    /// S3's `IsLatest`: this is the key's current version (or marker).
    pub latest: bool,
    pub size: u64,
}

/// The kinds of key imvault writes (docs/FORMAT.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    Config,
    KeySlot,
    Pack,
    Index,
    Checkpoint,
    Snapshot,
    Hold,
    Marks,
    Audit,
    Lock,
}

/// How recover treats a kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The key as it was at TIME.
    AsOf,
    /// As at TIME; a key created after TIME keeps its first version.
    AppendOnly,
    /// Never touched.
    Leave,
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl KeyKind {
    pub const ALL: [KeyKind; 10] = [
        Self::Config,
        Self::KeySlot,
        Self::Pack,
        Self::Index,
        Self::Checkpoint,
        Self::Snapshot,
        Self::Hold,
        Self::Marks,
        Self::Audit,
        Self::Lock,
    ];

    /// The kind of a repository key, `None` for a key imvault does not write.
    pub fn of(key: &str) -> Option<Self> {
        let parts: Vec<&str> = key.split('/').collect();
        match parts.as_slice() {
            ["config"] => Some(Self::Config),
            ["keys", h] if is_hex(h, 64) => Some(Self::KeySlot),
            ["packs", p, h] if is_hex(h, 64) && h.starts_with(p) && p.len() == 2 => {
                Some(Self::Pack)
            }
            ["index", h] if is_hex(h, 64) => Some(Self::Index),
            ["snapshots", h] if is_hex(h, 64) => Some(Self::Snapshot),
            ["checkpoints", tag, h] if is_hex(tag, 32) && is_hex(h, 64) => Some(Self::Checkpoint),
            ["marks", h] if is_hex(h, 64) => Some(Self::Marks),
            ["holds", h] if is_hex(h, 64) => Some(Self::Hold),
            ["locks", "maintenance"] => Some(Self::Lock),
            ["audit", w, seq]
                if is_hex(w, 32) && seq.len() == 16 && seq.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(Self::Audit)
            }
            _ => None,
        }
    }

    pub const fn policy(self) -> Policy {
        match self {
            Self::Config
            | Self::Pack
            | Self::Index
            | Self::Checkpoint
            | Self::Snapshot
            | Self::Marks => Policy::AsOf,
            Self::KeySlot | Self::Hold | Self::Audit => Policy::AppendOnly,
            Self::Lock => Policy::Leave,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::KeySlot => "key_slot",
            Self::Pack => "pack",
            Self::Index => "index",
            Self::Checkpoint => "checkpoint",
            Self::Snapshot => "snapshot",
            Self::Hold => "hold",
            Self::Marks => "marks",
            Self::Audit => "audit",
            Self::Lock => "lock",
        }
    }

    /// The order in which keys brought back are recovered: what others need first (the
    /// repository's identity, then data before what names it).
    fn restore_rank(self) -> u8 {
        match self {
            Self::Config => 0,
            Self::KeySlot => 1,
            Self::Pack => 2,
            Self::Index => 3,
            Self::Checkpoint => 4,
            Self::Snapshot => 5,
            Self::Hold => 6,
            Self::Marks => 7,
            Self::Audit => 8,
            Self::Lock => 9,
        }
    }
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyOutcome {
    /// Its current version becomes the one of TIME (it was deleted or overwritten since).
    Restored,
    /// It did not exist at TIME (or was deleted by then): it disappears.
    Removed,
    /// Delete markers or versions are removed, its current state stays (e.g. an attacker's
    /// markers on a key already deleted at TIME).
    Cleaned,
}

/// One entry to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub version_id: String,
    pub delete_marker: bool,
}

/// What recover does to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAction {
    pub key: String,
    pub kind: KeyKind,
    /// Newest first: the key walks back one version at a time.
    pub remove: Vec<Removal>,
    pub outcome: KeyOutcome,
    /// The version that is current once `remove` is done (`None`: the key ends deleted).
    pub current_after: Option<String>,
}

/// Figures of one kind of key (or of all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindFigures {
    pub markers_removed: u64,
    pub versions_removed: u64,
    pub keys_restored: u64,
    pub keys_removed: u64,
    /// Keys of this kind already as they were at TIME.
    pub keys_unchanged: u64,
}

impl KindFigures {
    pub fn add(&mut self, o: &KindFigures) {
        self.markers_removed += o.markers_removed;
        self.versions_removed += o.versions_removed;
        self.keys_restored += o.keys_restored;
        self.keys_removed += o.keys_removed;
        self.keys_unchanged += o.keys_unchanged;
    }
}

/// The whole plan: actions in the order they are to be done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<KeyAction>,
    /// Keys under the prefix that are not imvault's (never touched), sorted.
    pub left_alone: Vec<String>,
    /// Keys of a kind recover never touches (the maintenance lock).
    pub skipped: Vec<String>,
    pub figures: BTreeMap<KeyKind, KindFigures>,
}

impl Plan {
    pub fn totals(&self) -> KindFigures {
        let mut t = KindFigures::default();
        for f in self.figures.values() {
            t.add(f);
        }
        t
    }
}

/// Decides what `recover --as-of as_of` removes. `listing` holds every version and delete
/// marker under the prefix; within one key, versions come newest first (S3's order) and so
/// do markers (S3 lists them apart, so their order relative to versions is only known from
/// `last_modified` and `latest`).
pub fn plan(listing: Vec<ObjectVersion>, as_of: DateTime<Utc>) -> Plan {
    let mut by_key: BTreeMap<String, Vec<ObjectVersion>> = BTreeMap::new();
    for v in listing {
        by_key.entry(v.key.clone()).or_default().push(v);
    }
    let mut plan = Plan::default();
    for k in KeyKind::ALL {
        plan.figures.insert(k, KindFigures::default());
    }
    for (key, entries) in by_key {
        let Some(kind) = KeyKind::of(&key) else {
            plan.left_alone.push(key);
            continue;
        };
        let figures = plan.figures.entry(kind).or_default();
        let remove: Vec<&ObjectVersion> = match kind.policy() {
            Policy::Leave => {
                plan.skipped.push(key);
                continue;
            }
            Policy::AsOf => entries.iter().filter(|e| e.last_modified > as_of).collect(),
            Policy::AppendOnly => {
                if entries.iter().any(|e| e.last_modified <= as_of) {
                    entries.iter().filter(|e| e.last_modified > as_of).collect()
                } else {
                    // Created after TIME: its first version stays.
                    let first = entries.iter().rev().find(|e| !e.delete_marker);
                    entries
                        .iter()
                        .filter(|e| first.is_none_or(|f| f.version_id != e.version_id))
                        .collect()
                }
            }
        };
        if remove.is_empty() {
            figures.keys_unchanged += 1;
            continue;
        }
        let live_now = entries.iter().any(|e| e.latest && !e.delete_marker);
        let kept: Vec<&ObjectVersion> = entries
            .iter()
            .filter(|e| !remove.iter().any(|r| r.version_id == e.version_id))
            .collect();
        let current_after = current(&kept)
            .filter(|e| !e.delete_marker)
            .map(|e| e.version_id.clone());
        let live_after = current_after.is_some();
        let outcome = match (live_now, live_after) {
            (_, true) => KeyOutcome::Restored,
            (true, false) => KeyOutcome::Removed,
            (false, false) => KeyOutcome::Cleaned,
        };
        let mut remove: Vec<Removal> = remove
            .into_iter()
            .map(|e| Removal {
                version_id: e.version_id.clone(),
                delete_marker: e.delete_marker,
            })
            .collect();
        // The current entry first, then older ones: markers and versions by time.
        let time_of = |r: &Removal| {
            entries
                .iter()
                .find(|e| e.version_id == r.version_id)
                .map(|e| (e.latest, e.last_modified))
        };
        remove.sort_by_key(|r| std::cmp::Reverse(time_of(r)));
        for r in &remove {
            match r.delete_marker {
                true => figures.markers_removed += 1,
                false => figures.versions_removed += 1,
            }
        }
        match outcome {
            KeyOutcome::Restored => figures.keys_restored += 1,
            KeyOutcome::Removed => figures.keys_removed += 1,
            KeyOutcome::Cleaned => figures.keys_unchanged += 1,
        }
        plan.actions.push(KeyAction {
            key,
            kind,
            remove,
            outcome,
            current_after,
        });
    }
    // Keys brought back: the repository's identity first, then data before what names it.
    // Keys that disappear: in the opposite order (snapshots before the index and packs they
    // name), after every key brought back. An interrupted recover thus leaves what a crashed
    // writer leaves (FORMAT.md §10), and running it again finishes the work.
    plan.actions.sort_by_key(|a| match a.outcome {
        KeyOutcome::Removed => (1, 9 - a.kind.restore_rank()),
        _ => (0, a.kind.restore_rank()),
    });
    plan
}

/// The version each key of `listing` will have as its current one once `plan` is done (keys
/// that will be deleted or are not imvault's are left out): `(key, version id)`.
pub fn current_after(listing: &[ObjectVersion], plan: &Plan) -> Vec<(String, String)> {
    let removed: std::collections::HashSet<(&str, &str)> = plan
        .actions
        .iter()
        .flat_map(|a| {
            a.remove
                .iter()
                .map(|r| (a.key.as_str(), r.version_id.as_str()))
        })
        .collect();
    let mut by_key: BTreeMap<&str, Vec<&ObjectVersion>> = BTreeMap::new();
    for v in listing {
        if KeyKind::of(&v.key).is_some()
            && !removed.contains(&(v.key.as_str(), v.version_id.as_str()))
        {
            by_key.entry(v.key.as_str()).or_default().push(v);
        }
    }
    by_key
        .into_iter()
        .filter_map(|(k, kept)| {
            // Once newer entries are removed, the newest remaining one is current.
            let cur = current(&kept)?;
            (!cur.delete_marker).then(|| (k.to_string(), cur.version_id.clone()))
        })
        .collect()
}

/// The current entry among `entries` (of one key): the one S3 marks latest if present, else
/// the newest by time (a version before a marker of the same second: S3 orders them, the
/// listing does not say how, and this is only used for reporting).
fn current<'a>(entries: &[&'a ObjectVersion]) -> Option<&'a ObjectVersion> {
    if let Some(l) = entries.iter().find(|e| e.latest) {
        return Some(l);
    }
    entries
        .iter()
        .copied()
        .max_by_key(|e| (e.last_modified, e.delete_marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H64: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn t(s: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + i64::from(s), 0).unwrap()
    }

    /// Entries of `key`, newest first, each `(id, second, marker)`; the first is latest.
    fn key(key: &str, entries: &[(&str, u32, bool)]) -> Vec<ObjectVersion> {
        entries
            .iter()
            .enumerate()
            .map(|(i, (id, s, m))| ObjectVersion {
                key: key.into(),
                version_id: (*id).into(),
                last_modified: t(*s),
                delete_marker: *m,
                latest: i == 0,
                size: 1,
            })
            .collect()
    }

    fn pack() -> String {
        format!("packs/00/{H64}")
    }

    fn ids(a: &KeyAction) -> Vec<&str> {
        a.remove.iter().map(|r| r.version_id.as_str()).collect()
    }

    #[test]
    fn keys_are_classified_by_the_layout_and_nothing_else() {
        assert_eq!(KeyKind::of("config"), Some(KeyKind::Config));
        assert_eq!(KeyKind::of(&pack()), Some(KeyKind::Pack));
        assert_eq!(KeyKind::of(&format!("packs/01/{H64}")), None);
        assert_eq!(KeyKind::of(&format!("index/{H64}")), Some(KeyKind::Index));
        assert_eq!(
            KeyKind::of(&format!("snapshots/{H64}")),
            Some(KeyKind::Snapshot)
        );
        assert_eq!(
            KeyKind::of(&format!("checkpoints/{}/{H64}", &H64[..32])),
            Some(KeyKind::Checkpoint)
        );
        assert_eq!(KeyKind::of(&format!("marks/{H64}")), Some(KeyKind::Marks));
        assert_eq!(KeyKind::of(&format!("holds/{H64}")), Some(KeyKind::Hold));
        assert_eq!(KeyKind::of(&format!("keys/{H64}")), Some(KeyKind::KeySlot));
        assert_eq!(KeyKind::of("locks/maintenance"), Some(KeyKind::Lock));
        assert_eq!(
            KeyKind::of(&format!("audit/{}/0000000000000007", &H64[..32])),
            Some(KeyKind::Audit)
        );
        for foreign in [
            "config.bak",
            "README",
            &format!("snapshots/{}", H64.to_uppercase()),
            &format!("snapshots/{H64}/x"),
            &format!("index/{}", &H64[..63]),
            "locks/other",
            &format!("audit/{}/7", &H64[..32]),
            "ransom-note.txt",
        ] {
            assert_eq!(KeyKind::of(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn deleted_and_overwritten_keys_come_back_as_of_the_time() {
        let snap = format!("snapshots/{H64}");
        let mut l = key(&pack(), &[("m1", 20, true), ("v1", 5, false)]);
        l.extend(key(
            &snap,
            &[("m2", 21, true), ("x2", 20, false), ("v2", 6, false)],
        ));
        let p = plan(l, t(10));
        assert_eq!(p.actions.len(), 2);
        assert!(p.actions.iter().all(|a| a.outcome == KeyOutcome::Restored));
        // The pack (data) before the snapshot that names it.
        assert_eq!(p.actions[0].kind, KeyKind::Pack);
        assert_eq!(ids(&p.actions[0]), ["m1"]);
        assert_eq!(ids(&p.actions[1]), ["m2", "x2"]);
        assert_eq!(p.actions[1].current_after.as_deref(), Some("v2"));
        let all = p.totals();
        assert_eq!(
            (all.markers_removed, all.versions_removed, all.keys_restored),
            (2, 1, 2)
        );
        assert_eq!(p.figures[&KeyKind::Snapshot].versions_removed, 1);
    }

    #[test]
    fn keys_created_after_the_time_disappear_snapshots_before_their_data() {
        let snap = format!("snapshots/{H64}");
        let idx = format!("index/{H64}");
        let mut l = key(&pack(), &[("p", 30, false)]);
        l.extend(key(&idx, &[("i", 31, false)]));
        l.extend(key(&snap, &[("s", 32, false)]));
        let p = plan(l, t(10));
        let order: Vec<KeyKind> = p.actions.iter().map(|a| a.kind).collect();
        assert_eq!(order, [KeyKind::Snapshot, KeyKind::Index, KeyKind::Pack]);
        assert!(p.actions.iter().all(|a| a.outcome == KeyOutcome::Removed));
        assert_eq!(p.totals().keys_removed, 3);
    }

    #[test]
    fn what_was_current_at_the_time_is_untouched_and_older_history_too() {
        // Deleted by prune before TIME: stays deleted; unchanged since: nothing to do.
        let idx = format!("index/{H64}");
        let mut l = key(&pack(), &[("m", 8, true), ("v", 2, false)]);
        l.extend(key(&idx, &[("i", 3, false)]));
        let p = plan(l, t(10));
        assert!(p.actions.is_empty());
        assert_eq!(p.totals().keys_unchanged, 2);
        // An attacker's marker on a key prune deleted before TIME: removed, still deleted.
        let l = key(
            &pack(),
            &[("m2", 20, true), ("m", 8, true), ("v", 2, false)],
        );
        let p = plan(l, t(10));
        assert_eq!(p.actions[0].outcome, KeyOutcome::Cleaned);
        assert_eq!(ids(&p.actions[0]), ["m2"]);
    }

    #[test]
    fn a_write_in_the_same_second_as_the_time_counts_as_before_it() {
        let l = key(&pack(), &[("m", 11, true), ("v", 10, false)]);
        let p = plan(l, t(10));
        assert_eq!(ids(&p.actions[0]), ["m"]);
    }

    #[test]
    fn append_only_records_created_later_keep_their_first_version() {
        let audit = format!("audit/{}/0000000000000009", &H64[..32]);
        let hold = format!("holds/{H64}");
        let slot = format!("keys/{H64}");
        let mut l = key(
            &audit,
            &[("m", 40, true), ("x", 35, false), ("a", 30, false)],
        );
        l.extend(key(&hold, &[("h", 30, false)]));
        // A slot that existed at TIME and was deleted since comes back.
        l.extend(key(&slot, &[("m3", 40, true), ("k", 1, false)]));
        let p = plan(l, t(10));
        assert_eq!(p.actions.len(), 2, "{:?}", p.actions);
        let a = p.actions.iter().find(|a| a.kind == KeyKind::Audit).unwrap();
        assert_eq!(ids(a), ["m", "x"]);
        assert_eq!(a.outcome, KeyOutcome::Restored);
        let s = p
            .actions
            .iter()
            .find(|a| a.kind == KeyKind::KeySlot)
            .unwrap();
        assert_eq!(ids(s), ["m3"]);
        assert_eq!(p.figures[&KeyKind::Hold].keys_unchanged, 1);
    }

    #[test]
    fn foreign_keys_and_the_lock_are_never_touched() {
        let mut l = key("ransom-note.txt", &[("r", 50, false)]);
        l.extend(key("config.bak", &[("m", 50, true), ("c", 1, false)]));
        l.extend(key(
            "locks/maintenance",
            &[("l", 50, false), ("l0", 1, false)],
        ));
        let p = plan(l, t(10));
        assert!(p.actions.is_empty());
        assert_eq!(p.left_alone, ["config.bak", "ransom-note.txt"]);
        assert_eq!(p.skipped, ["locks/maintenance"]);
    }
}
