//! The index: blob id → (pack, offset, stored length, raw length).
//!
//! Index objects (`file.rs`) are `"IMVIDX01" || zstd(body)` (layout in docs/FORMAT.md, "Index
//! format"), named by the BLAKE3 of their bytes. [`write_index`] takes only [`PackReceipt`]s,
//! so an index never names a pack the backend has not accepted; it returns an
//! [`IndexWritten`] token that the snapshot writer requires.
//!
//! Loaded entries live on disk, sorted, in an unnamed temporary file (`table`: 32 bytes of
//! memory per 81 blobs), plus a hash map in memory for blobs indexed by this process since the
//! load, folded into a recent table once it holds [`FOLD_AT`] blobs, which is folded into the
//! main one once large ([`RECENT_MAX`]): memory does not grow with the repository.

mod file;
mod table;

pub use file::{
    INDEX_MAGIC, IndexFile, IndexWritten, decode_index, encode_index, encode_index_of,
    max_index_body, write_index,
};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::repo::backend::{self, keys};
use crate::repo::blob::{BlobKind, Compression};
use crate::repo::error::{RepoError, Result};
use crate::repo::id::{BlobId, IndexId, PackId};
use crate::repo::objects::{ObjectKind, Objects};
use crate::repo::pack::{PackEntry, PackReceipt};

/// Where one blob is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BlobLocation {
    pub pack: PackId,
    pub kind: BlobKind,
    pub compression: Compression,
    pub offset: u32,
    pub stored_len: u32,
    pub raw_len: u32,
}

impl BlobLocation {
    /// What it takes to decode blob `id` stored here ([`crate::repo::blob::decode`]).
    pub fn stored(&self, id: BlobId) -> crate::repo::blob::StoredBlob {
        crate::repo::blob::StoredBlob {
            id,
            pack: self.pack,
            kind: self.kind,
            compression: self.compression,
            raw_len: self.raw_len,
        }
    }
}

use table::{Builder, Slot, Table};

/// Blobs indexed since the load kept in memory before they are folded into the recent table
/// (a hash map of ~6 MB; its growth doubles it for a moment).
pub const FOLD_AT: usize = 65_536;
/// The recent table is folded into the main one once it holds this many blobs, or a quarter
/// of the main one if that is more: each blob is rewritten a few times, not once per fold.
pub const RECENT_MAX: u64 = 1 << 20;

struct Inner {
    packs: Vec<PackId>,
    pack_pos: HashMap<PackId, u32>,
    /// The loaded entries (and folded additions), one per blob, on disk.
    table: Table,
    /// Additions folded since the last fold into `table`, on disk.
    recent: Table,
    /// Additions not folded yet.
    added: HashMap<BlobId, Slot>,
    /// Where the table's temporary files go.
    dir: PathBuf,
    /// [`FOLD_AT`] and [`RECENT_MAX`] (smaller in tests).
    fold_at: usize,
    recent_max: u64,
    /// Packs a prune has marked for deletion (by pack number): readable, but not used for
    /// deduplication (docs/FORMAT.md, "Prune marks").
    marked: std::collections::HashSet<u32>,
    /// Packs the index names that the store does not hold (lost data, see
    /// [`Index::note_lost_packs`]): not read, not used for deduplication.
    lost: std::collections::HashSet<u32>,
}

impl Default for Inner {
    fn default() -> Self {
        Self::new(std::env::temp_dir())
    }
}

impl Inner {
    fn new(dir: PathBuf) -> Self {
        Self {
            packs: Vec::new(),
            pack_pos: HashMap::new(),
            table: Table::default(),
            recent: Table::default(),
            added: HashMap::new(),
            dir,
            fold_at: FOLD_AT,
            recent_max: RECENT_MAX,
            marked: Default::default(),
            lost: Default::default(),
        }
    }

    /// Lower is better: a copy in a pack that exists, then one in an unmarked pack.
    fn rank(&self, s: &Slot) -> (bool, bool) {
        (self.lost.contains(&s.pack), self.marked.contains(&s.pack))
    }

    /// The table's record of `id`. The table is a private file of this process: failing to
    /// read it back is logged and the blob counts as not indexed (a backup stores it again; a
    /// read of it fails naming the blob).
    fn table_get(&self, table: &Table, id: &BlobId) -> Option<Slot> {
        match table.get(&id.0) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(blob = %id, dir = %self.dir.display(), error = %e, "cannot read the index's temporary file");
                None
            }
        }
    }

    /// Folds `added` into `recent`, and `recent` into `table` once it is large.
    fn fold(&mut self) -> std::io::Result<()> {
        let mut batch: Vec<Slot> = self.added.values().copied().collect();
        batch.sort_unstable_by_key(|s| s.id);
        let rank = |s: &Slot| self.rank(s);
        let recent = self
            .recent
            .merged(&self.dir, batch.into_iter().map(Ok), &rank)?;
        let table = if recent.len() >= self.recent_max.max(self.table.len() / 4) {
            Some(self.table.merged(&self.dir, recent.iter(), &rank)?)
        } else {
            None
        };
        self.added = HashMap::new();
        match table {
            Some(t) => {
                self.table = t;
                self.recent = Table::default();
            }
            None => self.recent = recent,
        }
        Ok(())
    }

    fn pack_no(&mut self, id: PackId) -> u32 {
        if let Some(n) = self.pack_pos.get(&id) {
            return *n;
        }
        let n = self.packs.len() as u32;
        self.packs.push(id);
        self.pack_pos.insert(id, n);
        n
    }
    fn slot(&self, id: &BlobId) -> Option<Slot> {
        let loaded = self.table_get(&self.table, id);
        if let Some(s) = loaded
            && !self.marked.contains(&s.pack)
            && !self.lost.contains(&s.pack)
        {
            return Some(s);
        }
        // A copy written since the load beats one in a pack marked for deletion or lost.
        let session = match self.added.get(id) {
            Some(a) => Some(*a),
            None if self.recent.is_empty() => None,
            None => self.table_get(&self.recent, id),
        };
        session.or(loaded)
    }
    fn is_live(&self, id: &BlobId) -> bool {
        self.slot(id)
            .is_some_and(|s| !self.marked.contains(&s.pack) && !self.lost.contains(&s.pack))
    }
    fn is_stored(&self, id: &BlobId) -> bool {
        self.slot(id).is_some_and(|s| !self.lost.contains(&s.pack))
    }
    fn location(&self, s: &Slot) -> BlobLocation {
        BlobLocation {
            pack: self.packs[s.pack as usize],
            kind: BlobKind::from_u8(s.kind).unwrap_or(BlobKind::Data),
            compression: Compression::from_u8(s.compression).unwrap_or(Compression::None),
            offset: s.offset,
            stored_len: s.stored_len,
            raw_len: s.raw_len,
        }
    }
}

fn slot_of(pack: u32, e: &PackEntry) -> Slot {
    Slot {
        id: e.id.0,
        pack,
        offset: e.offset,
        stored_len: e.stored_len,
        raw_len: e.raw_len,
        kind: e.kind as u8,
        compression: e.compression as u8,
    }
}

/// Index totals, for `stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IndexTotals {
    pub blobs: u64,
    pub data_blobs: u64,
    pub meta_blobs: u64,
    pub packs: u64,
    /// Sum of uncompressed blob lengths (unique content).
    pub raw_bytes: u64,
    /// Sum of stored (possibly compressed) blob lengths.
    pub stored_bytes: u64,
}

/// The in-memory index, shared by readers and writers of one repository handle.
#[derive(Default)]
pub struct Index {
    inner: RwLock<Inner>,
}

impl Index {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn contains(&self, id: &BlobId) -> bool {
        self.read().slot(id).is_some()
    }

    /// Whether a writer may deduplicate against this blob: it is indexed in a pack that no
    /// prune has marked for deletion.
    pub fn contains_live(&self, id: &BlobId) -> bool {
        self.read().is_live(id)
    }

    /// Whether every blob of `blobs` is indexed in a pack the store holds (as far as the last
    /// [`Index::note_lost_packs`] knows): content a new snapshot may reference as it is.
    pub fn holds_all(&self, blobs: &[BlobId]) -> bool {
        let g = self.read();
        blobs.iter().all(|b| g.is_stored(b))
    }

    /// Records which packs the index names that are not in `existing` (the store's listing):
    /// their blobs count as missing (stored again when met, never deduplicated against).
    /// Returns those packs.
    pub fn note_lost_packs(&self, existing: &std::collections::HashSet<PackId>) -> Vec<PackId> {
        let mut g = self.write();
        let g = &mut *g;
        let mut lost = Vec::new();
        for (n, p) in g.packs.iter().enumerate() {
            if !existing.contains(p) {
                g.lost.insert(n as u32);
                lost.push(*p);
            }
        }
        lost
    }

    /// Number of packs marked for deletion when the index was loaded.
    pub fn marked_packs(&self) -> usize {
        self.read().marked.len()
    }

    pub fn get(&self, id: &BlobId) -> Option<BlobLocation> {
        let g = self.read();
        g.slot(id).map(|s| g.location(&s))
    }

    pub fn len(&self) -> usize {
        let g = self.read();
        (g.table.len() + g.recent.len()) as usize + g.added.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate heap bytes held by the index.
    pub fn memory_bytes(&self) -> usize {
        let g = self.read();
        g.table.memory_bytes()
            + g.recent.memory_bytes()
            + g.packs.capacity() * 32
            + g.pack_pos.capacity() * (32 + 4 + 8)
            + g.added.capacity() * (32 + std::mem::size_of::<Slot>() + 8)
    }

    /// Records the blobs of durable, indexed packs (after [`write_index`]).
    pub fn add_written(&self, written: &IndexWritten, receipts: &[PackReceipt]) {
        debug_assert_eq!(written.packs as usize, receipts.len());
        let mut g = self.write();
        for r in receipts {
            let n = g.pack_no(r.id());
            // A pack written again under the id of a lost one is there now.
            g.lost.remove(&n);
            for e in r.entries() {
                if !g.is_live(&e.id) {
                    g.added.insert(e.id, slot_of(n, e));
                }
            }
        }
        // Memory stays flat in long sessions: the hash map is folded into the recent table on
        // disk once it holds FOLD_AT blobs, the recent table into the main one once it is large.
        if g.added.len() >= g.fold_at {
            let g = &mut *g;
            if let Err(e) = g.fold() {
                // Kept in memory: correct, only larger; tried again at the next pack.
                tracing::warn!(dir = %g.dir.display(), error = %e, "cannot fold new index entries into the index's temporary files; keeping them in memory");
            }
        }
    }

    pub fn totals(&self) -> Result<IndexTotals> {
        let g = self.read();
        let mut t = IndexTotals {
            packs: g.packs.len() as u64,
            ..Default::default()
        };
        let table = g.table.iter().chain(g.recent.iter()).map(|r| {
            r.map_err(|source| RepoError::ScratchFile {
                action: "reading the index",
                dir: g.dir.clone(),
                source,
            })
        });
        for s in table.chain(g.added.values().map(|s| Ok(*s))) {
            let s = s?;
            t.blobs += 1;
            if s.kind == BlobKind::Meta as u8 {
                t.meta_blobs += 1;
            } else {
                t.data_blobs += 1;
            }
            t.raw_bytes += s.raw_len as u64;
            t.stored_bytes += s.stored_len as u64;
        }
        Ok(t)
    }

    /// Loads every `index/` object (several GETs in flight), verifying each against its name,
    /// into a table whose temporary files go to `dir` (created, private, if missing).
    pub async fn load(objects: &Objects, dir: &Path) -> Result<Index> {
        let store = objects.store();
        let marks = crate::repo::marks::load(objects).await?;
        let metas = objects.list(ObjectKind::Index, None).await?;
        let table_err = |action| RepoError::scratch(action, dir);
        crate::private_fs::create_dir_all(dir).map_err(table_err("creating the directory"))?;
        let mut inner = Inner::new(dir.to_path_buf());
        let mut builder = Builder::new(dir);
        let mut files = futures::stream::iter(metas.into_iter().map(|m| {
            let objects = objects.clone();
            async move {
                let key = m.location.to_string();
                let name = m.location.filename().unwrap_or_default().to_string();
                let id: IndexId = name.parse().map_err(|_| RepoError::Corrupt {
                    key: key.clone(),
                    reason: "index object name is not a 64-hex id".into(),
                })?;
                let plain = objects.get(ObjectKind::Index, &m.location).await?;
                tokio::task::spawn_blocking(move || decode_index(&id, &plain))
                    .await
                    .map_err(|source| RepoError::Task {
                        task: "decode index",
                        source,
                    })?
            }
        }))
        .buffer_unordered(8);
        while let Some(file) = files.try_next().await? {
            for (pack, entries) in file.packs {
                let n = inner.pack_no(pack);
                for e in &entries {
                    builder
                        .push(slot_of(n, e))
                        .map_err(table_err("sorting the index"))?;
                }
            }
        }
        for p in marks.marks.keys() {
            if let Some(n) = inner.pack_pos.get(p) {
                inner.marked.insert(*n);
            }
        }
        // Packs listed after the index objects were read: every pack they name was stored
        // before them, so a named pack that is not listed is lost (or pruned meanwhile).
        let mut existing = std::collections::HashSet::new();
        for m in backend::list(store.as_ref(), &object_store::path::Path::from(keys::PACKS)).await?
        {
            if let Some(id) = m.location.filename().and_then(|n| n.parse::<PackId>().ok()) {
                existing.insert(id);
            }
        }
        for (n, p) in inner.packs.iter().enumerate() {
            if !existing.contains(p) {
                inner.lost.insert(n as u32);
            }
        }
        // Of several copies of a blob, keep one in a pack that exists, unmarked if possible
        // (CPU and disk work: off the async threads).
        let inner = tokio::task::spawn_blocking(move || {
            let rank = |s: &Slot| inner.rank(s);
            let table = builder.finish(&rank);
            table.map(|t| Inner { table: t, ..inner })
        })
        .await
        .map_err(|source| RepoError::Task {
            task: "sort the index",
            source,
        })?
        .map_err(table_err("sorting the index"))?;
        Ok(Index {
            inner: RwLock::new(inner),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_is_compact() {
        assert!(std::mem::size_of::<Slot>() <= 52);
    }

    fn pack_of(p: u32) -> PackReceipt {
        let entries: Vec<PackEntry> = (0..1000u32)
            .map(|i| PackEntry {
                id: BlobId::of(&(p * 1000 + i).to_le_bytes()),
                kind: BlobKind::Data,
                compression: Compression::None,
                offset: i * 10,
                stored_len: 10,
                raw_len: 10,
            })
            .collect();
        PackReceipt::for_test(PackId::of(&p.to_le_bytes()), entries)
    }

    fn written(blobs: u64) -> IndexWritten {
        IndexWritten {
            id: None,
            packs: 1,
            blobs,
        }
    }

    /// Blobs indexed by this process go to memory, then to the recent table, then to the main
    /// table (small thresholds here: 3 folds per cycle); every one is found where it was
    /// stored, memory stays small, totals count each once and no file is left behind.
    #[test]
    fn session_additions_fold_into_the_tables_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut inner = Inner::new(dir.path().to_path_buf());
        inner.fold_at = 2_000;
        inner.recent_max = 6_000;
        let index = Index {
            inner: RwLock::new(inner),
        };
        let packs = 50u32;
        for p in 0..packs {
            index.add_written(&written(1000), &[pack_of(p)]);
        }
        assert_eq!(index.len(), packs as usize * 1000);
        {
            let g = index.read();
            assert!(g.added.len() < 2_000, "folded");
            assert!(g.table.len() >= 6_000, "folded into the main table");
            assert!(
                g.recent.len() < 50_000 / 4 + 2_000,
                "the recent table was emptied"
            );
        }
        for p in 0..packs {
            for i in (0..1000u32).step_by(97) {
                let loc = index
                    .get(&BlobId::of(&(p * 1000 + i).to_le_bytes()))
                    .unwrap();
                assert_eq!(
                    (loc.pack, loc.offset),
                    (PackId::of(&p.to_le_bytes()), i * 10)
                );
            }
        }
        assert!(index.get(&BlobId::of(b"absent")).is_none());
        assert!(
            index.memory_bytes() / index.len() < 60,
            "{}",
            index.memory_bytes()
        );
        let totals = index.totals().unwrap();
        assert_eq!(totals.blobs, packs as u64 * 1000);
        assert_eq!(totals.packs, packs as u64);
        // The tables' files are unnamed: nothing is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// A blob whose only copy is in a pack marked for deletion is stored again; the new copy
    /// wins from memory, from the recent table and once folded into the main table.
    #[test]
    fn a_copy_stored_again_beats_a_marked_one_at_every_level() {
        let dir = tempfile::tempdir().unwrap();
        let mut inner = Inner::new(dir.path().to_path_buf());
        inner.fold_at = 1_000;
        inner.recent_max = 3_000;
        let index = Index {
            inner: RwLock::new(inner),
        };
        index.add_written(&written(1000), &[pack_of(0)]);
        index.add_written(&written(1000), &[pack_of(1)]);
        let blob = BlobId::of(&5u32.to_le_bytes());
        assert!(index.contains_live(&blob));
        // Pack 0 marked (as a loaded index would have it).
        index.write().marked.insert(0);
        assert!(!index.contains_live(&blob) && index.contains(&blob));
        // The same blob stored again in pack 100 (with others, to drive folds).
        let again = |p: u32| {
            let mut entries = vec![PackEntry {
                id: blob,
                kind: BlobKind::Data,
                compression: Compression::None,
                offset: 7,
                stored_len: 10,
                raw_len: 10,
            }];
            entries.extend((1..10u32).map(|i| PackEntry {
                id: BlobId::of(&(p * 1000 + i).to_le_bytes()),
                kind: BlobKind::Data,
                compression: Compression::None,
                offset: i,
                stored_len: 1,
                raw_len: 1,
            }));
            PackReceipt::for_test(PackId::of(&p.to_le_bytes()), entries)
        };
        index.add_written(&written(10), &[again(100)]);
        let want = (PackId::of(&100u32.to_le_bytes()), 7);
        let at = |i: &Index| i.get(&blob).map(|l| (l.pack, l.offset));
        assert_eq!(at(&index), Some(want), "from memory");
        index.write().fold().unwrap();
        assert!(!index.read().recent.is_empty() && index.read().added.is_empty());
        assert_eq!(at(&index), Some(want), "from the recent table");
        assert!(index.contains_live(&blob));
        for p in 2..6 {
            index.add_written(&written(1000), &[pack_of(p)]);
        }
        index.write().fold().unwrap();
        assert!(index.read().recent.is_empty(), "folded into the main table");
        assert_eq!(at(&index), Some(want), "from the main table");
        assert!(index.contains_live(&blob));
    }
}
