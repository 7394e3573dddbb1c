//! Loading a snapshot as differences from the previous one: [`SnapshotLoad::carry_over`] keeps
//! every row of a kind, `add_*` then gives only the changed items and
//! [`SnapshotLoad::drop_carried`] the removed ones; for kinds not carried over, the open rows
//! that `add_*` did not give again end on commit ([`SnapshotLoad::end_unseen`]).

use rusqlite::params;

use super::{OPEN, SnapshotLoad};
use crate::catalog::encode::{LastSeq, U64};
use crate::catalog::error::{CatalogError, SqlContext};
use crate::catalog::types::ChangeCounts;
use crate::imanage::model::{ContainerId, DocumentId, Filing, VersionId};

/// Identifies one range row of a kind (what `add_*` of that kind would add).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowKey {
    Container(ContainerId),
    Version(VersionId),
    Filing(Filing),
    DocumentAcl(DocumentId),
}

/// The items a load of a kind not carried over gives again, for [`SnapshotLoad::end_unseen`]
/// and to tell a duplicate: a temporary table (SQLite's temporary file, `temp_store = FILE`),
/// not a set in memory, so that a full listing of a library of ten million versions does not
/// hold one entry per row. `kind` is [`RowKind::index`]; (`a`, `b`) is (rid, 0) for
/// containers and versions, (document, folder) for filings, (document, 0) for document ACLs.
pub(super) const SEEN_CREATE: &str = "CREATE TEMP TABLE IF NOT EXISTS load_seen \
     (kind INTEGER NOT NULL, a INTEGER NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (kind, a, b)) \
     WITHOUT ROWID; DELETE FROM temp.load_seen;";
/// Notes an item as given again: one row changed when it was not yet.
pub(super) const SEEN_INSERT: &str =
    "INSERT OR IGNORE INTO temp.load_seen (kind, a, b) VALUES (?1, ?2, ?3)";
/// Frees the table's pages once the load is done.
pub(super) const SEEN_DROP: &str = "DROP TABLE IF EXISTS temp.load_seen";

/// Ends (`last_seq = ?1`, the previous snapshot) the open rows of `kind` of library `?2` (`?3`
/// is the open end) that started by `?1` and are not in `load_seen` (`?4` the kind's index).
pub(super) fn end_unseen_sql(kind: RowKind) -> String {
    let table = kind.table();
    let (a, b) = match kind {
        RowKind::Containers | RowKind::Versions => ("rid", "0"),
        RowKind::Filings => ("document", "folder"),
        RowKind::DocumentAcls => ("document", "0"),
    };
    format!(
        "UPDATE {table} SET last_seq = ?1 WHERE library = \
         (SELECT id FROM libraries WHERE name = ?2) AND last_seq = ?3 \
         AND first_seq <= ?1 AND NOT EXISTS (SELECT 1 FROM temp.load_seen s \
         WHERE s.kind = ?4 AND s.a = {table}.{a} AND s.b = {b})"
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    Containers,
    Versions,
    Filings,
    DocumentAcls,
}

impl RowKind {
    pub(super) fn table(self) -> &'static str {
        match self {
            RowKind::Containers => "containers",
            RowKind::Versions => "versions",
            RowKind::Filings => "filings",
            RowKind::DocumentAcls => "document_acls",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

impl SnapshotLoad<'_> {
    /// Every `kind` row valid in the [previous](Self::previous) snapshot stays valid in this one
    /// unless `add_*` gives another state or [`drop_carried`](Self::drop_carried) removes it.
    /// Only before any `add_*` of that kind; returns the rows carried over.
    pub fn carry_over(&mut self, kind: RowKind) -> Result<u64, CatalogError> {
        let table = kind.table();
        let action = || {
            format!(
                "carrying the unchanged {table} of the previous snapshot over to snapshot {}",
                self.snap.id
            )
        };
        if std::mem::replace(&mut self.touched[kind.index()], true) {
            return Err(CatalogError::Corrupt {
                what: action(),
                problem: format!("{table} were already added to this snapshot"),
            });
        }
        if self.prev == 0 {
            return Ok(0);
        }
        self.carried[kind.index()] = true;
        // Open the rows a catalog written before open ends closed at the previous snapshot.
        self.tx
            .execute(
                &format!("UPDATE {table} SET last_seq = ?1 WHERE library = (SELECT id FROM libraries WHERE name = ?2) AND last_seq = ?3"),
                params![LastSeq(OPEN), self.snap.library.as_str(), U64(self.prev)],
            )
            .ctx(action)?;
        let n = match kind {
            RowKind::Containers => self.prev_counts.containers,
            RowKind::Versions => self.prev_counts.versions,
            RowKind::Filings => self.prev_counts.filings,
            RowKind::DocumentAcls => self.prev_counts.document_acls,
        };
        self.counts(kind).unchanged += n;
        Ok(n)
    }

    fn counts(&mut self, kind: RowKind) -> &mut ChangeCounts {
        match kind {
            RowKind::Containers => &mut self.containers,
            RowKind::Versions => &mut self.versions,
            RowKind::Filings => &mut self.filings,
            RowKind::DocumentAcls => &mut self.document_acls,
        }
    }

    /// After [`carry_over`](Self::carry_over): the item `key` is not in this snapshot after all
    /// (removed since the previous one). Ends its carried row at the previous snapshot; returns
    /// false when no carried row was left to end (e.g. it was replaced by a changed state).
    pub fn drop_carried(&mut self, key: &RowKey) -> Result<bool, CatalogError> {
        let action = || format!("removing {key:?} from snapshot {}", self.snap.id);
        let (open, prev) = (LastSeq(OPEN), U64(self.prev));
        let tail = "AND last_seq = ?2 AND first_seq <= ?1";
        let (kind, n) = match key {
            RowKey::Container(id) => (
                RowKind::Containers,
                self.tx.execute(
                    &format!("UPDATE containers SET last_seq = ?1 WHERE library = (SELECT id FROM libraries WHERE name = ?3) AND number = ?4 {tail}"),
                    params![prev, open, id.library.as_str(), U64(id.number)],
                ),
            ),
            RowKey::Version(id) => (
                RowKind::Versions,
                self.tx.execute(
                    &format!("UPDATE versions SET last_seq = ?1 WHERE library = (SELECT id FROM libraries WHERE name = ?3) AND document = ?4 AND version = ?5 {tail}"),
                    params![prev, open, id.document.library.as_str(), U64(id.document.number), id.version],
                ),
            ),
            RowKey::Filing(f) => (
                RowKind::Filings,
                self.tx.execute(
                    &format!("UPDATE filings SET last_seq = ?1 WHERE library = (SELECT id FROM libraries WHERE name = ?3) AND document = ?4 AND +folder = ?5 {tail}"),
                    params![prev, open, f.document.library.as_str(), U64(f.document.number), U64(f.parent.number)],
                ),
            ),
            RowKey::DocumentAcl(doc) => (
                RowKind::DocumentAcls,
                self.tx.execute(
                    &format!("UPDATE document_acls SET last_seq = ?1 WHERE library = (SELECT id FROM libraries WHERE name = ?3) AND document = ?4 {tail}"),
                    params![prev, open, doc.library.as_str(), U64(doc.number)],
                ),
            ),
        };
        let n = n.ctx(action)?;
        if n > 0 {
            let c = self.counts(kind);
            c.unchanged = c.unchanged.saturating_sub(n as u64);
        }
        Ok(n > 0)
    }

    /// Open rows of the previous snapshot that this one did not give again (kinds not carried
    /// over) end at the previous snapshot: those items were removed.
    pub(super) fn end_unseen(&mut self) -> Result<(), CatalogError> {
        let kinds = if self.prev == 0 {
            &[][..]
        } else {
            &[
                RowKind::Containers,
                RowKind::Versions,
                RowKind::Filings,
                RowKind::DocumentAcls,
            ][..]
        };
        for &kind in kinds {
            if self.carried[kind.index()] {
                continue;
            }
            let table = kind.table();
            let action = || format!("ending the removed {table} in snapshot {}", self.snap.id);
            // One statement: the open rows of the previous snapshot not given again end there.
            self.tx
                .execute(
                    &end_unseen_sql(kind),
                    params![
                        U64(self.prev),
                        self.snap.library.as_str(),
                        LastSeq(OPEN),
                        kind.index() as i64
                    ],
                )
                .ctx(action)?;
        }
        self.tx
            .execute(SEEN_DROP, [])
            .ctx(|| format!("finishing snapshot {}", self.snap.id))?;
        Ok(())
    }
}
