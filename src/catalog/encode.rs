//! Conversions between typed rows and SQL values: canonical JSON, state hashes, times, ids.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::error::CatalogError;
use super::types::SnapshotId;
use crate::imanage::model::{Acl, ContainerId, ContainerKind, DocumentKind, LibraryId};

/// JSON text with object keys sorted at every level, so equal values give equal text whatever
/// order the API chose.
pub(crate) fn canonical_json(v: &Value) -> String {
    let mut out = Vec::with_capacity(256);
    write_canonical(v, &mut out);
    // Only valid UTF-8 (JSON text) was written.
    String::from_utf8(out).unwrap_or_default()
}

/// [`canonical_json`] of an object, without cloning it into a `Value`.
pub(crate) fn canonical_map(m: &Map<String, Value>) -> String {
    let mut out = Vec::with_capacity(512);
    write_map(m, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

fn write_scalar<T: serde::Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    // Serializing strings, numbers, booleans and null into memory cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

fn write_map(m: &Map<String, Value>, out: &mut Vec<u8>) {
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (i, (k, x)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_scalar(k.as_str(), out);
        out.push(b':');
        write_canonical(x, out);
    }
    out.push(b'}');
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => write_map(m, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        other => write_scalar(other, out),
    }
}

/// Incremental state hash: 16 bytes of BLAKE3 over length-prefixed fields.
pub(crate) struct StateHasher(blake3::Hasher);

impl StateHasher {
    pub(crate) fn new(table: &str) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(table.as_bytes());
        Self(h)
    }
    pub(crate) fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }
    pub(crate) fn opt(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            None => {
                self.0.update(&[0]);
            }
            Some(s) => {
                self.0.update(&[1]);
                self.field(s.as_bytes());
            }
        }
        self
    }
    pub(crate) fn finish(&self) -> [u8; 16] {
        let full = self.0.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full.as_bytes()[..16]);
        out
    }
}

pub(crate) fn time_to_ns(snapshot: &SnapshotId, t: &DateTime<Utc>) -> Result<i64, CatalogError> {
    t.timestamp_nanos_opt()
        .ok_or_else(|| CatalogError::TimeOutOfRange {
            snapshot: *snapshot,
            time: t.to_rfc3339(),
        })
}

/// For query parameters: times beyond the storable range clamp to its ends.
pub(crate) fn time_to_ns_clamped(t: &DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

pub(crate) fn ns_to_time(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

/// Parse an API date (`2026-11-03T14:02:11Z`) for range filters; `None` if it is not RFC 3339.
pub(crate) fn api_date_ns(s: Option<&str>) -> Option<i64> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .and_then(|d| d.with_timezone(&Utc).timestamp_nanos_opt())
}

pub(crate) fn corrupt(what: impl Into<String>, problem: impl ToString) -> CatalogError {
    CatalogError::Corrupt {
        what: what.into(),
        problem: problem.to_string(),
    }
}

pub(crate) fn library(s: &str) -> Result<LibraryId, CatalogError> {
    LibraryId::new(s).map_err(|e| corrupt("a library id", e))
}

pub(crate) fn snapshot_id(s: String) -> Result<SnapshotId, CatalogError> {
    s.parse::<SnapshotId>()
        .map_err(|e| corrupt("a snapshot id", e))
}

pub(crate) fn container_id(lib: &LibraryId, number: u64) -> ContainerId {
    ContainerId {
        library: lib.clone(),
        number,
    }
}

pub(crate) fn container_kind_str(k: ContainerKind) -> &'static str {
    match k {
        ContainerKind::Workspace => "workspace",
        ContainerKind::Folder => "folder",
        ContainerKind::Tab => "tab",
        ContainerKind::SearchFolder => "search_folder",
    }
}

pub(crate) fn container_kind(s: &str) -> Result<ContainerKind, CatalogError> {
    Ok(match s {
        "workspace" => ContainerKind::Workspace,
        "folder" => ContainerKind::Folder,
        "tab" => ContainerKind::Tab,
        "search_folder" => ContainerKind::SearchFolder,
        other => return Err(corrupt("a container kind", other)),
    })
}

pub(crate) fn document_kind_str(k: DocumentKind) -> &'static str {
    match k {
        DocumentKind::Document => "document",
        DocumentKind::Email => "email",
    }
}

/// A document kind as stored in `versions.kind` (schema v2).
pub(crate) fn document_kind_int(k: DocumentKind) -> i64 {
    match k {
        DocumentKind::Document => 0,
        DocumentKind::Email => 1,
    }
}

pub(crate) fn document_kind_from_int(i: i64) -> Result<DocumentKind, CatalogError> {
    Ok(match i {
        0 => DocumentKind::Document,
        1 => DocumentKind::Email,
        other => return Err(corrupt("a document kind", other)),
    })
}

/// An ACL as canonical JSON text (entries sorted by type and id).
pub(crate) fn acl_json(acl: &Acl) -> Result<String, serde_json::Error> {
    let v = serde_json::to_value(acl.clone().normalized())?;
    Ok(canonical_json(&v))
}

pub(crate) fn parse_acl(what: &str, s: &str) -> Result<Acl, CatalogError> {
    serde_json::from_str(s).map_err(|e| corrupt(format!("the ACL of {what}"), e))
}

pub(crate) fn parse_object(
    what: &str,
    s: &str,
) -> Result<serde_json::Map<String, Value>, CatalogError> {
    serde_json::from_str(s).map_err(|e| corrupt(format!("the profile of {what}"), e))
}

pub(crate) fn parse_value(what: &str, s: &str) -> Result<Value, CatalogError> {
    serde_json::from_str(s).map_err(|e| corrupt(what.to_string(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"d":2,"c":3}],"x":null}}"#)
            .expect("valid json");
        let b: Value = serde_json::from_str(r#"{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#)
            .expect("valid json");
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#
        );
    }

    #[test]
    fn state_hash_separates_fields() {
        let h1 = StateHasher::new("t").field(b"ab").field(b"c").finish();
        let h2 = StateHasher::new("t").field(b"a").field(b"bc").finish();
        assert_ne!(h1, h2);
        let n1 = StateHasher::new("t").opt(None).finish();
        let n2 = StateHasher::new("t").opt(Some("")).finish();
        assert_ne!(n1, n2);
    }
}

/// A `u64` stored as SQLite's signed 64-bit integer; values above `i64::MAX` are refused on
/// write and reported as out of range on read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct U64(pub(crate) u64);

impl rusqlite::ToSql for U64 {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        let v = i64::try_from(self.0)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(rusqlite::types::ToSqlOutput::from(v))
    }
}

impl rusqlite::types::FromSql for U64 {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let i = v.as_i64()?;
        u64::try_from(i)
            .map(U64)
            .map_err(|_| rusqlite::types::FromSqlError::OutOfRange(i))
    }
}

/// Read a non-negative integer column.
pub(crate) fn get_u64(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(r.get::<_, U64>(i)?.0)
}

/// Read a nullable non-negative integer column.
pub(crate) fn get_opt_u64(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<u64>> {
    Ok(r.get::<_, Option<U64>>(i)?.map(|u| u.0))
}
