//! Filings: a document filed in a folder (or workspace, or tab) is a row keyed by (library,
//! document, folder), looked up by that key.

use rusqlite::params;

use super::{Given, RowKind, SnapshotLoad, Step, count};
use crate::catalog::encode::U64;
use crate::catalog::error::{CatalogError, SqlContext};
use crate::imanage::model::Filing;

impl SnapshotLoad<'_> {
    /// Record that a document is filed in a folder (or workspace, or tab).
    pub fn add_filing(&mut self, f: &Filing) -> Result<(), CatalogError> {
        self.touched[RowKind::Filings.index()] = true;
        let object = || format!("filing of document {} in {}", f.document, f.parent);
        self.check_library(&f.document.library, &object)?;
        self.check_library(&f.parent.library, &object)?;
        let step = self.step(
            RowKind::Filings,
            FILING_LOOKUP,
            FILING_SET_END,
            &[
                &f.document.library.as_str(),
                &U64(f.document.number),
                &U64(f.parent.number),
            ],
            Some((&U64(f.document.number), &U64(f.parent.number))),
            Given::Keyed,
            &object,
        )?;
        if matches!(step, Step::Insert { .. } | Step::Replace) {
            let action = || format!("adding {} to snapshot {}", object(), self.snap.id);
            let mut ins = self
                .tx
                .prepare_cached(
                    "INSERT INTO filings (library, document, folder, first_seq, last_seq) \
                     VALUES ((SELECT id FROM libraries WHERE name = ?1), ?2, ?3, ?4, '')",
                )
                .ctx(action)?;
            ins.execute(params![
                f.document.library.as_str(),
                U64(f.document.number),
                U64(f.parent.number),
                U64(self.seq)
            ])
            .ctx(action)?;
        }
        count(&mut self.filings, step);
        Ok(())
    }
}

/// `step`'s look-up of a filing. `+folder`: through the primary key (library, document, ...)
/// and not the folder index, which would read every open filing of the folder per look-up
/// (SQLite prefers it: it covers the query and needs no sort).
pub(super) const FILING_LOOKUP: &str = "SELECT first_seq, last_seq, NULL, first_seq FROM filings \
     WHERE library = (SELECT id FROM libraries WHERE name = ?1) AND document = ?2 \
     AND +folder = ?3 AND last_seq >= ?4 ORDER BY last_seq DESC LIMIT 1";

/// `step`'s end of a filing row, by its primary key.
pub(super) const FILING_SET_END: &str = "UPDATE filings SET last_seq = ?1 \
     WHERE library = (SELECT id FROM libraries WHERE name = ?3) AND document = ?4 \
     AND folder = ?5 AND first_seq = ?2";
