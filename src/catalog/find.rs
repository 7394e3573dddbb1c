//! `find`: search versions across all snapshots.

use rusqlite::ToSql;

use super::Catalog;
use super::encode::{U64, get_last_seq, get_u64, time_to_ns_clamped};
use super::error::{CatalogError, SqlContext};
use super::rows::{self, VERSION_COLS};
use super::types::{FindHit, FindQuery};

/// Hits returned when the query sets no limit.
pub const DEFAULT_FIND_LIMIT: usize = 1000;

/// How `find` looks for a name pattern with a literal start (`lease*`). Both give the same hits.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindPlan {
    /// [`FindPlan::ByName`] when few documents have names in the pattern's range, else
    /// [`FindPlan::InDocumentOrder`].
    Auto,
    /// Every document with a name in the range (an index range), sorted, then their versions
    /// until the limit: costs the number of such documents.
    ByName,
    /// The versions in key order, filtered, until the limit: costs about `limit` divided by
    /// the share of versions that match.
    InDocumentOrder,
}

impl Catalog {
    /// Versions matching every filter of `q`, in any snapshot, ordered by library, document and
    /// version. Each hit carries its newest matching state and every snapshot holding a
    /// matching state. Client and matter match when the version's workspace (`workspace_id` of
    /// its profile) carried those codes in any snapshot the version state was in.
    pub fn find(&self, q: &FindQuery) -> Result<Vec<FindHit>, CatalogError> {
        self.find_planned(q, FindPlan::Auto)
    }

    /// The plan [`FindPlan::Auto`] takes for `q`: [`FindPlan::ByName`] for a name pattern with
    /// a literal start that few documents' names have, else [`FindPlan::InDocumentOrder`].
    #[doc(hidden)]
    pub fn find_plan(&self, q: &FindQuery) -> Result<FindPlan, CatalogError> {
        let pattern = q.name.as_deref().map(str::to_ascii_lowercase);
        match pattern.as_deref().and_then(name_range) {
            Some((low, high)) => {
                let limit = q.limit.unwrap_or(DEFAULT_FIND_LIMIT);
                Ok(if self.names_are_common(&low, &high, limit)? {
                    FindPlan::InDocumentOrder
                } else {
                    FindPlan::ByName
                })
            }
            None => Ok(FindPlan::InDocumentOrder),
        }
    }

    /// [`Catalog::find`] by a given plan (for tests: every plan gives the same hits).
    #[doc(hidden)]
    #[tracing::instrument(name = "catalog_find", skip(self), level = "debug")]
    pub fn find_planned(
        &self,
        q: &FindQuery,
        plan: FindPlan,
    ) -> Result<Vec<FindHit>, CatalogError> {
        // The filters on a version row `v`, as SQL with numbered parameters.
        let mut filters = String::new();
        let mut args: Vec<Box<dyn ToSql>> = Vec::new();
        let mut arg = |filters: &mut String, clause: &str, v: Box<dyn ToSql>| {
            args.push(v);
            filters.push_str(&clause.replace("?#", &format!("?{}", args.len())));
        };
        if let Some(l) = &q.library {
            arg(
                &mut filters,
                " AND v.library = (SELECT id FROM libraries WHERE name = ?#)",
                Box::new(l.to_string()),
            );
        }
        let mut range = None;
        if let Some(n) = &q.name {
            let pattern = n.to_ascii_lowercase();
            range = name_range(&pattern);
            arg(
                &mut filters,
                " AND (lower(v.name) GLOB ?# OR lower(v.name || '.' || v.extension) GLOB ?#)",
                Box::new(pattern),
            );
        }
        if let Some(a) = &q.author {
            arg(
                &mut filters,
                " AND v.author = (SELECT id FROM authors WHERE name = ?#)",
                Box::new(a.to_lowercase()),
            );
        }
        if let Some(t) = &q.modified_after {
            arg(
                &mut filters,
                " AND COALESCE(v.edit_ns, CASE WHEN typeof(v.edit_date) = 'integer' \
                 THEN v.edit_date * 1000000000 END) > ?#",
                Box::new(time_to_ns_clamped(t)),
            );
        }
        if q.client.is_some() || q.matter.is_some() {
            filters.push_str(
                " AND EXISTS (SELECT 1 FROM containers w WHERE w.library = v.library \
                 AND w.number = v.workspace AND w.first_seq <= v.last_seq \
                 AND w.last_seq >= v.first_seq",
            );
            if let Some(c) = &q.client {
                arg(
                    &mut filters,
                    " AND w.client = ?#",
                    Box::new(c.to_lowercase()),
                );
            }
            if let Some(m) = &q.matter {
                arg(
                    &mut filters,
                    " AND w.matter = ?#",
                    Box::new(m.to_lowercase()),
                );
            }
            filters.push(')');
        }
        let limit = q.limit.unwrap_or(DEFAULT_FIND_LIMIT);
        let action = || format!("searching versions with {q:?}");
        // One read transaction: every statement below sees the same catalog (a load committing
        // meanwhile cannot show a document's names without its versions), and takes SQLite's
        // file lock once rather than per statement.
        let _read = self.conn.unchecked_transaction().ctx(action)?;
        let mut hits = Hits::new(limit);
        let read = |r: &rusqlite::Row<'_>| {
            Ok((
                rows::raw_version(r, 0)?,
                get_u64(r, rows::VERSION_NCOLS)?,
                get_last_seq(r, rows::VERSION_NCOLS + 1)?,
            ))
        };
        let plan = match plan {
            FindPlan::Auto => self.find_plan(q)?,
            chosen => chosen,
        };
        match (plan, range) {
            // A pattern with a literal start that few documents' names have: the documents that
            // ever had a version named within its range (table version_names, in order), then
            // each one's versions through its key, until the limit.
            (FindPlan::ByName, Some((low, high))) => {
                let documents = self.documents_named(q, &low, &high)?;
                let n = args.len();
                let sql = format!(
                    "SELECT {VERSION_COLS}, v.first_seq, v.last_seq FROM versions v \
                     WHERE v.library = ?{} AND v.document = ?{}{filters} \
                     ORDER BY v.version, v.first_seq",
                    n + 1,
                    n + 2
                );
                let mut stmt = self.conn.prepare(&sql).ctx(action)?;
                'documents: for (library, document) in documents {
                    let document = U64(document);
                    let mut params: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
                    params.push(&library);
                    params.push(&document);
                    let rows_iter = stmt.query_map(params.as_slice(), read).ctx(action)?;
                    for row in rows_iter {
                        let (raw, first, last) = row.ctx(action)?;
                        if !hits.add(rows::version(raw)?, first, last) {
                            break 'documents;
                        }
                    }
                }
            }
            // A pattern starting with a wildcard, a common literal start, or no name: each
            // library's versions in key order (libraries by name), filtered, until the limit.
            // Reads about `limit / share of matching versions` rows: few when matches are
            // common, the whole table when they are rare (no index can narrow those).
            _ => {
                let n = args.len();
                let sql = format!(
                    "SELECT {VERSION_COLS}, v.first_seq, v.last_seq FROM versions v \
                     WHERE v.library = ?{}{filters} ORDER BY v.document, v.version, v.first_seq",
                    n + 1
                );
                let mut stmt = self.conn.prepare(&sql).ctx(action)?;
                'libraries: for library in self.libraries_by_name(q)? {
                    let mut params: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
                    params.push(&library);
                    for row in stmt.query_map(params.as_slice(), read).ctx(action)? {
                        let (raw, first, last) = row.ctx(action)?;
                        if !hits.add(rows::version(raw)?, first, last) {
                            break 'libraries;
                        }
                    }
                }
            }
        }
        hits.found
            .into_iter()
            .map(|(version, ranges)| {
                let snapshots = ranges
                    .into_iter()
                    .map(|(first, last)| self.span(&version.id.document.library, first, last))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(FindHit { version, snapshots })
            })
            .collect()
    }

    /// Whether so many documents have names within `[low, high)` that reading versions in key
    /// order finds `limit` matches sooner than sorting every such document: the range holds at
    /// least `sqrt(4 * limit * versions)` entries of `version_names` (counted up to that).
    /// Key order reads about `limit * versions / matches` rows; the name range `matches`
    /// index entries, ~4 times cheaper each than a row.
    fn names_are_common(&self, low: &str, high: &str, limit: usize) -> Result<bool, CatalogError> {
        let action = || format!("counting the documents named {low:?}...");
        // The largest row id: the number of version rows, give or take removed ones.
        let versions: i64 = self
            .conn
            .prepare_cached("SELECT COALESCE(max(rid), 0) FROM versions")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .ctx(action)?;
        let threshold = common_threshold(limit, versions);
        let entries: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM (SELECT 1 FROM version_names \
                 WHERE name >= ?1 AND name < ?2 LIMIT ?3)",
            )
            .and_then(|mut s| s.query_row(rusqlite::params![low, high, threshold], |r| r.get(0)))
            .ctx(action)?;
        Ok(entries >= threshold)
    }

    /// The ids of the libraries to search (`q.library`, or all), in name order.
    fn libraries_by_name(&self, q: &FindQuery) -> Result<Vec<i64>, CatalogError> {
        let library = q.library.as_ref().map(|l| l.to_string());
        self.conn
            .prepare_cached("SELECT id FROM libraries WHERE ?1 IS NULL OR name = ?1 ORDER BY name")
            .and_then(|mut s| s.query_map([library], |r| r.get(0))?.collect())
            .ctx(|| format!("listing the libraries to search for {q:?}"))
    }

    /// The documents (library id, number), ordered by library name and number, of which a
    /// version was ever named within `[low, high)` (lower-cased), in `q.library` if set.
    fn documents_named(
        &self,
        q: &FindQuery,
        low: &str,
        high: &str,
    ) -> Result<Vec<(i64, u64)>, CatalogError> {
        let library = q.library.as_ref().map(|l| l.to_string());
        let action = || format!("finding the documents named {low:?}... for {q:?}");
        // Sorted here rather than by SQL (DISTINCT and ORDER BY a library name looked up per
        // entry took ~30 ms of CPU for 20,000 entries at 1 M versions).
        let mut documents: Vec<(i64, u64)> = self
            .conn
            .prepare_cached(
                "SELECT n.library, n.document FROM version_names n WHERE n.name >= ?1 AND n.name < ?2 \
                 AND (?3 IS NULL OR n.library = (SELECT id FROM libraries WHERE name = ?3))",
            )
            .and_then(|mut s| {
                s.query_map(rusqlite::params![low, high, library], |r| {
                    Ok((r.get(0)?, get_u64(r, 1)?))
                })?
                .collect()
            })
            .ctx(action)?;
        // Libraries in name order: their ids' ranks.
        let mut libraries: Vec<(String, i64)> = self
            .conn
            .prepare_cached("SELECT name, id FROM libraries")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .ctx(action)?;
        libraries.sort_unstable();
        let rank: std::collections::HashMap<i64, usize> = libraries
            .iter()
            .enumerate()
            .map(|(rank, (_, id))| (*id, rank))
            .collect();
        documents.sort_unstable_by_key(|&(lib, doc)| (rank.get(&lib).copied(), doc));
        documents.dedup();
        Ok(documents)
    }
}

/// Hits gathered in order: one per version (its newest matching state, and the snapshot ranges
/// of every matching state), at most `limit`.
struct Hits {
    limit: usize,
    found: Vec<(crate::catalog::VersionRow, Vec<(u64, u64)>)>,
}

impl Hits {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            found: Vec::new(),
        }
    }

    /// Add a matching state (rows come ordered by version, then first snapshot); `false` when
    /// it is of a new version and the limit is reached.
    fn add(&mut self, v: crate::catalog::VersionRow, first: u64, last: u64) -> bool {
        match self.found.last_mut() {
            Some((h, ranges)) if h.id == v.id => {
                *h = v;
                ranges.push((first, last));
            }
            _ => {
                if self.found.len() == self.limit {
                    return false;
                }
                self.found.push((v, vec![(first, last)]));
            }
        }
        true
    }
}

/// How many `version_names` entries make a name range common (see
/// [`Catalog::names_are_common`]): `sqrt(4 * limit * versions)`, at least `limit`.
fn common_threshold(limit: usize, versions: i64) -> i64 {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX).max(1);
    // f64 is exact enough for an estimate; the product cannot overflow it.
    let t = (4.0 * limit as f64 * versions.max(0) as f64).sqrt();
    (t as i64).max(limit)
}

/// The range of lower-cased names a lower-cased GLOB `pattern` can match, as `[low, high)`, from
/// its literal start: a name matches either itself or as `name.extension`, so the start is cut at
/// its first `.` (the name may end there). `None` when the pattern starts with a wildcard.
fn name_range(pattern: &str) -> Option<(String, String)> {
    let literal = pattern
        .find(['*', '?', '[', '.'])
        .map_or(pattern, |i| &pattern[..i]);
    if literal.is_empty() {
        return None;
    }
    if literal.len() == pattern.len() {
        // No wildcard and no `.`: only a version named exactly so matches (`name.extension`
        // always holds a `.`). The range holds that name (and names continuing with U+0001).
        return Some((literal.to_string(), format!("{literal}\u{1}")));
    }
    // SQLite compares text as bytes: every string starting with `literal` is below
    // `literal` + U+10FFFF (the greatest code point, F4 8F BF BF) unless it continues with
    // that very character.
    Some((literal.to_string(), format!("{literal}\u{10FFFF}")))
}

#[cfg(test)]
mod tests {
    use super::name_range;

    #[test]
    fn name_range_is_the_literal_start_cut_at_the_first_dot() {
        assert_eq!(name_range("*lease"), None);
        assert_eq!(name_range(".docx"), None);
        let (low, high) = name_range("lease*").expect("a range");
        assert_eq!(low, "lease");
        assert!(high.as_str() > "lease zz\u{fffd}" && high.as_str() > "lease");
        assert!(high.as_str() < "leasf");
        assert_eq!(
            name_range("lease.v2*.docx").map(|r| r.0).as_deref(),
            Some("lease")
        );
        assert_eq!(name_range("le?se").map(|r| r.0).as_deref(), Some("le"));
        // A whole name: that name only, not every name it starts.
        let (low, high) = name_range("lease").expect("a range");
        assert_eq!(low, "lease");
        assert!(high.as_str() > "lease" && high.as_str() < "lease ");
        assert_eq!(name_range("le[a]se").map(|r| r.0).as_deref(), Some("le"));
    }
}
