//! `find`: search versions across all snapshots.

use rusqlite::ToSql;

use super::Catalog;
use super::encode::{get_last_seq, get_u64, time_to_ns_clamped};
use super::error::{CatalogError, SqlContext};
use super::rows::{self, VERSION_COLS};
use super::types::{FindHit, FindQuery};

/// Hits returned when the query sets no limit.
pub const DEFAULT_FIND_LIMIT: usize = 1000;

impl Catalog {
    /// Versions matching every filter of `q`, in any snapshot, ordered by library, document and
    /// version. Each hit carries its newest matching state and every snapshot holding a
    /// matching state. Client and matter match when the version's workspace (`workspace_id` of
    /// its profile) carried those codes in any snapshot the version state was in.
    #[tracing::instrument(name = "catalog_find", skip(self), level = "debug")]
    pub fn find(&self, q: &FindQuery) -> Result<Vec<FindHit>, CatalogError> {
        // The filters, as SQL with numbered parameters; used twice (see below).
        let mut sql = String::new();
        let mut args: Vec<Box<dyn ToSql>> = Vec::new();
        let mut arg = |sql: &mut String, clause: &str, v: Box<dyn ToSql>| {
            args.push(v);
            sql.push_str(&clause.replace("?#", &format!("?{}", args.len())));
        };
        if let Some(l) = &q.library {
            arg(
                &mut sql,
                " AND v.library = (SELECT id FROM libraries WHERE name = ?#)",
                Box::new(l.to_string()),
            );
        }
        if let Some(n) = &q.name {
            let pattern = n.to_ascii_lowercase();
            // A pattern with a literal start reads only the names starting with it (index
            // versions_name); one starting with a wildcard reads every version.
            if let Some((low, high)) = name_range(&pattern) {
                arg(&mut sql, " AND lower(v.name) >= ?#", Box::new(low));
                arg(&mut sql, " AND lower(v.name) < ?#", Box::new(high));
            }
            arg(
                &mut sql,
                " AND (lower(v.name) GLOB ?# OR lower(v.name || '.' || v.extension) GLOB ?#)",
                Box::new(pattern),
            );
        }
        if let Some(a) = &q.author {
            arg(&mut sql, " AND v.author = ?#", Box::new(a.to_lowercase()));
        }
        if let Some(t) = &q.modified_after {
            arg(
                &mut sql,
                " AND COALESCE(v.edit_ns, CASE WHEN typeof(v.edit_date) = 'integer' \
                 THEN v.edit_date * 1000000000 END) > ?#",
                Box::new(time_to_ns_clamped(t)),
            );
        }
        if q.client.is_some() || q.matter.is_some() {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM containers w WHERE w.library = v.library \
                 AND w.number = v.workspace AND w.first_seq <= v.last_seq \
                 AND w.last_seq >= v.first_seq",
            );
            if let Some(c) = &q.client {
                arg(&mut sql, " AND w.client = ?#", Box::new(c.to_lowercase()));
            }
            if let Some(m) = &q.matter {
                arg(&mut sql, " AND w.matter = ?#", Box::new(m.to_lowercase()));
            }
            sql.push(')');
        }
        let limit = q.limit.unwrap_or(DEFAULT_FIND_LIMIT);
        let action = || format!("searching versions with {q:?}");
        // First the first `limit` matching versions in order, sorted as bare keys (a common
        // name prefix can match far more versions than the limit: only their keys go through
        // the sort); then every matching state of those versions, with their columns.
        args.push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
        let filters = sql;
        let sql = format!(
            "WITH hits AS (SELECT DISTINCT v.library, v.document, v.version FROM versions v \
             WHERE 1{filters} ORDER BY (SELECT l.name FROM libraries l WHERE l.id = v.library), \
             v.document, v.version LIMIT ?{n}) \
             SELECT {VERSION_COLS}, v.first_seq, v.last_seq FROM hits h CROSS JOIN versions v \
             ON v.library = h.library AND v.document = h.document AND v.version = h.version \
             WHERE 1{filters} ORDER BY (SELECT l.name FROM libraries l WHERE l.id = v.library), \
             v.document, v.version, v.first_seq",
            n = args.len()
        );

        let params: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
        let mut stmt = self.conn.prepare(&sql).ctx(action)?;
        let mut rows_iter = stmt
            .query_map(params.as_slice(), |r| {
                Ok((
                    rows::raw_version(r, 0)?,
                    get_u64(r, rows::VERSION_NCOLS)?,
                    get_last_seq(r, rows::VERSION_NCOLS + 1)?,
                ))
            })
            .ctx(action)?;
        // (hit, ranges of its matching states)
        let mut hits: Vec<(crate::catalog::VersionRow, Vec<(u64, u64)>)> = Vec::new();
        for row in &mut rows_iter {
            let (raw, first, last) = row.ctx(action)?;
            let v = rows::version(raw)?;
            match hits.last_mut() {
                Some((h, ranges)) if h.id == v.id => {
                    *h = v;
                    ranges.push((first, last));
                }
                _ => {
                    if hits.len() == limit {
                        break;
                    }
                    hits.push((v, vec![(first, last)]));
                }
            }
        }
        drop(rows_iter);
        hits.into_iter()
            .map(|(version, ranges)| {
                let snapshots = ranges
                    .into_iter()
                    .map(|(first, last)| self.span(&version.id.document.library, first, last))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(FindHit { version, snapshots })
            })
            .collect()
    }
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
        assert_eq!(name_range("le[a]se").map(|r| r.0).as_deref(), Some("le"));
    }
}
