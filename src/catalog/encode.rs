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
    /// 8 bytes: a row's state is only compared with the previous state of the same item, so a
    /// collision (2^-64 per comparison) is not a concern; every byte is kept in every row.
    pub(crate) fn finish(&self) -> [u8; 8] {
        let full = self.0.finalize();
        let mut out = [0u8; 8];
        out.copy_from_slice(&full.as_bytes()[..8]);
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

/// An API date as stored (schema v2): seconds since 1970 when formatting them gives back the
/// exact text, else the text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoredDate<'a> {
    Seconds(i64),
    Text(&'a str),
    /// A version's profile date equal to its edit date (most are): the empty blob, read back
    /// by [`get_profile_date`].
    SameAsEditDate,
}

const API_DATE: &str = "%Y-%m-%dT%H:%M:%SZ";

impl<'a> StoredDate<'a> {
    pub(crate) fn of(text: &'a str) -> Self {
        match chrono::NaiveDateTime::parse_from_str(text, API_DATE) {
            Ok(t) if t.format(API_DATE).to_string() == text => {
                Self::Seconds(t.and_utc().timestamp())
            }
            _ => Self::Text(text),
        }
    }

    /// `edit_ns` of a date stored as text (one stored as seconds has it already).
    pub(crate) fn text_ns(&self) -> Option<i64> {
        match self {
            Self::Seconds(_) | Self::SameAsEditDate => None,
            Self::Text(t) => api_date_ns(Some(t)),
        }
    }
}

impl rusqlite::ToSql for StoredDate<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(match self {
            Self::Seconds(s) => rusqlite::types::ToSqlOutput::from(*s),
            Self::Text(t) => rusqlite::types::ToSqlOutput::from(*t),
            Self::SameAsEditDate => {
                rusqlite::types::ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Blob(&[]))
            }
        })
    }
}

/// Read a version's `edit_profile_date` ([`StoredDate`], or the empty blob for "the same as
/// `edit_date`") back as the API's text.
pub(crate) fn get_profile_date(
    r: &rusqlite::Row<'_>,
    i: usize,
    edit_date: &Option<String>,
) -> rusqlite::Result<Option<String>> {
    match r.get_ref(i)? {
        rusqlite::types::ValueRef::Blob([]) => Ok(edit_date.clone()),
        _ => get_date(r, i),
    }
}

/// Read a date column written as [`StoredDate`] back as the API's text.
pub(crate) fn get_date(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<String>> {
    use rusqlite::types::ValueRef;
    match r.get_ref(i)? {
        ValueRef::Null => Ok(None),
        ValueRef::Integer(s) => DateTime::from_timestamp(s, 0)
            .map(|t| Some(t.format(API_DATE).to_string()))
            .ok_or(rusqlite::Error::IntegralValueOutOfRange(i, s)),
        ValueRef::Text(t) => Ok(Some(String::from_utf8_lossy(t).into_owned())),
        other => Err(rusqlite::Error::InvalidColumnType(
            i,
            "date".into(),
            other.data_type(),
        )),
    }
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
    fn api_dates_are_seconds_only_when_they_format_back_exactly() {
        assert_eq!(
            StoredDate::of("2026-11-03T14:02:11Z"),
            StoredDate::Seconds(1_793_714_531)
        );
        assert_eq!(
            StoredDate::of("1969-12-31T23:59:59Z"),
            StoredDate::Seconds(-1)
        );
        for text in [
            "2026-11-03T14:02:11.5Z",
            "2026-11-03T14:02:11+01:00",
            "2026-11-03 14:02:11",
            "2026-11-03T14:02:11z",
            "not a date",
            "",
        ] {
            assert_eq!(StoredDate::of(text), StoredDate::Text(text), "{text}");
        }
        assert_eq!(StoredDate::of("2026-11-03T14:02:11Z").text_ns(), None);
        assert_eq!(
            StoredDate::of("2026-11-03T14:02:11.5Z").text_ns(),
            Some(1_793_714_531_500_000_000)
        );
        let conn = rusqlite::Connection::open_in_memory().expect("db");
        conn.execute_batch("CREATE TABLE t (d ANY) STRICT")
            .expect("table");
        for text in [
            "2026-11-03T14:02:11Z",
            "2026-11-03T14:02:11.5Z",
            "0001-01-01T00:00:00Z",
        ] {
            conn.execute("DELETE FROM t", []).expect("clear");
            conn.execute("INSERT INTO t VALUES (?1)", [StoredDate::of(text)])
                .expect("insert");
            let back = conn
                .query_row("SELECT d FROM t", [], |r| get_date(r, 0))
                .expect("read");
            assert_eq!(back.as_deref(), Some(text));
        }
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

/// A row's `last_seq` as stored: the ordinal of the last snapshot holding the row, or, for a
/// row still in the newest snapshot ([`OPEN`](super::load::OPEN)), the empty text: no bytes in
/// the record or in an index key, and SQLite orders text after every integer, so
/// `last_seq >= S` holds for an open row whatever `S`.
pub(crate) struct LastSeq(pub(crate) u64);

impl rusqlite::ToSql for LastSeq {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        if self.0 == super::load::OPEN {
            return Ok(rusqlite::types::ToSqlOutput::from(""));
        }
        let v = i64::try_from(self.0)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(rusqlite::types::ToSqlOutput::from(v))
    }
}

impl rusqlite::types::FromSql for LastSeq {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        match v {
            rusqlite::types::ValueRef::Text(b"") => Ok(LastSeq(super::load::OPEN)),
            other => U64::column_result(other).map(|u| LastSeq(u.0)),
        }
    }
}

/// Read a `last_seq` column (see [`LastSeq`]).
pub(crate) fn get_last_seq(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(r.get::<_, LastSeq>(i)?.0)
}

/// Read a non-negative integer column.
pub(crate) fn get_u64(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(r.get::<_, U64>(i)?.0)
}

/// Read a nullable non-negative integer column.
pub(crate) fn get_opt_u64(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<u64>> {
    Ok(r.get::<_, Option<U64>>(i)?.map(|u| u.0))
}
