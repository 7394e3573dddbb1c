//! Restore planning: everything under a workspace or folder as of one snapshot.

use std::collections::{BTreeMap, HashMap, VecDeque};

use rusqlite::params;

use super::Catalog;
use super::encode::{U64, container_id, get_u64};
use super::error::{CatalogError, SqlContext};
use super::rows::{self, CONTAINER_COLS};
use super::types::{ContainerRow, PlannedDocument, RestorePlanRows, SnapshotId};
use crate::imanage::model::{ContainerId, ContainerKind, DocumentId};

impl Catalog {
    /// The rows a restore of `root` as of `snapshot` needs: the containers of the subtree
    /// (root first, parents before children) with their ACLs, and every document filed in
    /// them with all its versions (profiles and content references), its filings inside the
    /// subtree and its ACL. Returns `Ok(None)` when `root` is not in the snapshot.
    pub fn subtree(
        &self,
        snapshot: &SnapshotId,
        root: &ContainerId,
    ) -> Result<Option<RestorePlanRows>, CatalogError> {
        self.subtree_with(snapshot, root, rows::Profiles::Parsed)
    }

    /// [`Catalog::subtree`] with the versions' profiles as `profiles` says (an export prints
    /// them into its sidecars: [`rows::Profiles::Text`] skips parsing them).
    #[tracing::instrument(name = "catalog_subtree", skip(self), fields(snapshot = %snapshot, root = %root))]
    pub fn subtree_with(
        &self,
        snapshot: &SnapshotId,
        root: &ContainerId,
        profiles: rows::Profiles,
    ) -> Result<Option<RestorePlanRows>, CatalogError> {
        let action = || format!("planning the restore of {root} from snapshot {snapshot}");
        // One read transaction: every statement sees the same catalog, and SQLite takes its file
        // lock and checks the file once, not for each of the thousands of look-ups below (two
        // per document: ~55,000 system calls for a library of 11,000 versions).
        let _read = self.conn.unchecked_transaction().ctx(action)?;
        let Some(root_row) = self.container_in(snapshot, root)? else {
            return Ok(None);
        };
        let sc = self.scope(snapshot)?;
        let lib = sc.library.as_str();

        // Breadth first, one indexed look-up (containers_parent) per container: the recursive
        // CTE this replaced let SQLite pick plans that took minutes on a few hundred containers.
        // Search folders are not descended into; a damaged parent chain cannot loop (`seen`).
        let sql = format!(
            "SELECT {CONTAINER_COLS} FROM containers c WHERE c.library = (SELECT id FROM libraries WHERE name = ?1) AND c.parent = ?2 \
             AND c.first_seq <= ?3 AND c.last_seq >= ?3"
        );
        let mut below = Vec::new();
        let mut seen = std::collections::HashSet::from([root.number]);
        let mut queue = VecDeque::from([(root.number, root_row.kind)]);
        {
            let mut stmt = self.conn.prepare_cached(&sql).ctx(action)?;
            while let Some((number, kind)) = queue.pop_front() {
                if kind == ContainerKind::SearchFolder {
                    continue;
                }
                let raws = stmt
                    .query_map(params![lib, U64(number), U64(sc.seq)], |r| {
                        rows::raw_container(r, 0)
                    })
                    .and_then(|m| m.collect::<Result<Vec<_>, _>>())
                    .ctx(action)?;
                for raw in raws {
                    let c = rows::container(raw)?;
                    if seen.insert(c.id.number) {
                        queue.push_back((c.id.number, c.kind));
                        below.push(c);
                    }
                }
            }
        }
        let containers = parents_first(root_row, below);

        // One indexed look-up per container of the subtree: joining the recursive CTE with
        // `filings` let SQLite pick a plan that took minutes on a few hundred containers.
        let mut filings: Vec<(u64, u64)> = Vec::new();
        {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT document, folder FROM filings WHERE library = (SELECT id FROM libraries WHERE name = ?1) AND folder = ?2 \
                     AND first_seq <= ?3 AND last_seq >= ?3",
                )
                .ctx(action)?;
            for c in containers
                .iter()
                .filter(|c| c.kind != ContainerKind::SearchFolder)
            {
                let rows = stmt
                    .query_map(params![lib, U64(c.id.number), U64(sc.seq)], |r| {
                        Ok((get_u64(r, 0)?, get_u64(r, 1)?))
                    })
                    .and_then(|m| m.collect::<Result<Vec<_>, _>>())
                    .ctx(action)?;
                filings.extend(rows);
            }
        }
        filings.sort_unstable();
        let mut by_doc: BTreeMap<u64, Vec<ContainerId>> = BTreeMap::new();
        for (doc, folder) in filings {
            by_doc
                .entry(doc)
                .or_default()
                .push(container_id(&sc.library, folder));
        }
        let mut documents = Vec::with_capacity(by_doc.len());
        for (doc, filings) in by_doc {
            let versions = self.versions_at_with(&sc, doc, profiles)?;
            if versions.is_empty() {
                continue;
            }
            documents.push(PlannedDocument {
                id: DocumentId {
                    library: sc.library.clone(),
                    number: doc,
                },
                versions,
                filings,
                acl: self.document_acl_at(&sc, doc)?,
            });
        }
        Ok(Some(RestorePlanRows {
            snapshot: *snapshot,
            containers,
            documents,
        }))
    }
}

impl Catalog {
    /// Whether the versions of `snapshot` hold at least `bytes` of content together, reading
    /// their sizes only until they do (a library of millions of versions answers after the
    /// first few hundred; a small one is read whole, and is small).
    pub fn content_at_least(
        &self,
        snapshot: &SnapshotId,
        bytes: u64,
    ) -> Result<bool, CatalogError> {
        if bytes == 0 {
            return Ok(true);
        }
        let action = || format!("adding up the content of snapshot {snapshot}");
        let sc = self.scope(snapshot)?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT size FROM versions WHERE library = (SELECT id FROM libraries WHERE name = ?1) \
                 AND first_seq <= ?2 AND last_seq >= ?2",
            )
            .ctx(action)?;
        let mut rows = stmt
            .query(params![sc.library.as_str(), U64(sc.seq)])
            .ctx(action)?;
        let mut total = 0u64;
        while let Some(r) = rows.next().ctx(action)? {
            total = total.saturating_add(get_u64(r, 0).ctx(action)?);
            if total >= bytes {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl Catalog {
    /// The rows a restore of one document as of `snapshot` needs: its versions (profiles and
    /// content references), every folder it is filed in and its ACL. `None` when the document
    /// has no version in the snapshot.
    pub fn document_plan(
        &self,
        snapshot: &SnapshotId,
        id: &DocumentId,
    ) -> Result<Option<PlannedDocument>, CatalogError> {
        let sc = self.scope(snapshot)?;
        if sc.library != id.library {
            return Ok(None);
        }
        let versions = self.versions_at(&sc, id.number)?;
        if versions.is_empty() {
            return Ok(None);
        }
        let folders: Vec<u64> = self
            .conn
            .prepare_cached(
                "SELECT folder FROM filings WHERE library = (SELECT id FROM libraries WHERE name = ?1) AND document = ?2 \
                 AND first_seq <= ?3 AND last_seq >= ?3 ORDER BY folder",
            )
            .and_then(|mut s| {
                s.query_map(
                    params![sc.library.as_str(), U64(id.number), U64(sc.seq)],
                    |r| get_u64(r, 0),
                )?
                .collect()
            })
            .ctx(|| format!("reading the filings of document {id} in snapshot {snapshot}"))?;
        Ok(Some(PlannedDocument {
            id: id.clone(),
            versions,
            filings: folders
                .into_iter()
                .map(|f| container_id(&sc.library, f))
                .collect(),
            acl: self.document_acl_at(&sc, id.number)?,
        }))
    }
}

/// Breadth-first order from the root; siblings by name, then id.
fn parents_first(root: ContainerRow, below: Vec<ContainerRow>) -> Vec<ContainerRow> {
    let mut kids: HashMap<u64, Vec<ContainerRow>> = HashMap::new();
    for c in below {
        if let Some(p) = &c.parent_id {
            kids.entry(p.number).or_default().push(c);
        }
    }
    for v in kids.values_mut() {
        v.sort_by(|a, b| (&a.name, a.id.number).cmp(&(&b.name, b.id.number)));
    }
    let mut out = Vec::new();
    let mut queue = VecDeque::from([root]);
    while let Some(c) = queue.pop_front() {
        if c.kind != ContainerKind::SearchFolder
            && let Some(children) = kids.remove(&c.id.number)
        {
            queue.extend(children);
        }
        out.push(c);
    }
    out
}
