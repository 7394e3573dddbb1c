//! Loading one snapshot: `Catalog::begin_snapshot` → `add_*` → `commit`.
//!
//! Each `add_*` is one indexed look-up of the item's row that was valid in the library's
//! previous snapshot: same state, nothing to write (the row is open-ended, see [`OPEN`]);
//! another state, the old row ends and a new one is inserted. On commit, open rows of the
//! previous snapshot that were not given again end (removed items). When a whole kind of rows is
//! known to be unchanged but for a few differences (the catalog sync compares the snapshot's
//! metadata streams with the parent's), [`SnapshotLoad::carry_over`] keeps them all and only the
//! differences are given: changed items through `add_*`, removed ones through
//! [`SnapshotLoad::drop_carried`].

use rusqlite::{OptionalExtension, ToSql, Transaction, TransactionBehavior, params};

mod acls;
mod carry;
mod filings;

pub use carry::{RowKey, RowKind};

use super::Catalog;
use super::encode::{
    self, LastSeq, StateHasher, StoredDate, U64, canonical_json, canonical_map, get_last_seq,
    get_u64,
};
use super::error::{CatalogError, OutOfOrder, SqlContext};
use super::packed::{self, Dict};
use super::rows;
use super::types::{
    ChangeCounts, ContainerRow, ItemCounts, LoadReport, SkippedRow, SnapshotId, SnapshotRow,
    VersionRow,
};
use crate::imanage::model::{Acl, DocumentId, LibraryId};

/// `last_seq` of a row still present in the library's newest snapshot: open-ended, so a new
/// snapshot that keeps the item writes nothing for it. A row ends (gets the ordinal of the last
/// snapshot holding it) when a later snapshot changes or lacks the item. Catalogs written before
/// open ends held the newest ordinal instead; the next load opens those rows.
pub(crate) const OPEN: u64 = i64::MAX as u64;

/// A snapshot being loaded, inside one transaction. Dropping it without [`commit`] leaves
/// the catalog untouched.
///
/// [`commit`]: SnapshotLoad::commit
pub struct SnapshotLoad<'c> {
    tx: Transaction<'c>,
    snap: SnapshotRow,
    seq: u64,
    prev: u64,
    prev_id: Option<SnapshotId>,
    /// Kinds of rows that `add_*` or `carry_over` touched already.
    touched: [bool; 4],
    /// Kinds of rows carried over: `add_*` of those only records differences.
    carried: [bool; 4],
    /// The `authors` ids looked up so far (a library has a few thousand authors at most).
    authors: std::cell::RefCell<std::collections::HashMap<String, i64>>,
    prev_counts: ItemCounts,
    containers: ChangeCounts,
    versions: ChangeCounts,
    filings: ChangeCounts,
    document_acls: ChangeCounts,
    skipped: u64,
}

/// The kinds of range rows a snapshot is made of (one metadata stream each).
/// Result of looking up an item's previous row.
enum Step {
    /// Extended: same state as in the previous snapshot.
    Unchanged,
    /// Already added to this snapshot with the same state.
    Duplicate,
    /// Carried over with the same state: counted as unchanged already.
    Carried,
    /// Carried over, but with another state: the carried row was ended, insert a new one.
    Replace,
    /// Insert a new row; `changed` when a row with another state existed before.
    Insert { changed: bool },
}

impl Catalog {
    /// Start loading a snapshot. Refuses a snapshot already present, and one that is not newer
    /// (by time, then id) than the newest snapshot of its library.
    #[tracing::instrument(name = "catalog_begin_snapshot", skip_all, fields(snapshot = %snap.id, library = %snap.library))]
    pub fn begin_snapshot(&mut self, snap: SnapshotRow) -> Result<SnapshotLoad<'_>, CatalogError> {
        let action = || format!("starting to load snapshot {}", snap.id);
        let time_ns = encode::time_to_ns(&snap.id, &snap.time)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(action)?;
        tx.execute_batch(carry::SEEN_CREATE).ctx(action)?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM snapshots WHERE id = ?1",
                [snap.id.to_hex()],
                |r| r.get(0),
            )
            .optional()
            .ctx(action)?;
        if exists.is_some() {
            return Err(CatalogError::SnapshotExists { snapshot: snap.id });
        }
        let newest = tx
            .query_row(
                "SELECT id, time_ns, seq, n_containers, n_versions, n_filings, n_doc_acls, \
                 n_skipped FROM snapshots WHERE library = ?1 ORDER BY seq DESC LIMIT 1",
                [snap.library.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        get_u64(r, 2)?,
                        ItemCounts {
                            containers: get_u64(r, 3)?,
                            versions: get_u64(r, 4)?,
                            filings: get_u64(r, 5)?,
                            document_acls: get_u64(r, 6)?,
                            skipped: get_u64(r, 7)?,
                        },
                    ))
                },
            )
            .optional()
            .ctx(action)?;
        let (prev, prev_counts, prev_id) = match newest {
            None => (0, ItemCounts::default(), None),
            Some((id, ns, seq, counts)) => {
                if (time_ns, snap.id.to_hex().as_str()) <= (ns, id.as_str()) {
                    return Err(CatalogError::OutOfOrder(Box::new(OutOfOrder {
                        snapshot: snap.id,
                        library: snap.library.to_string(),
                        time: snap.time.to_rfc3339(),
                        newest: encode::snapshot_id(id)?,
                        newest_time: encode::ns_to_time(ns).to_rfc3339(),
                    })));
                }
                (seq, counts, Some(encode::snapshot_id(id)?))
            }
        };
        let seq = prev + 1;
        // Item rows name their library by a small integer (schema v2).
        tx.execute(
            "INSERT OR IGNORE INTO libraries (name) VALUES (?1)",
            [snap.library.as_str()],
        )
        .ctx(action)?;
        let summary = canonical_json(&snap.summary);
        tx.execute(
            "INSERT INTO snapshots (id, library, seq, time_ns, parent, host, tool_version, \
             summary, n_containers, n_versions, n_filings, n_doc_acls, n_skipped) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, 0, 0, 0, 0)",
            params![
                snap.id.to_hex(),
                snap.library.as_str(),
                U64(seq),
                time_ns,
                snap.parent.as_ref().map(|p| p.to_hex()),
                snap.host,
                snap.tool_version,
                summary,
            ],
        )
        .ctx(action)?;
        tracing::debug!(snapshot = %snap.id, library = %snap.library, seq, "loading snapshot");
        Ok(SnapshotLoad {
            tx,
            snap,
            seq,
            prev,
            prev_id,
            touched: [false; 4],
            carried: [false; 4],
            authors: Default::default(),
            prev_counts,
            containers: ChangeCounts::default(),
            versions: ChangeCounts::default(),
            filings: ChangeCounts::default(),
            document_acls: ChangeCounts::default(),
            skipped: 0,
        })
    }
}

impl SnapshotLoad<'_> {
    /// The ordinal this snapshot gets in its library.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn snapshot(&self) -> &SnapshotRow {
        &self.snap
    }

    /// The library's newest snapshot in the catalog before this one: the rows this load continues.
    pub fn previous(&self) -> Option<&SnapshotId> {
        self.prev_id.as_ref()
    }

    fn check_library(
        &self,
        lib: &LibraryId,
        object: &dyn Fn() -> String,
    ) -> Result<(), CatalogError> {
        if lib != &self.snap.library {
            return Err(CatalogError::WrongLibrary {
                object: object(),
                snapshot: self.snap.id,
                library: self.snap.library.to_string(),
            });
        }
        Ok(())
    }

    /// Find the item's newest row valid in the previous or this snapshot and decide.
    /// `lookup` selects `row, last_seq, state, first_seq` with the key in `?1..` and `prev`
    /// last, where `row` is the rid (rowid tables) or the first_seq (tables keyed by the item);
    /// `set_end` sets `last_seq = ?1` of that `row = ?2` (the key in `?3..` when it needs it).
    /// `item` identifies the item among the rows seen again (`SEEN_TABLE`) when the row is no
    /// rid.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        kind: RowKind,
        lookup: &str,
        set_end: &str,
        key: &[&dyn ToSql],
        item: Option<(&dyn ToSql, &dyn ToSql)>,
        given: Given<'_>,
        object: &dyn Fn() -> String,
    ) -> Result<Step, CatalogError> {
        let action = || format!("adding {} to snapshot {}", object(), self.snap.id);
        let mut params: Vec<&dyn ToSql> = key.to_vec();
        let prev = U64(self.prev);
        params.push(&prev);
        let mut stmt = self.tx.prepare_cached(lookup).ctx(action)?;
        let found: Option<(i64, u64, Option<Vec<u8>>, u64)> = stmt
            .query_row(params.as_slice(), |r| {
                Ok((r.get(0)?, get_last_seq(r, 1)?, r.get(2)?, get_u64(r, 3)?))
            })
            .optional()
            .ctx(action)?;
        drop(stmt);
        let Some((rid, last_seq, old_state, first_seq)) = found else {
            return Ok(Step::Insert { changed: false });
        };
        let set_row_end = |end: &dyn ToSql| -> Result<(), CatalogError> {
            let mut up = self.tx.prepare_cached(set_end).ctx(action)?;
            let mut args: Vec<&dyn ToSql> = vec![end, &rid];
            args.extend_from_slice(key);
            args.truncate(up.parameter_count());
            up.execute(args.as_slice()).ctx(action)?;
            Ok(())
        };
        let (state, old_state) = match given {
            Given::Keyed => (None, old_state),
            Given::State(state) => (Some(state), old_state),
            Given::Computed(state, stored) => (Some(state), Some(stored(rid)?.to_vec())),
        };
        let same = old_state.as_deref() == state.map(|s| &s[..]);
        let duplicate = || {
            if same {
                Ok(Step::Duplicate)
            } else {
                Err(CatalogError::ConflictingDuplicate {
                    object: object(),
                    snapshot: self.snap.id,
                })
            }
        };
        if first_seq == self.seq {
            // Added to this snapshot already.
            return duplicate();
        }
        // A row of the previous snapshot: open, or (older catalogs) ended at the previous one.
        let open = last_seq == OPEN;
        let end_at_previous = || set_row_end(&prev);
        if self.carried[kind.index()] {
            // Carried over (and opened): same state is nothing to do; another state ends the
            // carried row at the previous snapshot and opens a new one.
            if same {
                return Ok(Step::Carried);
            }
            end_at_previous()?;
            return Ok(Step::Replace);
        }
        let zero = 0i64;
        let (a, b) = item.unwrap_or((&rid, &zero));
        let kind_no = kind.index() as i64;
        let newly_seen = self
            .tx
            .prepare_cached(carry::SEEN_INSERT)
            .and_then(|mut st| st.execute(params![kind_no, a, b]))
            .ctx(action)?;
        if newly_seen == 0 {
            return duplicate();
        }
        if !same {
            if open {
                end_at_previous()?;
            }
            return Ok(Step::Insert { changed: true });
        }
        if !open {
            set_row_end(&LastSeq(OPEN))?;
        }
        Ok(Step::Unchanged)
    }

    /// Add a workspace, folder, tab or search folder (with its ACL, if read).
    pub fn add_container(&mut self, c: &ContainerRow) -> Result<(), CatalogError> {
        self.touched[RowKind::Containers.index()] = true;
        let object = || format!("container {}", c.id);
        for id in std::iter::once(&c.id)
            .chain(&c.parent_id)
            .chain(&c.workspace_id)
        {
            self.check_library(&id.library, &object)?;
        }
        let action = || format!("adding {} to snapshot {}", object(), self.snap.id);
        let profile = canonical_map(&c.profile);
        let acl = c
            .acl
            .as_ref()
            .map(encode::acl_json)
            .transpose()
            .ctx(action)?;
        let kind = encode::container_kind_str(c.kind);
        let parent = c.parent_id.as_ref().map(|p| p.number);
        let workspace = c.workspace_id.as_ref().map(|p| p.number);
        let state = StateHasher::new("container")
            .field(kind.as_bytes())
            .field(c.name.as_bytes())
            .opt(parent.map(|p| p.to_string()).as_deref())
            .opt(workspace.map(|p| p.to_string()).as_deref())
            .field(profile.as_bytes())
            .opt(acl.as_deref())
            .finish();
        let step = self.step(
            RowKind::Containers,
            "SELECT rid, last_seq, state, first_seq FROM containers WHERE library = (SELECT id FROM libraries WHERE name = ?1) \
             AND number = ?2 AND last_seq >= ?3 ORDER BY last_seq DESC LIMIT 1",
            "UPDATE containers SET last_seq = ?1 WHERE rid = ?2",
            &[&c.id.library.as_str(), &U64(c.id.number)],
            None,
            Given::State(&state),
            &object,
        )?;
        if matches!(step, Step::Insert { .. } | Step::Replace) {
            let packed_profile = packed::pack_text(Dict::ContainerProfile, &profile)?;
            let packed_acl = acl
                .as_deref()
                .map(|a| packed::pack_text(Dict::Acl, a))
                .transpose()?;
            let mut ins = self
                .tx
                .prepare_cached(
                    "INSERT INTO containers (library, number, first_seq, last_seq, state, kind, \
                     name, parent, workspace, client, matter, profile, acl) \
                     VALUES ((SELECT id FROM libraries WHERE name = ?1), ?2, ?3, '', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .ctx(action)?;
            ins.execute(params![
                c.id.library.as_str(),
                U64(c.id.number),
                U64(self.seq),
                &state[..],
                kind,
                c.name,
                parent.map(U64),
                workspace.map(U64),
                c.client().map(str::to_lowercase),
                c.matter().map(str::to_lowercase),
                packed_profile,
                packed_acl,
            ])
            .ctx(action)?;
        }
        count(&mut self.containers, step);
        Ok(())
    }

    /// Add one document or e-mail version, with its opaque content reference.
    pub fn add_version(&mut self, v: &VersionRow) -> Result<(), CatalogError> {
        self.touched[RowKind::Versions.index()] = true;
        let object = || format!("version {}", v.id);
        self.check_library(&v.id.document.library, &object)?;
        let action = || format!("adding {} to snapshot {}", object(), self.snap.id);
        let state = version_state(v);
        let doc = &v.id.document;
        let step = self.step(
            RowKind::Versions,
            "SELECT rid, last_seq, NULL, first_seq FROM versions WHERE library = (SELECT id FROM libraries WHERE name = ?1) \
             AND document = ?2 AND version = ?3 AND last_seq >= ?4 ORDER BY last_seq DESC LIMIT 1",
            "UPDATE versions SET last_seq = ?1 WHERE rid = ?2",
            &[&doc.library.as_str(), &U64(doc.number), &v.id.version],
            None,
            Given::Computed(&state, &|rid| self.stored_version_state(rid, &action)),
            &object,
        )?;
        if matches!(step, Step::Insert { .. } | Step::Replace) {
            let base = self.profile_base(doc, &action)?;
            let packed_profile = packed::pack_profile(
                &v.profile,
                &rows::derived_of(v),
                base.as_ref().map(|(_, text)| text.as_str()),
            )?;
            let packed_content = packed::pack_content(&v.content)?;
            let edit_date = v.edit_date.as_deref().map(StoredDate::of);
            let mut ins = self
                .tx
                .prepare_cached(
                    "INSERT INTO versions (library, document, version, first_seq, last_seq, \
                     kind, name, extension, size, edit_date, edit_ns, edit_profile_date, \
                     author, workspace, profile, content, base) VALUES \
                     ((SELECT id FROM libraries WHERE name = ?1), ?2, ?3, ?4, '', ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                )
                .ctx(action)?;
            ins.execute(params![
                doc.library.as_str(),
                U64(doc.number),
                v.id.version,
                U64(self.seq),
                encode::document_kind_int(v.kind),
                v.name,
                v.extension,
                U64(v.size),
                edit_date,
                edit_date.as_ref().and_then(StoredDate::text_ns),
                match (&v.edit_profile_date, &v.edit_date) {
                    (Some(p), Some(e)) if p == e => Some(StoredDate::SameAsEditDate),
                    (p, _) => p.as_deref().map(StoredDate::of),
                },
                v.author()
                    .map(|a| self.author_id(&a.to_lowercase(), &action))
                    .transpose()?,
                v.workspace_id().map(|w| U64(w.number)),
                packed_profile,
                packed_content,
                base.map(|(rid, _)| rid),
            ])
            .ctx(action)?;
            self.tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO version_names (name, library, document) VALUES \
                     (lower(?1), (SELECT id FROM libraries WHERE name = ?2), ?3)",
                )
                .and_then(|mut s| s.execute(params![v.name, doc.library.as_str(), U64(doc.number)]))
                .ctx(action)?;
        }
        count(&mut self.versions, step);
        Ok(())
    }

    /// The id of a (lower-cased) author in the `authors` table, added when new.
    fn author_id(&self, author: &str, action: &dyn Fn() -> String) -> Result<i64, CatalogError> {
        if let Some(id) = self.authors.borrow().get(author) {
            return Ok(*id);
        }
        self.tx
            .prepare_cached("INSERT INTO authors (name) VALUES (?1) ON CONFLICT (name) DO NOTHING")
            .and_then(|mut s| s.execute([author]))
            .ctx(action)?;
        let id: i64 = self
            .tx
            .prepare_cached("SELECT id FROM authors WHERE name = ?1")
            .and_then(|mut s| s.query_row([author], |r| r.get(0)))
            .ctx(action)?;
        self.authors.borrow_mut().insert(author.to_owned(), id);
        Ok(id)
    }

    /// The state of the version stored in row `rid`, from its columns (the versions table keeps
    /// no state column: 9 bytes per version; read only when a version is given again).
    fn stored_version_state(
        &self,
        rid: i64,
        action: &dyn Fn() -> String,
    ) -> Result<[u8; 8], CatalogError> {
        let raw = self
            .tx
            .prepare_cached(&format!(
                "SELECT {} FROM versions v WHERE v.rid = ?1",
                rows::VERSION_COLS
            ))
            .and_then(|mut s| s.query_row([rid], |r| rows::raw_version(r, 0)))
            .ctx(action)?;
        Ok(version_state(&rows::version(raw)?))
    }

    /// The newest row of a document whose profile was packed without a base, and its residual
    /// text: what another version of the document is packed against (versions of a document
    /// share most of their profile). `None` for the document's first row.
    fn profile_base(
        &self,
        doc: &DocumentId,
        action: &dyn Fn() -> String,
    ) -> Result<Option<(i64, String)>, CatalogError> {
        let found: Option<(i64, Vec<u8>)> = self
            .tx
            .prepare_cached(
                "SELECT rid, profile FROM versions WHERE library = (SELECT id FROM libraries WHERE name = ?1) AND document = ?2 \
                 AND base IS NULL ORDER BY rid DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![doc.library.as_str(), U64(doc.number)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            })
            .ctx(action)?;
        let Some((rid, profile)) = found else {
            return Ok(None);
        };
        let what = || format!("the profile of row {rid} of document {doc}");
        Ok(packed::base_text(&what, &profile)?.map(|text| (rid, text)))
    }

    /// Record the ACL of a document (shared by all its versions).
    pub fn add_document_acl(&mut self, doc: &DocumentId, acl: &Acl) -> Result<(), CatalogError> {
        self.touched[RowKind::DocumentAcls.index()] = true;
        let object = || format!("ACL of document {doc}");
        self.check_library(&doc.library, &object)?;
        let action = || format!("adding {} to snapshot {}", object(), self.snap.id);
        let json = encode::acl_json(acl).ctx(action)?;
        let state = StateHasher::new("acl").field(json.as_bytes()).finish();
        let step = self.step(
            RowKind::DocumentAcls,
            "SELECT first_seq, last_seq, state, first_seq FROM document_acls WHERE library = (SELECT id FROM libraries WHERE name = ?1) \
             AND document = ?2 AND last_seq >= ?3 ORDER BY last_seq DESC LIMIT 1",
            "UPDATE document_acls SET last_seq = ?1 WHERE library = (SELECT id FROM libraries WHERE name = ?3) \
             AND document = ?4 AND first_seq = ?2",
            &[&doc.library.as_str(), &U64(doc.number)],
            Some((&U64(doc.number), &0i64)),
            Given::State(&state),
            &object,
        )?;
        if matches!(step, Step::Insert { .. } | Step::Replace) {
            let packed_acl = packed::pack_text(Dict::Acl, &json)?;
            let variant = acls::acl_variant(&self.tx, &state, &json, &packed_acl, &action)?;
            let mut ins = self
                .tx
                .prepare_cached(
                    "INSERT INTO document_acls (library, document, first_seq, last_seq, state, \
                     variant) VALUES ((SELECT id FROM libraries WHERE name = ?1), ?2, ?3, '', ?4, ?5)",
                )
                .ctx(action)?;
            ins.execute(params![
                doc.library.as_str(),
                U64(doc.number),
                U64(self.seq),
                &state[..],
                variant
            ])
            .ctx(action)?;
        }
        count(&mut self.document_acls, step);
        Ok(())
    }

    /// Record an item the backup could not take.
    pub fn add_skipped(&mut self, s: &SkippedRow) -> Result<(), CatalogError> {
        let action = || {
            format!(
                "adding skipped item {} to snapshot {}",
                s.object, self.snap.id
            )
        };
        let mut ins = self
            .tx
            .prepare_cached("INSERT INTO skipped (snapshot, object, reason) VALUES (?1, ?2, ?3)")
            .ctx(action)?;
        ins.execute(params![self.snap.id.to_hex(), s.object, s.reason])
            .ctx(action)?;
        self.skipped += 1;
        Ok(())
    }

    /// Finish: store the counts and commit the transaction.
    pub fn commit(mut self) -> Result<LoadReport, CatalogError> {
        self.end_unseen()?;
        let prev = self.prev_counts;
        close(&mut self.containers, prev.containers);
        close(&mut self.versions, prev.versions);
        close(&mut self.filings, prev.filings);
        close(&mut self.document_acls, prev.document_acls);
        let action = || format!("committing snapshot {}", self.snap.id);
        self.tx
            .execute(
                "UPDATE snapshots SET n_containers = ?1, n_versions = ?2, n_filings = ?3, \
                 n_doc_acls = ?4, n_skipped = ?5 WHERE id = ?6",
                params![
                    U64(self.containers.present()),
                    U64(self.versions.present()),
                    U64(self.filings.present()),
                    U64(self.document_acls.present()),
                    U64(self.skipped),
                    self.snap.id.to_hex(),
                ],
            )
            .ctx(action)?;
        let report = LoadReport {
            snapshot: self.snap.id,
            library: self.snap.library.clone(),
            seq: self.seq,
            containers: self.containers,
            versions: self.versions,
            filings: self.filings,
            document_acls: self.document_acls,
            skipped: self.skipped,
        };
        self.tx.commit().ctx(action)?;
        tracing::info!(
            snapshot = %report.snapshot,
            library = %report.library,
            seq = report.seq,
            versions = report.versions.present(),
            versions_added = report.versions.added,
            versions_changed = report.versions.changed,
            versions_removed = report.versions.removed,
            "snapshot catalogued"
        );
        Ok(report)
    }
}

fn count(c: &mut ChangeCounts, step: Step) {
    match step {
        Step::Unchanged => c.unchanged += 1,
        Step::Duplicate => c.duplicates += 1,
        Step::Carried => {}
        Step::Replace => {
            c.unchanged = c.unchanged.saturating_sub(1);
            c.changed += 1;
        }
        Step::Insert { changed: true } => c.changed += 1,
        Step::Insert { changed: false } => c.added += 1,
    }
}

/// Items of the previous snapshot neither kept nor replaced were removed.
fn close(c: &mut ChangeCounts, previous: u64) {
    c.removed = previous.saturating_sub(c.unchanged + c.changed);
}

/// What [`SnapshotLoad::step`] compares an item given again with its stored row by.
enum Given<'a> {
    /// Nothing but its key: a row found is the same item (filings).
    Keyed,
    /// Its state, against the row's `state` column (selected by the look-up).
    State(&'a [u8; 8]),
    /// Its state, against the state computed from the stored row `rid` (versions keep no
    /// state column).
    Computed(
        &'a [u8; 8],
        &'a dyn Fn(i64) -> Result<[u8; 8], CatalogError>,
    ),
}

/// A version's state: what tells a changed version from the same one given again.
fn version_state(v: &VersionRow) -> [u8; 8] {
    let profile = canonical_map(&v.profile);
    let content = canonical_json(&v.content);
    StateHasher::new("version")
        .field(encode::document_kind_str(v.kind).as_bytes())
        .field(v.name.as_bytes())
        .opt(v.extension.as_deref())
        .field(&v.size.to_le_bytes())
        .opt(v.edit_date.as_deref())
        .opt(v.edit_profile_date.as_deref())
        .field(profile.as_bytes())
        .field(content.as_bytes())
        .finish()
}

#[cfg(test)]
mod tests;
