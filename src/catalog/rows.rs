//! Reading typed rows back from SQL rows.

use rusqlite::Row;
use serde_json::Value;

use super::encode::{self, container_id, get_opt_u64, get_u64};
use super::error::CatalogError;
use super::packed::{self, Dict};
use super::types::{
    ContainerRow, ItemCounts, SnapshotInfo, SnapshotRef, SnapshotRow, VersionOutline, VersionRow,
};
use crate::imanage::model::{DocumentId, VersionId};

/// Columns read by [`container`], in order.
pub(crate) const CONTAINER_COLS: &str = "(SELECT l.name FROM libraries l WHERE l.id = c.library), c.number, c.kind, c.name, c.parent, c.workspace, c.profile, c.acl";

/// Columns read by [`version`], in order.
pub(crate) const VERSION_COLS: &str = "(SELECT l.name FROM libraries l WHERE l.id = v.library), v.document, v.version, v.kind, v.name, \
     v.extension, v.size, v.edit_date, v.edit_profile_date, v.profile, v.content, \
     (SELECT b.profile FROM versions b WHERE b.rid = v.base)";

/// How many columns [`VERSION_COLS`] has.
pub(crate) const VERSION_NCOLS: usize = 12;

/// Columns read by [`snapshot_info`], in order.
pub(crate) const SNAPSHOT_COLS: &str = "s.id, s.library, s.seq, s.time_ns, s.parent, s.host, \
     s.tool_version, s.summary, s.n_containers, s.n_versions, s.n_filings, s.n_doc_acls, \
     s.n_skipped";

/// Raw column values, read inside the rusqlite callback; typed afterwards.
pub(crate) type RawContainer = (
    String,
    u64,
    String,
    String,
    Option<u64>,
    Option<u64>,
    Vec<u8>,
    Option<Vec<u8>>,
);

pub(crate) fn raw_container(r: &Row<'_>, at: usize) -> rusqlite::Result<RawContainer> {
    Ok((
        r.get(at)?,
        get_u64(r, at + 1)?,
        r.get(at + 2)?,
        r.get(at + 3)?,
        get_opt_u64(r, at + 4)?,
        get_opt_u64(r, at + 5)?,
        r.get(at + 6)?,
        r.get(at + 7)?,
    ))
}

pub(crate) fn container(raw: RawContainer) -> Result<ContainerRow, CatalogError> {
    let (lib, number, kind, name, parent, workspace, profile, acl) = raw;
    let library = encode::library(&lib)?;
    let id = container_id(&library, number);
    let what = format!("container {id}");
    Ok(ContainerRow {
        kind: encode::container_kind(&kind)?,
        name,
        parent_id: parent.map(|n| container_id(&library, n)),
        workspace_id: workspace.map(|n| container_id(&library, n)),
        profile: encode::parse_object(
            &what,
            &packed::unpack_text(
                &|| format!("the profile of {what}"),
                Dict::ContainerProfile,
                &profile,
            )?,
        )?,
        acl: acl
            .map(|a| {
                let text = packed::unpack_text(&|| format!("the ACL of {what}"), Dict::Acl, &a)?;
                encode::parse_acl(&what, &text)
            })
            .transpose()?,
        id,
    })
}

pub(crate) struct RawVersion {
    library: String,
    document: u64,
    version: u32,
    kind: i64,
    name: String,
    extension: Option<String>,
    size: u64,
    edit_date: Option<String>,
    edit_profile_date: Option<String>,
    profile: Vec<u8>,
    content: Vec<u8>,
    /// The profile of row `base`, when the profile was packed against it.
    base_profile: Option<Vec<u8>>,
}

pub(crate) fn raw_version(r: &Row<'_>, at: usize) -> rusqlite::Result<RawVersion> {
    let edit_date = encode::get_date(r, at + 7)?;
    Ok(RawVersion {
        library: r.get(at)?,
        document: get_u64(r, at + 1)?,
        version: r.get(at + 2)?,
        kind: r.get(at + 3)?,
        name: r.get(at + 4)?,
        extension: r.get(at + 5)?,
        size: get_u64(r, at + 6)?,
        edit_profile_date: encode::get_profile_date(r, at + 8, &edit_date)?,
        edit_date,
        profile: r.get(at + 9)?,
        content: r.get(at + 10)?,
        base_profile: r.get(at + 11)?,
    })
}

pub(crate) fn version(raw: RawVersion) -> Result<VersionRow, CatalogError> {
    version_with(raw, Profiles::Parsed)
}

/// How version rows carry their profiles: parsed into `profile`, or as text in `profile_text`
/// (`profile` left empty) for a reader that only prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profiles {
    Parsed,
    Text,
}

/// [`version`], with its profile as `profiles` says.
pub(crate) fn version_with(
    raw: RawVersion,
    profiles: Profiles,
) -> Result<VersionRow, CatalogError> {
    let id = raw.id()?;
    let what = format!("version {id}");
    let content_what = || format!("the content reference of {what}");
    let content = packed::unpack_content(&content_what, &raw.content)?;
    let mut row = VersionRow {
        kind: encode::document_kind_from_int(raw.kind)?,
        name: raw.name,
        extension: raw.extension,
        size: raw.size,
        edit_date: raw.edit_date,
        edit_profile_date: raw.edit_profile_date,
        profile: serde_json::Map::new(),
        content,
        profile_text: None,
        id,
    };
    let profile_what = || format!("the profile of {what}");
    let (packed, base, derived) = (&raw.profile, raw.base_profile.as_deref(), derived_of(&row));
    match profiles {
        Profiles::Parsed => {
            row.profile = packed::unpack_profile(&profile_what, packed, base, derived)?;
        }
        Profiles::Text => {
            row.profile_text = Some(Box::new(packed::unpack_profile_text(
                &profile_what,
                packed,
                base,
                derived,
            )?));
        }
    }
    Ok(row)
}

/// What [`version`] reads of the row for a listing ([`VersionOutline`]): no content reference
/// and, of the profile, only its author.
pub(crate) fn version_outline(raw: RawVersion) -> Result<VersionOutline, CatalogError> {
    let id = raw.id()?;
    let author = packed::profile_author(
        &|| format!("the profile of version {id}"),
        &raw.profile,
        raw.base_profile.as_deref(),
    )?;
    Ok(VersionOutline {
        kind: encode::document_kind_from_int(raw.kind)?,
        name: raw.name,
        extension: raw.extension,
        size: raw.size,
        author,
        id,
    })
}

impl RawVersion {
    /// The version the row is of.
    pub(crate) fn id(&self) -> Result<VersionId, CatalogError> {
        Ok(VersionId {
            document: DocumentId {
                library: self.library()?,
                number: self.document,
            },
            version: self.version,
        })
    }

    /// Whether the row is of version `other`'s (same library, document and version number).
    pub(crate) fn same_version(&self, other: &RawVersion) -> bool {
        self.document == other.document
            && self.version == other.version
            && self.library == other.library
    }

    /// The row's library, as its column names it.
    pub(crate) fn library(&self) -> Result<crate::imanage::model::LibraryId, CatalogError> {
        encode::library(&self.library)
    }
}

/// The values of the profile fields a version row keeps as columns ([`packed::DERIVED`]), as
/// the row gives them: what [`packed::pack_profile`] leaves out when the profile agrees.
pub(crate) fn derived_of(v: &VersionRow) -> packed::Derived {
    let opt = |s: &Option<String>| s.as_ref().map_or(Value::Null, |s| Value::from(s.as_str()));
    [
        Value::from(v.id.to_string()),
        Value::from(v.id.document.library.as_str()),
        Value::from(v.id.document.number),
        Value::from(v.id.version),
        Value::from(v.name.as_str()),
        opt(&v.extension),
        Value::from(v.size),
        opt(&v.edit_date),
        opt(&v.edit_profile_date),
        Value::from(encode::document_kind_str(v.kind)),
    ]
}

pub(crate) struct RawSnapshot {
    id: String,
    library: String,
    seq: u64,
    time_ns: i64,
    parent: Option<String>,
    host: String,
    tool_version: String,
    summary: String,
    counts: ItemCounts,
}

pub(crate) fn raw_snapshot(r: &Row<'_>) -> rusqlite::Result<RawSnapshot> {
    Ok(RawSnapshot {
        id: r.get(0)?,
        library: r.get(1)?,
        seq: get_u64(r, 2)?,
        time_ns: r.get(3)?,
        parent: r.get(4)?,
        host: r.get(5)?,
        tool_version: r.get(6)?,
        summary: r.get(7)?,
        counts: ItemCounts {
            containers: get_u64(r, 8)?,
            versions: get_u64(r, 9)?,
            filings: get_u64(r, 10)?,
            document_acls: get_u64(r, 11)?,
            skipped: get_u64(r, 12)?,
        },
    })
}

pub(crate) fn snapshot_info(raw: RawSnapshot) -> Result<SnapshotInfo, CatalogError> {
    let id = encode::snapshot_id(raw.id)?;
    let what = format!("the summary of snapshot {id}");
    Ok(SnapshotInfo {
        row: SnapshotRow {
            library: encode::library(&raw.library)?,
            time: encode::ns_to_time(raw.time_ns),
            parent: raw.parent.map(encode::snapshot_id).transpose()?,
            host: raw.host,
            tool_version: raw.tool_version,
            summary: encode::parse_value(&what, &raw.summary)?,
            id,
        },
        seq: raw.seq,
        counts: raw.counts,
    })
}

pub(crate) fn snapshot_ref(
    id: String,
    seq: u64,
    time_ns: i64,
) -> Result<SnapshotRef, CatalogError> {
    Ok(SnapshotRef {
        id: encode::snapshot_id(id)?,
        seq,
        time: encode::ns_to_time(time_ns),
    })
}
