//! A deterministic text dump of everything the repository determines (not the job queue):
//! the "rebuild gives the same answers" check compares two of these.

use rusqlite::types::ValueRef;
use serde_json::Value;

use super::Catalog;
use super::encode::canonical_json;
use super::error::{CatalogError, SqlContext};
use super::packed::{self, Dict};

/// The dictionary of a packed column: dumped as its text (a version profile as the residual
/// without the fields its row has as columns), so the dump does not depend on how it was
/// compressed, nor on which row a profile was packed against (row ids are left out).
fn packed_kind(table: &str, column: &str) -> Option<Dict> {
    match (table, column) {
        ("containers", "profile") => Some(Dict::ContainerProfile),
        ("containers" | "document_acls", "acl") => Some(Dict::Acl),
        _ => None,
    }
}

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
        "(SELECT name FROM libraries WHERE id = containers.library) AS library, number, first_seq, last_seq, state, kind, name, parent, workspace, client, \
         matter, profile, acl",
        "library, number, first_seq",
    ),
    (
        "versions",
        "(SELECT name FROM libraries WHERE id = versions.library) AS library, document, version, first_seq, last_seq, kind, name, extension, size, \
         edit_date, edit_ns, edit_profile_date, (SELECT name FROM authors WHERE id = versions.author) AS author, workspace, profile, content, \
         (SELECT b.profile FROM versions b WHERE b.rid = versions.base) AS base_profile",
        "library, document, version, first_seq",
    ),
    (
        "version_names",
        "name, (SELECT name FROM libraries WHERE id = version_names.library) AS library, document",
        "name, library, document",
    ),
    (
        "filings",
        "(SELECT name FROM libraries WHERE id = filings.library) AS library, document, folder, first_seq, last_seq",
        "library, document, folder, first_seq",
    ),
    (
        "document_acls",
        "(SELECT name FROM libraries WHERE id = document_acls.library) AS library, document, first_seq, last_seq, state, \
         (SELECT acl FROM acls WHERE acls.state = document_acls.state AND acls.variant = document_acls.variant) AS acl",
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
            let names: Vec<String> = stmt.column_names().map(str::to_string).collect();
            let base_at = names.iter().position(|c| c == "base_profile");
            let mut rows = stmt.query([]).ctx(action)?;
            while let Some(row) = rows.next().ctx(action)? {
                let mut values = Vec::with_capacity(n);
                for (i, name) in names.iter().enumerate() {
                    let value = row.get_ref(i).ctx(action)?;
                    match (*table, name.as_str(), value) {
                        // Read with the profile it belongs to.
                        (_, "base_profile", _) => {}
                        ("versions", "profile", ValueRef::Blob(b)) => {
                            let base = match base_at {
                                Some(at) => row
                                    .get_ref(at)
                                    .ctx(action)?
                                    .as_blob_or_null()
                                    .ok()
                                    .flatten(),
                                None => None,
                            };
                            values.push(Value::String(packed::profile_residual(
                                &|| "versions.profile of the catalog".to_string(),
                                b,
                                base,
                            )?));
                        }
                        ("versions", "content", ValueRef::Blob(b)) => {
                            let v = packed::unpack_content(
                                &|| "versions.content of the catalog".to_string(),
                                b,
                            )?;
                            values.push(Value::String(canonical_json(&v)));
                        }
                        (_, _, ValueRef::Blob(b)) => {
                            values.push(Value::String(match packed_kind(table, name) {
                                Some(dict) => packed::unpack_text(
                                    &|| format!("{table}.{name} of the catalog"),
                                    dict,
                                    b,
                                )?,
                                None => hex::encode(b),
                            }))
                        }
                        (_, _, ValueRef::Null) => values.push(Value::Null),
                        (_, _, ValueRef::Integer(i)) => values.push(Value::from(i)),
                        (_, _, ValueRef::Real(f)) => values.push(Value::from(f)),
                        (_, _, ValueRef::Text(t)) => {
                            values.push(Value::String(String::from_utf8_lossy(t).into_owned()))
                        }
                    }
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
