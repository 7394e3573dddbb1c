//! A deterministic text dump of everything the repository determines (not the job queue):
//! the "rebuild gives the same answers" check compares two of these.

use rusqlite::types::ValueRef;
use serde_json::Value;

use super::Catalog;
use super::error::{CatalogError, SqlContext};

/// (table, columns, order) of every repository-derived table. Row ids are left out: they
/// depend on insertion history, not on content.
const TABLES: &[(&str, &str, &str)] = &[
    (
        "snapshots",
        "id, library, seq, time_ns, parent, host, tool_version, summary, n_containers, \
         n_versions, n_filings, n_doc_acls, n_skipped",
        "library, seq",
    ),
    (
        "containers",
        "library, number, first_seq, last_seq, state, kind, name, parent, workspace, client, \
         matter, profile, acl",
        "library, number, first_seq",
    ),
    (
        "versions",
        "library, document, version, first_seq, last_seq, state, kind, name, extension, size, \
         edit_date, edit_ns, edit_profile_date, author, workspace, profile, content",
        "library, document, version, first_seq",
    ),
    (
        "filings",
        "library, document, folder, first_seq, last_seq",
        "library, document, folder, first_seq",
    ),
    (
        "document_acls",
        "library, document, first_seq, last_seq, state, acl",
        "library, document, first_seq",
    ),
    (
        "skipped",
        "snapshot, object, reason",
        "snapshot, object, reason",
    ),
];

impl Catalog {
    /// One line per row, `table [values...]`, tables and rows in a fixed order.
    pub fn canonical_dump(&self) -> Result<String, CatalogError> {
        let mut out = String::new();
        for (table, cols, order) in TABLES {
            let action = || format!("dumping table {table} of {}", self.path.display());
            let mut stmt = self
                .conn
                .prepare(&format!("SELECT {cols} FROM {table} ORDER BY {order}"))
                .ctx(action)?;
            let n = stmt.column_count();
            let mut rows = stmt.query([]).ctx(action)?;
            while let Some(row) = rows.next().ctx(action)? {
                let mut values = Vec::with_capacity(n);
                for i in 0..n {
                    values.push(match row.get_ref(i).ctx(action)? {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(i) => Value::from(i),
                        ValueRef::Real(f) => Value::from(f),
                        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
                        ValueRef::Blob(b) => Value::String(hex::encode(b)),
                    });
                }
                out.push_str(table);
                out.push(' ');
                out.push_str(&Value::Array(values).to_string());
                out.push('\n');
            }
        }
        Ok(out)
    }
}
