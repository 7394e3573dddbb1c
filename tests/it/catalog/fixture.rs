//! A synthetic library over three nightly snapshots, as the backup job would feed it.
//!
//! Containers of ACTIVE: 1 workspace "Acme v Beta" (client ACME, matter M-001), 2 tab
//! "Documents" under 1, 3 folder "Contracts" under 2, 4 search folder "Recent" under 1,
//! 5 workspace "Gamma" (GAMMA / M-002), 6 folder "Drafts" under 5.
//!
//! | item | s1 | s2 | s3 |
//! |---|---|---|---|
//! | doc 100 (in 3) | v1, v2 | + v3 | unchanged |
//! | doc 101 (in 3 and 6) | v1 "Draft agreement" | v1 renamed "Final agreement" | deleted |
//! | doc 102 e-mail (in 2) | v1, ACL A | unchanged | ACL B |
//! | doc 103 (in 6) | v1 | deleted | back, same state |
//! | folder 6 | "Drafts" | "Drafts 2" | "Drafts 2" |
//! | workspace 1 ACL | X | X | Y |

use chrono::{DateTime, TimeZone, Utc};
use imvault::catalog::{
    Catalog, ContainerRow, LoadReport, SkippedRow, SnapshotId, SnapshotLoad, SnapshotRow,
    VersionRow,
};
use imvault::imanage::model::{
    AccessLevel, Acl, AclEntry, Container, ContainerId, DefaultSecurity, DocumentId,
    DocumentVersion, Filing, LibraryId, TrusteeType, VersionId,
};
use serde_json::{Value, json};

pub const LIB: &str = "ACTIVE";

pub fn lib() -> LibraryId {
    LibraryId::new(LIB).expect("valid library")
}
pub fn cid(n: u64) -> ContainerId {
    format!("{LIB}!{n}").parse().expect("valid container id")
}
pub fn did(n: u64) -> DocumentId {
    format!("{LIB}!{n}").parse().expect("valid document id")
}
pub fn vid(n: u64, v: u32) -> VersionId {
    did(n).version(v)
}
/// A snapshot id spelling `s` (at most 32 bytes) in its first bytes, zero-padded: ids compare
/// as their names do.
pub fn sid(s: &str) -> SnapshotId {
    let mut id = [0u8; 32];
    assert!(s.len() <= id.len(), "snapshot name {s:?} is too long");
    id[..s.len()].copy_from_slice(s.as_bytes());
    SnapshotId(id)
}
pub fn day(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, 2, 0, 0)
        .single()
        .expect("valid date")
}

pub fn acl(default: DefaultSecurity, entries: &[(&str, AccessLevel)]) -> Acl {
    Acl {
        default_security: default,
        entries: entries
            .iter()
            .map(|(id, lvl)| AclEntry {
                id: id.to_string(),
                trustee_type: TrusteeType::User,
                name: None,
                access_level: *lvl,
            })
            .collect(),
    }
}

/// Everything one snapshot holds.
#[derive(Clone)]
pub struct SnapData {
    pub row: SnapshotRow,
    pub containers: Vec<ContainerRow>,
    pub versions: Vec<VersionRow>,
    pub filings: Vec<Filing>,
    pub acls: Vec<(DocumentId, Acl)>,
    pub skipped: Vec<SkippedRow>,
}

impl SnapData {
    pub fn fill(&self, load: &mut SnapshotLoad<'_>) -> Result<(), imvault::catalog::CatalogError> {
        for c in &self.containers {
            load.add_container(c)?;
        }
        for v in &self.versions {
            load.add_version(v)?;
        }
        for f in &self.filings {
            load.add_filing(f)?;
        }
        for (d, a) in &self.acls {
            load.add_document_acl(d, a)?;
        }
        for s in &self.skipped {
            load.add_skipped(s)?;
        }
        Ok(())
    }

    pub fn load_into(&self, cat: &mut Catalog) -> LoadReport {
        let mut load = cat
            .begin_snapshot(self.row.clone())
            .expect("snapshot accepted");
        self.fill(&mut load).expect("items accepted");
        load.commit().expect("snapshot committed")
    }
}

#[allow(clippy::too_many_arguments)]
pub fn container(
    n: u64,
    wstype: &str,
    folder_type: Option<&str>,
    name: &str,
    parent: Option<u64>,
    workspace: Option<u64>,
    profile: Value,
    acl: Option<Acl>,
) -> ContainerRow {
    let mut j = json!({"id": cid(n).to_string(), "wstype": wstype, "name": name,
        "database": LIB, "profile": profile});
    if let Some(ft) = folder_type {
        j["folder_type"] = json!(ft);
    }
    if let Some(p) = parent {
        j["parent_id"] = json!(cid(p).to_string());
    }
    if let Some(w) = workspace {
        j["workspace_id"] = json!(cid(w).to_string());
    }
    let c = Container::from_json(j).expect("valid container");
    ContainerRow::from_container(&c, acl)
}

#[allow(clippy::too_many_arguments)]
pub fn version(
    doc: u64,
    ver: u32,
    name: &str,
    ext: &str,
    author: &str,
    workspace: u64,
    edit_date: &str,
    edit_profile_date: &str,
    email: bool,
) -> VersionRow {
    let j = json!({"id": vid(doc, ver).to_string(), "database": LIB, "document_number": doc,
        "version": ver, "name": name, "extension": ext, "size": doc * 1000 + u64::from(ver),
        "author": author, "workspace_id": cid(workspace).to_string(),
        "wstype": if email {"email"} else {"document"},
        "edit_date": edit_date, "edit_profile_date": edit_profile_date, "custom17": 42});
    let v = DocumentVersion::from_json(j).expect("valid version");
    VersionRow::from_version(&v, json!({"blob": format!("b3-{doc}-{ver}"), "pack": "p1"}))
}

pub fn snapshot(id: &str, d: u32, parent: Option<&str>) -> SnapshotRow {
    SnapshotRow {
        id: sid(id),
        library: lib(),
        time: day(d),
        parent: parent.map(sid),
        host: "backup-host".into(),
        tool_version: "0.1.0".into(),
        summary: json!({"walk_seconds": d, "warnings": []}),
    }
}

pub fn acl_x() -> Acl {
    acl(
        DefaultSecurity::Private,
        &[("JSMITH", AccessLevel::FullAccess)],
    )
}
pub fn acl_y() -> Acl {
    acl(
        DefaultSecurity::Private,
        &[
            ("JSMITH", AccessLevel::FullAccess),
            ("ADOE", AccessLevel::Read),
        ],
    )
}
pub fn acl_a() -> Acl {
    acl(DefaultSecurity::View, &[("BLEE", AccessLevel::ReadWrite)])
}
pub fn acl_b() -> Acl {
    acl(DefaultSecurity::Public, &[])
}

/// The three snapshots s1, s2, s3 (taken on days 1, 2, 3).
pub fn three_snapshots() -> Vec<SnapData> {
    let ws = |n, name: &str, client: &str, matter: &str, a: Acl| {
        container(
            n,
            "workspace",
            None,
            name,
            None,
            None,
            json!({"class": "MATTER", "custom1": client, "custom2": matter}),
            Some(a),
        )
    };
    let folder = |n, ft: Option<&str>, name: &str, parent, w| {
        let wstype = "folder";
        container(n, wstype, ft, name, Some(parent), Some(w), json!({}), None)
    };
    let base_containers = |f6: &str, w1_acl: Acl| {
        vec![
            ws(1, "Acme v Beta", "ACME", "M-001", w1_acl),
            folder(2, Some("tab"), "Documents", 1, 1),
            folder(3, Some("regular"), "Contracts", 2, 1),
            folder(4, Some("search"), "Recent", 1, 1),
            ws(5, "Gamma", "GAMMA", "M-002", acl_x()),
            folder(6, None, f6, 5, 5),
        ]
    };
    let d100 = |v| {
        version(
            100,
            v,
            "Lease",
            "docx",
            "JSMITH",
            1,
            &format!("2026-10-0{v}T10:00:00Z"),
            &format!("2026-10-0{v}T10:00:00Z"),
            false,
        )
    };
    let d101 = |name: &str, profile_date: &str| {
        version(
            101,
            1,
            name,
            "pdf",
            "ADOE",
            1,
            "2026-10-20T09:00:00Z",
            profile_date,
            false,
        )
    };
    let d102 = version(
        102,
        1,
        "Re: settlement",
        "msg",
        "BLEE",
        1,
        "2026-10-25T08:00:00Z",
        "2026-10-25T08:00:00Z",
        true,
    );
    let d103 = version(
        103,
        1,
        "Notes",
        "txt",
        "JSMITH",
        5,
        "2026-09-01T00:00:00Z",
        "2026-09-01T00:00:00Z",
        false,
    );
    let filing = |d, f| Filing {
        document: did(d),
        parent: cid(f),
    };

    let s1 = SnapData {
        row: snapshot("s1", 1, None),
        containers: base_containers("Drafts", acl_x()),
        versions: vec![
            d100(1),
            d100(2),
            d101("Draft agreement", "2026-10-20T09:00:00Z"),
            d102.clone(),
            d103.clone(),
        ],
        filings: vec![
            filing(100, 3),
            filing(101, 3),
            filing(101, 6),
            filing(102, 2),
            filing(103, 6),
        ],
        acls: vec![
            (did(100), acl_x()),
            (did(101), acl_x()),
            (did(102), acl_a()),
        ],
        skipped: vec![],
    };
    let s2 = SnapData {
        row: snapshot("s2", 2, Some("s1")),
        containers: base_containers("Drafts 2", acl_x()),
        versions: vec![
            d100(1),
            d100(2),
            d100(3),
            d101("Final agreement", "2026-11-01T12:00:00Z"),
            d102.clone(),
        ],
        filings: vec![
            filing(100, 3),
            filing(101, 3),
            filing(101, 6),
            filing(102, 2),
        ],
        acls: vec![
            (did(100), acl_x()),
            (did(101), acl_x()),
            (did(102), acl_a()),
        ],
        skipped: vec![SkippedRow {
            object: "ACTIVE!104.1".into(),
            reason: "download failed: 500 three times".into(),
        }],
    };
    let s3 = SnapData {
        row: snapshot("s3", 3, Some("s2")),
        containers: base_containers("Drafts 2", acl_y()),
        versions: vec![d100(1), d100(2), d100(3), d102, d103],
        filings: vec![filing(100, 3), filing(102, 2), filing(103, 6)],
        acls: vec![(did(100), acl_x()), (did(102), acl_b())],
        skipped: vec![],
    };
    vec![s1, s2, s3]
}

/// A catalog holding the three snapshots, loaded in order.
pub fn loaded() -> (Catalog, Vec<SnapData>, Vec<LoadReport>) {
    let mut cat = Catalog::open_in_memory().expect("in-memory catalog");
    let snaps = three_snapshots();
    let reports = snaps.iter().map(|s| s.load_into(&mut cat)).collect();
    (cat, snaps, reports)
}
