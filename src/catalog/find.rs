//! `find`: search versions across all snapshots.

use rusqlite::ToSql;

use super::Catalog;
use super::encode::{U64, get_last_seq, get_u64, time_to_ns_clamped};
use super::error::{CatalogError, SqlContext};
use super::rows::{self, RawVersion, VERSION_COLS};
use super::types::{FindHit, FindQuery, VersionOutline};

/// Hits returned when the query sets no limit.
pub const DEFAULT_FIND_LIMIT: usize = 1000;

/// How `find` looks for a name pattern with a literal start (`lease*`). Both give the same hits.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindPlan {
    /// [`FindPlan::ByName`] for a whole name and when few documents have names in the
    /// pattern's range, else [`FindPlan::InDocumentOrder`].
    Auto,
    /// For a whole name (no wildcard, no `.`): its documents in order from the name index,
    /// then their versions, until the limit: costs what the limit needs. For a range: every
    /// document with a name in it (an index range), sorted, then their versions until the
    /// limit: costs the number of such documents.
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

    /// [`Catalog::find`]'s hits as outlines: the same versions and snapshots, each without its
    /// profile (but its author) and content reference, which cost most of a `find` of many
    /// hits to read (for listings such as `imvault find`'s text output).
    pub fn find_outlines(
        &self,
        q: &FindQuery,
    ) -> Result<Vec<FindHit<VersionOutline>>, CatalogError> {
        self.find_with(q, FindPlan::Auto, rows::version_outline)
    }

    /// The plan [`FindPlan::Auto`] takes for `q`: [`FindPlan::ByName`] for a whole name (no
    /// wildcard, no `.`) and for a name pattern with a literal start that few documents' names have,
    /// else [`FindPlan::InDocumentOrder`].
    #[doc(hidden)]
    pub fn find_plan(&self, q: &FindQuery) -> Result<FindPlan, CatalogError> {
        let pattern = q.name.as_deref().map(str::to_ascii_lowercase);
        match pattern.as_deref().and_then(name_range) {
            // One whole name: its documents come in order from the name index, as many as needed.
            Some(NameRange::Exact(_)) => Ok(FindPlan::ByName),
            Some(NameRange::Prefix(low, high)) => {
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
    pub fn find_planned(
        &self,
        q: &FindQuery,
        plan: FindPlan,
    ) -> Result<Vec<FindHit>, CatalogError> {
        self.find_with(q, plan, rows::version)
    }

    /// [`Catalog::find_planned`], each hit's newest matching state made by `decode` (only
    /// those: the other states read on the way, and the row that finds the limit reached, are
    /// compared by their key columns but not decoded).
    #[tracing::instrument(name = "catalog_find", skip(self, decode), level = "debug")]
    fn find_with<V>(
        &self,
        q: &FindQuery,
        plan: FindPlan,
        decode: fn(RawVersion) -> Result<V, CatalogError>,
    ) -> Result<Vec<FindHit<V>>, CatalogError> {
        // The automatic plan is the one `find_plan` reports (a name range is counted in SQL
        // first, up to the threshold: ~4x cheaper per entry than reading the entries, which a
        // common range would waste).
        let plan = match plan {
            FindPlan::Auto => self.find_plan(q)?,
            plan => plan,
        };
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
            if let Some(r) = &range {
                // First, what a matching name must start with, as a LIKE (ASCII case-blind, as
                // lower() is): ~2.5x cheaper per row than lower() and GLOB, which it spares the
                // rows that cannot match.
                arg(
                    &mut filters,
                    " AND v.name LIKE ?# ESCAPE '\\'",
                    Box::new(r.like()),
                );
            }
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
        let named = match (plan, range) {
            (FindPlan::InDocumentOrder, _) | (_, None) => None,
            (_, Some(NameRange::Exact(name))) => Some(Named::Exact(name)),
            (_, Some(NameRange::Prefix(low, high))) => {
                Some(Named::Documents(self.documents_named(q, &low, &high)?))
            }
        };
        match named {
            Some(named) => {
                let n = args.len();
                let sql = format!(
                    "SELECT {VERSION_COLS}, v.first_seq, v.last_seq FROM versions v \
                     WHERE v.library = ?{} AND v.document = ?{}{filters} \
                     ORDER BY v.version, v.first_seq",
                    n + 1,
                    n + 2
                );
                let mut stmt = self.conn.prepare(&sql).ctx(action)?;
                // Adds the matching versions of a document; `false` once the limit is reached.
                let mut add_document = |library: i64, document: u64| {
                    let document = U64(document);
                    let mut params: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
                    params.push(&library);
                    params.push(&document);
                    for row in stmt.query_map(params.as_slice(), read).ctx(action)? {
                        let (raw, first, last) = row.ctx(action)?;
                        if !hits.add(raw, first, last) {
                            return Ok(false);
                        }
                    }
                    Ok::<_, CatalogError>(true)
                };
                match named {
                    // The index gives one name's documents in order, library by library: read
                    // only as many as the limit needs.
                    Named::Exact(name) => {
                        let mut documents_of = self
                            .conn
                            .prepare_cached(
                                "SELECT document FROM version_names \
                                 WHERE name = ?1 AND library = ?2 ORDER BY document",
                            )
                            .ctx(action)?;
                        'libraries: for library in self.libraries_by_name(q)? {
                            let documents = documents_of
                                .query_map(rusqlite::params![name, library], |r| get_u64(r, 0))
                                .ctx(action)?;
                            for document in documents {
                                if !add_document(library, document.ctx(action)?)? {
                                    break 'libraries;
                                }
                            }
                        }
                    }
                    Named::Documents(documents) => {
                        for (library, document) in documents {
                            if !add_document(library, document)? {
                                break;
                            }
                        }
                    }
                }
            }
            // A pattern starting with a wildcard, a common literal start, or no name: each
            // library's versions in key order (libraries by name), filtered, until the limit.
            // Reads about `limit / share of matching versions` rows: few when matches are
            // common, the whole table when they are rare (no index can narrow those).
            None => {
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
                        if !hits.add(raw, first, last) {
                            break 'libraries;
                        }
                    }
                }
            }
        }
        // Only the hits' rows are decoded, not every state read on the way.
        hits.found
            .into_iter()
            .map(|(raw, ranges)| {
                let library = raw.library()?;
                let snapshots = ranges
                    .into_iter()
                    .map(|(first, last)| self.span(&library, first, last))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(FindHit {
                    version: decode(raw)?,
                    snapshots,
                })
            })
            .collect()
    }

    /// Whether so many documents have names within `[low, high)` that reading versions in key
    /// order finds `limit` matches sooner than sorting every such document: the range holds at
    /// least `sqrt(limit * versions)` entries of `version_names` (counted up to that, over
    /// every library whatever `q.library` says).
    /// Key order reads about `limit * versions / matching versions` rows, ~2 index entries'
    /// cost each (its LIKE prefilter rejects most rows cheaply); a name range holds about
    /// half as many entries as matching versions, each read and sorted (measured at 10 M
    /// versions: ~0.4 us per row, ~0.2 us per entry).
    fn names_are_common(&self, low: &str, high: &str, limit: usize) -> Result<bool, CatalogError> {
        let action = || format!("counting the documents named {low:?}...");
        let threshold = self.common_threshold(limit)?;
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

    /// How many `version_names` entries make a name range common for `limit` hits (see
    /// [`Catalog::names_are_common`]).
    fn common_threshold(&self, limit: usize) -> Result<i64, CatalogError> {
        // The largest row id: the number of version rows, give or take removed ones.
        let versions: i64 = self
            .conn
            .prepare_cached("SELECT COALESCE(max(rid), 0) FROM versions")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .ctx(|| "counting the versions".to_string())?;
        Ok(common_threshold(limit, versions))
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
        let action = || format!("finding the documents named {low:?}... for {q:?}");
        // Libraries in name order; an entry's rank is its library's place there (a customer has
        // a few libraries).
        let mut libraries: Vec<(String, i64)> = self
            .conn
            .prepare_cached("SELECT name, id FROM libraries")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .ctx(action)?;
        libraries.sort_unstable();
        let wanted = q.library.as_ref().map(|l| l.to_string());
        let rank = |library: i64| {
            libraries
                .iter()
                .position(|(name, id)| *id == library && wanted.as_ref().is_none_or(|w| w == name))
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT library, document FROM version_names \
                 WHERE name >= ?1 AND name < ?2",
            )
            .ctx(action)?;
        let mut rows = stmt.query(rusqlite::params![low, high]).ctx(action)?;
        // Sorted here rather than by SQL (DISTINCT and ORDER BY a library name looked up per
        // entry took ~30 ms of CPU for 20,000 entries at 1 M versions); keyed by rank once per
        // entry (a hash lookup per comparison cost ~140 ms sorting 190,000 entries).
        // Each entry as one number, its library's rank above its document number: a sort of
        // plain integers.
        let mut keyed: Vec<u128> = Vec::with_capacity(1 << 12);
        while let Some(r) = rows.next().ctx(action)? {
            if let Some(rank) = rank(r.get(0).ctx(action)?) {
                keyed.push((rank as u128) << 64 | u128::from(get_u64(r, 1).ctx(action)?));
            }
        }
        keyed.sort_unstable();
        keyed.dedup();
        Ok(keyed
            .into_iter()
            .map(|k| (libraries[(k >> 64) as usize].1, k as u64))
            .collect())
    }
}

/// Where the documents of a name come from when `find` reads them by name.
enum Named {
    /// One whole name: the name index, in order.
    Exact(String),
    /// Every document named within a range, sorted.
    Documents(Vec<(i64, u64)>),
}

/// Hits gathered in order: one per version (its newest matching state, and the snapshot ranges
/// of every matching state), at most `limit`.
struct Hits {
    limit: usize,
    found: Vec<(RawVersion, Vec<(u64, u64)>)>,
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
    fn add(&mut self, v: RawVersion, first: u64, last: u64) -> bool {
        match self.found.last_mut() {
            Some((h, ranges)) if h.same_version(&v) => {
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
/// [`Catalog::names_are_common`]): `sqrt(limit * versions)`, at least `limit`.
fn common_threshold(limit: usize, versions: i64) -> i64 {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX).max(1);
    // f64 is exact enough for an estimate; the product cannot overflow it.
    let t = (limit as f64 * versions.max(0) as f64).sqrt();
    (t as i64).max(limit)
}

/// The lower-cased names a lower-cased GLOB pattern can match, from its literal start.
#[derive(Debug, PartialEq, Eq)]
enum NameRange {
    /// No wildcard and no `.`: only versions named exactly so match (`name.extension` always
    /// holds a `.`).
    Exact(String),
    /// The names in `[low, high)`: those starting with the literal start.
    Prefix(String, String),
}

impl NameRange {
    /// A LIKE pattern (escaped with `\`) every name in the range matches: the whole name, or
    /// the literal start followed by anything.
    fn like(&self) -> String {
        let escape = |literal: &str| {
            let mut out = String::with_capacity(literal.len() + 1);
            for c in literal.chars() {
                if matches!(c, '%' | '_' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
            out
        };
        match self {
            Self::Exact(name) => escape(name),
            Self::Prefix(low, _) => escape(low) + "%",
        }
    }
}

/// The names a lower-cased GLOB `pattern` can match, from its literal start: a name matches
/// either itself or as `name.extension`, so the start is cut at its first `.` (the name may end
/// there). `None` when the pattern is empty or starts with a wildcard or a `.`.
fn name_range(pattern: &str) -> Option<NameRange> {
    let literal = pattern
        .find(['*', '?', '[', '.'])
        .map_or(pattern, |i| &pattern[..i]);
    if literal.is_empty() {
        return None;
    }
    if literal.len() == pattern.len() {
        return Some(NameRange::Exact(literal.to_string()));
    }
    // SQLite compares text as bytes: every string starting with `literal` is below
    // `literal` + U+10FFFF (the greatest code point, F4 8F BF BF) unless it continues with
    // that very character.
    Some(NameRange::Prefix(
        literal.to_string(),
        format!("{literal}\u{10FFFF}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::{NameRange, name_range};

    fn start(r: Option<NameRange>) -> Option<String> {
        match r? {
            NameRange::Exact(name) => Some(name),
            NameRange::Prefix(low, _) => Some(low),
        }
    }

    #[test]
    fn name_range_is_the_literal_start_cut_at_the_first_dot() {
        assert_eq!(name_range("*lease"), None);
        assert_eq!(name_range(".docx"), None);
        let Some(NameRange::Prefix(low, high)) = name_range("lease*") else {
            panic!("a range");
        };
        assert_eq!(low, "lease");
        assert!(high.as_str() > "lease zz\u{fffd}" && high.as_str() > "lease");
        assert!(high.as_str() < "leasf");
        assert_eq!(
            start(name_range("lease.v2*.docx")).as_deref(),
            Some("lease")
        );
        assert!(matches!(
            name_range("lease.docx"),
            Some(NameRange::Prefix(..))
        ));
        assert_eq!(start(name_range("le?se")).as_deref(), Some("le"));
        // A whole name: that name only, not every name it starts.
        assert_eq!(name_range("lease"), Some(NameRange::Exact("lease".into())));
        assert_eq!(start(name_range("le[a]se")).as_deref(), Some("le"));
    }

    #[test]
    fn like_patterns_escape_like_wildcards() {
        let like = |p: &str| name_range(p).expect("a range").like();
        assert_eq!(like("lease*"), "lease%");
        assert_eq!(like("lease"), "lease");
        assert_eq!(like(r"50%_off\x*"), r"50\%\_off\\x%");
    }
}
