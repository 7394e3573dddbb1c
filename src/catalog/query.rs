//! Read-side queries: snapshots, `ls` listings, single objects and version histories.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::Catalog;
use super::encode::{self, U64, get_u64, time_to_ns_clamped};
use super::error::{CatalogError, SqlContext};
use super::packed::{self, Dict};
use super::rows::{self, CONTAINER_COLS, SNAPSHOT_COLS, VERSION_COLS};
use super::types::{
    ContainerName, ContainerRow, DocumentEntry, PlaceContents, PlaceOutline, SkippedRow,
    SnapshotId, SnapshotInfo, SnapshotRef, SnapshotSpan, VersionHistory, VersionRow,
};
use crate::imanage::model::{Acl, ContainerId, DocumentId, LibraryId, VersionId};

/// A snapshot's library and ordinal: what "as of" queries need.
pub(crate) struct Scope {
    pub(crate) library: LibraryId,
    pub(crate) seq: u64,
}

impl Catalog {
    pub(crate) fn scope(&self, snapshot: &SnapshotId) -> Result<Scope, CatalogError> {
        let found: Option<(String, u64)> = self
            .conn
            .prepare_cached("SELECT library, seq FROM snapshots WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row([snapshot.to_hex()], |r| Ok((r.get(0)?, get_u64(r, 1)?)))
                    .optional()
            })
            .ctx(|| format!("looking up snapshot {snapshot}"))?;
        let (lib, seq) = found.ok_or_else(|| CatalogError::UnknownSnapshot {
            snapshot: *snapshot,
        })?;
        Ok(Scope {
            library: encode::library(&lib)?,
            seq,
        })
    }

    fn snapshot_query(
        &self,
        filter: &str,
        params: &[&dyn rusqlite::ToSql],
        action: impl Fn() -> String,
    ) -> Result<Vec<SnapshotInfo>, CatalogError> {
        let sql = format!("SELECT {SNAPSHOT_COLS} FROM snapshots s {filter}");
        let raws = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_map(params, rows::raw_snapshot)?
                    .collect::<Result<Vec<_>, _>>()
            })
            .ctx(&action)?;
        raws.into_iter().map(rows::snapshot_info).collect()
    }

    /// Whether the snapshot is catalogued.
    pub fn has_snapshot(&self, id: &SnapshotId) -> Result<bool, CatalogError> {
        Ok(self.snapshot(id)?.is_some())
    }

    pub fn snapshot(&self, id: &SnapshotId) -> Result<Option<SnapshotInfo>, CatalogError> {
        Ok(self
            .snapshot_query("WHERE s.id = ?1", &[&id.to_hex()], || {
                format!("reading snapshot {id}")
            })?
            .pop())
    }

    /// All snapshots (of one library, or of all), by library then time.
    pub fn snapshots(
        &self,
        library: Option<&LibraryId>,
    ) -> Result<Vec<SnapshotInfo>, CatalogError> {
        match library {
            Some(l) => self.snapshot_query(
                "WHERE s.library = ?1 ORDER BY s.seq",
                &[&l.as_str()],
                || format!("listing the snapshots of library {l}"),
            ),
            None => self.snapshot_query("ORDER BY s.library, s.seq", &[], || {
                "listing all snapshots".to_string()
            }),
        }
    }

    /// The newest snapshot of a library.
    pub fn latest_snapshot(
        &self,
        library: &LibraryId,
    ) -> Result<Option<SnapshotInfo>, CatalogError> {
        Ok(self
            .snapshot_query(
                "WHERE s.library = ?1 ORDER BY s.seq DESC LIMIT 1",
                &[&library.as_str()],
                || format!("finding the newest snapshot of library {library}"),
            )?
            .pop())
    }

    /// The newest snapshot of a library taken at or before `time` (`--at TIME`).
    pub fn snapshot_at(
        &self,
        library: &LibraryId,
        time: DateTime<Utc>,
    ) -> Result<Option<SnapshotInfo>, CatalogError> {
        Ok(self
            .snapshot_query(
                "WHERE s.library = ?1 AND s.time_ns <= ?2 ORDER BY s.seq DESC LIMIT 1",
                &[&library.as_str(), &time_to_ns_clamped(&time)],
                || format!("finding the snapshot of library {library} at {time}"),
            )?
            .pop())
    }

    /// The span of `library`'s snapshots with ordinals `first..=last`.
    pub(crate) fn span(
        &self,
        library: &LibraryId,
        first: u64,
        last: u64,
    ) -> Result<SnapshotSpan, CatalogError> {
        let one = |seq: u64| -> Result<SnapshotRef, CatalogError> {
            let raw: Option<(String, i64)> = self
                .conn
                .prepare_cached("SELECT id, time_ns FROM snapshots WHERE library = ?1 AND seq = ?2")
                .and_then(|mut s| {
                    s.query_row(params![library.as_str(), U64(seq)], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()
                })
                .ctx(|| format!("looking up snapshot number {seq} of library {library}"))?;
            let (id, ns) = raw.ok_or_else(|| {
                encode::corrupt(
                    format!("snapshot number {seq} of library {library}"),
                    "an item refers to it but it is missing",
                )
            })?;
            rows::snapshot_ref(id, seq, ns)
        };
        // An open end: the item is in the library's newest snapshot.
        let last = if last == super::load::OPEN {
            self.conn
                .prepare_cached("SELECT max(seq) FROM snapshots WHERE library = ?1")
                .and_then(|mut s| s.query_row([library.as_str()], |r| get_u64(r, 0)))
                .ctx(|| format!("finding the newest snapshot of library {library}"))?
        } else {
            last
        };
        Ok(SnapshotSpan {
            library: library.clone(),
            first: one(first)?,
            last: one(last)?,
        })
    }

    /// Every snapshot of a span, in order.
    pub fn snapshots_in_span(&self, span: &SnapshotSpan) -> Result<Vec<SnapshotRef>, CatalogError> {
        self.snapshots_in_range(&span.library, span.first.seq, span.last.seq)
    }

    /// Snapshots of `library` with ordinals in `first..=last`, in order.
    pub(crate) fn snapshots_in_range(
        &self,
        library: &LibraryId,
        first: u64,
        last: u64,
    ) -> Result<Vec<SnapshotRef>, CatalogError> {
        let raws: Vec<(String, u64, i64)> = self
            .conn
            .prepare_cached(
                "SELECT id, seq, time_ns FROM snapshots WHERE library = ?1 AND seq >= ?2 \
                 AND seq <= ?3 ORDER BY seq",
            )
            .and_then(|mut s| {
                s.query_map(params![library.as_str(), U64(first), U64(last)], |r| {
                    Ok((r.get(0)?, get_u64(r, 1)?, r.get(2)?))
                })?
                .collect()
            })
            .ctx(|| format!("listing snapshots {first}..={last} of library {library}"))?;
        raws.into_iter()
            .map(|(id, seq, ns)| rows::snapshot_ref(id, seq, ns))
            .collect()
    }

    /// What `ls` shows: the containers directly under `parent` (the library's top level when
    /// `None`) and the documents filed there, with all their versions, as of `snapshot`.
    pub fn children(
        &self,
        snapshot: &SnapshotId,
        parent: Option<&ContainerId>,
    ) -> Result<PlaceContents, CatalogError> {
        let sc = self.scope(snapshot)?;
        Ok(PlaceContents {
            containers: self.child_containers(&sc, snapshot, parent)?,
            documents: self.filed_documents(&sc, snapshot, parent)?,
        })
    }

    /// [`Catalog::children`] with the containers named only: no profile or ACL read, what a
    /// listing of thousands of workspaces prints.
    pub fn children_outline(
        &self,
        snapshot: &SnapshotId,
        parent: Option<&ContainerId>,
    ) -> Result<PlaceOutline, CatalogError> {
        let sc = self.scope(snapshot)?;
        let place = parent.map_or_else(|| "the top level".to_string(), |p| p.to_string());
        let action = || format!("naming the containers of {place} in snapshot {snapshot}");
        let raws: Vec<(u64, String, String)> = self
            .conn
            .prepare_cached(
                "SELECT c.number, c.kind, c.name FROM containers c \
                 WHERE c.library = (SELECT id FROM libraries WHERE name = ?1) AND c.parent IS ?2 \
                 AND c.first_seq <= ?3 AND c.last_seq >= ?3 ORDER BY c.name, c.number",
            )
            .and_then(|mut s| {
                s.query_map(
                    params![
                        sc.library.as_str(),
                        parent.map(|p| U64(p.number)),
                        U64(sc.seq)
                    ],
                    |r| Ok((get_u64(r, 0)?, r.get(1)?, r.get(2)?)),
                )?
                .collect()
            })
            .ctx(action)?;
        let containers = raws
            .into_iter()
            .map(|(number, kind, name)| {
                Ok(ContainerName {
                    id: encode::container_id(&sc.library, number),
                    kind: encode::container_kind(&kind)?,
                    name,
                })
            })
            .collect::<Result<Vec<_>, CatalogError>>()?;
        Ok(PlaceOutline {
            containers,
            documents: self.filed_documents(&sc, snapshot, parent)?,
        })
    }

    /// The documents filed directly in `parent` as of a snapshot, with all their versions (none
    /// at the top level: documents are filed in folders).
    fn filed_documents(
        &self,
        sc: &Scope,
        snapshot: &SnapshotId,
        parent: Option<&ContainerId>,
    ) -> Result<Vec<DocumentEntry>, CatalogError> {
        let Some(folder) = parent.map(|p| p.number) else {
            return Ok(Vec::new());
        };
        let action = || format!("listing the documents filed in {folder} in snapshot {snapshot}");
        let sql = filed_versions_sql();
        let raws = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_map(
                    params![sc.library.as_str(), U64(folder), U64(sc.seq)],
                    |r| rows::raw_version(r, 0),
                )?
                .collect::<Result<Vec<_>, _>>()
            })
            .ctx(action)?;
        Ok(group_documents(
            raws.into_iter()
                .map(rows::version)
                .collect::<Result<Vec<_>, _>>()?,
        ))
    }

    /// The containers directly under `parent` (the top level when `None`) as of a snapshot,
    /// ordered by name then id: what path resolution needs, without the documents filed there.
    fn child_containers(
        &self,
        sc: &Scope,
        snapshot: &SnapshotId,
        parent: Option<&ContainerId>,
    ) -> Result<Vec<ContainerRow>, CatalogError> {
        let place = parent.map_or_else(|| "the top level".to_string(), |p| p.to_string());
        let action = || format!("listing the containers of {place} in snapshot {snapshot}");
        let sql = format!(
            "SELECT {CONTAINER_COLS} FROM containers c WHERE c.library = (SELECT id FROM libraries WHERE name = ?1) AND c.parent IS ?2 \
             AND c.first_seq <= ?3 AND c.last_seq >= ?3 ORDER BY c.name, c.number"
        );
        let parent_sql = parent.map(|p| U64(p.number));
        let raws = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_map(params![sc.library.as_str(), parent_sql, U64(sc.seq)], |r| {
                    rows::raw_container(r, 0)
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .ctx(action)?;
        raws.into_iter().map(rows::container).collect()
    }

    /// One container as of a snapshot.
    pub fn container_in(
        &self,
        snapshot: &SnapshotId,
        id: &ContainerId,
    ) -> Result<Option<ContainerRow>, CatalogError> {
        let sc = self.scope(snapshot)?;
        if sc.library != id.library {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {CONTAINER_COLS} FROM containers c WHERE c.library = (SELECT id FROM libraries WHERE name = ?1) AND c.number = ?2 \
             AND c.first_seq <= ?3 AND c.last_seq >= ?3"
        );
        let raw = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_row(
                    params![sc.library.as_str(), U64(id.number), U64(sc.seq)],
                    |r| rows::raw_container(r, 0),
                )
                .optional()
            })
            .ctx(|| format!("reading container {id} in snapshot {snapshot}"))?;
        raw.map(rows::container).transpose()
    }

    /// Every container a `/`-separated path of names from the library's top level
    /// (`Acme/Contracts/Drafts`) can mean as of a snapshot, by id: same-named siblings all
    /// match. A segment may also name one container in the form an export gives a directory
    /// whose name another took, `Name (N)` (N its number). An empty path gives none.
    pub fn resolve_paths(
        &self,
        snapshot: &SnapshotId,
        path: &str,
    ) -> Result<Vec<ContainerRow>, CatalogError> {
        let sc = self.scope(snapshot)?;
        let mut current: Vec<Option<ContainerRow>> = vec![None];
        let mut any = false;
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            any = true;
            let mut next = Vec::new();
            for parent in &current {
                let containers =
                    self.child_containers(&sc, snapshot, parent.as_ref().map(|c| &c.id))?;
                next.extend(
                    containers
                        .into_iter()
                        .filter(|c| {
                            c.name == segment || format!("{} ({})", c.name, c.id.number) == segment
                        })
                        .map(Some),
                );
            }
            if next.is_empty() {
                return Ok(Vec::new());
            }
            current = next;
        }
        if !any {
            return Ok(Vec::new());
        }
        let mut out: Vec<ContainerRow> = current.into_iter().flatten().collect();
        out.sort_by_key(|c| c.id.number);
        Ok(out)
    }

    /// The container at a `/`-separated path of names from the library's top level
    /// (`Acme/Contracts/Drafts`), as of a snapshot. Among same-named siblings the lowest id
    /// wins. An empty path names no container and gives `None`.
    pub fn resolve_path(
        &self,
        snapshot: &SnapshotId,
        path: &str,
    ) -> Result<Option<ContainerRow>, CatalogError> {
        let sc = self.scope(snapshot)?;
        let mut current: Option<ContainerRow> = None;
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            let next = self
                .child_containers(&sc, snapshot, current.as_ref().map(|c| &c.id))?
                .into_iter()
                .filter(|c| c.name == segment)
                .min_by_key(|c| c.id.number);
            match next {
                Some(c) => current = Some(c),
                None => return Ok(None),
            }
        }
        Ok(current)
    }

    /// One version as of a snapshot.
    pub fn version_in(
        &self,
        snapshot: &SnapshotId,
        id: &VersionId,
    ) -> Result<Option<VersionRow>, CatalogError> {
        let sc = self.scope(snapshot)?;
        if sc.library != id.document.library {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {VERSION_COLS} FROM versions v WHERE v.library = (SELECT id FROM libraries WHERE name = ?1) AND v.document = ?2 \
             AND v.version = ?3 AND v.first_seq <= ?4 AND v.last_seq >= ?4"
        );
        let raw = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_row(
                    params![
                        sc.library.as_str(),
                        U64(id.document.number),
                        id.version,
                        U64(sc.seq)
                    ],
                    |r| rows::raw_version(r, 0),
                )
                .optional()
            })
            .ctx(|| format!("reading version {id} in snapshot {snapshot}"))?;
        raw.map(rows::version).transpose()
    }

    /// All versions of a document present in a snapshot.
    pub fn document_in(
        &self,
        snapshot: &SnapshotId,
        id: &DocumentId,
    ) -> Result<Option<DocumentEntry>, CatalogError> {
        let sc = self.scope(snapshot)?;
        if sc.library != id.library {
            return Ok(None);
        }
        let versions = self.versions_at(&sc, id.number)?;
        Ok((!versions.is_empty()).then(|| DocumentEntry {
            id: id.clone(),
            versions,
        }))
    }

    pub(crate) fn versions_at(
        &self,
        sc: &Scope,
        document: u64,
    ) -> Result<Vec<VersionRow>, CatalogError> {
        self.versions_at_with(sc, document, rows::Profiles::Parsed)
    }

    /// [`Catalog::versions_at`] with the profiles as `profiles` says.
    pub(crate) fn versions_at_with(
        &self,
        sc: &Scope,
        document: u64,
        profiles: rows::Profiles,
    ) -> Result<Vec<VersionRow>, CatalogError> {
        let sql = format!(
            "SELECT {VERSION_COLS} FROM versions v WHERE v.library = (SELECT id FROM libraries WHERE name = ?1) AND v.document = ?2 \
             AND v.first_seq <= ?3 AND v.last_seq >= ?3 ORDER BY v.version"
        );
        let raws = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_map(
                    params![sc.library.as_str(), U64(document), U64(sc.seq)],
                    |r| rows::raw_version(r, 0),
                )?
                .collect::<Result<Vec<_>, _>>()
            })
            .ctx(|| format!("reading the versions of document {}!{document}", sc.library))?;
        raws.into_iter()
            .map(|r| rows::version_with(r, profiles))
            .collect()
    }

    /// The ACL of a document as of a snapshot, if it was read.
    pub fn document_acl_in(
        &self,
        snapshot: &SnapshotId,
        id: &DocumentId,
    ) -> Result<Option<Acl>, CatalogError> {
        let sc = self.scope(snapshot)?;
        if sc.library != id.library {
            return Ok(None);
        }
        self.document_acl_at(&sc, id.number)
    }

    pub(crate) fn document_acl_at(
        &self,
        sc: &Scope,
        document: u64,
    ) -> Result<Option<Acl>, CatalogError> {
        let what = format!("document {}!{document}", sc.library);
        let packed: Option<Vec<u8>> = self
            .conn
            .prepare_cached(
                "SELECT a.acl FROM document_acls d JOIN acls a ON a.state = d.state AND a.variant = d.variant \
                 WHERE d.library = (SELECT id FROM libraries WHERE name = ?1) AND d.document = ?2 \
                 AND d.first_seq <= ?3 AND d.last_seq >= ?3",
            )
            .and_then(|mut s| {
                s.query_row(
                    params![sc.library.as_str(), U64(document), U64(sc.seq)],
                    |r| r.get(0),
                )
                .optional()
            })
            .ctx(|| format!("reading the ACL of {what}"))?;
        packed
            .map(|p| {
                let text = packed::unpack_text(&|| format!("the ACL of {what}"), Dict::Acl, &p)?;
                encode::parse_acl(&what, &text)
            })
            .transpose()
    }

    /// Every backed-up state of every version of a document, across all snapshots: ordered by
    /// version, then time; each with the snapshots holding exactly that state.
    pub fn document_versions(&self, id: &DocumentId) -> Result<Vec<VersionHistory>, CatalogError> {
        let sql = format!(
            "SELECT {VERSION_COLS}, v.first_seq, v.last_seq FROM versions v \
             WHERE v.library = (SELECT id FROM libraries WHERE name = ?1) AND v.document = ?2 ORDER BY v.version, v.first_seq"
        );
        let raws = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_map(params![id.library.as_str(), U64(id.number)], |r| {
                    Ok((
                        rows::raw_version(r, 0)?,
                        get_u64(r, rows::VERSION_NCOLS)?,
                        encode::get_last_seq(r, rows::VERSION_NCOLS + 1)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .ctx(|| format!("reading the version history of document {id}"))?;
        raws.into_iter()
            .map(|(raw, first, last)| {
                Ok(VersionHistory {
                    version: rows::version(raw)?,
                    snapshots: self.span(&id.library, first, last)?,
                })
            })
            .collect()
    }

    /// The items a snapshot's backup skipped, in the order they were recorded.
    pub fn skipped(&self, snapshot: &SnapshotId) -> Result<Vec<SkippedRow>, CatalogError> {
        self.conn
            .prepare_cached("SELECT object, reason FROM skipped WHERE snapshot = ?1 ORDER BY rowid")
            .and_then(|mut s| {
                s.query_map([snapshot.to_hex()], |r| {
                    Ok(SkippedRow {
                        object: r.get(0)?,
                        reason: r.get(1)?,
                    })
                })?
                .collect()
            })
            .ctx(|| format!("listing the skipped items of snapshot {snapshot}"))
    }
}

/// The versions filed in folder `?2` of library `?1` as of snapshot ordinal `?3`. `CROSS JOIN`
/// makes the filings of that folder the outer loop: without table statistics, SQLite's planner
/// may choose to scan every version of the library and look up each one's filings instead
/// (an `ls` of a 1 M-version library's biggest folder took 416 ms that way).
fn filed_versions_sql() -> String {
    format!(
        "SELECT {VERSION_COLS} FROM filings f CROSS JOIN versions v \
         ON v.library = f.library AND v.document = f.document \
         AND v.first_seq <= ?3 AND v.last_seq >= ?3 \
         WHERE f.library = (SELECT id FROM libraries WHERE name = ?1) AND f.folder = ?2 \
         AND f.first_seq <= ?3 AND f.last_seq >= ?3 ORDER BY v.document, v.version"
    )
}

/// Group versions (ordered by document, then version) into documents.
pub(crate) fn group_documents(versions: Vec<VersionRow>) -> Vec<DocumentEntry> {
    let mut out: Vec<DocumentEntry> = Vec::new();
    for v in versions {
        match out.last_mut() {
            Some(d) if d.id == v.id.document => d.versions.push(v),
            _ => out.push(DocumentEntry {
                id: v.id.document.clone(),
                versions: vec![v],
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `EXPLAIN QUERY PLAN` says SQLite will do, one step per line.
    fn plan(cat: &Catalog, sql: &str) -> String {
        let mut stmt = cat
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let steps = stmt
            .query_map(params!["ACTIVE", 7, 1], |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<Vec<_>, _>>()
            .expect("steps");
        steps.join("\n")
    }

    #[test]
    fn listing_a_folder_starts_from_its_filings_not_from_every_version() {
        let cat = Catalog::open_in_memory().expect("catalog");
        let plan = plan(&cat, &filed_versions_sql());
        let first = plan.lines().next().unwrap_or_default();
        assert!(
            first.contains("SEARCH f USING COVERING INDEX filings_folder (library=? AND folder=? AND last_seq>?)"),
            "the folder's filings are the outer loop:\n{plan}"
        );
        assert!(
            plan.contains("SEARCH v USING INDEX versions_key (library=? AND document=?"),
            "each filed document's versions by key:\n{plan}"
        );
        assert!(!plan.contains("SCAN"), "nothing is scanned whole:\n{plan}");
    }
}
