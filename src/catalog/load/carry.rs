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

/// Ends the open row of filing (document `?2`, folder `?3`) of library `?4` (`?5` is the open
/// end) at `?1`. `+folder`: through the primary key, not the folder index (all of whose open
/// rows in the folder would be read).
pub(super) const FILING_END_OPEN: &str = "UPDATE filings SET last_seq = ?1 \
     WHERE library = (SELECT id FROM libraries WHERE name = ?4) AND document = ?2 \
     AND +folder = ?3 AND last_seq = ?5";

/// A filing's identity among the items seen again: its document and folder numbers.
pub(super) fn filing_item(document: u64, folder: u64) -> u128 {
    (u128::from(document) << 64) | u128::from(folder)
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
        if self.prev == 0 {
            return Ok(());
        }
        for kind in [
            RowKind::Containers,
            RowKind::Versions,
            RowKind::Filings,
            RowKind::DocumentAcls,
        ] {
            if self.carried[kind.index()] {
                continue;
            }
            let table = kind.table();
            let action = || format!("ending the removed {table} in snapshot {}", self.snap.id);
            // The rows' identity in the `seen` sets, and how to end one row so identified.
            let (select, end_sql) = match kind {
                RowKind::Containers | RowKind::Versions => (
                    "rid, 0",
                    format!("UPDATE {table} SET last_seq = ?1 WHERE rid = ?2"),
                ),
                RowKind::Filings => (
                    "document, folder",
                    FILING_END_OPEN.to_owned(),
                ),
                RowKind::DocumentAcls => (
                    "document, 0",
                    "UPDATE document_acls SET last_seq = ?1 WHERE library = (SELECT id FROM libraries WHERE name = ?4) \
                     AND document = ?2 AND last_seq = ?5"
                        .to_owned(),
                ),
            };
            let open: Vec<(i64, i64)> = self
                .tx
                .prepare(&format!(
                    "SELECT {select} FROM {table} WHERE library = (SELECT id FROM libraries WHERE name = ?1) AND last_seq = ?2 \
                     AND first_seq <= ?3"
                ))
                .and_then(|mut st| {
                    st.query_map(
                        params![self.snap.library.as_str(), LastSeq(OPEN), U64(self.prev)],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?
                    .collect()
                })
                .ctx(action)?;
            let seen = &self.seen.borrow()[kind.index()];
            let mut end = self.tx.prepare(&end_sql).ctx(action)?;
            let (lib, open_end, prev) = (self.snap.library.as_str(), LastSeq(OPEN), U64(self.prev));
            for (a, b) in open {
                let identity = match kind {
                    RowKind::Filings => filing_item(a as u64, b as u64),
                    _ => a as u128,
                };
                if seen.contains(&identity) {
                    continue;
                }
                let args: [&dyn rusqlite::ToSql; 5] = [&prev, &a, &b, &lib, &open_end];
                let n = end.parameter_count();
                end.execute(&args[..n]).ctx(action)?;
            }
        }
        Ok(())
    }
}
